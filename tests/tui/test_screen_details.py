"""Screen details at 100x30: notices beside the transcript, the queue's rows with codings,
counts in words ("1 code"), and F3 pressed before the queue has arrived."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from textual.widgets import DataTable
from textual.widgets._toast import Toast
from textual.worker import WorkerState

from annotate.core.demo import DEMO_CODINGS
from annotate.core.errors import ConfigError
from annotate.core.plurals import counted
from annotate.drafting.markers import run_markers
from annotate.ingest.codings import import_codings_file
from annotate.work.codings import assign_codings
from annotate.work.queue import authoring_queue
from tests.tui.helpers import screen_text, settle
from tests.tui.test_coding_screen import _open_coding, _to_turn
from tui.app import create_app
from tui.failures import ERROR_SECONDS, notify_failure
from tui.screens.annotate import AnnotateScreen
from tui.screens.progress import ProgressScreen
from tui.screens.queue import QueueScreen

SMALL = (100, 30)


def test_counts_agree_with_their_noun() -> None:
    assert [counted(n, "code") for n in (0, 1, 2)] == ["0 codes", "1 code", "2 codes"]
    assert counted(1, "rationale version") == "1 rationale version"
    assert counted(3, "turn coding") == "3 turn codings"


async def test_an_error_notice_is_brief_and_leaves_the_transcript_uncovered(work_engine) -> None:  # type: ignore[no-untyped-def]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen)
        failed = SimpleNamespace(
            state=WorkerState.ERROR,
            worker=SimpleNamespace(error=ConfigError("the draft server did not answer: " * 3)),
        )
        notify_failure(screen, failed)  # type: ignore[arg-type]
        await settle(pilot)
        (toast,) = app.screen.query(Toast)
        transcript = screen.query_one("#transcript").region
        assert toast.region.width > 20
        assert not toast.region.overlaps(transcript), (toast.region, transcript)
        (notice,) = list(app._notifications)
        assert notice.severity == "error" and notice.timeout == ERROR_SECONDS <= 5


async def test_with_codings_and_reviews_the_small_queue_shows_seven_rationales(work_engine) -> None:  # type: ignore[no-untyped-def]
    import_codings_file(work_engine, DEMO_CODINGS)  # ben's and chen's, submitted
    assign_codings(work_engine, ["ana"], sessions=["s08", "s12"])  # as the demo does
    assign_codings(work_engine, ["ana", "ben", "chen"], sessions=["s03", "s07", "s11", "s14"],
                   reviewers=True)  # fmt: skip
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        codings = screen.query_one("#codings", DataTable)
        coding_reviews = screen.query_one("#coding-reviews", DataTable)
        assert codings.row_count and coding_reviews.row_count  # both coding lists shown
        authoring = screen.query_one("#authoring", DataTable)
        rows_in_sight = authoring.scrollable_content_region.height - 1  # less the header
        assert authoring.row_count > 10 and rows_in_sight >= 7, rows_in_sight  # it was 4
        reviews = screen.query_one("#reviews", DataTable)
        assert reviews.row_count > 4 and reviews.scrollable_content_region.height - 1 >= 4
        # The two coding lists sit side by side, every row of each in sight.
        assert codings.region.y == coding_reviews.region.y
        assert codings.region.right <= coding_reviews.region.x
        for table in (codings, coding_reviews):
            assert table.region.height >= table.row_count + 1
        assert "s03" in screen_text(pilot) and "s12" in screen_text(pilot)


async def test_counts_on_the_coding_screen_and_the_queue_agree_with_their_noun(work_engine) -> None:  # type: ignore[no-untyped-def]
    assign_codings(work_engine, ["chen"], sessions=["s11"])
    run_markers(work_engine, None, sessions=["s11"])  # the hinter: turns 8 and 14
    app = create_app(work_engine, "chen")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        summary = str(app.screen.query_one("#summary").render())
        assert "1 session to code" in summary, summary
        screen = await _open_coding(pilot)
        assert "0 codes · 2 proposals to decide" in screen_text(pilot)
        await _to_turn(pilot, screen, 8)
        await pilot.press("a")  # the proposal becomes a code
        await settle(pilot)
        assert "1 code · 1 proposal to decide" in screen_text(pilot)


async def test_f3_pressed_before_the_queue_arrives_opens_progress(
    work_engine, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from tui.screens import queue as queue_module

    def slow_queue(*args: Any) -> Any:
        time.sleep(0.5)  # a large store on a busy machine
        return authoring_queue(*args)

    monkeypatch.setattr(queue_module, "authoring_queue", slow_queue)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SMALL) as pilot:
        queue = app.screen
        assert isinstance(queue, QueueScreen) and not queue.loaded  # still loading
        await pilot.press("f3")
        await settle(pilot)
        assert queue.loaded  # the queue arrived underneath and did not cover Progress
        assert isinstance(app.screen, ProgressScreen)
        assert "sessions · " in screen_text(pilot)
