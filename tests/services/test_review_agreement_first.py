"""Reviews that make agreement possible come first, and progress says how near alpha is.

The issue's scenario: ``review-assign --overlap 2`` over the demo's accepted rationales
(its sessions and rationales, not its already-paired imported reviews, so nothing is
paired at the start), then 30 reviews by three experts, each taking the first review of
their queue in turn. Served session by session, the overlap units' two reviewers met on
none of them (0 units reviewed by two people, alpha "-").
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from annotate.analysis.agreement import MIN_UNITS, agreement
from annotate.core.demo import DEMO_RATIONALES, DEMO_SESSIONS
from annotate.ingest import import_file
from annotate.work.assignment import assign_reviews
from annotate.work.progress import agreement_line, agreement_progress
from annotate.work.reviews.queue import review_queue
from cli.app import app
from store.db import session_scope
from store.models import ReviewAssignment
from tests.workdata import review_now

pytestmark = pytest.mark.both_backends
EXPERTS = ("ana", "ben", "chen")
runner = CliRunner()


def _scores(item_id: str, reviewer: str) -> dict[str, int]:
    """Scores that mostly agree between reviewers and vary between items (alpha defined)."""
    base = 3 + int(item_id.rsplit("_", 1)[-1]) % 3
    nudge = 1 if reviewer == "chen" and base < 5 else 0
    return {"faithfulness": base, "relevance": base + nudge, "informativeness": max(3, base - 1)}


@pytest.fixture
def overlap_assigned(engine, db_url: str):  # type: ignore[no-untyped-def]
    for path in (DEMO_SESSIONS, DEMO_RATIONALES):
        import_file(engine, path)
    result = runner.invoke(
        app,
        ["--db", db_url, "review-assign", "--fraction", "1", "--overlap", "2",
         "--reviewers", ",".join(EXPERTS)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return engine


def _review_in_queue_order(engine, rounds: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        for expert in EXPERTS:
            task = review_queue(engine, expert)[0]
            review_now(engine, task.assignment_id, expert, _scores(task.item_id, expert))


def test_thirty_reviews_in_queue_order_give_alpha(overlap_assigned, db_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = overlap_assigned
    before = agreement_progress(engine)
    assert before["double_reviewed"] == 0 and before["needed_for_alpha"] == MIN_UNITS
    assert before["overlap_units"] == 12 and before["overlap_reviews_pending"] == 24
    _review_in_queue_order(engine, rounds=10)
    after = agreement_progress(engine)
    # 30 reviews can pair at most 15 units; served session by session they paired none.
    assert after["double_reviewed"] >= 10 and after["needed_for_alpha"] == 0
    table = agreement(engine, samples=50)
    assert table["units"].tolist() == [after["double_reviewed"]] * 3
    assert all(isinstance(value, float) for value in table["alpha"]), table
    assert table["note"].isna().all()
    result = runner.invoke(app, ["--db", db_url, "progress", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["agreement"] == after


def test_overlap_units_come_first_and_half_done_ones_before_them(overlap_assigned) -> None:  # type: ignore[no-untyped-def]
    engine = overlap_assigned
    with session_scope(engine) as session:
        reviewers: dict[int, set[str]] = {}
        for row in session.exec(select(ReviewAssignment)).all():
            reviewers.setdefault(row.rationale_id, set()).add(row.reviewer_id)
    for expert in EXPERTS:
        queue = review_queue(engine, expert)
        shared = [len(reviewers[task.rationale_id]) > 1 for task in queue]
        assert shared == sorted(shared, reverse=True), expert  # overlap units, then singles
    # ana reviews her first overlap unit: its other reviewer now gets it first.
    first = review_queue(engine, "ana")[0]
    (other,) = reviewers[first.rationale_id] - {"ana"}
    review_now(engine, first.assignment_id, "ana", _scores(first.item_id, "ana"))
    assert review_queue(engine, other)[0].rationale_id == first.rationale_id
    figures = agreement_progress(engine)
    assert figures["one_review_away"] == 1 and figures["overlap_reviews_pending"] == 23


def test_progress_text_and_screen_line(overlap_assigned, db_url: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--db", db_url, "progress"])
    assert result.exit_code == 0, result.output
    line = (
        "Agreement: 0 units reviewed by two or more people; alpha needs 2, 2 more; "
        "24 reviews to do on 12 overlap units (0 one review away)"
    )
    assert line in result.stdout.splitlines()
    _review_in_queue_order(overlap_assigned, rounds=1)
    assert agreement_line(agreement_progress(overlap_assigned)).startswith(
        "Agreement: 1 unit reviewed by two or more people; alpha needs 2, 1 more; "
    )


def test_progress_without_overlap_says_what_to_run(engine) -> None:  # type: ignore[no-untyped-def]
    for path in (DEMO_SESSIONS, DEMO_RATIONALES):
        import_file(engine, path)
    assign_reviews(engine, fraction=1.0, overlap=1)
    figures = agreement_progress(engine)
    assert figures["overlap_units"] == 0 and figures["needed_for_alpha"] == 2
    assert agreement_line(figures).endswith(
        "no rationale has two reviewers: run 'annotate review-assign --overlap 2'"
    )
