"""``annotate judge`` sends nothing identifying off the machine: the transcript and the
judged text go masked, and the judge's reason and quotes come back with the original
words before they are grounded and stored (as drafts and marker proposals do).

Two fictional sessions with planted identifiers (``tests/deid/planted.py``), one English
and one Chinese, each with an accepted rationale that names people and places; the
test server answers with the client's first turn as it received it (``whole-turns``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from annotate.deid import endpoint
from annotate.deid.detect import METHOD, VERSION
from annotate.drafting import DraftSettings
from annotate.ingest.predictions import import_predictions
from annotate.ingest.service import import_file
from annotate.judging import run_judge
from tests.deid.planted import EN_ID, EN_TURNS, ZH_ID, ZH_TURNS, import_planted, leaks, surrogate
from tests.factories import write_jsonl
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends
ON = {"mode": "surrogate", "method": METHOD, "version": VERSION}
EN_TEXT = "Tobias and the drive to Millbrook left the client doubting the goal they set (turn 2)."
ZH_TEXT = "来访者说小明回了成都，两人又吵架，所以对共同目标的信心不高（第2轮）。"
PREDICTED = "Marisol wants to stop the weekend fights with Tobias, a goal both share."


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Engine:
    import_planted(engine, tmp_path)
    rationales = [{"session_id": session_id, "item_id": "goal_1", "author": "ana", "text": said}
                  for session_id, said in ((EN_ID, EN_TEXT), (ZH_ID, ZH_TEXT))]  # fmt: skip
    import_file(engine, write_jsonl(tmp_path / "rationales.jsonl", rationales))
    predicted = [{"session_id": EN_ID, "item_id": "goal_2", "rationale": PREDICTED, "rating": 5}]
    import_predictions(engine, write_jsonl(tmp_path / "predicted.jsonl", predicted), "model-x")
    return engine


def _judgements(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT j.*, coalesce(r.session_id, p.session_id) AS session_id FROM judgements j "
            "LEFT JOIN rationales r ON r.id = j.rationale_id "
            "LEFT JOIN predictions p ON p.id = j.prediction_id"
        ))  # fmt: skip
        return [dict(row._mapping) for row in rows]


def _loaded(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize("how", ["flag", "remote"])
def test_the_judge_sends_masked_text_and_stores_the_original_words(
    store: Engine, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "remote":  # an endpoint off this machine is de-identified by default
        monkeypatch.setattr(endpoint, "is_local", lambda base_url, **_: False)
    fake = FakeLLM(default_fault="whole-turns")
    with ServerThread(fake):
        asked = True if how == "flag" else None
        settings = DraftSettings(provider="openai", model="judge-model", base_url=fake.base_url,
                                 max_retries=0, deidentify=asked)  # fmt: skip
        run = run_judge(store, settings)
    assert (run.progress.done, run.progress.ok) == (3, 3), run.errors
    assert run.deidentify == ON
    assert len(fake.raw_bodies) == 3 and leaks(fake.raw_bodies) == []
    sent = b"".join(fake.raw_bodies).decode("utf-8")
    assert surrogate(store, "cl-deid-en", "name", "Tobias") in sent  # masked, not blanked
    assert surrogate(store, "cl-deid-zh", "place", "成都") in sent
    first_client = {EN_ID: EN_TURNS[1][1], ZH_ID: ZH_TURNS[1][1]}  # turn 2 of each
    rows = _judgements(store)
    assert len(rows) == 3
    for row in rows:
        said = first_client[row["session_id"]]
        assert row["status"] == "ok", row["grounding_error"]
        assert _loaded(row["quotes"]) == [{"turn": 2, "text": said}]
        assert row["reason"] == f"The client says in turn 2: {said}"
        assert _loaded(row["params"])["deidentify"] == ON  # type: ignore[index]
    assert any("小明" in row["reason"] for row in rows)  # the Chinese session's own words
    zh_prompt = next(body for body in fake.raw_bodies if b"goal_1" in body
                     and ZH_ID.encode() in body)  # fmt: skip
    assert "Chinese (简体中文)" in json.loads(zh_prompt)["messages"][1]["content"]


def test_a_local_endpoint_gets_the_text_as_stored(store: Engine) -> None:
    fake = FakeLLM()
    with ServerThread(fake):
        settings = DraftSettings(provider="openai", model="judge-model", base_url=fake.base_url,
                                 max_retries=0)  # fmt: skip
        run = run_judge(store, settings, targets="rationales")
    assert (run.progress.done, run.progress.ok) == (2, 2) and run.deidentify is None
    prompts = [json.loads(body)["messages"][1]["content"] for body in fake.raw_bodies]
    assert any(EN_TEXT in prompt for prompt in prompts)
    assert any(ZH_TEXT in prompt for prompt in prompts)
    assert all("deidentify" not in _loaded(row["params"]) for row in _judgements(store))  # type: ignore[operator]


def test_a_batch_is_sent_masked_and_stored_with_the_original_words(store: Engine) -> None:
    from annotate.judging import JudgeSelection
    from annotate.judging.batch import judge_batch

    fake = FakeLLM(default_fault="whole-turns")
    with ServerThread(fake):
        settings = DraftSettings(provider="openai", model="judge-model", base_url=fake.base_url,
                                 max_retries=0, deidentify=True)  # fmt: skip
        ran = judge_batch(store, settings, JudgeSelection(), poll_seconds=0.05)
    assert (ran.run.progress.done, ran.run.progress.ok) == (3, 3), ran.run.errors
    assert leaks(list(fake.files.values())) == []  # the uploaded requests and the output
    first_client = {EN_ID: EN_TURNS[1][1], ZH_ID: ZH_TURNS[1][1]}
    for row in _judgements(store):
        said = first_client[row["session_id"]]
        assert _loaded(row["quotes"]) == [{"turn": 2, "text": said}]
        assert _loaded(row["params"])["deidentify"] == ON  # type: ignore[index]
