"""Small helpers for Pilot tests: wait for workers instead of sleeping."""

from __future__ import annotations

import html
import re

from textual.pilot import Pilot

SIZE = (160, 48)


async def settle(pilot: Pilot) -> None:
    """Let messages flow and every worker finish (workers may start further workers)."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(pilot: Pilot) -> str:
    """The plain text currently on the screen (from the SVG screenshot)."""
    svg = pilot.app.export_screenshot()
    texts = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape(" ".join(texts)).replace("\xa0", " ")
