"""A text that may be longer than its box: scrollable, saying when more lies below."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.widgets.wrap import Hanging

MORE = "more below: Tab here, then ↓ (or scroll)"


class ScrollText(VerticalScroll):
    """Shows a whole text; its bottom border says so while part of it is out of view."""

    DEFAULT_CSS = """
    ScrollText {
        height: auto;
        max-height: 12;
        border: round $accent;
        padding: 0 1;
    }
    ScrollText:focus {
        border: round $secondary;
    }
    """

    def __init__(
        self, text: str | Text = "", *, id: str | None = None, title: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._initial = text
        if title:
            self.border_title = title

    def compose(self) -> ComposeResult:
        yield Static(self._body(self._initial), id="scroll-text-body")

    @staticmethod
    def _body(text: str | Text) -> Text | Hanging:
        # Plain text is wrapped by ``wrap``: Chinese breaks between characters, none lost.
        return text if isinstance(text, Text) else Hanging(Text(), text)

    def show(self, text: str | Text) -> None:
        self.query_one("#scroll-text-body", Static).update(self._body(text))
        self.scroll_home(animate=False)
        self.call_after_refresh(self._mark)

    @property
    def more_below(self) -> bool:
        return self.max_scroll_y > 0 and self.scroll_y < self.max_scroll_y

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._mark()

    def on_resize(self) -> None:
        self.call_after_refresh(self._mark)

    def on_mount(self) -> None:
        self.call_after_refresh(self._mark)

    def _mark(self) -> None:
        self.border_subtitle = MORE if self.more_below else ""
