"""``annotate judge --batch-api``: the test server's Batch API (files, batches, output)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from annotate.drafting import DraftSettings
from annotate.judging import JudgeSelection, run_judge, service
from annotate.judging.batch import judge_batch
from annotate.work.rationales.editor import accept
from tests.deid.planted import EN_ID, EN_TURNS, ZH_ID, ZH_TURNS, leaks, surrogate
from tests.llm_server import FakeLLM, ServerThread, judge_scores
from tests.services import test_judge, test_judge_deid

pytestmark = pytest.mark.both_backends
fake = test_judge.fake  # the test server, as a fixture
_settings = test_judge._settings
store = test_judge_deid.store  # two sessions with planted names, English and Chinese


def _rows(engine: Engine, sql: str) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(sql))]


class Killed(Exception):
    pass


def _killed(*_: object) -> None:
    raise Killed  # the command dies at its first poll, after the batch was created


def test_a_batch_stores_the_judgements_an_online_run_would(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    ran = judge_batch(demo_engine, _settings(fake), JudgeSelection(sessions=["s01"]),
                      poll_seconds=0.05)  # fmt: skip
    expected = _rows(demo_engine, "SELECT id, item_id FROM rationales WHERE session_id = 's01' "
                     "AND status IN ('accepted', 'revision_requested')")  # fmt: skip
    assert (ran.resumed, ran.status, ran.left_out) == (False, "completed", 0)
    assert (ran.run.progress.done, ran.run.progress.ok) == (len(expected), len(expected))
    assert len(fake.batches) == 1 and ran.batch_id in fake.batches
    stored = _rows(demo_engine, "SELECT j.id, j.params, j.status, r.item_id FROM judgements j "
                   "JOIN rationales r ON r.id = j.rationale_id")  # fmt: skip
    assert sorted(row["item_id"] for row in stored) == sorted(r["item_id"] for r in expected)
    for row in stored:
        params = row["params"] if isinstance(row["params"], dict) else json.loads(row["params"])
        assert params["batch_id"] == ran.batch_id and params["rubric_version"] == "1.0.0"
        sent = "\n".join(m["content"] for m in fake.request_by_key[
            f"s01/{row['item_id']}/judge"]["messages"])  # fmt: skip
        scores = _rows(demo_engine, "SELECT criterion, score FROM judgement_scores WHERE "
                       f"judgement_id = {row['id']}")  # fmt: skip
        assert {s["criterion"]: s["score"] for s in scores} == judge_scores(sent)
    again = run_judge(demo_engine, _settings(fake), sessions=["s01"])
    assert again.progress.done == 0 and again.skipped == len(expected)
    (recorded,) = _rows(demo_engine, "SELECT batch_id, ingested_at FROM draft_batches")
    assert recorded["batch_id"] == ran.batch_id and recorded["ingested_at"] is not None


def test_a_killed_command_resumes_its_batch_and_leaves_out_a_text_changed_since(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    selection = JudgeSelection(sessions=["s05"])
    with pytest.raises(Killed):
        judge_batch(demo_engine, _settings(fake), selection, on_poll=_killed)
    assert len(fake.batches) == 1 and _rows(demo_engine, "SELECT id FROM judgements") == []
    (row,) = _rows(demo_engine, "SELECT id, author_id, lock_version FROM rationales WHERE "
                   "session_id = 's05' AND item_id = 'goal_1'")  # fmt: skip
    revised = "The client states the goal plainly in turn 2 and the counselor agrees: high."
    accept(demo_engine, row["id"], row["author_id"], revised, row["lock_version"])
    resumed = judge_batch(demo_engine, _settings(fake), selection, poll_seconds=0.05)
    assert resumed.resumed and len(fake.batches) == 1  # paid once
    assert resumed.left_out == 1 and resumed.run.progress.done == resumed.run.selected - 1
    judged = {r["rationale_id"] for r in _rows(demo_engine, "SELECT rationale_id FROM judgements")}
    assert row["id"] not in judged
    online = run_judge(demo_engine, _settings(fake), sessions=["s05"])  # only the new text
    assert online.progress.done == 1 and fake.requests["s05/goal_1/judge"] == 2


def _ingested(engine: Engine) -> list[object]:
    return [row["ingested_at"] for row in _rows(engine, "SELECT ingested_at FROM draft_batches")]


@pytest.mark.parametrize("score", ["③", "²"])
def test_a_score_in_other_digits_is_a_failed_judgement_and_the_batch_is_ingested(
    demo_engine: Engine, fake: FakeLLM, score: str
) -> None:
    said = _rows(demo_engine, "SELECT text FROM turns t JOIN sessions s ON s.id = t.session_id "
                 "WHERE s.id = 's01' AND t.number = 2")[0]["text"][:30]  # fmt: skip
    given = {"faithfulness": score, "relevance": 4, "informativeness": 4,
             "reason": f"Turn 2 says it: {said}", "evidence": [2],
             "quotes": [{"turn": 2, "text": said}]}  # fmt: skip
    fake.scripted["s01/goal_1/judge"] = [json.dumps(given, ensure_ascii=False)]
    ran = judge_batch(demo_engine, _settings(fake), JudgeSelection(sessions=["s01"]),
                      poll_seconds=0.05)  # fmt: skip
    assert ran.run.progress.failed == 1 and ran.run.progress.ok == ran.run.progress.done - 1
    (failed,) = _rows(demo_engine, "SELECT j.error, j.raw_reply FROM judgements j JOIN "
                      "rationales r ON r.id = j.rationale_id WHERE r.item_id = 'goal_1' "
                      "AND r.session_id = 's01'")  # fmt: skip
    assert failed["error"] == (f"unusable reply: the score for 'faithfulness' is not an "
                               f"integer: {score!r}")  # fmt: skip
    assert score in failed["raw_reply"]
    assert all(_ingested(demo_engine))  # a rerun does not resume it to fail again
    again = judge_batch(demo_engine, _settings(fake), JudgeSelection(sessions=["s01"]),
                        poll_seconds=0.05)  # fmt: skip
    assert not again.resumed and len(fake.batches) == 2 and again.run.selected == 1


def test_a_reply_the_reader_trips_on_fails_its_line_only(
    demo_engine: Engine, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = service.read_judgement

    def tripping(content: str | None, rubric: object) -> object:
        if content and "TRIP" in content:
            raise ValueError("the reader tripped")  # not a ReplyFormatError
        return read(content, rubric)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "read_judgement", tripping)
    fake.scripted["s01/goal_1/judge"] = ['{"reason": "TRIP"}']
    ran = judge_batch(demo_engine, _settings(fake), JudgeSelection(sessions=["s01"]),
                      poll_seconds=0.05)  # fmt: skip
    assert ran.run.progress.failed == 1 and ran.run.progress.ok == ran.run.progress.done - 1
    errors = [r["error"] for r in _rows(demo_engine, "SELECT error FROM judgements") if r["error"]]
    assert errors == ["unusable reply: the reader tripped"] and all(_ingested(demo_engine))


def _completed(fake: FakeLLM) -> dict:
    (batch,) = fake.batches.values()
    deadline = time.monotonic() + 10
    while batch["status"] != "completed":
        assert time.monotonic() < deadline, "the test server's batch did not finish"
        time.sleep(0.02)
    return batch


@pytest.mark.parametrize("rerun", [{"deidentify": False},
                                   {"deidentify": True, "deidentify_mode": "tag"}])  # fmt: skip
def test_a_resumed_batch_is_mapped_back_with_the_masks_it_was_sent_with(
    store: Engine, rerun: dict
) -> None:
    fake = FakeLLM(default_fault="whole-turns")
    with ServerThread(fake):

        def settings(**given: object) -> DraftSettings:
            return DraftSettings(provider="openai", model="judge-model",
                                 base_url=fake.base_url, max_retries=0, **given)  # type: ignore[arg-type]  # fmt: skip

        with pytest.raises(Killed):  # sent masked, then killed
            judge_batch(store, settings(deidentify=True), JudgeSelection(), on_poll=_killed)
        batch = _completed(fake)
        tobias = surrogate(store, "cl-deid-en", "name", "Tobias")  # the map exists now
        lines = fake.files[batch["output_file_id"]].decode().splitlines()
        refused = next(i for i, line in enumerate(lines) if "judge-prediction" in line)
        entry = json.loads(lines[refused])
        entry["response"] = {"status_code": 400, "body": {"error": {
            "message": f"will not judge what {tobias} said"}}}  # fmt: skip
        lines[refused] = json.dumps(entry, ensure_ascii=False)
        fake.files[batch["output_file_id"]] = ("\n".join(lines) + "\n").encode()
        ran = judge_batch(store, settings(**rerun), JudgeSelection(), poll_seconds=0.05)
    assert ran.resumed and len(fake.batches) == 1
    assert (ran.run.progress.ok, ran.run.progress.failed) == (2, 1), ran.run.errors
    assert ran.run.deidentify == test_judge_deid.ON  # what the batch was sent with
    first_client = {EN_ID: EN_TURNS[1][1], ZH_ID: ZH_TURNS[1][1]}
    rows = test_judge_deid._judgements(store)
    for row in rows:
        if row["status"] == "failed":
            assert "will not judge what Tobias said" in row["error"] and tobias not in row["error"]
            continue
        said = first_client[row["session_id"]]
        assert (row["status"], row["reason"]) == ("ok", f"The client says in turn 2: {said}")
        assert test_judge_deid._loaded(row["quotes"]) == [{"turn": 2, "text": said}]
    assert leaks(list(fake.files.values())) == []  # nothing was sent unmasked
