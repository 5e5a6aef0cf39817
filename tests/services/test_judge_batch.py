"""``annotate judge --batch-api``: the test server's Batch API (files, batches, output)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from annotate.judging import JudgeSelection, run_judge
from annotate.judging.batch import judge_batch
from annotate.work.rationales.editor import accept
from tests.llm_server import FakeLLM, judge_scores
from tests.services import test_judge

pytestmark = pytest.mark.both_backends
fake = test_judge.fake  # the test server, as a fixture
_settings = test_judge._settings


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
