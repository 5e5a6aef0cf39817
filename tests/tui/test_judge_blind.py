"""Blind stays blind: the rubric judge's scores and reasons never reach an expert who
reviews or authors the judged text (Pilot), while a lead sees them on the progress screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from annotate.work.judged import judge_summary
from annotate.work.reviews.queue import review_queue
from store.db import session_scope
from store.models import Rationale
from tests.judging_rows import add_judgement
from tests.tui.helpers import SIZE, screen_text, settle
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen
from tui.screens.progress import ProgressScreen
from tui.screens.review import ReviewScreen

ROOT = Path(__file__).resolve().parents[2]
MARKER = "QZJ-4417 评审标记"
# Distinctive scores, and every way the app writes a review's scores (describe_review).
JUDGE_SCORES = {"faithfulness": 1, "relevance": 2, "informativeness": 1}
SCORE_FORMS = ("F1 R2 I1", "faithfulness 1, relevance 2, informativeness 1")
REVIEWER = "chen"


def judge_the_reviewers_work(engine) -> list[int]:  # type: ignore[no-untyped-def]
    """Judge every rationale assigned to REVIEWER, marker in the reason; their ids."""
    rationale_ids = [t.rationale_id for t in review_queue(engine, REVIEWER)]
    assert rationale_ids and None not in rationale_ids
    for rid in rationale_ids:
        assert rid is not None
        add_judgement(engine, JUDGE_SCORES, rationale_id=rid, reason=f"{MARKER} #{rid}")
    return [rid for rid in rationale_ids if rid is not None]


@contextmanager
def no_judgement_read(engine: Engine) -> Iterator[None]:
    """Fail if any SQL touching the judgement tables runs inside the block (the app and
    the test share the engine, so every query the screens make passes here)."""
    read: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if "judgement" in statement.lower():
            read.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert read == [], read


def assert_blind(text: str, where: str) -> None:
    assert MARKER not in text, where
    # the word itself: the demo's transcripts speak of "judgement" (a counselor's stance)
    assert not re.search(r"\bjudge\b", text, flags=re.IGNORECASE), where
    for form in SCORE_FORMS:
        assert form not in text, where


async def test_a_reviewer_never_sees_the_judge_on_any_screen(work_engine) -> None:
    judged = judge_the_reviewers_work(work_engine)
    app = create_app(work_engine, REVIEWER, lead=True)  # even started as a lead
    with no_judgement_read(work_engine):
        await review_everything(app, judged)


async def test_only_one_started_as_lead_sees_the_judge(work_engine) -> None:
    """A newcomer (no authoring, no review yet: the lead may give them reviews next) sees
    no judge unless the app was started with --lead."""
    judge_the_reviewers_work(work_engine)
    for lead in (False, True):
        app = create_app(work_engine, "newcomer", lead=lead)
        async with app.run_test(size=(160, 80)) as pilot:
            await settle(pilot)
            await pilot.press("f3")
            await settle(pilot)
            assert isinstance(app.screen, ProgressScreen)
            assert app.screen.query_one("#judge").display is lead
            assert (MARKER in screen_text(pilot)) is lead


async def review_everything(app, judged: list[int]) -> None:  # type: ignore[no-untyped-def]
    """As the reviewer: the list, each judged text's review screen, then progress."""
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert_blind(screen_text(pilot), "review list")
        await pilot.press("tab", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        seen = []
        for _ in judged:
            assert screen.view is not None
            seen.append(screen.view.rationale_id)
            assert_blind(screen_text(pilot), f"review of rationale {screen.view.rationale_id}")
            await pilot.press("ctrl+down")
            await settle(pilot)
        assert set(seen) == set(judged)  # every judged text was on screen once
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert isinstance(app.screen, ProgressScreen)
        assert_blind(screen_text(pilot), "progress, as a reviewer")
        assert not app.screen.query_one("#judge").display
        assert not app.screen.table("weakest-by-judge").display


async def test_the_author_never_sees_the_judge_in_the_queue_or_the_editor(work_engine) -> None:
    rid = judge_the_reviewers_work(work_engine)[0]
    with session_scope(work_engine) as session:
        rationale = session.get(Rationale, rid)
        assert rationale is not None and rationale.author_id is not None
        author = rationale.author_id
    app = create_app(work_engine, author)
    with no_judgement_read(work_engine):
        await edit_it(app, rid)


async def edit_it(app, rid: int) -> None:  # type: ignore[no-untyped-def]
    """As the author: the queue, the editor of the judged rationale, then progress."""
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert_blind(screen_text(pilot), "author's queue")
        app.push_screen(AnnotateScreen([rid]))
        await settle(pilot)
        assert isinstance(app.screen, AnnotateScreen)
        assert_blind(screen_text(pilot), "author's editor")
        await pilot.press("f3")
        await settle(pilot)
        assert_blind(screen_text(pilot), "progress, as an author")


async def test_a_lead_sees_coverage_and_the_weakest_by_judge(work_engine) -> None:
    judge_the_reviewers_work(work_engine)
    summary = judge_summary(work_engine)
    app = create_app(work_engine, "lead", lead=True)
    async with app.run_test(size=(160, 80)) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProgressScreen)
        text = screen_text(pilot)
        assert f"Judge (judge-model): {summary.judged} of {summary.accepted} accepted" in text
        assert f"the judge fails {summary.failing}" in text
        table = screen.table("weakest-by-judge")
        assert table.display and table.row_count == len(summary.weakest) == 5
        for index, weak in enumerate(summary.weakest):
            assert table.get_row_at(index) == [weak.session_id, weak.item_id, weak.author,
                                               str(weak.min_score), weak.reason]  # fmt: skip
        assert MARKER in text


def test_review_code_never_reads_judgements() -> None:
    """The review screen and the review services neither import the judge's reader nor
    name its tables (at run time the Pilot tests above check no such query runs)."""
    reviews = sorted((ROOT / "annotate/work/reviews").glob("*.py"))
    sources = [ROOT / "tui/screens/review.py", *reviews]
    assert len(sources) >= 4
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"annotate\.work\.judged|\bjudged\b", text), path
        assert not re.search(r"JUDGEMENT|Judgement|judgements", text), path
