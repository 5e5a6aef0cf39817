"""Keys typed while the editor opens another item wait for it (Pilot, slowed database).

Opening and saving are slowed down, so every key after a move arrives while the next
item is still being loaded: each must reach the item it was typed for, in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from textual import events
from textual.worker import WorkerFailed

import tui.screens.annotate as screen_module
from annotate.core.errors import AnnotateError
from annotate.work.queue import authoring_queue, sent_back_first
from tests.tui.helpers import SIZE, settle
from tests.tui.test_annotate_screen import versions
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen


def slowly(function: Callable[..., Any], seconds: float = 0.3) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return function(*args, **kwargs)

    return wrapper


def burst(app: Any, *keys: str) -> None:
    """Post every key at once, as a terminal delivers a burst (Pilot waits after each)."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def until_all_handled(pilot: Any) -> None:
    """Wait until no key is held, no worker runs and the app is idle, a few times over
    (each shown item lets held keys go, which may start the next load)."""
    deadline = time.monotonic() + 30
    calm = 0
    while calm < 3 and time.monotonic() < deadline:
        await settle(pilot)
        busy = any(not worker.is_finished for worker in pilot.app.workers)
        calm = 0 if pilot.app.holding_keys or busy else calm + 1


def queue_ids(engine: Any) -> list[int]:
    return [entry.rationale_id for entry in sent_back_first(authoring_queue(engine, "ana"))]


def texts(engine: Any, rationale_id: int) -> list[tuple[str, str]]:
    return [(v.kind, v.text) for v in versions(engine, rationale_id)]


async def test_keys_after_moves_reach_the_items_they_open(work_engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    editing = screen_module.editing
    monkeypatch.setattr(editing, "open_rationale", slowly(editing.open_rationale))
    ids = queue_ids(work_engine)
    before = {rid: texts(work_engine, rid) for rid in ids[:4]}
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Enter, then three moves, each followed at once by F7, a sentence and Ctrl+S.
        burst(
            app,
            "enter", "f7", *"one", "ctrl+s",
            "ctrl+down", "f7", *"two", "ctrl+s",
            "ctrl+down", "f7", *"三", "ctrl+s",
            "ctrl+up", "f7", *"four", "ctrl+s",
        )  # fmt: skip
        await until_all_handled(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen) and screen.state is not None
        assert screen.state.rationale_id == ids[1] and screen.editor.text == "four"
        assert not app.holding_keys
    assert texts(work_engine, ids[0]) == [*before[ids[0]], ("save", "one")]
    assert texts(work_engine, ids[1]) == [*before[ids[1]], ("save", "two"), ("save", "four")]
    assert texts(work_engine, ids[2]) == [*before[ids[2]], ("save", "三")]
    assert texts(work_engine, ids[3]) == before[ids[3]]


async def test_a_save_still_being_written_belongs_to_the_item_left(
    work_engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Ctrl+S then Ctrl+Down at once: the first save finishes after the next item is shown;
    it neither marks the new item saved nor makes the new item's save a conflict."""
    editing = screen_module.editing
    monkeypatch.setattr(editing, "save", slowly(editing.save, 0.6))
    ids = queue_ids(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        burst(app, "f7", *"left", "ctrl+s", "ctrl+down", "f7", *"next", "ctrl+s")
        await until_all_handled(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen) and screen.state is not None
        assert screen.state.rationale_id == ids[1]
        assert "saved v" in str(screen.query_one("#indicator").render())
    assert texts(work_engine, ids[0])[-1] == ("save", "left")
    assert texts(work_engine, ids[1])[-1] == ("save", "next")
    assert not any(kind == "conflict" for rid in ids[:2] for kind, _ in texts(work_engine, rid))


async def test_keys_for_an_item_that_does_not_open_are_not_given_to_the_one_shown(
    work_engine, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    editing = screen_module.editing
    ids = queue_ids(work_engine)
    real_open = editing.open_rationale

    def broken(engine: Any, rationale_id: int, annotator: str) -> Any:
        if rationale_id == ids[1]:
            time.sleep(0.3)  # the keys after the move arrive meanwhile
            raise AnnotateError("the database is not answering")
        return real_open(engine, rationale_id, annotator)

    monkeypatch.setattr(editing, "open_rationale", broken)
    before = texts(work_engine, ids[0])
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen) and screen.state is not None
        shown = screen.editor.text
        burst(app, "ctrl+down", "f7", *"meant for the next", "ctrl+s")
        with pytest.raises(WorkerFailed):  # the load's failure, shown as a notice
            await settle(pilot)
        await settle(pilot)
        assert screen.state.rationale_id == ids[0] and screen.index == 0
        assert screen.editor.text == shown  # nothing typed into the item still shown
        notices = [n.message for n in app._notifications]
        assert any("not applied: the next item did not open" in n for n in notices), notices
        assert not app.holding_keys
        burst(app, "f7", *"still here", "ctrl+s")  # the keyboard works on
        await settle(pilot)
    assert texts(work_engine, ids[0]) == [*before, ("save", "still here")]


@pytest.mark.parametrize("quit_key", ["ctrl+q"])
async def test_quit_is_never_held(work_engine, monkeypatch, quit_key: str) -> None:  # type: ignore[no-untyped-def]
    """A hold that never ends (an item that never opens) cannot trap the expert."""
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.hold_keys()
        burst(app, "x", quit_key)
        await pilot.pause()
        assert not app.is_running
