"""Keys typed faster than the app handles them keep their order across a focus change.

The app hands each key to the focused widget's queue and goes on to the next key at
once. A key that moves the focus (Tab, Ctrl+S emptying a form) must therefore act only
after the keys already handed over have been handled, and before the next keys are
handed to anyone: its action is a priority binding (run by the app as the key arrives)
that first waits for the focused widget to finish what it was given.

A key that opens another item does the same, and then holds every key that follows
(``KeyHold``, kept by the app) until that item is on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, cast

from textual import events
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import TextArea

WAIT_LIMIT = 2.0  # seconds; a widget being removed may never answer


async def after_keys_handed_over(screen: Screen[Any]) -> None:
    """Return once the focused widget has handled every key sent to it so far."""
    focused = screen.focused
    if focused is None:
        return
    handled = asyncio.Event()
    if focused.call_later(handled.set):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(handled.wait(), WAIT_LIMIT)


class KeyHold:
    """Keys typed while an item is being opened, kept in order until it is shown.

    A move (next item, next unfinished, accept-and-advance, Enter in the queue) starts
    the hold once the keys typed before it have been handled; every key that arrives
    meanwhile waits here instead of reaching the item being left. When the new item is
    on screen the keys are handed over in the order typed; one of them that starts
    another move holds the rest again, so each key reaches the item it was typed for.
    """

    def __init__(self) -> None:
        self.active = False
        self.generation = 0  # counts holds, so a timer can tell its own hold from a later one
        self.keys: deque[events.Key | events.Paste] = deque()

    def start(self) -> None:
        self.active = True
        self.generation += 1

    def keep(self, event: events.Event) -> bool:
        """Keep ``event`` if a hold is on and it is typed input; True if kept."""
        if not self.active or not isinstance(event, events.Key | events.Paste):
            return False
        if event.is_forwarded:
            return False
        self.keys.append(event)
        return True

    def discard(self) -> int:
        """End the hold without handing the keys over (the move did not happen)."""
        count = len(self.keys)
        self.active = False
        self.keys.clear()
        return count


class BindingsInOrder:
    """Mixin for a focusable widget whose own key bindings must act in the order typed.

    Textual runs a widget's (non-priority) bindings only after the key has bubbled up to
    the app, while keys after it that the widget or its screen handle directly act at
    once: "F7 hello" in one burst selected all after "h" was typed, and "Down 4" on the
    coding screen coded the turn being left. The widget runs its bindings as it receives
    each key, in its own queue, so a burst acts in order.
    """

    async def _on_key(self, event: events.Key) -> None:
        widget = cast(Widget, self)
        for binding in widget._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await widget.app.run_action(binding.action, widget):
                event.stop()
                event.prevent_default()  # the widget's own key handling is not run too
                return


class OrderedTextArea(BindingsInOrder, TextArea):
    """A text area whose own bindings (F7 select all, undo, cursor keys) act in order."""
