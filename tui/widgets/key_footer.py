"""The footer: every shown key, on a second line when one is not wide enough.

Textual's footer is one line, cut at the right: at 100 columns the editor lost Quit,
Help and Progress. This one keeps the app-wide keys on the first line, puts the
screen's keys before them, moves what does not fit to a second line, and shows a key
description once (Esc "Queue" on the editor makes F2 "Queue" redundant there).
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeyFooter(Footer):
    """A compact footer of one line, or two when the keys need them."""

    DEFAULT_CSS = """
    KeyFooter { height: auto; max-height: 2; layout: vertical; }
    KeyFooter > HorizontalGroup { height: 1; }
    """

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self._rows_for_width: int | None = None

    def _keys(self) -> tuple[list[FooterKey], list[FooterKey]]:
        """The screen's keys and the app-wide keys, each description once."""
        screen_keys: list[FooterKey] = []
        app_keys: list[FooterKey] = []
        seen: set[str] = set()
        entries = list(self.screen.active_bindings.values())
        # The screen's own bindings win a shared description ("Queue").
        entries.sort(key=lambda entry: entry[0] is self.app)
        for node, binding, enabled, tooltip in entries:
            if not binding.show or binding.description in seen:
                continue
            seen.add(binding.description)
            key = FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip or binding.description,
            ).data_bind(compact=Footer.compact)
            (app_keys if node is self.app else screen_keys).append(key)
        return screen_keys, app_keys

    @staticmethod
    def _width(key: FooterKey) -> int:
        return cell_len(key.key_display) + 1 + cell_len(key.description) + 1

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        screen_keys, app_keys = self._keys()
        room = self.size.width or self.app.size.width
        self._rows_for_width = room
        first_room = room - sum(self._width(key) for key in app_keys)
        first: list[FooterKey] = []
        used = 0
        for key in screen_keys:
            if used + self._width(key) > first_room:
                break
            first.append(key)
            used += self._width(key)
        rest = screen_keys[len(first) :]
        with HorizontalGroup():
            yield from first
            yield from app_keys
        if rest:
            with HorizontalGroup():
                yield from rest

    def on_resize(self, event: Resize) -> None:
        if self._rows_for_width is not None and event.size.width != self._rows_for_width:
            self.call_after_refresh(self.recompose)
