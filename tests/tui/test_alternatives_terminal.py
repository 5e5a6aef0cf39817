"""Alternative drafts cycled in bursts on a real terminal (a pty), on a busy machine.

Each burst (a move, F6, typing, Ctrl+S) is one write while two CPU-bound processes run
beside the app, so F6 often arrives while the item is still loading. Every stored
version must be the text the keys made on the item they were typed for, and
rationales.draft_id the alternative that text began from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from annotate.work.queue import authoring_queue, sent_back_first
from cli.app import app
from store.db import make_engine, session_scope
from store.models import DraftSample
from tests.interactive import plain
from tests.tui.ptyrun import Terminal, wait_until
from tests.tui.test_terminal_moves import CTRL_DOWN, CTRL_Q, CTRL_S, busy_machine, wait_for
from tests.workdata import draft_row

runner = CliRunner()

F6, END = "\x1b[17~", "\x1b[F"
METHOD = "1 - mean pairwise ROUGE-L F1"
# Short enough to stay on one line of the editor (End goes to the end of the line).
SAMPLES = {
    0.9: ("甲稿：第 2 轮说出目标。", "B: turn 2 names the goal.", "C: turn 4 agrees."),
    0.6: ("One: the task in turn 3.", "两稿：第 3 轮的任务。"),
}

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("timing")]
__all__ = ["busy_machine"]  # the fixture, imported for this module's tests


def sampled_store(db: Path) -> tuple[list[int], dict[float, tuple[int, list[int]]]]:
    """The demo, ana's new work ordered by uncertainty after samples for two items.

    Returns ana's queue as the TUI lists it and, per uncertainty, (rationale, draft ids)."""
    assert runner.invoke(app, ["--db", str(db), "demo", "--no-ui"]).exit_code == 0
    assert runner.invoke(app, ["--db", str(db), "assign", "--annotators", "ana"]).exit_code == 0
    engine = make_engine(str(db))
    try:
        pending = [e for e in authoring_queue(engine, "ana") if e.status == "pending"]
        made: dict[float, tuple[int, list[int]]] = {}
        for entry, (value, texts) in zip(pending[5:], SAMPLES.items(), strict=False):
            made[value] = (entry.rationale_id, _store_samples(engine, entry, value, texts))
        ordered = runner.invoke(
            app, ["--db", str(db), "assign", "--annotators", "ana", "--order", "uncertainty"]
        )
        assert ordered.exit_code == 0, ordered.output
        assert "2 by uncertainty" in ordered.output
        ids = [e.rationale_id for e in sent_back_first(authoring_queue(engine, "ana"))]
    finally:
        engine.dispose()
    return ids, made


def _store_samples(engine: Engine, entry, value: float, texts: tuple[str, ...]) -> list[int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        drafts = [draft_row(entry.session_id, entry.item_id, sample) for sample in texts]
        session.add_all(drafts)
        session.flush()
        ids = [draft.id for draft in drafts if draft.id is not None]
        session.add(DraftSample(session_id=entry.session_id, item_id=entry.item_id,
                                samples=len(ids), draft_ids=ids, method=METHOD,
                                uncertainty=value))  # fmt: skip
    return ids


def saved(db: Path) -> list[tuple[int, str, int | None]]:
    """(rationale, text, the rationale's draft_id) of every saved version, oldest first."""
    engine = make_engine(str(db))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT v.rationale_id, v.text, r.draft_id FROM rationale_versions v "
                    "JOIN rationales r ON r.id = v.rationale_id ORDER BY v.id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(row[0], row[1], row[2]) for row in rows]


def test_cycling_typing_and_saving_in_bursts(tmp_path: Path, busy_machine: None) -> None:
    db = tmp_path / "work.db"
    ids, made = sampled_store(db)
    first, first_drafts = made[0.9]
    second, second_drafts = made[0.6]
    at = ids.index(first)  # after the work sent back, the most uncertain item
    assert ids[at + 1] == second
    terminal = Terminal("--db", str(db), "tui", "--annotator", "ana")
    stored = saved(db)
    try:
        wait_until(lambda: "Your rationales" in plain(bytes(terminal.screen)), "the queue", 90)

        def burst(keys: str, what: str) -> tuple[int, str, int | None]:
            nonlocal stored
            terminal.type(keys)
            wait_for(terminal, lambda: len(saved(db)) > len(stored), what)
            rows = saved(db)
            new, stored = rows[len(stored) :], rows
            assert len(new) == 1, new
            return new[0]

        one, three = SAMPLES[0.9][0], SAMPLES[0.9][2]
        # Open, move to the item, F6 (held while it loads) and save: the first sample.
        opened = burst("\r" + CTRL_DOWN * at + F6 + CTRL_S, "the first save")
        assert opened == (first, one, first_drafts[0])
        # Still the first sample, untouched: two more F6 put the third in its place.
        assert burst(F6 + F6 + CTRL_S, "the second save") == (first, three, first_drafts[2])
        # Typed text is kept when F6 comes after it; the draft it began from stays.
        typed = burst(END + " 补充 typed." + F6 + "!" + CTRL_S, "the third save")
        assert typed == (first, three + " 补充 typed.!", first_drafts[2])
        # A move, F6 and typing in one write: all on the next item.
        moved = burst(CTRL_DOWN + F6 + END + " 加一句." + CTRL_S, "the fourth save")
        assert moved == (second, SAMPLES[0.6][0] + " 加一句.", second_drafts[0])
        terminal.type(CTRL_Q)
        terminal.process.wait(timeout=60)
    finally:
        terminal.close()
