"""``annotate judge``: the real openai client against the test server, on both backends.

The server answers a judge's request with scores from a hash of the judged text (or a
test's own reply, ``FakeLLM.scripted``), so every stored score is checked against what
the server was asked and said; the texts and hashes against the store's own rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from annotate.drafting import DraftSettings
from annotate.ingest.predictions import import_predictions
from annotate.judging import run_judge
from annotate.judging.prompt import judge_template
from annotate.work.rationales.editor import accept, save
from tests.factories import write_jsonl
from tests.llm_server import FakeLLM, ServerThread, judge_scores

pytestmark = pytest.mark.both_backends
CRITERIA = ("faithfulness", "relevance", "informativeness")  # guidelines/rubric.toml


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    with ServerThread(server):
        yield server


def _settings(fake: FakeLLM, model: str = "judge-model") -> DraftSettings:
    return DraftSettings(provider="openai", model=model, base_url=fake.base_url, timeout=5.0,
                         max_retries=0)  # fmt: skip


def _rows(engine: Engine, sql: str, **params: object) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(text(sql), params)]


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _flag(value: object) -> bool | None:
    """A stored boolean as read back (SQLite gives 0 and 1)."""
    return None if value is None else bool(value)


def _scores(engine: Engine, judgement_id: int) -> dict[str, int]:
    rows = _rows(engine, "SELECT criterion, score FROM judgement_scores WHERE judgement_id = :j",
                 j=judgement_id)  # fmt: skip
    return {row["criterion"]: row["score"] for row in rows}


def _turns(engine: Engine, session_id: str) -> dict[int, str]:
    rows = _rows(engine, "SELECT number, text FROM turns WHERE session_id = :s", s=session_id)
    return {row["number"]: row["text"] for row in rows}


def _judged_rationales(engine: Engine, session_id: str) -> list[dict]:
    """The rationales of the session the judge takes: accepted, or sent back after review."""
    return _rows(engine, "SELECT r.id, r.item_id, r.current_version, v.text FROM rationales r "
                 "JOIN rationale_versions v ON v.rationale_id = r.id AND v.version = "
                 "r.current_version WHERE r.session_id = :s AND r.status IN "
                 "('accepted', 'revision_requested') ORDER BY r.item_id", s=session_id)  # fmt: skip


def test_scores_are_stored_per_version_with_the_prompt_model_and_rubric(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    turns = _turns(demo_engine, "s01")
    said = turns[2][:30]
    given = {"faithfulness": 4, "relevance": 2, "informativeness": 5,
             "reason": f"The rationale rests on turn 2 ({said}) but drifts from the item.",
             "evidence": [2, 3], "quotes": [{"turn": 2, "text": said}]}  # fmt: skip
    fake.scripted["s01/goal_1/judge"] = [json.dumps(given, ensure_ascii=False)]
    run = run_judge(demo_engine, _settings(fake), sessions=["s01"])
    expected = _judged_rationales(demo_engine, "s01")
    assert len(expected) >= 4
    assert (run.progress.done, run.progress.ok, run.progress.failed, run.progress.ungrounded) == (
        len(expected),
        len(expected),
        0,
        0,
    )
    stored = {row["rationale_id"]: row for row in _rows(demo_engine, "SELECT * FROM judgements")}
    assert set(stored) == {row["id"] for row in expected}
    template = judge_template()
    for rationale in expected:
        row = stored[rationale["id"]]
        assert row["rationale_version"] == rationale["current_version"]
        assert row["prediction_id"] is None
        assert row["text_hash"] == hashlib.sha256(rationale["text"].encode("utf-8")).hexdigest()
        assert (row["provider"], row["model"], row["rubric_version"]) == (
            "openai", "judge-model", "1.0.0")  # fmt: skip
        assert (row["prompt_version"], row["prompt_hash"]) == (template.version, template.hash)
        assert row["base_url_host"] == fake.base_url.split("/")[2]
        assert row["tokens_in"] > 0 and row["tokens_out"] > 0 and row["latency_ms"] > 0
        params = _json(row["params"])
        assert isinstance(params, dict)
        assert params["temperature"] == 0.0 and params["response_format"] == "json_schema"
        assert row["status"] == "ok" and row["grounding_error"] is None and row["error"] is None
        key = f"s01/{rationale['item_id']}/judge"
        if rationale["item_id"] == "goal_1":
            want = {name: given[name] for name in CRITERIA}
            assert row["reason"] == given["reason"]
            assert _json(row["evidence"]) == [2, 3]
            assert _json(row["quotes"]) == [{"turn": 2, "text": said}]
        else:  # the server's own scores, from a hash of the text it was sent
            sent = "\n".join(m["content"] for m in fake.request_by_key[key]["messages"])
            assert rationale["text"] in sent and "(session s01, item " in sent
            want = judge_scores(sent)
        assert _scores(demo_engine, row["id"]) == want
        assert _flag(row["passed"]) is all(score >= 3 for score in want.values())
    assert (
        _flag(stored[next(r["id"] for r in expected if r["item_id"] == "goal_1")]["passed"])
        is False
    )


def test_the_request_carries_the_rubric_the_item_and_a_bounded_schema(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    run_judge(demo_engine, _settings(fake), sessions=["s01"], limit=1)
    (key,) = fake.request_by_key
    request = fake.request_by_key[key]
    prompt = request["messages"][1]["content"]
    for name in CRITERIA:
        assert f'- "{name}": an integer from 1 to 5' in prompt
    assert "Contradicts the dialogue" in prompt  # a score anchor of the rubric
    assert "The client's rating: " in prompt and "[1] " in prompt
    schema = request["response_format"]["json_schema"]["schema"]
    assert schema["required"] == [*CRITERIA, "reason", "evidence", "quotes"]
    assert schema["additionalProperties"] is False
    for name in CRITERIA:
        assert schema["properties"][name] == {"type": "integer", "minimum": 1, "maximum": 5}
    turns = schema["properties"]["evidence"]["items"]
    assert (turns["minimum"], turns["maximum"]) == (1, max(_turns(demo_engine, "s01")))


def test_a_rerun_judges_nothing_and_a_new_version_only_itself(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    first = run_judge(demo_engine, _settings(fake), sessions=["s01", "s05"])
    asked = sum(fake.requests.values())
    assert first.progress.done == asked > 0 and first.skipped == 0
    again = run_judge(demo_engine, _settings(fake), sessions=["s01", "s05"])
    assert (again.progress.done, again.skipped) == (0, asked)
    assert sum(fake.requests.values()) == asked
    # The author signs off a new text of one rationale: only that one is judged again.
    (row,) = _rows(demo_engine, "SELECT id, author_id, lock_version, current_version FROM "
                   "rationales WHERE session_id = 's05' AND item_id = 'task_1'")  # fmt: skip
    accept(demo_engine, row["id"], row["author_id"],
           "The client agrees to try the worksheet at home (turn 4), a task the counselor "
           "explained clearly, so the rating is high.", row["lock_version"])  # fmt: skip
    third = run_judge(demo_engine, _settings(fake), sessions=["s01", "s05"])
    assert (third.progress.done, third.progress.ok, third.skipped) == (1, 1, asked - 1)
    assert sum(fake.requests.values()) == asked + 1 and fake.requests["s05/task_1/judge"] == 2
    kept = _rows(demo_engine, "SELECT rationale_version, text_hash FROM judgements WHERE "
                 "rationale_id = :r ORDER BY id", r=row["id"])  # fmt: skip
    assert [k["rationale_version"] for k in kept] == [row["current_version"],
                                                      row["current_version"] + 1]  # fmt: skip
    assert kept[0]["text_hash"] != kept[1]["text_hash"]
    assert third.standing is not None and third.standing.judged == third.standing.texts == asked
    # --force judges everything again; a new model too
    forced = run_judge(demo_engine, _settings(fake), sessions=["s05"], force=True)
    other = run_judge(demo_engine, _settings(fake, model="another"), sessions=["s05"])
    assert forced.progress.done == other.progress.done == forced.selected > 0 and other.skipped == 0


def _predictions(engine: Engine, folder: Path, source: str, texts: dict[str, str]) -> None:
    records = [{"session_id": "s01", "item_id": item, "rationale": said, "rating": 4}
               for item, said in texts.items()]  # fmt: skip
    import_predictions(engine, write_jsonl(folder / f"{source}.jsonl", records), source)


def test_predictions_are_judged_and_keyed_apart(
    demo_engine: Engine, fake: FakeLLM, tmp_path: Path
) -> None:
    said = "The client names a clear goal for the sessions in turn 2 and agrees with it."
    _predictions(demo_engine, tmp_path, "model-a", {"goal_1": said, "goal_2": said})
    _predictions(
        demo_engine, tmp_path, "model-b", {"goal_1": "来访者在第2轮说出了目标，评分较高。"}
    )
    quote = _turns(demo_engine, "s01")[2][:20]
    scripted = {"faithfulness": 1, "relevance": 1, "informativeness": 2, "evidence": [2],
                "reason": "It claims agreement nobody voiced.",
                "quotes": [{"turn": 2, "text": quote}]}  # fmt: skip
    fake.scripted["prediction:model-a/s01/goal_1/judge"] = [json.dumps(scripted)]
    run = run_judge(demo_engine, _settings(fake), targets="predictions")
    assert (run.progress.done, run.progress.ok) == (3, 3)
    assert set(fake.requests) == {"prediction:model-a/s01/goal_1/judge",
                                  "prediction:model-a/s01/goal_2/judge",
                                  "prediction:model-b/s01/goal_1/judge"}  # fmt: skip
    rows = _rows(demo_engine, "SELECT j.id, j.rationale_id, j.text_hash, j.passed, p.source, "
                 "p.item_id, p.text FROM judgements j JOIN predictions p ON p.id = "
                 "j.prediction_id")  # fmt: skip
    assert len(rows) == 3 and all(row["rationale_id"] is None for row in rows)
    for row in rows:
        assert row["text_hash"] == hashlib.sha256(row["text"].encode("utf-8")).hexdigest()
    (scored,) = [r for r in rows if (r["source"], r["item_id"]) == ("model-a", "goal_1")]
    assert _scores(demo_engine, scored["id"]) == {"faithfulness": 1, "relevance": 1,
                                                  "informativeness": 2}  # fmt: skip
    assert _flag(scored["passed"]) is False
    # The experts' rationale of the same item is a target of its own
    both = run_judge(demo_engine, _settings(fake), sessions=["s01"])
    assert both.skipped == 3 and fake.requests["s01/goal_1/judge"] == 1
    # A prediction imported again with another text is judged again; the others are not
    _predictions(demo_engine, tmp_path, "model-a", {"goal_1": said + " Changed.", "goal_2": said})
    again = run_judge(demo_engine, _settings(fake), targets="predictions")
    assert (again.progress.done, again.skipped) == (1, 2)
    assert fake.requests["prediction:model-a/s01/goal_1/judge"] == 2


def test_failed_and_ungrounded_judgements_are_stored_and_retried_as_asked(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    faults = {"s01/goal_1/judge": "judge-missing", "s01/goal_2/judge": "judge-range",
              "s01/goal_3/judge": "judge-badquote", "s01/goal_4/judge": "malformed",
              "s01/task_1/judge": "500"}  # fmt: skip
    fake.faults.update(faults)
    run = run_judge(demo_engine, _settings(fake), sessions=["s01"])
    assert (run.progress.failed, run.progress.ungrounded) == (4, 1)
    rows = {row["item_id"]: row for row in _rows(
        demo_engine, "SELECT j.*, r.item_id FROM judgements j JOIN rationales r ON "
        "r.id = j.rationale_id")}  # fmt: skip
    missing, out_of_scale = rows["goal_1"], rows["goal_2"]
    assert missing["status"] == "failed" and missing["passed"] is None
    assert missing["error"] == "unusable reply: no score for 'faithfulness'"
    assert (
        out_of_scale["error"] == "unusable reply: the score for 'faithfulness' is 7, outside 1..5"
    )
    assert json.loads(out_of_scale["raw_reply"])["faithfulness"] == 7  # the reply kept to read
    assert rows["goal_4"]["error"].startswith("unusable reply: the reply is not the requested")
    assert "HTTP 500" in rows["task_1"]["error"] and rows["task_1"]["raw_reply"] is None
    for item in ("goal_1", "goal_2", "goal_4", "task_1"):
        assert _scores(demo_engine, rows[item]["id"]) == {}
    bad = rows["goal_3"]
    assert bad["status"] == "ungrounded" and bad["raw_reply"]
    assert "'I never said these words at all' is not in turn" in bad["grounding_error"]
    assert set(_scores(demo_engine, bad["id"])) == set(CRITERIA)  # kept for the record
    assert run.standing is not None and run.standing.judged == run.progress.ok  # never counted
    assert any("ungrounded" in line for line in run.errors)
    fake.faults.clear()
    before = dict(fake.requests)
    retried = run_judge(demo_engine, _settings(fake), sessions=["s01"])
    assert (retried.progress.done, retried.progress.ok) == (
        4,
        4,
    )  # the failed ones, not the ungrounded one
    assert fake.requests["s01/goal_3/judge"] == before["s01/goal_3/judge"]
    grounded = run_judge(demo_engine, _settings(fake), sessions=["s01"], retry_ungrounded=True)
    assert (grounded.progress.done, grounded.progress.ok) == (1, 1)
    assert fake.requests["s01/goal_3/judge"] == before["s01/goal_3/judge"] + 1
    assert grounded.standing is not None
    assert grounded.standing.judged == grounded.standing.texts == len(rows)


def test_a_scripted_reply_in_the_wrong_shape_is_read_leniently_or_refused(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    said = _turns(demo_engine, "s01")[2][:20]
    fenced = ('Here you go:\n```json\n{"faithfulness": "4", "relevance": 3, '
              '"informativeness": 3, "reason": "Fits.", "evidence": ["turn 2"], '
              f'"quotes": ["{said}"]}}\n```')  # fmt: skip
    fake.scripted.update({
        "s01/goal_1/judge": [fenced],
        "s01/goal_2/judge": ['{"faithfulness": 4.5, "relevance": 3, "informativeness": 3, '
                             '"reason": "x", "evidence": [2]}'],
        "s01/goal_3/judge": ['{"faithfulness": 4, "relevance": 3, "informativeness": 3, '
                             '"evidence": [2]}'],
        "s01/goal_4/judge": ['{"faithfulness": 4, "relevance": 3, "informativeness": 3, '
                             '"reason": "<one sentence>", "evidence": [99]}'],
    })  # fmt: skip
    run_judge(demo_engine, _settings(fake), sessions=["s01"])
    rows = {row["item_id"]: row for row in _rows(
        demo_engine, "SELECT j.*, r.item_id FROM judgements j JOIN rationales r ON "
        "r.id = j.rationale_id")}  # fmt: skip
    assert rows["goal_1"]["status"] == "ok", rows["goal_1"]["grounding_error"]
    assert _scores(demo_engine, rows["goal_1"]["id"])["faithfulness"] == 4
    assert rows["goal_2"]["error"] == ("unusable reply: the score for 'faithfulness' is not an "
                                       "integer: 4.5")  # fmt: skip
    assert rows["goal_3"]["error"] == "unusable reply: no reason"
    problem = rows["goal_4"]["grounding_error"]
    assert "cites turn(s) 99 that do not exist" in problem and "placeholder" in problem


def test_a_text_in_revision_is_left_until_it_is_signed_off_again(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    (sent_back, *_) = _rows(demo_engine, "SELECT id, session_id, item_id, author_id, "
                            "lock_version FROM rationales WHERE status = 'revision_requested' "
                            "ORDER BY id")  # fmt: skip
    key = f"{sent_back['session_id']}/{sent_back['item_id']}/judge"
    sessions = [sent_back["session_id"]]
    first = run_judge(demo_engine, _settings(fake), sessions=sessions)
    assert fake.requests[key] == 1  # the text the reviewers scored
    revised = "The client names the goal only in passing (turn 2), so the rating stays modest."
    save(demo_engine, sent_back["id"], sent_back["author_id"], revised, sent_back["lock_version"])
    editing = run_judge(demo_engine, _settings(fake), sessions=sessions)
    assert editing.progress.done == 0 and fake.requests[key] == 1
    assert editing.skipped == first.progress.done - 1  # the revised one is no target now
    accept(demo_engine, sent_back["id"], sent_back["author_id"], revised,
           sent_back["lock_version"] + 1)  # fmt: skip
    signed = run_judge(demo_engine, _settings(fake), sessions=sessions)
    assert signed.progress.done == 1 and fake.requests[key] == 2


def test_a_reply_cut_at_max_tokens_fails_naming_the_limit(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    fake.cut_below = 100_000  # every reply stops half-way, even after the retry with room
    settings = _settings(fake)
    settings.max_tokens = 50
    run = run_judge(demo_engine, settings, sessions=["s01"], limit=1)
    assert run.progress.failed == 1
    (row,) = _rows(demo_engine, "SELECT error, raw_reply, params FROM judgements")
    # the retry with twice the room (drafting's rule) was cut too, and says so
    assert row["error"] == "cut at max_tokens=100: raise --max-tokens"
    assert row["raw_reply"] and not row["raw_reply"].rstrip().endswith("}")


def test_a_reply_no_database_keeps_is_a_failed_judgement(
    demo_engine: Engine, fake: FakeLLM
) -> None:
    said = _turns(demo_engine, "s01")[2][:20]
    nul = {"faithfulness": 4, "relevance": 4, "informativeness": 4, "evidence": [2],
           "reason": "Fits \u0000 the turn.", "quotes": [{"turn": 2, "text": said}]}  # fmt: skip
    fake.scripted["s01/goal_1/judge"] = [json.dumps(nul)]
    run = run_judge(demo_engine, _settings(fake), sessions=["s01"], limit=1)
    assert run.progress.failed == 1
    (row,) = _rows(demo_engine, "SELECT status, error, raw_reply, reason FROM judgements")
    assert row["error"] == ("unusable reply: the judgement cannot be stored: the text "
                            "contains a NUL character")  # fmt: skip
    assert row["reason"] is None and "\x00" not in row["raw_reply"]


def test_the_criteria_and_scale_are_the_store_s_rubric(demo_engine: Engine, fake: FakeLLM) -> None:
    from annotate.core.guidelines import Rubric
    from annotate.core.vocabulary import install_rubric

    anchors = {n: f"Anchor {n} of the scale." for n in range(0, 8)}
    rubric = Rubric.model_validate({
        "version": "9.0.0", "threshold": 4, "scale_min": 0, "scale_max": 7,
        "criteria": {
            "accuracy": {"name": "Accuracy", "question": "Is it true?", "scores": anchors},
            "clarity-of.text": {"name": "Clarity", "question": "Is it clear?", "scores": anchors},
        },
    })  # fmt: skip
    with demo_engine.begin() as connection:
        install_rubric(connection, rubric)
    names = ("accuracy", "clarity-of.text")  # a name need not be a Python identifier
    run = run_judge(demo_engine, _settings(fake), sessions=["s01"], limit=3)
    assert run.progress.ok == 3 and run.rubric_version == "9.0.0"
    for request in fake.request_by_key.values():
        prompt = request["messages"][1]["content"]
        assert '- "accuracy": an integer from 0 to 7' in prompt and "faithfulness" not in prompt
        schema = request["response_format"]["json_schema"]["schema"]
        assert schema["required"][:2] == list(names)
        assert schema["properties"][names[1]] == {"type": "integer", "minimum": 0, "maximum": 7}
    rows = _rows(demo_engine, "SELECT id, passed, rubric_version FROM judgements")
    for row in rows:
        scores = _scores(demo_engine, row["id"])
        assert set(scores) == set(names) and all(0 <= s <= 7 for s in scores.values())
        assert _flag(row["passed"]) is all(s >= 4 for s in scores.values())
        assert row["rubric_version"] == "9.0.0"
    assert run.standing is not None and set(run.standing.criteria) == set(names)


def test_a_criterion_named_as_a_reply_key_is_refused() -> None:
    from annotate.core.errors import ConfigError
    from annotate.core.guidelines import load_rubric
    from annotate.judging.prompt import check_rubric

    rubric = load_rubric()
    clashing = rubric.model_copy(update={"criteria": {"reason": rubric.criteria["relevance"]}})
    with pytest.raises(ConfigError, match="a criterion may not be named 'reason'"):
        check_rubric(clashing)
