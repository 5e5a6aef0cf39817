"""Pilot tests of the editor: keys pressed -> rows in the database."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from annotate.core import workflow
from annotate.work.queue import authoring_queue
from store.models import Autosave, Draft, Rationale, RationaleVersion
from tests.tui.helpers import SIZE, settle
from tests.workdata import make_draft
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen


async def open_first_pending(pilot) -> AnnotateScreen:  # type: ignore[no-untyped-def]
    """From the queue: filter to pending (s), open the first row (Enter)."""
    await settle(pilot)
    await pilot.press("s")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AnnotateScreen)
    return screen


def versions(engine, rationale_id: int) -> list[RationaleVersion]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(
            session.exec(
                select(RationaleVersion)
                .where(RationaleVersion.rationale_id == rationale_id)
                .order_by(col(RationaleVersion.version))
            ).scalars()
        )


def first_pending(engine, annotator: str = "ana"):  # type: ignore[no-untyped-def]
    return authoring_queue(engine, annotator, status=workflow.PENDING)[0]


async def test_opens_first_pending_item_with_its_draft(work_engine) -> None:
    entry = first_pending(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        assert screen.state is not None and screen.state.rationale_id == entry.rationale_id
        assert screen.editor.text.startswith(f"Draft for {entry.item_id} in {entry.session_id}")
        indicator = str(screen.query_one("#indicator").render())
        assert "not saved yet" in indicator and "draft unchanged" in indicator


async def test_edit_and_save_stores_a_version_with_author(work_engine) -> None:
    entry = first_pending(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        await pilot.press(*"Edited. ")
        await pilot.press("ctrl+s")
        await settle(pilot)
        text = screen.editor.text
        assert text.startswith("Edited. Draft for")
        assert "draft edited" in str(screen.query_one("#indicator").render())
        await pilot.press(*"Again ")
        await pilot.press("ctrl+s")
        await settle(pilot)
    stored = versions(work_engine, entry.rationale_id)
    assert [(v.version, v.kind, v.author_id) for v in stored] == [
        (1, "save", "ana"),
        (2, "save", "ana"),
    ]
    assert stored[0].text == text
    assert stored[1].text == "Edited. Again " + text.removeprefix("Edited. ")
    with Session(work_engine) as session:
        rationale = session.get(Rationale, entry.rationale_id)
        assert rationale is not None
        assert (rationale.status, rationale.lock_version) == (workflow.IN_PROGRESS, 2)
        assert session.get(Autosave, (entry.rationale_id, "ana")) is None


@pytest.mark.xdist_group("timing")  # seconds measured: not beside the CPU burners
async def test_autosave_within_two_seconds_of_last_keystroke(work_engine) -> None:
    entry = first_pending(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        await pilot.press(*"Unsaved words ")
        typed_at = time.monotonic()
        row = None
        while time.monotonic() - typed_at < 2.0 and row is None:
            await pilot.pause(0.1)
            with Session(work_engine) as session:
                row = session.get(Autosave, (entry.rationale_id, "ana"))
        assert row is not None, "no autosave within 2 s"
        assert row.text == screen.editor.text and row.text.startswith("Unsaved words Draft for")
        await settle(pilot)
        assert "autosaved" in str(screen.query_one("#indicator").render())
    assert versions(work_engine, entry.rationale_id) == []  # autosave is not a version


async def test_accept_signs_off_and_the_queue_shows_it(work_engine) -> None:
    from tui.screens.queue import QueueScreen

    entry = first_pending(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await open_first_pending(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        await pilot.press("escape", "s", "s")  # back; filter pending -> in progress -> accepted
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        table = app.screen.query_one("#authoring")
        assert str(entry.rationale_id) in [row.key.value for row in table.ordered_rows]  # type: ignore[attr-defined]
    stored = versions(work_engine, entry.rationale_id)
    assert [(v.kind, v.author_id) for v in stored] == [("accept", "ana")]
    with Session(work_engine) as session:
        assert session.get(Rationale, entry.rationale_id).status == workflow.ACCEPTED  # type: ignore[union-attr]


async def test_revert_to_draft_and_flag_with_note(work_engine) -> None:
    entry = first_pending(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        draft = screen.editor.text
        await pilot.press(*"Scrap this ")
        assert screen.editor.text != draft
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert screen.editor.text == draft
        await pilot.press("ctrl+f")
        await pilot.pause()
        await pilot.press(*"Rating looks odd", "enter")
        await settle(pilot)
        assert "flagged" in str(screen.query_one("#indicator").render())
    with Session(work_engine) as session:
        rationale = session.get(Rationale, entry.rationale_id)
        assert rationale is not None and rationale.flagged
        assert rationale.flag_note == "Rating looks odd"


async def test_next_and_previous_walk_the_queue_and_keep_unsaved_text(work_engine) -> None:
    pending = authoring_queue(work_engine, "ana", status=workflow.PENDING)
    app = create_app(work_engine, "ana", autosave_delay=30)  # only the flush on leaving saves
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        await pilot.press(*"Half-written ")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert screen.state.rationale_id == pending[1].rationale_id  # type: ignore[union-attr]
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert screen.state.rationale_id == pending[0].rationale_id  # type: ignore[union-attr]
        assert screen.editor.text.startswith("Half-written Draft for")
    with Session(work_engine) as session:
        row = session.get(Autosave, (pending[0].rationale_id, "ana"))
        assert row is not None and row.text.startswith("Half-written ")


async def test_quitting_right_after_typing_keeps_the_text(work_engine) -> None:
    entry = first_pending(work_engine)
    app = create_app(work_engine, "ana", autosave_delay=30)
    async with app.run_test(size=SIZE) as pilot:
        await open_first_pending(pilot)
        await pilot.press(*"Last words ", "ctrl+q")
        await pilot.pause()
    with Session(work_engine) as session:
        row = session.get(Autosave, (entry.rationale_id, "ana"))
        assert row is not None and row.text.startswith("Last words Draft for")


async def test_regenerate_runs_in_a_worker_and_replaces_an_untouched_draft(work_engine) -> None:
    entry = first_pending(work_engine)
    calls: list[tuple[str, str]] = []

    def offline_drafter(engine, session_id: str, item_id: str) -> Draft:  # type: ignore[no-untyped-def]
        calls.append((session_id, item_id))
        return make_draft(engine, session_id, item_id, "A fresh draft citing turn 3.", (3,))

    app = create_app(work_engine, "ana", drafter=offline_drafter)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert screen.editor.text == "A fresh draft citing turn 3."
        transcript = screen.query_one("#transcript")
        assert transcript.evidence == (3,)  # type: ignore[attr-defined]
        await pilot.press("f4")
        assert transcript.highlighted_turn() == 3  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")  # the saved text began from the regenerated draft
        await settle(pilot)
    assert calls == [(entry.session_id, entry.item_id)]
    with Session(work_engine) as session:
        rationale = session.get(Rationale, entry.rationale_id)
        assert rationale is not None and rationale.draft_id is not None
        draft = session.get(Draft, rationale.draft_id)
        assert draft is not None and draft.text == "A fresh draft citing turn 3."


async def test_regenerate_keeps_edited_text(work_engine) -> None:
    def offline_drafter(engine, session_id: str, item_id: str) -> Draft:  # type: ignore[no-untyped-def]
        return make_draft(engine, session_id, item_id, "Another draft.", (1,))

    app = create_app(work_engine, "ana", drafter=offline_drafter)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        await pilot.press(*"Mine ")
        edited = screen.editor.text
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert screen.editor.text == edited
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert screen.editor.text == "Another draft."


def chinese_entry(engine):  # type: ignore[no-untyped-def]
    """ben's first item of the Chinese session s14."""
    return next(e for e in authoring_queue(engine, "ben") if e.session_id == "s14")


async def open_alone(pilot, rationale_id: int) -> AnnotateScreen:  # type: ignore[no-untyped-def]
    """The editor on one item, pushed over the queue."""
    await settle(pilot)
    pilot.app.push_screen(AnnotateScreen([rationale_id]))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AnnotateScreen)
    return screen


async def test_chinese_text_renders_and_saves(work_engine) -> None:
    entry = chinese_entry(work_engine)
    app = create_app(work_engine, "ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alone(pilot, entry.rationale_id)
        transcript = screen.query_one("#transcript")
        first_turn = str(transcript.get_option_at_index(0).prompt)  # type: ignore[attr-defined]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in first_turn)
        screen.editor.load_text("")
        await pilot.press(*"来访者在第3轮说我不知道该做什么")
        await pilot.press("ctrl+s")
        await settle(pilot)
    stored = versions(work_engine, entry.rationale_id)
    assert stored[-1].text == "来访者在第3轮说我不知道该做什么"


async def test_the_editor_wraps_chinese_by_the_transcript_rules(work_engine) -> None:
    """No wrapped line of the rationale starts with closing punctuation; "第 5 轮" stays
    on one line (Textual's own wrap broke both)."""
    entry = chinese_entry(work_engine)
    text = "来访者在第 5 轮说，我不知道该做什么。" * 6
    app = create_app(work_engine, "ben")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alone(pilot, entry.rationale_id)
        screen.editor.load_text(text)
        await settle(pilot)
        (lines,) = screen.editor.wrapped_document.lines
        assert len(lines) > 2 and "".join(lines) == text
        assert not [line for line in lines if line.lstrip()[:1] in set("，。、；：？！」）")]
        assert all("第 5 轮" in line for line in lines if "第" in line)


async def test_a_stale_save_keeps_both_texts(work_engine) -> None:
    from annotate.work.rationales import editor as editing

    entry = first_pending(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_first_pending(pilot)
        editing.save(work_engine, entry.rationale_id, "ana", "Saved in another window.", 0)
        await pilot.press(*"Mine ")
        mine = screen.editor.text
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert screen.editor.text == "Saved in another window."  # reloaded: the winner
    stored = versions(work_engine, entry.rationale_id)
    assert [(v.kind, v.text) for v in stored] == [
        ("save", "Saved in another window."),
        ("conflict", mine),
    ]
