"""Keys typed faster than the app handles them keep their order across a focus change.

The app hands each key to the focused widget's queue and goes on to the next key at
once. A key that moves the focus (Tab, Ctrl+S emptying a form) must therefore act only
after the keys already handed over have been handled, and before the next keys are
handed to anyone: its action is a priority binding (run by the app as the key arrives)
that first waits for the focused widget to finish what it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from textual.screen import Screen

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
