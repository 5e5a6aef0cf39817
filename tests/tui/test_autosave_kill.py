"""A real process kill: type into the UI on a pty, SIGKILL it, restart, find the text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from annotate.core import workflow
from annotate.core.database import open_store
from annotate.work.queue import authoring_queue
from tests.tui.helpers import SIZE, settle
from tests.tui.ptyrun import Terminal, wait_until
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen

TYPED = "Typed before the crash; 崩溃前输入的文字，“引号”。"


def autosaved_text(db: Path, rationale_id: int) -> str | None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute(
            "SELECT text FROM autosaves WHERE rationale_id = ? AND annotator_id = 'ana'",
            (rationale_id,),
        ).fetchone()
    return row[0] if row else None


def version_count(db: Path, rationale_id: int) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute(
            "SELECT count(*) FROM rationale_versions WHERE rationale_id = ?", (rationale_id,)
        ).fetchone()[0]


def test_killed_app_keeps_the_autosaved_text(work_db: Path) -> None:
    engine = open_store(str(work_db))
    entry = authoring_queue(engine, "ana", status=workflow.PENDING)[0]
    engine.dispose()

    terminal = Terminal("--db", str(work_db), "tui", "--annotator", "ana")
    screen = terminal.screen
    try:
        wait_until(lambda: b"Your rationales" in screen and b"s02" in screen, "the queue")
        mark = len(screen)
        terminal.type("s")  # pending only: the filter shows it, keys wait for its list
        wait_until(lambda: b"pending" in screen[mark:], "the status filter")
        terminal.type("\r")  # open the first item
        wait_until(lambda: b"Transcript" in screen and b"Draft for" in screen, "the editor")
        terminal.type(TYPED)
        wait_until(
            lambda: (autosaved_text(work_db, entry.rationale_id) or "").startswith(TYPED),
            "the autosave",
        )
    finally:
        returncode = terminal.close(kill=True)  # SIGKILL: no clean-up, no save on exit
    assert returncode == -9
    assert version_count(work_db, entry.rationale_id) == 0  # nothing was explicitly saved

    import asyncio

    async def reopen() -> str:
        engine = open_store(str(work_db))
        app = create_app(engine, "ana")
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await pilot.press("s")
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            editor_screen = app.screen
            assert isinstance(editor_screen, AnnotateScreen)
            assert editor_screen.state is not None
            assert editor_screen.state.rationale_id == entry.rationale_id
            assert "autosaved" in str(editor_screen.query_one("#indicator").render())
            text = editor_screen.editor.text
        engine.dispose()
        return text

    text = asyncio.run(reopen())
    assert text.startswith(TYPED) and "Draft for" in text
