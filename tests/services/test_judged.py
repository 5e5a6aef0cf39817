"""Reading stored judgements: the one that counts per text, weakest first, the summary."""

from __future__ import annotations

import statistics

import pytest
from sqlalchemy import select, update

from annotate.core import workflow
from annotate.work.judged import current_judgements, judge_summary, weakest_first
from store.db import session_scope
from store.models import Prediction, Rationale, RationaleVersion
from tests.judging_rows import add_judgement

pytestmark = pytest.mark.both_backends


def accepted_ids(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return list(
            session.execute(
                select(Rationale.id)
                .where(Rationale.status == workflow.ACCEPTED)
                .where(Rationale.current_version.is_not(None))  # type: ignore[union-attr]
                .order_by(Rationale.id)
            ).scalars()
        )


def new_version(engine, rationale_id: int, text: str) -> int:  # type: ignore[no-untyped-def]
    """Save a new current version (as an edit would) and return its number."""
    with session_scope(engine) as session:
        rationale = session.get(Rationale, rationale_id)
        assert rationale is not None and rationale.current_version is not None
        version = rationale.current_version + 1
        session.add(RationaleVersion(rationale_id=rationale_id, version=version, text=text,
                                     author_id=rationale.author_id or "ana"))  # fmt: skip
        session.flush()
        rationale.current_version = version
        return version


S = {"faithfulness": 4, "relevance": 4, "informativeness": 4}


def test_the_newest_grounded_judgement_of_the_current_version_counts(demo_engine) -> None:
    first, second, third = accepted_ids(demo_engine)[:3]
    old = add_judgement(demo_engine, S, rationale_id=first, minutes=0)
    newest = add_judgement(demo_engine, {**S, "relevance": 2}, rationale_id=first, minutes=5,
                           reason="Relevance is thin: 相关性不足。")  # fmt: skip
    add_judgement(demo_engine, {**S, "relevance": 1}, rationale_id=first, minutes=9,
                  status="ungrounded")  # fmt: skip
    add_judgement(demo_engine, {}, rationale_id=first, minutes=10, status="failed")
    # the second is judged on its current version, then edited: nothing counts any more
    add_judgement(demo_engine, S, rationale_id=second)
    new_version(demo_engine, second, "A new text after the judge read it.")
    by_b = add_judgement(demo_engine, S, rationale_id=third, model="model-b")
    with session_scope(demo_engine) as session:
        judged = current_judgements(session)
        only_b = current_judgements(session, model="model-b")
        picked = current_judgements(session, rationale_ids=[first])
    assert old != newest
    one = judged.rationales[first]
    assert one.judgement_id == newest
    assert one.scores == {"faithfulness": 4, "relevance": 2, "informativeness": 4}
    assert list(one.scores) == ["faithfulness", "relevance", "informativeness"]
    assert one.passed is False and one.reason == "Relevance is thin: 相关性不足。"
    assert one.min_score == 2 and one.mean_score == pytest.approx(10 / 3)
    assert second not in judged.rationales
    assert set(judged.rationales) == {first, third}
    assert set(only_b.rationales) == {third} and only_b.rationales[third].judgement_id == by_b
    assert set(picked.rationales) == {first}
    assert judged.predictions == {}


def test_a_prediction_counts_only_while_its_text_is_the_judged_one(demo_engine) -> None:
    with session_scope(demo_engine) as session:
        rationale = session.get(Rationale, accepted_ids(demo_engine)[0])
        assert rationale is not None
        prediction = Prediction(source="model-x", session_id=rationale.session_id,
                                item_id=rationale.item_id, text="模型的理由：第2轮。")  # fmt: skip
        session.add(prediction)
        session.flush()
        pid = prediction.id
    assert pid is not None
    jid = add_judgement(demo_engine, S, prediction_id=pid)
    with session_scope(demo_engine) as session:
        judged = current_judgements(session, rationales=False)
    assert set(judged.predictions) == {pid}
    assert judged.predictions[pid].judgement_id == jid
    assert judged.predictions[pid].author == "model-x"
    with session_scope(demo_engine) as session:
        session.execute(update(Prediction).where(Prediction.id == pid).values(text="changed"))
    with session_scope(demo_engine) as session:
        assert current_judgements(session).predictions == {}


def test_weakest_first_orders_by_fail_then_minimum_then_mean_then_id(demo_engine) -> None:
    ids = accepted_ids(demo_engine)[:7]
    a, b, c, d, e, f, g = ids
    add_judgement(demo_engine, {"faithfulness": 5, "relevance": 5, "informativeness": 5},
                  rationale_id=a)  # fmt: skip  # passes, strongest
    add_judgement(demo_engine, {"faithfulness": 2, "relevance": 5, "informativeness": 5},
                  rationale_id=b)  # fmt: skip  # fails, min 2, mean 4
    add_judgement(demo_engine, {"faithfulness": 1, "relevance": 5, "informativeness": 5},
                  rationale_id=c)  # fmt: skip  # fails, min 1
    add_judgement(demo_engine, {"faithfulness": 2, "relevance": 2, "informativeness": 5},
                  rationale_id=d)  # fmt: skip  # fails, min 2, mean 3
    add_judgement(demo_engine, {"faithfulness": 3, "relevance": 3, "informativeness": 4},
                  rationale_id=e)  # fmt: skip  # passes, min 3
    # f and g are not judged; g is judged on an older version only
    add_judgement(demo_engine, {"faithfulness": 1, "relevance": 1, "informativeness": 1},
                  rationale_id=g)  # fmt: skip
    new_version(demo_engine, g, "Rewritten after the judge.")
    given = [g, a, f, b, c, d, e]
    with session_scope(demo_engine) as session:
        ordered = weakest_first(session, given)
    assert ordered == [c, d, b, e, a, g, f]


def test_a_judgement_on_another_rubric_version_does_not_count(demo_engine) -> None:
    """A rubric loaded after the judge ran may change the scale, criteria and threshold:
    judgements on the earlier version are outdated, as a new text's are."""
    first, second = accepted_ids(demo_engine)[:2]
    add_judgement(demo_engine, S, rationale_id=first, rubric_version="0.9.0")
    counted = add_judgement(demo_engine, S, rationale_id=second)
    with session_scope(demo_engine) as session:
        judged = current_judgements(session)
    assert set(judged.rationales) == {second}
    assert judged.rationales[second].judgement_id == counted


def test_weakest_first_compares_one_judge_the_one_leads_see(demo_engine) -> None:
    """With two judge models, the order is the most-counted model's (the one progress and
    the report show), not a mix of two judges' scales; MODEL names another."""
    a, b, c = accepted_ids(demo_engine)[:3]
    low = {"faithfulness": 2, "relevance": 2, "informativeness": 2}
    high = {"faithfulness": 5, "relevance": 5, "informativeness": 5}
    for rid, scores in ((a, high), (b, low), (c, S)):
        add_judgement(demo_engine, scores, rationale_id=rid, model="main-judge")
    # a harsh second judge, newer, on one text only: its 1s must not jump the queue
    add_judgement(demo_engine, {"faithfulness": 1, "relevance": 1, "informativeness": 1},
                  rationale_id=a, model="harsh-judge", minutes=30)  # fmt: skip
    with session_scope(demo_engine) as session:
        assert weakest_first(session, [a, b, c]) == [b, c, a]
        assert weakest_first(session, [a, b, c], "harsh-judge") == [a, b, c]


def test_summary_counts_coverage_failures_means_and_the_weakest(demo_engine) -> None:
    with session_scope(demo_engine) as session:
        assert current_judgements(session).rationales == {}
    assert judge_summary(demo_engine).stored == 0
    ids = accepted_ids(demo_engine)
    given = {
        ids[0]: {"faithfulness": 5, "relevance": 4, "informativeness": 3},
        ids[1]: {"faithfulness": 2, "relevance": 4, "informativeness": 3},
        ids[2]: {"faithfulness": 4, "relevance": 1, "informativeness": 2},
        ids[3]: {"faithfulness": 3, "relevance": 3, "informativeness": 3},
    }
    for rid, scores in given.items():
        add_judgement(demo_engine, scores, rationale_id=rid, reason=f"reason {rid}")
    add_judgement(demo_engine, S, rationale_id=ids[4])
    new_version(demo_engine, ids[4], "Edited since.")
    summary = judge_summary(demo_engine, weakest=2)
    assert summary.stored == 5
    assert summary.accepted == len(ids)
    assert summary.judged == 4
    assert summary.judged_older == 1
    assert summary.not_judged == len(ids) - 4
    assert summary.failing == 2
    for name in ("faithfulness", "relevance", "informativeness"):
        assert summary.means[name] == round(statistics.mean(s[name] for s in given.values()), 2)
    assert summary.models == {"judge-model": 4}
    assert [w.rationale_id for w in summary.weakest] == [ids[2], ids[1]]
    assert summary.weakest[0].min_score == 1 and summary.weakest[0].reason == f"reason {ids[2]}"
    assert summary.as_json()["weakest"][0]["scores"] == given[ids[2]]


def test_progress_shows_the_judge_only_once_something_is_judged(demo_engine, db_url) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from annotate.work.progress import judge_lines, judge_progress
    from cli.app import app

    runner = CliRunner()
    before = runner.invoke(app, ["--db", db_url, "progress", "--json"])
    assert before.exit_code == 0, before.output
    assert "judge" not in json.loads(before.stdout)
    assert "Judge" not in runner.invoke(app, ["--db", db_url, "progress"]).output
    ids = accepted_ids(demo_engine)
    for index, rid in enumerate(ids[:6]):
        low = 1 + index % 3
        add_judgement(demo_engine, {"faithfulness": low, "relevance": 4, "informativeness": 5},
                      rationale_id=rid, reason=f"第{index}条：证据不足 marker-{rid}")  # fmt: skip
    add_judgement(demo_engine, S, rationale_id=ids[0], model="rare-model")
    figures = judge_progress(demo_engine)
    assert figures is not None
    assert figures["model"] == "judge-model"
    assert figures["models"] == {"judge-model": 6, "rare-model": 1}
    assert (figures["judged"], figures["failing"]) == (6, 4)  # scores 1 and 2 fail
    assert figures["means"]["faithfulness"] == round(statistics.mean([1, 2, 3, 1, 2, 3]), 2)
    assert len(figures["weakest"]) == 5
    ran = runner.invoke(app, ["--db", db_url, "progress", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["judge"] == json.loads(json.dumps(figures, default=str))
    text = runner.invoke(app, ["--db", db_url, "progress"]).output
    lines = judge_lines(figures)
    assert lines[0].startswith(f"Judge (judge-model): 6 of {len(ids)} accepted rationales")
    assert "the judge fails 4" in lines[0]
    assert "Also judged by rare-model (1)" in lines[1]
    for line in lines:
        assert line in text
    shown = text.split("Weakest by judge first (5):", 1)[1].splitlines()[2:7]
    for line, weak in zip(shown, figures["weakest"], strict=True):
        assert line.split()[:4] == [weak["session_id"], weak["item_id"], weak["author"],
                                    str(weak["min_score"])]  # fmt: skip
        assert line.endswith(weak["reason"])
    assert [w["min_score"] for w in figures["weakest"]] == [1, 1, 2, 2, 3]
