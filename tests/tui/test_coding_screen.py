"""Pilot tests of turn coding: keys toggle codes, proposals are accepted or rejected, a
reviewer passes or sends back; every step asserted on the stored rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from annotate.core.demo import DEMO_CODINGS
from annotate.drafting.markers import run_markers
from annotate.ingest.codings import import_codings_file
from annotate.work.codings import assign_codings
from tests.tui.helpers import SIZE, screen_text, settle
from tui.app import create_app
from tui.screens.coding import CodingScreen


def _said(app) -> str:  # type: ignore[no-untyped-def]
    return " ".join(n.message for n in app._notifications)


def _rows(engine, sql: str, **params):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def _codes(engine, coding_id: int) -> list[list]:  # type: ignore[type-arg,no-untyped-def]
    (codes,) = _rows(
        engine,
        "SELECT v.codes FROM coding_versions v JOIN codings c ON c.id = v.coding_id AND "
        "v.version = c.current_version WHERE c.id = :c",
        c=coding_id,
    )[0]
    return json.loads(codes) if isinstance(codes, str) else codes  # type: ignore[no-any-return]


async def _open_coding(pilot, table: str = "#codings") -> CodingScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.screen.query_one(table).focus()
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CodingScreen)
    return screen


def store_slowly(monkeypatch, name: str, seconds: float = 0.3) -> None:  # type: ignore[no-untyped-def]
    """Make annotate.work.codings.NAME take SECONDS longer (keys typed meanwhile wait)."""
    import time

    from annotate.work import codings

    real = getattr(codings, name)

    def slowly(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(codings, name, slowly)


async def _to_turn(pilot, screen: CodingScreen, number: int) -> None:  # type: ignore[no-untyped-def]
    while screen.current_turn() != number:
        await pilot.press("down")
    await pilot.pause()


async def test_keys_toggle_codes_and_each_change_is_stored(work_engine) -> None:  # type: ignore[no-untyped-def]
    assign_codings(work_engine, ["ana"], sessions=["s11"])
    (coding_id,) = _rows(work_engine, "SELECT id FROM codings")[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_coding(pilot)
        await _to_turn(pilot, screen, 2)  # client: "fine"
        await pilot.press("4")  # shutdown
        await settle(pilot)
        await _to_turn(pilot, screen, 8)
        await pilot.press("5", "6")  # avoidance, then masking
        await settle(pilot)
        await pilot.press("5")  # avoidance off again
        await settle(pilot)
        await _to_turn(pilot, screen, 9)  # a counselor turn
        await pilot.press("e")  # exploring the rupture
        await settle(pilot)
        await pilot.press("4")  # a client marker on a counselor turn: refused, said
        await settle(pilot)
        assert "goes on client turns" in _said(app)
        assert "Shutting down" in screen_text(pilot)  # the marks and the legend are drawn
        await pilot.press("ctrl+o")
        await settle(pilot)
    assert _codes(work_engine, coding_id) == [
        [2, "shutdown", "expert"], [8, "masking", "expert"], [9, "explore", "expert"]
    ]  # fmt: skip
    kinds = [k for (k,) in _rows(work_engine, "SELECT kind FROM coding_versions WHERE "
                                 "coding_id = :c ORDER BY version", c=coding_id)]  # fmt: skip
    assert kinds == ["add", "add", "add", "remove", "add", "submit"]
    assert _rows(work_engine, "SELECT status, lock_version FROM codings")[0] == ("submitted", 6)


async def test_proposals_are_accepted_or_rejected_never_codes_by_themselves(work_engine) -> None:  # type: ignore[no-untyped-def]
    assign_codings(work_engine, ["ana"], sessions=["s11"])
    run_markers(work_engine, None, sessions=["s11"])  # the hinter: turns 8 and 14
    (coding_id,) = _rows(work_engine, "SELECT id FROM codings")[0]
    offered = dict(_rows(work_engine, "SELECT turn_number, id FROM marker_suggestions"))
    assert set(offered) == {8, 14}
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_coding(pilot)
        assert "2 proposals to decide" in screen_text(pilot)
        assert _codes_or_none(work_engine, coding_id) is None  # shown, not coded
        await _to_turn(pilot, screen, 8)
        await pilot.press("a")
        await settle(pilot)
        await _to_turn(pilot, screen, 14)
        await pilot.press("x")
        await settle(pilot)
        await pilot.press("x")  # nothing left to decide on this turn: said, nothing stored
        await settle(pilot)
        assert "has no open proposal" in _said(app)
    assert _codes(work_engine, coding_id) == [[8, "shutdown", "suggestion"]]
    decisions = dict(_rows(work_engine, "SELECT suggestion_id, decision FROM suggestion_decisions"))
    assert decisions == {offered[8]: "accepted", offered[14]: "rejected"}


def _codes_or_none(engine, coding_id: int):  # type: ignore[no-untyped-def]
    rows = _rows(engine, "SELECT current_version FROM codings WHERE id = :c", c=coding_id)
    return None if rows[0][0] is None else _codes(engine, coding_id)


async def test_reviewer_sends_back_with_a_comment_and_sees_no_proposals(work_engine) -> None:  # type: ignore[no-untyped-def]
    import_codings_file(work_engine, DEMO_CODINGS)
    run_markers(work_engine, None, sessions=["s11"])
    assign_codings(work_engine, ["ana", "ben", "chen"], sessions=["s11"], reviewers=True)
    (coding_id, reviewer) = _rows(
        work_engine, "SELECT c.id, r.reviewer_id FROM codings c JOIN coding_reviews r ON "
        "r.coding_id = c.id WHERE c.session_id = 's11' AND c.role = 'primary'"
    )[0]  # fmt: skip
    assert reviewer == "ana"  # chen and ben code s11
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_coding(pilot, "#coding-reviews")
        assert screen.view is not None and screen.view.mode == "review"
        text_shown = screen_text(pilot)
        assert "review (read-only)" in text_shown and "proposal" not in text_shown
        await pilot.press("4")  # a reviewer's keys change no codes
        await settle(pilot)
        await pilot.press("ctrl+r", *"turn 12 is masking", "enter")
        await settle(pilot)
    review = _rows(work_engine, "SELECT passed, comment, coding_version FROM coding_reviews "
                   "WHERE coding_id = :c", c=coding_id)[0]  # fmt: skip
    assert review == (False, "turn 12 is masking", 1)
    assert _rows(work_engine, "SELECT status FROM codings WHERE id = :c", c=coding_id)[0] == (
        "revision_requested",
    )
    assert _rows(work_engine, "SELECT count(*) FROM coding_versions WHERE coding_id = :c",
                 c=coding_id)[0][0] == 1  # fmt: skip
    # chen, the coder, sees the comment when she opens it again
    app = create_app(work_engine, "chen")
    async with app.run_test(size=SIZE) as pilot:
        await _open_coding(pilot)
        shown = " ".join(screen_text(pilot).split())
        assert "Sent back:" in shown and "turn 12 is masking" in shown


async def test_progress_screen_shows_coding_per_coder(work_engine) -> None:  # type: ignore[no-untyped-def]
    from annotate.work.progress import coding_detail
    from tui.screens.progress import CODING, ProgressScreen

    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        assert isinstance(app.screen, ProgressScreen)
        assert not app.screen.table("coding-by-coder").display  # nobody codes yet
    import_codings_file(work_engine, DEMO_CODINGS)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProgressScreen)
        table = screen.table("coding-by-coder")
        assert table.display
        expected = coding_detail(work_engine)
        shown = {table.get_row_at(i)[0]: table.get_row_at(i)[1:] for i in range(table.row_count)}
        assert shown == {
            name: [str(row[key]) for key, _ in CODING] for name, row in expected.items()
        }
        assert set(shown) == {"ben", "chen"}


async def test_a_code_key_typed_after_a_move_codes_the_turn_moved_to(work_engine) -> None:  # type: ignore[no-untyped-def]
    """'Down 4' in one burst codes the next turn, not the one being left (the list's
    cursor keys used to act only after the code key had been handled)."""
    from textual import events

    assign_codings(work_engine, ["ana"], sessions=["s11"])
    (coding_id,) = _rows(work_engine, "SELECT id FROM codings")[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_coding(pilot)
        await _to_turn(pilot, screen, 1)
        for key, character in (("down", None), ("4", "4")):  # one burst, as a terminal sends
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert screen.current_turn() == 2
    assert [mark[:2] for mark in _codes(work_engine, coding_id)] == [[2, "shutdown"]]


async def test_keys_typed_after_enter_wait_for_the_coding(work_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Enter on a session to code, then 'Down 4' at once while it loads: the code lands
    on turn 2 of that session (the keys were lost to the queue's list before)."""
    import time

    from textual import events

    import tui.screens.coding as screen_module

    real_view = screen_module.codings.coding_view

    def slow_view(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.4)
        return real_view(*args, **kwargs)

    monkeypatch.setattr(screen_module.codings, "coding_view", slow_view)
    assign_codings(work_engine, ["ana"], sessions=["s11"])
    (coding_id,) = _rows(work_engine, "SELECT id FROM codings")[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#codings").focus()
        await pilot.pause()
        for key, character in (("enter", "\r"), ("down", None), ("4", "4")):
            app.post_message(events.Key(key, character))
        for _ in range(5):
            await settle(pilot)
        assert isinstance(app.screen, CodingScreen) and not app.holding_keys
    assert [mark[:2] for mark in _codes(work_engine, coding_id)] == [[2, "shutdown"]]


@pytest.mark.parametrize(("accept", "reject"), [("a", "x"), ("j", "k")])
async def test_decisions_typed_in_a_burst_land_on_their_turns_in_order(
    work_engine, monkeypatch, tmp_path: Path, accept: str, reject: str
) -> None:  # type: ignore[no-untyped-def]
    """'Down.. a Down.. x' in one burst while each decision is slowly stored: the accept
    lands on turn 8's proposal and the reject on turn 14's (the reject used to be dropped
    while the accept was written, and a decision acted on the turn the cursor had reached
    by the time the screen saw the key). The keys are found through the user's keymap."""
    from textual import events

    if accept != "a":
        keymap = tmp_path / "keys.toml"
        keymap.write_text(f'[keys]\n"coding.accept" = "{accept}"\n"coding.reject" = "{reject}"\n')
        monkeypatch.setenv("ANNOTATE_KEYMAP", str(keymap))
    assign_codings(work_engine, ["ana"], sessions=["s11"])
    run_markers(work_engine, None, sessions=["s11"])  # the hinter: turns 8 and 14
    (coding_id,) = _rows(work_engine, "SELECT id FROM codings")[0]
    offered = dict(_rows(work_engine, "SELECT turn_number, id FROM marker_suggestions"))
    store_slowly(monkeypatch, "decide_suggestion")
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_coding(pilot)
        await _to_turn(pilot, screen, 1)
        burst = [*["down"] * 7, accept, "down", *["down"] * 5, reject, "down"]
        for key in burst:  # one burst, as a terminal sends it
            app.post_message(events.Key(key, None if key == "down" else key))
        for _ in range(3):
            await settle(pilot)
        assert screen.current_turn() == 15 and not screen.waiting and not screen.busy
        assert "has no open proposal" not in _said(app)
        shown = screen_text(pilot)  # turn 14, left before its reject was stored, redrawn
        assert "0 proposals to decide" in shown and "? Shutting down" not in shown
    assert _codes(work_engine, coding_id) == [[8, "shutdown", "suggestion"]]
    decisions = dict(_rows(work_engine, "SELECT suggestion_id, decision FROM suggestion_decisions"))
    assert decisions == {offered[8]: "accepted", offered[14]: "rejected"}


async def test_submit_typed_while_changes_are_stored_waits_for_them(
    work_engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """'Down 4 Down.. 5 Ctrl+O' in one burst while each change is slowly stored: both codes
    are written, then the coding is submitted (Ctrl+O typed while a change was being
    written used to be dropped without a word)."""
    from textual import events

    assign_codings(work_engine, ["ana"], sessions=["s11"])
    (coding_id,) = _rows(work_engine, "SELECT id FROM codings")[0]
    store_slowly(monkeypatch, "toggle_code")
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_coding(pilot)
        await _to_turn(pilot, screen, 1)
        burst = ["down", "4", *["down"] * 6, "5", "ctrl+o"]
        for key in burst:  # one burst, as a terminal sends it
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        for _ in range(4):
            await settle(pilot)
        assert not screen.waiting and not screen.busy
    assert _codes(work_engine, coding_id) == [[2, "shutdown", "expert"], [8, "avoidance", "expert"]]
    kinds = [k for (k,) in _rows(work_engine, "SELECT kind FROM coding_versions WHERE "
                                 "coding_id = :c ORDER BY version", c=coding_id)]  # fmt: skip
    assert kinds == ["add", "add", "submit"]
    assert _rows(work_engine, "SELECT status FROM codings")[0] == ("submitted",)
