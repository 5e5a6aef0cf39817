"""Keys typed right after a move belong to the item the move opens, on a busy machine.

A real terminal (a pty) gets each "move, F7, sentence, Ctrl+S" burst in one write while
two CPU-bound processes run beside the app, so the keys arrive while the next item is
still being loaded. Every stored text must equal the typed sentence and sit on the item
the move opened: nothing glued to a draft, nothing lost, nothing on the item left.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from annotate.work.queue import (
    SENT_BACK,
    UNFINISHED,
    authoring_queue,
    next_with_status,
    sent_back_first,
)
from cli.app import app
from store.db import make_engine
from tests.interactive import plain
from tests.tui.ptyrun import Terminal, wait_until

runner = CliRunner()

ENTER, CTRL_S, CTRL_O, CTRL_Q = "\r", "\x13", "\x0f", "\x11"
CTRL_DOWN, CTRL_UP = "\x1b[1;5B", "\x1b[1;5A"
DOWN = "\x1b[B"
F7, F8, F9 = "\x1b[18~", "\x1b[19~", "\x1b[20~"

# Two CPU-bound processes: never beside the other timing tests (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("timing")]


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """Two CPU-bound processes beside the test (as on a shared server or in a video call)."""
    burners = [
        subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 240\n"
                          "while time.time() < end: pass"])
        for _ in range(2)
    ]  # fmt: skip
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def _versions(db: Path) -> list[tuple[int, int, str, str, str]]:
    """(rationale, version, kind, author, text) of every stored version, oldest first."""
    engine = make_engine(str(db))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT rationale_id, version, kind, author_id, text "
                    "FROM rationale_versions ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_keys_typed_after_each_kind_of_move_reach_the_item_it_opens(
    tmp_path: Path, busy_machine: None
) -> None:
    db = tmp_path / "work.db"
    assert runner.invoke(app, ["--db", str(db), "demo", "--no-ui"]).exit_code == 0
    engine = make_engine(str(db))
    ids = [entry.rationale_id for entry in sent_back_first(authoring_queue(engine, "ana"))]

    def following(index: int, wanted: tuple[str, ...]) -> int:
        found = next_with_status(engine, ids, index, wanted)
        assert found is not None
        return found

    terminal = Terminal("--db", str(db), "tui", "--annotator", "ana")
    stored = _versions(db)
    try:
        wait_until(lambda: "Your rationales" in plain(bytes(terminal.screen)), "the queue", 90)

        def burst(keys: str, sentence: str, index: int, *, new_rows: int = 1) -> int:
            """Type ``keys``, F7, ``sentence`` and Ctrl+S in one write; the save must land
            on ``ids[index]`` with exactly the sentence."""
            nonlocal stored
            terminal.type(keys + F7 + sentence + CTRL_S)
            saved_all = lambda: len(_versions(db)) >= len(stored) + new_rows  # noqa: E731
            wait_for(terminal, saved_all, f"the save after {keys!r}")
            rows = _versions(db)
            new, stored = rows[len(stored) :], rows
            assert len(new) == new_rows, new
            rationale, _, kind, author, saved = new[-1]
            assert (rationale, kind, author, saved) == (ids[index], "save", "ana", sentence)
            return index

        at = burst(ENTER, "Typed straight after Enter in the queue.", 0)
        at = burst(CTRL_DOWN, "After Ctrl+Down the client 说得很少.", at + 1)
        at = burst(CTRL_DOWN, "A second Ctrl+Down, then typing at once.", at + 1)
        at = burst(CTRL_UP, "Back up one item with Ctrl+Up.", at - 1)
        at = burst(F8, "第 5 轮 typed after F8, next unfinished.", following(at, UNFINISHED))
        at = burst(F9, "Typed after F9, the next item sent back.", following(at, SENT_BACK))
        accepted = at
        # Ctrl+O accepts the item shown (with the sentence saved on it) and opens the next
        # unfinished one: the keys after it belong to that one.
        target = next(
            (accepted + step) % len(ids)
            for step in range(1, len(ids))
            if _status(db, ids[(accepted + step) % len(ids)]) in UNFINISHED
        )
        at = burst(CTRL_O, "Typed after Ctrl+O, on the next unfinished item.", target,
                   new_rows=2)  # fmt: skip
        rationale, _, kind, author, accepted_text = stored[-2]
        assert (rationale, kind, author) == (ids[accepted], "accept", "ana")
        assert accepted_text == "Typed after F9, the next item sent back."
        # Two moves in one write: each sentence on its own item.
        terminal.type(CTRL_DOWN + F7 + "First of two moves." + CTRL_S
                      + CTRL_DOWN + F7 + "Second of two moves." + CTRL_S)  # fmt: skip
        wait_for(terminal, lambda: len(_versions(db)) >= len(stored) + 2, "two saves")
        new = _versions(db)[len(stored) :]
        assert [(r, t) for r, _, _, _, t in new] == [
            (ids[at + 1], "First of two moves."),
            (ids[at + 2], "Second of two moves."),
        ]
        terminal.type(CTRL_Q)
        terminal.process.wait(timeout=60)
    finally:
        terminal.close()
        engine.dispose()


def test_enter_after_arrows_in_one_burst_opens_the_row_the_arrows_reached(
    tmp_path: Path, busy_machine: None
) -> None:
    """ "Down Down Enter F7 sentence Ctrl+S" in one write, in the queue: the sentence is
    saved on the third row's item (Enter used to open the row the cursor was on before
    the arrows, which had not yet reached the table)."""
    db = tmp_path / "work.db"
    assert runner.invoke(app, ["--db", str(db), "demo", "--no-ui"]).exit_code == 0
    engine = make_engine(str(db))
    ids = [entry.rationale_id for entry in sent_back_first(authoring_queue(engine, "ana"))]
    engine.dispose()
    terminal = Terminal("--db", str(db), "tui", "--annotator", "ana")
    before = len(_versions(db))
    try:
        wait_until(lambda: "Your rationales" in plain(bytes(terminal.screen)), "the queue", 90)
        sentence = "Typed after Down Down Enter, meant for the third row."
        terminal.type(DOWN + DOWN + ENTER + F7 + sentence + CTRL_S)
        wait_for(terminal, lambda: len(_versions(db)) > before, "the save")
        rationale, _, kind, _, saved = _versions(db)[before]
        assert (rationale, kind, saved) == (ids[2], "save", sentence)
        terminal.type(CTRL_Q)
        terminal.process.wait(timeout=60)
    finally:
        terminal.close()


def wait_for(terminal: Terminal, condition: Callable[[], bool], what: str) -> None:
    """Wait up to a minute; on failure say what the screen showed last."""
    try:
        wait_until(condition, what, 60)
    except AssertionError:
        shown = plain(bytes(terminal.screen[-6000:]))
        raise AssertionError(
            f"timed out waiting for {what}; the screen ended with {shown!r}"
        ) from None


def _status(db: Path, rationale_id: int) -> str:
    engine = make_engine(str(db))
    try:
        with engine.connect() as connection:
            return str(
                connection.execute(
                    text("SELECT status FROM rationales WHERE id = :id"), {"id": rationale_id}
                ).scalar_one()
            )
    finally:
        engine.dispose()
