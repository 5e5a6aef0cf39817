"""The correction view (``annotate deid review``): detections shown by kind, a false hit
unmarked and a miss marked through the keys, stored, and used from then on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from textual.widgets import Input, OptionList, Select

from annotate.deid import service
from annotate.ingest import import_file
from store.tables import DEID_CORRECTIONS
from tests.deid.test_service import PHONE, RECORDS, _turns
from tests.factories import session_record, write_jsonl
from tests.tui.helpers import screen_text, settle
from tui.app import create_app
from tui.screens.deid import DeidScreen
from tui.screens.deid_mark import MarkMissScreen


@pytest.fixture
def store(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "sessions.jsonl", RECORDS))
    return engine


async def _loaded(pilot, session_id: str) -> DeidScreen:  # type: ignore[no-untyped-def]
    """The view once SESSION_ID is shown (workers done; up to 10 s on a loaded machine)."""
    for _ in range(500):
        await settle(pilot)
        screen = pilot.app.screen
        if isinstance(screen, DeidScreen) and screen.loaded and screen.session_id == session_id:
            return screen
        await pilot.pause(0.02)
    raise AssertionError(f"{session_id} was never shown")


def _corrections(engine) -> list[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    query = select(DEID_CORRECTIONS.c.client_id, DEID_CORRECTIONS.c.text,
                   DEID_CORRECTIONS.c.category, DEID_CORRECTIONS.c.action,
                   DEID_CORRECTIONS.c.made_by).order_by(DEID_CORRECTIONS.c.id)  # fmt: skip
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


async def test_unmark_a_false_hit_and_mark_a_miss(store) -> None:  # type: ignore[no-untyped-def]
    app = create_app(store, "lead", deid_review=True, deid_session="s2")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _loaded(pilot, "s2")
        first = screen.current_span()
        assert first is not None and first.text.startswith("Dana")
        assert "Dana" in screen_text(pilot) and "client cl1" in screen_text(pilot)
        await pilot.press("right")  # the next detection of turn 1: Tom Hale
        chosen = screen.current_span()
        assert chosen is not None and chosen.text == "Tom Hale" and chosen.category == "name"
        await pilot.press("left", "u")  # back to Dana: a false hit
        screen = await _loaded(pilot, "s2")
        assert _corrections(store) == [("cl1", first.text, "name", "unmark", "lead")]
        assert all(span.text != first.text for found in screen.spans for span in found)

        await pilot.press("m")
        await settle(pilot)
        assert isinstance(pilot.app.screen, MarkMissScreen)
        pilot.app.screen.query_one("#miss-category", Select).value = "date"
        pilot.app.screen.query_one("#miss-text", Input).focus()
        await pilot.press(*"Sunday", "enter")
        screen = await _loaded(pilot, "s2")
        assert _corrections(store)[-1] == ("cl1", "Sunday", "date", "mark", "lead")
        turns = screen.query_one("#deid-turns", OptionList)
        await pilot.press("down")
        assert turns.highlighted == 1
        assert any(s.text == "Sunday" and s.category == "date" for s in screen.spans[1])

        await pilot.press("right_square_bracket")  # the next session: another client's
        screen = await _loaded(pilot, "z1")
        assert screen.session is not None and screen.session.client_id == "cl2"
        await pilot.press("escape")  # opened on its own: Escape quits
        await settle(pilot)
        assert pilot.app.return_code == 0 and not pilot.app.is_running
    # What the view stored is what drafts and exports use from then on.
    mask = service.masks_for_sessions(store, ["s2"])["s2"]
    assert "Dana" in mask.turns[0] and "Sunday" not in mask.turns[1]


async def test_escape_on_a_mark_stores_nothing(store) -> None:  # type: ignore[no-untyped-def]
    app = create_app(store, "lead", deid_review=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await _loaded(pilot, "s1")  # no session named: the first
        await pilot.press("m")
        await settle(pilot)
        await pilot.press(*"Riverton", "escape")
        await _loaded(pilot, "s1")
        await pilot.press("down", "u")  # the second turn: Tom Hale
        await _loaded(pilot, "s1")
    assert [row[1:4] for row in _corrections(store)] == [("Tom Hale", "name", "unmark")]


def test_the_view_at_100x30(snap_compare, store) -> None:  # type: ignore[no-untyped-def]
    async def shown(pilot) -> None:  # type: ignore[no-untyped-def]
        await _loaded(pilot, "s1")
        await pilot.press("down", "right")

    app = create_app(store, "lead", deid_review=True, deid_session="s1")
    assert snap_compare(app, terminal_size=(100, 30), run_before=shown)


def test_the_mark_dialog_at_100x30(snap_compare, store) -> None:  # type: ignore[no-untyped-def]
    async def asked(pilot) -> None:  # type: ignore[no-untyped-def]
        await _loaded(pilot, "s2")
        await pilot.press("m")
        await settle(pilot)
        for widget in pilot.app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.press(*"Sunday")
        await settle(pilot)

    app = create_app(store, "lead", deid_review=True, deid_session="s2")
    assert snap_compare(app, terminal_size=(100, 30), run_before=asked)


def test_keys_typed_in_one_burst_act_in_order(store, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """On a real terminal, 'Down Right u' typed at once unmarks the second detection of
    the turn Down moved to (Right once acted before Down reached the list, on the turn
    being left, and u then unmarked the first detection of the next turn)."""
    from tests.interactive import plain
    from tests.tui.ptyrun import Terminal, wait_until

    terminal = Terminal("--db", db_url, "deid", "review", "s1", "--by", "lead")
    try:
        wait_until(lambda: "3 to replace" in plain(bytes(terminal.screen)), "the view", 60)
        terminal.type("\x1b[B\x1b[Cu")  # Down Right u
        wait_until(lambda: bool(_corrections(store)), "the correction", 30)
        terminal.type("\x11")
        terminal.process.wait(timeout=30)
    finally:
        terminal.close()
    assert _corrections(store) == [("cl1", PHONE, "phone", "unmark", "lead")]


async def test_enter_marks_whatever_has_the_focus(store) -> None:  # type: ignore[no-untyped-def]
    """Enter marks once the text is typed and a kind chosen, whatever has the focus: the
    text field, the Kind select (Enter once re-opened its list) or its open list (the
    highlighted kind). Up/Down change the kind; Escape cancels, also with the list open."""
    app = create_app(store, "lead", deid_review=True, deid_session="s2")
    async with app.run_test(size=(100, 30)) as pilot:
        await _loaded(pilot, "s2")
        await pilot.press("m", *"Sunday", "tab", "down", "down", "enter")  # select: date
        await _loaded(pilot, "s2")
        assert _corrections(store) == [("cl1", "Sunday", "date", "mark", "lead")]
        await pilot.press("m", *"Ivo", "down", "enter")  # Down in the text field: place
        await _loaded(pilot, "s2")
        assert _corrections(store)[-1] == ("cl1", "Ivo", "place", "mark", "lead")
        await pilot.press("m", *"Oakvale", "tab", "space", "down", "down", "down")
        dialog = pilot.app.screen
        assert isinstance(dialog, MarkMissScreen)
        assert dialog.query_one("#miss-category", Select).expanded
        await pilot.press("enter")  # the list open: its highlighted kind
        await _loaded(pilot, "s2")
        assert _corrections(store)[-1] == ("cl1", "Oakvale", "phone", "mark", "lead")
        await pilot.press("m", *"Tom", "tab")
        await settle(pilot)
        assert pilot.app.screen.query_one("#miss-category", Select).has_focus
        await pilot.press("enter")  # the select focused, closed: the kind it shows
        await _loaded(pilot, "s2")
        assert _corrections(store)[-1] == ("cl1", "Tom", "name", "mark", "lead")
        await pilot.press("m", "enter")  # no text: nothing marked, the dialog stays
        await settle(pilot)
        assert isinstance(pilot.app.screen, MarkMissScreen)
        await pilot.press(*"Nope", "tab", "space", "down", "escape")
        await _loaded(pilot, "s2")
        assert not isinstance(pilot.app.screen, MarkMissScreen)
    assert len(_corrections(store)) == 4


# -- bursts on a real terminal, on a busy machine --------------------------------------------

DOWN, CTRL_Q = "\x1b[B", "\x11"
# Five sessions of five clients, in paging order; each turn starts with a name.
FIVE = [
    session_record(sid, client_id=client, metadata={"names": ", ".join(names)},
                   turns=_turns(f"Hello {names[0]}, how are you?",
                                f"{names[1]} called me twice.", f"{names[2]} came too."))
    for sid, client, names in [
        ("a1", "ca", ("Dana Reyes", "Tom Hale", "Ada Lind")),
        ("b1", "cb", ("Priya Shah", "Ivo Brandt", "Gus Ward")),
        ("c1", "cc", ("Lena Park", "Marco Ruiz", "Eli Stone")),
        ("d1", "cd", ("Omar Haddad", "Rita Moss", "Kai Dunn")),
        ("e1", "ce", ("Nina Vos", "Pablo Sanz", "Uma Lowe")),
    ]
]  # fmt: skip


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


@pytest.mark.slow
@pytest.mark.xdist_group("timing")  # CPU-bound processes: never beside other timing tests
def test_keys_after_a_page_change_reach_the_session_it_opens(  # type: ignore[no-untyped-def]
    engine, db_url: str, tmp_path: Path, busy_machine: None
) -> None:
    """On a real terminal, "] Down Down u" in one write unmarks in the session ] opens (it
    once unmarked a text of the session being left, for its client), and "] ] ]" moves
    three sessions (it once moved one): every key reaches the session it was typed for."""
    from tests.interactive import plain
    from tests.tui.ptyrun import Terminal, wait_until

    import_file(engine, write_jsonl(tmp_path / "five.jsonl", FIVE))
    terminal = Terminal("--db", db_url, "deid", "review", "a1", "--by", "lead")
    try:
        wait_until(lambda: "Session a1 (1 of 5)" in plain(bytes(terminal.screen)), "a1", 90)
        terminal.type("]" + DOWN + DOWN + "u")
        wait_until(lambda: bool(_corrections(engine)), "the first unmark", 60)
        assert _corrections(engine) == [("cb", "Gus Ward", "name", "unmark", "lead")]
        wait_until(lambda: "Kept (unmarked) for this client: 'Gus Ward'"
                   in plain(bytes(terminal.screen)), "the kept text shown", 30)  # fmt: skip
        terminal.type("]]]" + DOWN + "u")  # b1 -> c1 -> d1 -> e1, then its second turn
        wait_until(lambda: len(_corrections(engine)) == 2, "the second unmark", 60)
        assert _corrections(engine)[1] == ("ce", "Pablo Sanz", "name", "unmark", "lead")
        wait_until(lambda: "Session e1 (5 of 5)" in plain(bytes(terminal.screen)), "e1", 30)
        terminal.type("[[" + DOWN + DOWN + "u")  # back two: c1, its third turn
        wait_until(lambda: len(_corrections(engine)) == 3, "the third unmark", 60)
        assert _corrections(engine)[2] == ("cc", "Eli Stone", "name", "unmark", "lead")
        # A mark typed in one burst (Down in the text field: the next kind), then a move.
        terminal.type("mWanda" + DOWN + DOWN + "\r]" + DOWN + "u")
        wait_until(lambda: len(_corrections(engine)) == 5, "the mark and the unmark", 60)
        assert _corrections(engine)[3:] == [
            ("cc", "Wanda", "date", "mark", "lead"),
            ("cd", "Rita Moss", "name", "unmark", "lead"),
        ]
        terminal.type(CTRL_Q)
        terminal.process.wait(timeout=60)
    finally:
        terminal.close()
    assert len(_corrections(engine)) == 5
