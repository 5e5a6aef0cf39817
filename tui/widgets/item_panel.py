"""The item under work: dimension, item text, the client's and the counselor's ratings."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from annotate.work.rationales.itemcontext import ItemContext


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
