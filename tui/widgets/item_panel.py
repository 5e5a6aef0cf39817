"""The item under work: dimension, item text, the client's and the counselor's ratings;
the alternative drafts sampled for it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from annotate.work.rationales.itemcontext import ItemContext
from tui.widgets.scroll_text import ScrollText


def item_text(context: ItemContext) -> Text:
    text = Text()
    text.append(f"{context.dimension_name}", style="bold")
    text.append(f"  ·  {context.item_id}  ·  session {context.session_id}\n", style="dim")
    text.append(f"{context.item_text}\n")
    if context.client_rating is not None:
        text.append("Client rating: ", style="bold")
        text.append(f"{context.client_rating} ({context.client_anchor})", style="bold green")
    else:
        text.append("Client rating: none", style="bold red")
    if context.counselor_rating is not None:
        text.append("\nCounselor's own rating (not the client's): ", style="dim")
        text.append(f"{context.counselor_rating} ({context.counselor_anchor})", style="dim")
    return text


def transcript_title(context: ItemContext) -> str:
    """The transcript's title with the session's metadata (condition, modality, ...)."""
    meta = " · ".join(f"{key}: {value}" for key, value in context.metadata)
    return f"Transcript · {meta}" if meta else "Transcript"


class ItemPanel(Static):
    """Shows one ItemContext."""

    def show(self, context: ItemContext) -> None:
        self.update(item_text(context))  # its height follows the text (narrow terminals)


class AlternativesPanel(Vertical):
    """Above the editor: which of the item's sampled drafts is shown, and the item's
    uncertainty; below that line, the shown draft's text when it is not the editor's."""

    DEFAULT_CSS = """
    AlternativesPanel {
        height: auto;
        display: none;
    }
    AlternativesPanel > #alternative-caption {
        height: auto;
        color: $text-muted;
        padding: 0 1;
    }
    AlternativesPanel > #alternative-text {
        max-height: 8;
        display: none;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="alternative-caption")
        yield ScrollText(id="alternative-text", title="Alternative, not in the editor")

    def present(self, caption: str | None, aside: str | None = None) -> None:
        """Show CAPTION (None hides the panel) and, if given, the ASIDE text below it."""
        if self.display != (caption is not None):
            self.display = caption is not None
        if caption is None:
            return
        self.query_one("#alternative-caption", Static).update(Text(caption))
        text = self.query_one("#alternative-text", ScrollText)
        if aside is not None:
            text.show(aside)
        if text.display != (aside is not None):
            text.display = aside is not None
