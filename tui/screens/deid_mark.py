"""A small modal asking for a text the detector missed and what kind of identifier it is.

Enter marks whatever has the focus (the text field, the Kind select, or its open list,
whose highlighted kind is then the one marked); Escape cancels. Up and Down change the
kind from the text field and from the Kind select (Space opens its list). Keys act in
the order typed: "Sunday Down Down Enter" in one burst marks Sunday as a date.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Select

from annotate.deid.detect import CATEGORIES
from tui.keys import BindingsInOrder, after_keys_handed_over
from tui.services import services


def _step_kind(select: Select[str], step: int) -> None:
    index = CATEGORIES.index(str(select.value)) if select.value in CATEGORIES else 0
    select.value = CATEGORIES[(index + step) % len(CATEGORIES)]


class MissText(BindingsInOrder, Input):
    """The text field; Up and Down change the kind below it, in the order typed."""

    BINDINGS = [
        Binding("down", "kind(1)", "Next kind", show=False),
        Binding("up", "kind(-1)", "Previous kind", show=False),
    ]

    def action_kind(self, step: int) -> None:
        _step_kind(self.screen.query_one("#miss-category", KindSelect), step)


class KindSelect(BindingsInOrder, Select[str]):
    """The kind: Up and Down change it at once (in the order typed); Space opens the list."""

    BINDINGS = [
        Binding("down", "kind(1)", "Next kind", show=False),
        Binding("up", "kind(-1)", "Previous kind", show=False),
    ]

    def action_kind(self, step: int) -> None:
        _step_kind(self, step)


class MarkMissScreen(ModalScreen[tuple[str, str] | None]):
    """Returns (text, category) to mark, or None when cancelled.

    Returning a text to mark, it holds the keys typed after Enter: the screen that opened
    it hands them over once the session is shown again with the mark.
    """

    DEFAULT_CSS = """
    MarkMissScreen { align: center middle; }
    MarkMissScreen #dialog {
        width: 70; max-width: 100%; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    MarkMissScreen #dialog Label { width: 1fr; }
    """
    # Priority keys, each acting after the keys typed before it (tui.keys).
    BINDINGS = [
        Binding("enter", "submit", "Mark", id="deid_mark.submit", priority=True),
        Binding("escape", "cancel", "Cancel", id="deid_mark.cancel", priority=True),
        Binding("tab", "move_focus(1)", "Next field", show=False, priority=True),
        Binding("shift+tab", "move_focus(-1)", "Previous field", show=False, priority=True),
    ]

    @dataclass
    class Finish(Message):
        """Sent along the path the keys bubble: it arrives after the keys typed before
        Enter have been handled (an open list moves its highlight as its key reaches the
        app), and the dialog closes after them."""

        cancel: bool

    def __init__(self, client_id: str, text: str = "") -> None:
        super().__init__()
        self.client_id = client_id
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Mark a miss: replaced in {self.client_id}'s texts from now on.")
            yield Label("Text, as it is written:")
            yield MissText(value=self.text, id="miss-text")
            yield Label("Kind of identifier (Up/Down to change, Space for the list):")
            yield KindSelect(((category, category) for category in CATEGORIES), value="name",
                             allow_blank=False, id="miss-category")  # fmt: skip
            yield Label("Enter to mark, Escape to cancel", classes="muted")

    def on_mount(self) -> None:
        self.query_one("#miss-text", Input).focus()
        services(self).release_keys()  # typed after M: for the text field

    def chosen_category(self) -> str:
        """The kind chosen: the highlighted one while the list is open."""
        select = self.query_one("#miss-category", Select)
        overlay = select.query_one("SelectOverlay", OptionList)
        if select.expanded and overlay.highlighted is not None:
            return CATEGORIES[overlay.highlighted]
        return str(select.value)

    async def action_move_focus(self, step: int) -> None:
        await after_keys_handed_over(self)
        if step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    async def action_submit(self) -> None:
        await self._finish(cancel=False)

    async def action_cancel(self) -> None:
        await self._finish(cancel=True)

    async def _finish(self, *, cancel: bool) -> None:
        await after_keys_handed_over(self)
        services(self).hold_keys()  # the keys after Enter or Escape: once it is decided
        (self.focused or self).post_message(self.Finish(cancel))

    @on(Finish)
    def _finished(self, message: Finish) -> None:
        message.stop()
        self.app.call_later(self._close, message.cancel)  # after the keys bubbling up

    def _close(self, cancel: bool) -> None:
        if cancel:
            services(self).release_keys()  # for the screen under the dialog
            self.dismiss(None)
            return
        text = self.query_one("#miss-text", Input).value.strip()
        if not text:
            services(self).release_keys()
            self.notify("Type the text the detector missed first (Escape cancels).",
                        severity="warning")  # fmt: skip
            self.query_one("#miss-text", Input).focus()
            return
        self.dismiss((text, self.chosen_category()))  # keys stay held until it is marked
