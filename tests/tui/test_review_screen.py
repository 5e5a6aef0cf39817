"""Pilot tests of the blind review: scores typed -> reviews stored, failing work sent back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from annotate.core import workflow
from annotate.core.errors import PermissionDenied
from annotate.ingest import import_file
from annotate.work.assignment import assign_authoring, assign_reviews
from annotate.work.queue import authoring_queue
from annotate.work.rationales import editor as editing
from annotate.work.reviews.queue import review_queue
from annotate.work.reviews.write import submit_review
from store.db import session_scope
from store.models import Rationale, Review, ReviewAssignment, ReviewScore
from tests.factories import session_record, write_jsonl
from tests.tui.helpers import SIZE, screen_text, settle
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen
from tui.screens.review import ReviewScreen


def _scores(session: Session, review: Review) -> tuple[int, ...]:
    """A review's faithfulness, relevance and informativeness (rows of review_scores)."""
    stored = dict(
        session.exec(
            select(ReviewScore.criterion, ReviewScore.score).where(
                ReviewScore.review_id == review.id
            )
        ).all()
    )
    return tuple(stored[name] for name in ("faithfulness", "relevance", "informativeness"))


async def open_first_review(pilot) -> ReviewScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await pilot.press("tab")  # from your rationales to the reviews table
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ReviewScreen)
    return screen


async def test_failing_score_sends_the_rationale_back_with_the_comment(work_engine) -> None:
    task = review_queue(work_engine, "chen")[0]
    app = create_app(work_engine, "chen")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_review(pilot)
        assert screen.view is not None and screen.view.rationale_id == task.rationale_id
        await pilot.press("2", "tab", "4", "tab", "5", "tab", *"Not in turn 7")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with Session(work_engine) as session:
        review = session.exec(
            select(Review).where(
                Review.rationale_id == task.rationale_id, Review.reviewer_id == "chen"
            )
        ).one()
        assert _scores(session, review) == (2, 4, 5)
        assert not review.passed and review.comment == "Not in turn 7"
        rationale = session.get(Rationale, task.rationale_id)
        assert rationale is not None and rationale.status == workflow.REVISION_REQUESTED
        author = rationale.author_id
        assignment = session.get(ReviewAssignment, task.assignment_id)
        assert assignment is not None and assignment.status == workflow.REVIEW_DONE
    # the author sees it in their queue, with the three scores and the comment
    entry = next(
        e for e in authoring_queue(work_engine, author) if e.rationale_id == task.rationale_id
    )
    assert entry.comment == "F2 R4 I5 · Not in turn 7"
    author_app = create_app(work_engine, author)
    async with author_app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = author_app.screen.query_one("#authoring")
        row = table.get_row(str(task.rationale_id))  # type: ignore[attr-defined]
        assert "sent back" in row and "F2 R4 I5 · Not in turn 7" in row
        author_app.push_screen(AnnotateScreen([task.rationale_id]))
        await settle(pilot)
        banner = author_app.screen.query_one("#comments")
        assert banner.border_title == "Sent back by review"
        shown = str(banner.query_one("#scroll-text-body").content)
        assert "faithfulness 2, relevance 4, informativeness 5: Not in turn 7" in shown


async def test_passing_scores_keep_the_rationale_accepted(work_engine) -> None:
    task = review_queue(work_engine, "chen")[0]
    app = create_app(work_engine, "chen")
    async with app.run_test(size=SIZE) as pilot:
        await open_first_review(pilot)
        await pilot.press("4", "tab", "3", "tab", "5")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with Session(work_engine) as session:
        assert session.get(Rationale, task.rationale_id).status == workflow.ACCEPTED  # type: ignore[union-attr]
        review = session.exec(
            select(Review).where(
                Review.reviewer_id == "chen", Review.rationale_id == task.rationale_id
            )
        ).one()
        assert review.passed


async def test_missing_score_is_refused_in_the_ui(work_engine) -> None:
    task = review_queue(work_engine, "chen")[0]
    app = create_app(work_engine, "chen")
    async with app.run_test(size=SIZE) as pilot:
        await open_first_review(pilot)
        await pilot.press("4", "ctrl+s")
        await settle(pilot)
    with Session(work_engine) as session:
        query = select(Review).where(Review.rationale_id == task.rationale_id)
        assert all(review.reviewer_id != "chen" for review in session.exec(query))


@pytest.fixture
def blind_engine(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """One session; 'qxauthor' writes every rationale, 'qyreviewer' reviews them."""
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [session_record("b1")]))
    assign_authoring(engine, ["qxauthor"])
    for entry in authoring_queue(engine, "qxauthor"):
        editing.accept(engine, entry.rationale_id, "qxauthor", f"Text of {entry.item_id}.", 0)
    with session_scope(engine) as session:
        editing.ensure_annotator(session, "qyreviewer")
    assign_reviews(engine, sessions=1, seed=0)
    return engine


async def test_blind_review_never_renders_the_author_and_never_offers_own_work(
    blind_engine,
) -> None:
    reviewer_tasks = review_queue(blind_engine, "qyreviewer")
    assert len(reviewer_tasks) == 12
    assert review_queue(blind_engine, "qxauthor") == []  # never their own
    # even an assignment slipped into the table is not offered, and is refused
    own = authoring_queue(blind_engine, "qxauthor")[0]
    with session_scope(blind_engine) as session:
        bad = ReviewAssignment(rationale_id=own.rationale_id, reviewer_id="qxauthor")
        session.add(bad)
        session.flush()
        bad_id = bad.id
    assert review_queue(blind_engine, "qxauthor") == []
    with pytest.raises(PermissionDenied):
        submit_review(
            blind_engine,
            bad_id,
            "qxauthor",
            {"faithfulness": 5, "relevance": 5, "informativeness": 5},
            shown_version=1,
        )
    app = create_app(blind_engine, "qxauthor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#reviews").row_count == 0  # type: ignore[attr-defined]
    app = create_app(blind_engine, "qyreviewer")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "qxauthor" not in screen_text(pilot)
        await open_first_review(pilot)
        text = screen_text(pilot)
        assert "Text of goal_1." in text and "qxauthor" not in text
        await pilot.press("f1")
        await pilot.pause()
        assert "qxauthor" not in screen_text(pilot)


@pytest.mark.parametrize("size", [(100, 30), (160, 48)])
async def test_a_long_rationale_is_reachable_whole_with_a_cue(work_engine, size) -> None:  # type: ignore[no-untyped-def]
    task = review_queue(work_engine, "chen")[0]
    with Session(work_engine) as session:
        rationale = session.get(Rationale, task.rationale_id)
        assert rationale is not None and rationale.author_id is not None
        author, base = rationale.author_id, rationale.lock_version
    sentences = [
        f"Sentence {n}: the client answered briefly after turn {n + 3} and the counselor "
        "moved on without checking."
        for n in range(1, 7)
    ]
    last = "Closing: fits."
    text = " ".join([*sentences, last])
    assert len(text) >= 600
    editor_state = editing.accept(work_engine, task.rationale_id, author, text, base)
    assert editor_state.status == workflow.ACCEPTED
    app = create_app(work_engine, "chen")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.push_screen(ReviewScreen([task.assignment_id]))
        await settle(pilot)
        box = app.screen.query_one("#rationale")
        if size == (100, 30):  # 600 characters do not fit here: the cue says so
            assert box.more_below and "more below" in str(box.border_subtitle)  # type: ignore[attr-defined]
            assert "more below" in screen_text(pilot)
            assert "Closing: fits." not in screen_text(pilot)
        box.scroll_end(animate=False)
        await settle(pilot)
        shown = screen_text(pilot)
        assert "Closing: fits." in shown and "Sentence 6:" in shown
        assert not box.more_below and not box.border_subtitle  # type: ignore[attr-defined]
        rubric = app.screen.query_one("#rubric-box")
        assert rubric.region.height >= 6  # the rubric stays readable: 4 lines and a cue
        if size == (100, 30):
            assert "more below" in str(rubric.border_subtitle)


async def test_scores_typed_at_any_speed_are_stored_as_typed(work_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Keys of the next review typed before it has even arrived belong to it, not lost.

    Storing and loading are slowed down (a busy database), so the keys always arrive
    while a review is being stored or the next one loaded.
    """
    import time

    import tui.screens.review as screen_module

    def slowly(function):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(0.3)
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(screen_module, "submit_review", slowly(screen_module.submit_review))
    monkeypatch.setattr(screen_module, "open_review", slowly(screen_module.open_review))
    tasks = review_queue(work_engine, "chen")[:3]
    typed = [("2", "4", "5", "Not in turn 7"), ("4", "4", "3", ""), ("5", "3", "4", "好的")]
    app = create_app(work_engine, "chen")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(ReviewScreen([t.assignment_id for t in tasks]))
        await settle(pilot)
        keys: list[str] = []
        for faithfulness, relevance, informativeness, comment in typed:
            keys += [faithfulness, "tab", relevance, "tab", informativeness, "tab", *comment]
            keys.append("ctrl+s")
        await pilot.press(*keys)  # no pause anywhere: faster than any store or load
        await settle(pilot)
    with Session(work_engine) as session:
        for task, (faithfulness, relevance, informativeness, comment) in zip(
            tasks, typed, strict=True
        ):
            review = session.exec(
                select(Review).where(
                    Review.rationale_id == task.rationale_id, Review.reviewer_id == "chen"
                )
            ).one()
            assert _scores(session, review) == (
                int(faithfulness), int(relevance), int(informativeness)
            )  # fmt: skip
            assert (review.comment or "") == comment
