"""A real process kill: type into the UI on a pty, SIGKILL it, restart, find the text."""

from __future__ import annotations

import fcntl
import os
import pty
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

from annotate import workflow
from annotate.database import open_store
from annotate.queue import authoring_queue
from tests.tui.helpers import SIZE, settle
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen

ROOT = Path(__file__).resolve().parents[2]
TYPED = "Typed before the crash; 崩溃前输入的文字，“引号”。"


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [sys.executable, "-m", "annotate", "--db", str(work_db), "tui", "--annotator", "ana"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # keep the terminal's buffer empty so the app never blocks writing
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    try:
        wait_until(lambda: b"Your rationales" in screen and b"s02" in screen, "the queue")
        os.write(master, b"s")  # pending only
        time.sleep(1.0)
        os.write(master, b"\r")  # open the first item
        wait_until(lambda: b"Transcript" in screen and b"Draft for" in screen, "the editor")
        time.sleep(0.5)
        os.write(master, TYPED.encode("utf-8"))
        wait_until(
            lambda: (autosaved_text(work_db, entry.rationale_id) or "").startswith(TYPED),
            "the autosave",
        )
    finally:
        process.kill()  # SIGKILL: no clean-up, no save on exit
        process.wait(timeout=30)
        os.close(master)
    assert process.returncode == -9
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
