"""The session transcript: numbered turns, speakers distinguished, evidence highlighted."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from annotate.itemcontext import TurnView

SPEAKER_STYLE = {"client": "bold cyan", "counselor": "bold magenta"}
SPEAKER_LABEL = {"client": "Client", "counselor": "Counselor"}


class Transcript(OptionList):
    """One option per turn (virtual rendering keeps a 1,000-turn session fast)."""

    DEFAULT_CSS = """
    Transcript > .option-list--option-highlighted { text-style: none; }
    """
    BINDINGS = [
        Binding("n", "next_evidence", "Next evidence", id="transcript.next_evidence"),
        Binding("p", "previous_evidence", "Previous evidence", id="transcript.previous_evidence"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.evidence: tuple[int, ...] = ()
        self._index_of: dict[int, int] = {}

    def show(self, turns: Iterable[TurnView], evidence: Iterable[int] = ()) -> None:
        """Replace the turns; ``evidence`` are the turn numbers the draft cites."""
        turns = list(turns)
        self.evidence = tuple(sorted(set(evidence)))
        marked = set(self.evidence)
        self._index_of = {turn.number: index for index, turn in enumerate(turns)}
        self.clear_options()
        self.add_options([self._option(turn, turn.number in marked) for turn in turns])
        self.highlighted = None
        self.scroll_home(animate=False)

    @staticmethod
    def _option(turn: TurnView, is_evidence: bool) -> Option:
        label = SPEAKER_LABEL.get(turn.speaker, turn.speaker)
        line = Text()
        line.append("▌ " if is_evidence else "  ", style="bold yellow")
        line.append(f"{turn.number:>4} ", style="dim")
        line.append(f"{label:<9}", style=SPEAKER_STYLE.get(turn.speaker, "bold"))
        line.append(" ")
        line.append(turn.text, style="on #3a3a00" if is_evidence else "")
        return Option(line, id=f"turn-{turn.number}")

    def highlighted_turn(self) -> int | None:
        if self.highlighted is None:
            return None
        for number, index in self._index_of.items():
            if index == self.highlighted:
                return number
        return None

    def jump_to_evidence(self, step: int = 1) -> int | None:
        """Move to the next (or previous) evidence turn, wrapping around; returns its number."""
        if not self.evidence:
            self.app.notify("The draft cites no turns.", severity="warning")
            return None
        current = self.highlighted_turn()
        ordered = list(self.evidence) if step > 0 else list(reversed(self.evidence))
        if current is None:
            target = ordered[0]
        else:
            later = [n for n in ordered if (n > current if step > 0 else n < current)]
            target = later[0] if later else ordered[0]
        if target in self._index_of:
            self.highlighted = self._index_of[target]
        return target

    def action_next_evidence(self) -> None:
        self.jump_to_evidence(1)

    def action_previous_evidence(self) -> None:
        self.jump_to_evidence(-1)
