"""Keys typed in one burst on a real terminal (a pty) land where they were meant to.

Pilot hands keys over one at a time; a terminal delivers "4<Tab>5" in one read, and
the focus must have moved by the time "5" is handled.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from cli.app import app
from store.db import make_engine
from tests.interactive import plain
from tests.tui.ptyrun import Terminal, wait_until

runner = CliRunner()


def _reviews(db: Path, reviewer: str) -> list[tuple[int, int, int, str]]:
    engine = make_engine(str(db))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT "
                    + "".join(
                        f"(SELECT score FROM review_scores s WHERE s.review_id = v.id "
                        f"AND s.criterion = '{name}'), "
                        for name in ("faithfulness", "relevance", "informativeness")
                    )
                    + "comment FROM reviews v WHERE reviewer_id = :reviewer ORDER BY id"
                ),
                {"reviewer": reviewer},
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_scores_and_comment_typed_in_one_burst_are_stored_as_typed(tmp_path: Path) -> None:
    db = tmp_path / "work.db"
    assert runner.invoke(app, ["--db", str(db), "demo", "--no-ui"]).exit_code == 0
    assigned = runner.invoke(app, ["--db", str(db), "review-assign", "--fraction", "1",
                                   "--reviewers", "ana,ben,chen"])  # fmt: skip
    assert assigned.exit_code == 0, assigned.output
    before = _reviews(db, "chen")
    terminal = Terminal("--db", str(db), "tui", "--annotator", "chen")
    try:
        wait_until(lambda: "reviews to do" in plain(bytes(terminal.screen)), "the queue", 60)
        terminal.type("\t\r")  # the review list, open the first
        wait_until(lambda: "Rationale under review" in plain(bytes(terminal.screen)),
                   "the review screen", 30)  # fmt: skip
        # Two reviews, scores, comments and Ctrl+S each, in one burst.
        terminal.type("4\t5\t3\t好的, fine\x132\t3\t4\tturn 7 is the counselor\x13")
        wait_until(lambda: len(_reviews(db, "chen")) == len(before) + 2, "the review rows", 30)
        terminal.type("\x11")
        terminal.process.wait(timeout=30)
    finally:
        terminal.close()
    assert _reviews(db, "chen")[len(before) :] == [
        (4, 5, 3, "好的, fine"),
        (2, 3, 4, "turn 7 is the counselor"),
    ]


def test_a_session_id_typed_after_slash_in_one_burst_is_found(tmp_path: Path) -> None:
    db = tmp_path / "work.db"
    assert runner.invoke(app, ["--db", str(db), "demo", "--no-ui"]).exit_code == 0
    terminal = Terminal("--db", str(db), "tui", "--annotator", "ana")
    try:
        wait_until(lambda: "Your rationales" in plain(bytes(terminal.screen)), "the queue", 60)
        terminal.type("/s05\r")  # find s05 in one burst
        time.sleep(1.0)
        terminal.type("\r")  # and open the item the cursor is on
        wait_until(lambda: "session s05" in plain(bytes(terminal.screen)), "the s05 item", 30)
        terminal.type("\x11")
        terminal.process.wait(timeout=30)
    finally:
        terminal.close()
