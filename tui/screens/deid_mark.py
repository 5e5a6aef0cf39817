"""A small modal asking for a text the detector missed and what kind of identifier it is."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select

from annotate.deid.detect import CATEGORIES


class MarkMissScreen(ModalScreen[tuple[str, str] | None]):
    """Returns (text, category) to mark, or None when cancelled or left empty."""

    DEFAULT_CSS = """
    MarkMissScreen { align: center middle; }
    MarkMissScreen #dialog {
        width: 70; max-width: 100%; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    MarkMissScreen #dialog Label { width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="deid_mark.cancel")]

    def __init__(self, client_id: str, text: str = "") -> None:
        super().__init__()
        self.client_id = client_id
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Mark a miss: replaced in {self.client_id}'s texts from now on.")
            yield Label("Text, as it is written:")
            yield Input(value=self.text, id="miss-text")
            yield Label("Kind of identifier:")
            yield Select(((category, category) for category in CATEGORIES), value="name",
                         allow_blank=False, id="miss-category")  # fmt: skip
            yield Label("Enter to mark, Escape to cancel", classes="muted")

    @on(Input.Submitted, "#miss-text")
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        category = self.query_one("#miss-category", Select).value
        self.dismiss((text, str(category)) if text else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
