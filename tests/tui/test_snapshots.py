"""Snapshots of the annotate, review and progress screens on the demo data (fixed size).

Regenerate after an intended change: ``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from textual.widgets import Input, TextArea

from tests.tui.helpers import settle
from tui.app import create_app

SIZE = (150, 45)


async def _steady(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    for widget in pilot.app.screen.query("TextArea, Input"):
        if isinstance(widget, TextArea | Input):
            widget.cursor_blink = False
    await pilot.pause()


def test_annotate_screen(snap_compare, work_engine) -> None:  # type: ignore[no-untyped-def]
    async def open_item(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("s")  # pending only
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("f4")  # highlight the first evidence turn
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "ana"), terminal_size=SIZE, run_before=open_item)


def test_review_screen(snap_compare, work_engine) -> None:  # type: ignore[no-untyped-def]
    async def open_review(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        await pilot.press("4", "tab", "2")
        await _steady(pilot)

    assert snap_compare(create_app(work_engine, "chen"), terminal_size=SIZE, run_before=open_review)


def test_progress_screen(snap_compare, work_engine) -> None:  # type: ignore[no-untyped-def]
    async def open_progress(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("f3")
        await _steady(pilot)

    assert snap_compare(
        create_app(work_engine, "ana"), terminal_size=SIZE, run_before=open_progress
    )
