"""A small modal asking for the note that goes with a flag."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class FlagScreen(ModalScreen[str | None]):
    """Returns the note (an empty note clears the flag) or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="flag.cancel")]

    def __init__(self, note: str = "") -> None:
        super().__init__()
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Flag this item for the project lead.")
            yield Label("Note (leave it empty to clear the flag):")
            yield Input(value=self.note, id="note")
            yield Label("Enter to flag, Escape to cancel", classes="muted")

    @on(Input.Submitted, "#note")
    def _submit(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
