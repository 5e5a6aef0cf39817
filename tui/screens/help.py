"""Help (F1 or ?): the keys of the current screen, the manual and the rubric."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from annotate.guidelines import load_manual, load_rubric

GLOBAL_KEYS = (("F1 / ?", "this help"), ("F2", "queue"), ("F3", "progress"), ("Ctrl+Q", "quit"))


def help_markdown(bindings: Iterable[BindingType], item: str | None = None) -> str:
    lines = [item, ""] if item else []
    lines += ["# Keys", "", "| key | action |", "| --- | --- |"]
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            lines.append(f"| {binding.key.replace('ctrl+', 'Ctrl+')} | {binding.description} |")
    lines += [f"| {key} | {action} |" for key, action in GLOBAL_KEYS]
    manual, rubric = load_manual(), load_rubric()
    lines += ["", f"# {manual.title} (version {manual.version})", "", manual.text, ""]
    lines += [f"# Review rubric (version {rubric.version}, pass at {rubric.threshold})", ""]
    for criterion in rubric.criteria.values():
        lines += [f"## {criterion.name}", "", criterion.question, ""]
        lines += [f"- **{s}**: {criterion.scores[s]}" for s in sorted(criterion.scores)]
        lines.append("")
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """Scrollable; Escape or F1 closes it."""

    BINDINGS = [
        Binding("escape,f1,q", "close", "Close", id="help.close"),
    ]

    def __init__(self, bindings: Iterable[BindingType], item: str | None = None) -> None:
        super().__init__()
        self.text = help_markdown(bindings, item)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(self.text, id="help")

    def action_close(self) -> None:
        self.dismiss()
