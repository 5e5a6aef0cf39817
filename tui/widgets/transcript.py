"""The session transcript: numbered turns, speakers distinguished, evidence highlighted."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from annotate.work.rationales.itemcontext import TurnText
from tui.widgets.alliance_strip import AllianceGutter, strip_shown
from tui.widgets.wrap import Hanging

SPEAKER_STYLE = {"client": "bold cyan", "counselor": "bold magenta"}
SPEAKER_LABEL = {"client": "Client", "counselor": "Counselor"}


def _turn_text(turn: TurnText, is_evidence: bool) -> Hanging:
    """The turn's number and speaker, then its text wrapped under itself (any language)."""
    label = SPEAKER_LABEL.get(turn.speaker, turn.speaker)
    prefix = Text()
    prefix.append("▌ " if is_evidence else "  ", style="bold yellow")
    prefix.append(f"{turn.number:>4} ", style="dim")
    prefix.append(f"{label:<9}", style=SPEAKER_STYLE.get(turn.speaker, "bold"))
    prefix.append(" ")
    return Hanging(prefix, turn.text, "on #3a3a00" if is_evidence else "")


def _same_trace(one: AllianceGutter | None, other: AllianceGutter | None) -> bool:
    """Whether two strips draw the same figures (a session reopened reads its trace anew)."""
    if one is None or other is None:
        return one is other
    return one.trace == other.trace


class Transcript(OptionList):
    """One option per turn (virtual rendering keeps a 1,000-turn session fast)."""

    # The scrollbar is always there: OptionList measures each turn's height once, so a
    # scrollbar appearing later would narrow the lines and cut off each turn's last line.
    DEFAULT_CSS = """
    Transcript { overflow-y: scroll; }
    Transcript > .option-list--option-highlighted { text-style: none; }
    """
    BINDINGS = [
        Binding("n", "next_evidence", "Next evidence", id="transcript.next_evidence"),
        Binding("p", "previous_evidence", "Previous evidence", id="transcript.previous_evidence"),
    ]

    FIRST_CHUNK = 40  # turns shown at once (a screenful); the rest follow in batches
    BATCH = 100

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.evidence: tuple[int, ...] = ()
        self._marked: set[int] = set()
        self._turns: list[TurnText] = []
        self._index_of: dict[int, int] = {}
        self._key: object = None
        self._added = 0
        self._generation = 0
        self.alliance: AllianceGutter | None = None  # the alliance strip, when traced
        self.alliance_shown = True  # the app's choice (alliance_strip.strip_shown) at show

    def show(
        self,
        turns: Iterable[TurnText],
        evidence: Iterable[int] = (),
        key: object = None,
        alliance: AllianceGutter | None = None,
    ) -> None:
        """Show the turns; ``evidence`` are the turn numbers the draft cites, ``alliance``
        the session's alliance strip (drawn beside each turn while ``alliance_shown``).

        With the same ``key`` (the session) as last time only the evidence markers change,
        so moving between items of one session is instant; a new session's turns are
        added in batches so that the first screen appears at once even for 1,000 turns.
        """
        turns = list(turns)
        old_evidence = set(self.evidence)
        self.evidence = tuple(sorted(set(evidence)))
        self._marked = set(self.evidence)
        same_trace = _same_trace(alliance, self.alliance)
        self.alliance = alliance
        self.alliance_shown = strip_shown(self.app)
        if key is not None and key == self._key and len(turns) == len(self._turns):
            if not same_trace:
                self._redraw_all()
            for number in old_evidence ^ set(self.evidence):
                index = self._index_of.get(number)
                if index is not None and index < self._added:
                    self.replace_option_prompt_at_index(index, self._prompt(turns[index]))
            self.highlighted = None
            self.scroll_home(animate=False)
            return
        self._key, self._turns = key, turns
        self._index_of = {turn.number: index for index, turn in enumerate(turns)}
        self._generation += 1
        self._added = 0
        self.clear_options()
        self._add_until(self.FIRST_CHUNK)
        self.highlighted = None
        self.scroll_home(animate=False)
        if self._added < len(turns):
            self.call_after_refresh(self._add_later, self._generation)

    def _add_until(self, end: int) -> None:
        end = min(end, len(self._turns))
        if end > self._added:
            self.add_options([self._option(turn) for turn in self._turns[self._added : end]])
            self._added = end

    def _add_later(self, generation: int) -> None:
        if generation != self._generation:  # another session was shown meanwhile
            return
        self._add_until(self._added + self.BATCH)
        if self._added < len(self._turns):
            self.set_timer(0.01, lambda: self._add_later(generation))

    def _prompt(self, turn: TurnText) -> RenderableType:
        prompt = _turn_text(turn, turn.number in self._marked)
        if self.alliance is None or not self.alliance_shown:
            return prompt
        return self.alliance.beside(turn.number, prompt)

    def show_alliance(self, shown: bool) -> None:
        """Draw or hide the alliance strip (every turn shown is redrawn at its new width)."""
        if shown != self.alliance_shown:
            self.alliance_shown = shown
            if self.alliance is not None:
                self._redraw_all()

    def _redraw_all(self) -> None:
        for index, turn in enumerate(self._turns[: self._added]):
            self.replace_option_prompt_at_index(index, self._prompt(turn))
        if self.highlighted is not None:
            self.scroll_to_highlight()

    def _option(self, turn: TurnText) -> Option:
        return Option(self._prompt(turn), id=f"turn-{turn.number}")

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
            self._add_until(self._index_of[target] + 1)
            self.highlighted = self._index_of[target]
        return target

    def action_next_evidence(self) -> None:
        self.jump_to_evidence(1)

    def action_previous_evidence(self) -> None:
        self.jump_to_evidence(-1)
