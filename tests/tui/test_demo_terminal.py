"""``annotate demo`` on a terminal opens the UI (with --no-ui or no terminal it only prints)."""

from __future__ import annotations

from pathlib import Path

from tests.tui.ptyrun import Terminal, wait_until


def test_demo_opens_the_ui_on_a_terminal_and_quits_cleanly(tmp_path: Path) -> None:
    terminal = Terminal("--db", str(tmp_path / "demo.db"), "demo")
    try:
        wait_until(lambda: b"demo ready" in terminal.screen, "the import summary")
        wait_until(lambda: b"Your rationales" in terminal.screen, "the queue", timeout=60)
        terminal.type("\x11")  # Ctrl+Q
        terminal.process.wait(timeout=60)
        # Once the UI is closed, the lead's views of the demo: counselor effects and the
        # clients not on track (the planted c13 first).
        wait_until(lambda: b"clients not on track: c13" in terminal.screen, "the watch line")
        assert b"counselor effects: ICC goal" in terminal.screen
    finally:
        code = terminal.close()
    assert code == 0
