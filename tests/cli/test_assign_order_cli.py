"""``annotate assign --order``: the figures it prints and its refusal of an unknown order."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from annotate.core.database import initialise
from cli.app import app
from store.db import session_scope
from store.models import DraftSample
from tests.factories import session_record, write_jsonl
from tests.workdata import draft_row

runner = CliRunner()


def one_session(tmp_path: Path) -> str:
    db = str(tmp_path / "z.db")
    record = session_record("会话1", language="zh")
    imported = runner.invoke(
        app, ["--db", db, "import", str(write_jsonl(tmp_path / "s.jsonl", [record]))]
    )
    assert imported.exit_code == 0, imported.output
    engine, _ = initialise(db)
    with session_scope(engine) as session:
        for item, value in (("goal_2", 0.4), ("bond_1", 0.8), ("task_3", None)):
            drafts = [draft_row("会话1", item, f"第 {n} 稿：第 2 轮说明了评分。") for n in (1, 2)]
            session.add_all(drafts)
            session.flush()
            session.add(DraftSample(session_id="会话1", item_id=item, samples=2,
                                    draft_ids=[d.id for d in drafts], method="1 - ROUGE-L",
                                    uncertainty=value))  # fmt: skip
    engine.dispose()
    return db


def test_order_uncertainty_prints_counts_and_ranks(tmp_path: Path) -> None:
    db = one_session(tmp_path)
    result = runner.invoke(
        app, ["--db", db, "assign", "--annotators", "王医生", "--order", "uncertainty"]
    )
    assert result.exit_code == 0, result.output
    assert "王医生: 12 new, 12 in total" in result.output
    assert "12 items not yet started ranked: 2 by uncertainty, 10 without one" in result.output
    as_json = runner.invoke(
        app, ["--db", db, "assign", "--annotators", "王医生", "--order", "uncertainty", "--json"]
    )
    assert json.loads(as_json.stdout) == {
        "created": {"王医生": 0}, "total": {"王医生": 12},
        "order": "uncertainty", "ordered": 12, "unmeasured": 10,
    }  # fmt: skip
    from annotate.work.queue import authoring_queue

    engine, _ = initialise(db)
    queue = [entry.item_id for entry in authoring_queue(engine, "王医生")]
    engine.dispose()
    assert queue[:2] == ["bond_1", "goal_2"]  # 0.8 then 0.4; the rest in item order


def test_unknown_order_is_one_line_error(tmp_path: Path) -> None:
    db = one_session(tmp_path)
    result = runner.invoke(app, ["--db", db, "assign", "--annotators", "ana", "--order", "judge"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --order must be one of session, uncertainty"
    assert "Traceback" not in result.output


def test_review_assign_by_judge_prints_what_the_judge_chose(tmp_path: Path) -> None:
    from tests.judging_rows import add_judgement

    db = one_session(tmp_path)
    assert runner.invoke(app, ["--db", db, "assign", "--annotators", "王医生"]).exit_code == 0
    engine, _ = initialise(db)
    from annotate.work.queue import authoring_queue
    from annotate.work.rationales import editor as editing

    entries = authoring_queue(engine, "王医生")
    for entry in entries:
        editing.accept(engine, entry.rationale_id, "王医生", f"理由：{entry.item_id}。", 0)
    add_judgement(engine, {"faithfulness": 2, "relevance": 3, "informativeness": 3},
                  rationale_id=entries[4].rationale_id)  # fmt: skip
    engine.dispose()
    args = ["--db", db, "review-assign", "--sessions", "1", "--reviewers", "ana", "--by", "judge"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 session chosen weakest by judge first, 0 with no judged rationale" in result.output
    assert "ana: 12 reviews" in result.output


def test_review_assign_refuses_an_unknown_choice_before_assigning(tmp_path: Path) -> None:
    db = one_session(tmp_path)
    result = runner.invoke(
        app, ["--db", db, "review-assign", "--include-predictions", "m", "--by", "weakest"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --by must be one of random, judge"
    as_json = runner.invoke(app, ["--db", db, "review-assign", "--fraction", "1", "--json"])
    assert json.loads(as_json.stdout)["by"] == "random"
    assert json.loads(as_json.stdout)["by_judge"] == 0
