"""Undo and redo after revert, regenerate and autosave: the editor never crashes.

Textual's undo put the old text back and updated the scrollbars before moving the
cursor back; when the undone draft needed a scrollbar and the expert's text did not, it
scrolled to a cursor row the text no longer had and the app died ("The document line
index 1 is out of bounds"), leaving the draft in the autosave instead of the expert's
text. Pilot cannot show every timing, so these tests make the scrollbar change for sure
(a draft far taller than the editor at 100x30) and check that precondition.
"""

from __future__ import annotations

import random

import pytest
from sqlmodel import Session
from textual.app import App, ComposeResult

from annotate.core import workflow
from annotate.work.rationales import editor as editing
from store.models import Autosave, Draft
from tests.tui.helpers import settle
from tests.workdata import make_draft
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen, RationaleEditor

SIZE = (100, 30)  # the tmux window of the report
TALL_DRAFT = "}\n\nThe client gave a rating of 4 on 1, which is " + " ".join(
    ["the counselor and the client agree on the goals they work on together"] * 14
)
SHORT_DRAFT = "A short draft citing turn 2."


def drafting(*texts: str):  # type: ignore[no-untyped-def]
    """A drafter that returns TEXTS in turn (the last one again when they run out)."""
    calls: list[str] = []

    def drafter(engine, session_id: str, item_id: str) -> Draft:  # type: ignore[no-untyped-def]
        text = texts[min(len(calls), len(texts) - 1)]
        calls.append(text)
        return make_draft(engine, session_id, item_id, text, (2,))

    return drafter


async def open_first(pilot) -> AnnotateScreen:  # type: ignore[no-untyped-def]
    """Enter on the queue's first row (a sent-back item comes first)."""
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AnnotateScreen)
    return screen


def autosaved_text(engine, rationale_id: int) -> str | None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        row = session.get(Autosave, (rationale_id, "ana"))
        return row.text if row is not None else None


async def test_undo_of_a_taller_draft_put_in_by_revert_brings_the_text_back(work_engine) -> None:
    """The reported session: regenerate, revert, autosave, undo, quit."""
    app = create_app(work_engine, "ana", drafter=drafting(TALL_DRAFT), autosave_delay=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot)
        assert screen.state is not None
        assert screen.state.status == workflow.REVISION_REQUESTED
        rationale_id, own_text = screen.state.rationale_id, screen.editor.text
        assert "\n" not in own_text and not screen.editor.show_vertical_scrollbar
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert screen.editor.text == own_text  # the expert's text is kept
        await pilot.press("ctrl+g")
        for _ in range(200):  # until the autosave (0.2 s after the revert) is written
            if autosaved_text(work_engine, rationale_id) == TALL_DRAFT:
                break
            await pilot.pause(0.05)
        await settle(pilot)
        assert screen.editor.text == TALL_DRAFT
        assert screen.editor.show_vertical_scrollbar  # undo will hide it: the crash's cause
        assert screen.editor.selection.end[0] > 0  # on a row the expert's text lacks
        assert "not saved, autosaved" in str(screen.query_one("#indicator").render())
        assert autosaved_text(work_engine, rationale_id) == TALL_DRAFT
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert screen.editor.text == own_text
        assert screen.editor.selection.end[0] == 0
        assert not screen.editor.show_vertical_scrollbar
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0
    # What reopening the item shows is the expert's text again, not the draft.
    # The draft's autosave is gone: the expert's text is the stored version again, so
    # no autosave is kept for it (an autosave equal to the current text is not unsaved).
    assert autosaved_text(work_engine, rationale_id) in (None, own_text)
    assert editing.open_rationale(work_engine, rationale_id, "ana").initial_text == own_text


async def test_redo_of_a_revert_to_a_shorter_draft(work_engine) -> None:
    """Redo shrinks the text before moving the cursor, as undo does."""
    app = create_app(work_engine, "ana", drafter=drafting(SHORT_DRAFT), autosave_delay=0.2)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot)
        await pilot.press(*["enter"] * 25)  # the expert's text, now taller than the editor
        tall_text = screen.editor.text
        assert screen.editor.show_vertical_scrollbar
        await pilot.press("ctrl+l")
        await settle(pilot)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert screen.editor.text == SHORT_DRAFT
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert screen.editor.text == tall_text
        assert screen.editor.selection.end[0] > 0
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert screen.editor.text == SHORT_DRAFT
        assert not screen.editor.show_vertical_scrollbar
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


@pytest.mark.parametrize("seed", [3, 4])  # walks that undo past a scrollbar change
async def test_any_mix_of_revert_undo_redo_regenerate_and_autosave(work_engine, seed: int) -> None:
    """A seeded walk through those keys, with drafts of every height, never raises, and
    quitting stores the text shown."""
    drafts = [TALL_DRAFT, SHORT_DRAFT, "Two lines.\nThe second.", TALL_DRAFT.replace("}", "{")]
    app = create_app(work_engine, "ana", drafter=drafting(*drafts * 4), autosave_delay=0.1)
    keys = ["ctrl+g", "ctrl+z", "ctrl+z", "ctrl+y", "ctrl+l", "enter", "x", "f7", "wait"]
    walk = random.Random(seed).choices(keys, k=70)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first(pilot)
        assert screen.state is not None
        rationale_id = screen.state.rationale_id
        for key in walk:
            if key == "wait":
                await pilot.pause(0.2)
            else:
                await pilot.press(key)
            if key == "ctrl+l":
                await settle(pilot)
        shown = screen.editor.text
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0
    assert autosaved_text(work_engine, rationale_id) in (shown, None)


class _Pasting(App[None]):
    def compose(self) -> ComposeResult:
        yield RationaleEditor("line0\nline1\n", soft_wrap=True)


async def test_undo_of_a_tall_paste() -> None:
    """The editor widget alone (Textual issue #6686's own case): paste, undo."""
    app = _Pasting()
    async with app.run_test(size=(40, 8)) as pilot:
        editor = app.query_one(RationaleEditor)
        editor.focus()
        editor.move_cursor(editor.document.end)
        await pilot.pause()
        app.copy_to_clipboard("\n".join(f"line{n}" for n in range(2, 50)))
        await pilot.press("ctrl+v")
        await pilot.pause()
        assert editor.show_vertical_scrollbar
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert editor.text == "line0\nline1\n"
        assert editor.selection.end == (2, 0)
