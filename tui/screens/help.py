"""Help (F1 or ?): the keys of the current screen, the manual and the rubric."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from annotate.core.guidelines import Rubric, load_manual, load_rubric
from annotate.core.vocabulary import current_rubric
from tui.services import services

GLOBAL_KEYS = (("F1 / ?", "this help"), ("F2", "queue"), ("F3", "progress"), ("Ctrl+Q", "quit"))
EDITING_KEYS = (
    ("F7", "select all (then type to replace the text)"),
    ("F6", "select the line"),
    ("Ctrl+Z / Ctrl+Y", "undo / redo (a revert to the draft too)"),
    ("Ctrl+X / Ctrl+C / Ctrl+V", "cut / copy / paste"),
    ("Ctrl+A / Ctrl+E", "start / end of the line"),
)


def _shown(keys: str) -> str:
    return " / ".join(key.strip().replace("ctrl+", "Ctrl+") for key in keys.split(","))


def help_markdown(
    bindings: Iterable[BindingType],
    item: str | None = None,
    keymap: Mapping[str, str] | None = None,
    rubric: Rubric | None = None,
) -> str:
    from tui.keymap import keymap_path

    keymap = keymap or {}
    lines = [item, ""] if item else []
    lines += ["# Keys", "", "| key | action | id |", "| --- | --- | --- |"]
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            keys = keymap.get(binding.id or "", binding.key)
            lines.append(f"| {_shown(keys)} | {binding.description} | `{binding.id or ''}` |")
    lines += [f"| {key} | {action} | |" for key, action in GLOBAL_KEYS]
    lines += ["", "In the editor:", "", "| key | action |", "| --- | --- |"]
    lines += [f"| {key} | {action} |" for key, action in EDITING_KEYS]
    lines += [
        "",
        f"Your own keys: a file `{keymap_path()}` with a `[keys]` table of "
        '`"id" = "key"` lines (e.g. `"annotate.revert" = "f10"`), read at start. Keys '
        "the editor itself uses (F6, F7, Ctrl+A, ...) stay the editor's while you type.",
    ]
    manual, rubric = load_manual(), rubric or load_rubric()
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

    def __init__(
        self,
        bindings: Iterable[BindingType],
        item: str | None = None,
        keymap: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.shown = (bindings, item, keymap or {})

    def compose(self) -> ComposeResult:
        # The store's rubric (a team may load another than the packaged one).
        self.text = help_markdown(*self.shown, current_rubric(services(self).engine))
        with VerticalScroll(id="help-box"):
            yield Markdown(self.text, id="help")

    def action_close(self) -> None:
        self.dismiss()
