"""Snapshots of every screen on the demo data, at 100x30 and 150x45.

Regenerate after an intended change: ``pytest tests/tui/test_snapshots.py --snapshot-update``,
then look at each picture (``tests/tui/__snapshots__/test_snapshots/*.svg``) before committing.
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, TextArea

from tests.tui.helpers import settle
from tui.app import create_app

SIZES = [pytest.param((100, 30), id="100x30"), pytest.param((150, 45), id="150x45")]


async def _steady(pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait until the screen is still: no worker running and every shown table sized,
    five checks in a row (on a loaded machine a late Select.Changed can start one more
    load of the queue after the first one has finished)."""
    await settle(pilot)
    from tui.screens.queue import QueueScreen

    still = 0
    for _ in range(200):  # up to ~10 s
        # No blinking cursor (its phase is timing): checked every time, since on a loaded
        # machine the editor or a dialog may be mounted after the first check.
        for widget in pilot.app.screen.query("TextArea, Input"):
            if isinstance(widget, TextArea | Input) and widget.cursor_blink:
                widget.cursor_blink = False
                still = -1
        # Every screen of the stack counts: the queue shows around a dialog or Help.
        tables = [table for screen in pilot.app.screen_stack for table in screen.query(DataTable)
                  if table.display]  # fmt: skip
        queue = [s for s in pilot.app.screen_stack if isinstance(s, QueueScreen)]
        busy = (
            not (queue and queue[0].loaded)  # the app's first screen is up and filled
            or any(worker.is_running for worker in pilot.app.workers)
            or any(table._require_update_dimensions or table._updated_cells for table in tables)
        )
        still = 0 if busy else still + 1
        if still >= 5:
            break
        await pilot.pause(0.05)
    else:
        state = {t.id: (t._require_update_dimensions, bool(t._updated_cells)) for t in tables}
        raise AssertionError(
            f"the screen never settled: {queue and queue[0].loaded} {state} "
            f"{[w for w in pilot.app.workers if w.is_running]}"
        )
    await pilot.pause()


async def _until(pilot, condition) -> None:  # type: ignore[no-untyped-def]
    """Wait (up to 10 s: a loaded CI machine) until CONDITION holds."""
    for _ in range(500):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the screen never got there")


@pytest.mark.parametrize("size", SIZES)
def test_queue_screen(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(create_app(work_engine, "ana"), terminal_size=size, run_before=_steady)


@pytest.mark.parametrize("size", SIZES)
def test_annotate_screen(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    async def open_item(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("s")  # pending only
        await _steady(pilot)  # the filtered list is loaded before Enter picks its first row
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f4")  # highlight the first evidence turn
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ana"), terminal_size=size, run_before=open_item)


@pytest.mark.parametrize("size", SIZES)
def test_chinese_annotate_screen(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    async def open_item(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("slash", *"s13", "enter")
        await _steady(pilot)
        await pilot.press("enter")
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ben"), terminal_size=size, run_before=open_item)


@pytest.mark.parametrize("size", SIZES)
def test_flag_dialog(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    async def open_flag(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+f")
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ana"), terminal_size=size, run_before=open_flag)


@pytest.mark.parametrize("size", SIZES)
def test_review_screen(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    async def open_review(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        await pilot.press("4", "tab", "2")
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "chen"), terminal_size=size, run_before=open_review)


@pytest.mark.parametrize("size", SIZES)
def test_progress_screen(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    async def open_progress(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("f3")
        await _steady(pilot)

    app = create_app(work_engine, "ana")
    assert snap_compare(app, terminal_size=size, run_before=open_progress)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    async def open_help(pilot) -> None:  # type: ignore[no-untyped-def]
        from tui.screens.help import HelpScreen
        from tui.screens.queue import QueueScreen

        await _until(pilot, lambda: isinstance(pilot.app.screen, QueueScreen))
        await _steady(pilot)  # F1 on the queue, not on the default screen under it
        await pilot.press("f1")
        await _until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ana"), terminal_size=size, run_before=open_help)


@pytest.mark.parametrize("size", SIZES)
def test_coding_screen(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    """A Chinese rupture session with imported codes, a hinter proposal and the legend."""
    from annotate.drafting.markers import run_markers
    from annotate.work.codings import assign_codings, toggle_code

    assign_codings(work_engine, ["ana"], sessions=["s14"])
    run_markers(work_engine, None, sessions=["s14"])
    with work_engine.connect() as connection:
        (coding_id,) = connection.exec_driver_sql("SELECT id FROM codings").one()
    for version, (turn, code) in enumerate([(6, "complaint"), (8, "avoidance"),
                                            (9, "metacommunicate")]):  # fmt: skip
        toggle_code(work_engine, coding_id, "ana", turn, code, version)

    async def open_coding(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.screen.query_one("#codings").focus()
        await pilot.press("enter")
        await settle(pilot)
        for _ in range(9):  # to turn 10, which the hinter marked
            await pilot.press("down")
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ana"), terminal_size=size, run_before=open_coding)


@pytest.mark.parametrize("size", SIZES)
def test_annotate_screen_with_alliance_strip(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    """The editor of test_annotate_screen with a stored (lexical) trace of its session: the
    strip beside each turn, the method in the border, the evidence turn's figures above."""
    from tests.tui.test_annotate_screen import first_pending
    from tests.tui.test_trace_strip import plant_trace

    plant_trace(work_engine, first_pending(work_engine).session_id, dip=2)

    async def open_item(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("s")  # pending only
        await _steady(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f4")  # highlight the first evidence turn: its figures above
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ana"), terminal_size=size, run_before=open_item)


@pytest.mark.parametrize("size", SIZES)
def test_coding_screen_with_alliance_strip(snap_compare, work_engine, size) -> None:  # type: ignore[no-untyped-def]
    """A Chinese session's turn coding with its stored trace beside the turns."""
    from annotate.work.codings import assign_codings
    from tests.tui.test_trace_strip import plant_trace

    assign_codings(work_engine, ["ana"], sessions=["s14"])
    plant_trace(work_engine, "s14", dip=4)

    async def open_coding(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.screen.query_one("#codings").focus()
        await pilot.press("enter")
        await settle(pilot)
        for _ in range(3):  # to turn 4, the planted dip
            await pilot.press("down")
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ana"), terminal_size=size, run_before=open_coding)
