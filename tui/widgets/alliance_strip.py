"""The alliance strip: each turn's inferred alliance beside its text, a dip in plain sight.

A stored trace (``annotate trace``) gives every turn one similarity per dimension. The
strip draws them as a narrow column at the right of each turn's first line, one bar per
dimension in the speaker's colour, scaled within the session's range for that speaker
and dimension (counselors' language reads higher than clients', so each speaker is
compared with themself); with room it adds the figures. Being part of the turn's own
rendering, the strip scrolls and wraps with the transcript and can never drift from it.
``TraceTitle`` above the transcript names the method (a lexical score is not a model's)
and the exact figures of the turn under the cursor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Text
from textual.app import App
from textual.widget import Widget
from textual.widgets import Static

from annotate.research.stored import SessionTrace, TurnScore

BARS = "▁▂▃▄▅▆▇█"
SPEAKER_BAR_STYLE = {"client": "bold cyan", "counselor": "bold magenta"}
# The transcript's own colours (tui.widgets.transcript.SPEAKER_STYLE), repeated here so
# the transcript can import this module; a test checks they agree.
SPEAKER_FIGURE_STYLE = {"client": "cyan", "counselor": "magenta"}
WIDE_AT = 72  # cells of a turn's row from which the figures are drawn beside the bars
LEAD = " ▏"  # the strip's left edge, on every row of a turn
LEAD_STYLE = "dim"


def figure(value: float) -> str:
    """A similarity in three characters (``.42``, ``-.05``): cosines stay within ±1."""
    text = f"{value:.2f}"
    return text.replace("0.", ".", 1) if abs(value) < 1 else text


@dataclass(frozen=True, eq=False)
class AllianceGutter:
    """A session's trace as strip cells, one per turn (built once per session)."""

    trace: SessionTrace
    ranges: dict[tuple[str, str], tuple[float, float]]  # (speaker, dimension): low, high
    by_turn: dict[int, TurnScore]

    @classmethod
    def of(cls, trace: SessionTrace) -> AllianceGutter:
        ranges: dict[tuple[str, str], tuple[float, float]] = {}
        for turn in trace.turns:
            for dimension, value in turn.scores.items():
                low, high = ranges.get((turn.speaker, dimension), (value, value))
                ranges[(turn.speaker, dimension)] = (min(low, value), max(high, value))
        return cls(trace, ranges, trace.by_turn())

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.trace.dimensions

    def level(self, speaker: str, dimension: str, value: float) -> int:
        """0-7: where VALUE lies in the session's range for this speaker and dimension."""
        low, high = self.ranges.get((speaker, dimension), (value, value))
        if high - low < 1e-9:
            return len(BARS) // 2 - 1  # one value (or all equal): the middle, no dip
        return min(len(BARS) - 1, int((value - low) / (high - low) * len(BARS)))

    def turn(self, number: int) -> TurnScore | None:
        return self.by_turn.get(number)

    def cell(self, number: int, *, figures: bool) -> Text:
        """Turn NUMBER's cell: a bar per dimension (and its figure), blank if not traced."""
        score = self.turn(number)
        width = self.width(figures=figures)
        cell = Text(LEAD, style=LEAD_STYLE)
        if score is None:
            return cell.append(" " * (width - cell.cell_len))
        bar_style = SPEAKER_BAR_STYLE.get(score.speaker, "bold")
        figure_style = SPEAKER_FIGURE_STYLE.get(score.speaker, "")
        for position, dimension in enumerate(self.dimensions):
            if position:
                cell.append(" ")
            value = score.scores.get(dimension)
            if value is None:
                cell.append(" " * (5 if figures else 1))
                continue
            shown = figure(value) if figures else ""
            if figures:
                cell.append(" " * (4 - len(shown)))  # the bars in one column, figures after
            cell.append(BARS[self.level(score.speaker, dimension, value)], style=bar_style)
            cell.append(shown, style=figure_style)
        return cell

    def width(self, *, figures: bool) -> int:
        count = len(self.dimensions)
        return cell_len(LEAD) + count * (5 if figures else 1) + max(count - 1, 0)

    def beside(self, number: int, prompt: RenderableType) -> WithGutter:
        """PROMPT (a turn's rendering) with turn NUMBER's cell at the right of its first line."""
        return WithGutter(prompt, self, number)


class WithGutter:
    """A turn's rendering narrowed by the strip's width, its cell beside the first line;
    the figures are added when the row is wide enough (the choice is made per width, so a
    resize redraws it right)."""

    def __init__(self, inner: RenderableType, gutter: AllianceGutter, number: int) -> None:
        self.inner = inner
        self.gutter = gutter
        self.number = number

    def __str__(self) -> str:
        return str(self.inner)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        inner = Measurement.get(console, options, self.inner)
        extra = self.gutter.width(figures=False)
        return Measurement(inner.minimum + extra, inner.maximum + extra)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        figures = options.max_width >= WIDE_AT
        cell = self.gutter.cell(self.number, figures=figures)
        room = max(options.max_width - cell.cell_len, 1)
        lines = console.render_lines(self.inner, options.update_width(room), pad=True)
        edge = Text(LEAD, style=LEAD_STYLE).append(" " * (cell.cell_len - cell_len(LEAD)))
        for row, line in enumerate(lines):
            yield from line
            yield from (cell if row == 0 else edge).render(console)
            yield Segment.line()


_SHOWN: WeakKeyDictionary[App[object], bool] = WeakKeyDictionary()


def strip_shown(app: App[object]) -> bool:
    """Whether the expert wants the strip (kept for the app's life, across items and
    screens; shown until hidden)."""
    return _SHOWN.get(app, True)


def flip_strip(app: App[object], traced: bool) -> bool | None:
    """Hide the strip if shown, show it if hidden; returns whether it is now shown, or
    None (saying why) when the session on screen was never traced."""
    if not traced:
        app.notify("No alliance trace for this session: annotate trace computes one.")
        return None
    _SHOWN[app] = shown = not strip_shown(app)
    return shown


class TraceTitle(Static):
    """Above the transcript: what the strip's bars are and the exact figures of the turn
    under the cursor, with the method and the hide key in the transcript's border; none
    of it when there is no trace or the strip is hidden."""

    DEFAULT_CSS = """
    TraceTitle { height: auto; padding: 0 1; color: $text-muted; display: none; }
    """

    def present(
        self, gutter: AllianceGutter | None, turn: int | None, *, border: Widget, keys: str
    ) -> None:
        """Show GUTTER (TURN's figures) and label BORDER; KEYS is the hide binding's keys."""
        shown = gutter is not None and strip_shown(self.app)
        label_border(border, gutter if shown else None, shown_key(keys))
        if gutter is None or not shown:
            self.display = False
            return
        self.update(title_text(gutter, turn))
        self.display = True


def title_text(gutter: AllianceGutter, turn: int | None) -> Text:
    """TURN's exact figures (three decimals), or what the bars are when no turn is chosen."""
    score = gutter.turn(turn) if turn is not None else None
    if score is None:
        text = Text("Alliance bars ", style="bold")
        text.append("·".join(gutter.dimensions))
        return text.append(", per speaker's range")
    text = Text(f"turn {score.number} {score.speaker}: ",
                style=SPEAKER_FIGURE_STYLE.get(score.speaker, ""))  # fmt: skip
    return text.append("  ".join(f"{d} {score.scores[d]:.3f}" for d in _present(gutter, score)))


def label_border(widget: Widget, gutter: AllianceGutter | None, key: str) -> None:
    """Name the method in WIDGET's border (a lexical score must not pass for a model's)
    and the key that hides the strip; without GUTTER, the border as it was."""
    widget.border_title = f"alliance: {gutter.trace.label}" if gutter else None
    widget.border_subtitle = f"{key} hides the alliance strip" if gutter else None


def _present(gutter: AllianceGutter, score: TurnScore) -> Iterable[str]:
    return (d for d in gutter.dimensions if d in score.scores)


def shown_key(keys: str) -> str:
    """A binding's first key as Help writes it (``f5`` -> ``F5``, ``ctrl+t`` -> ``Ctrl+T``)."""
    first = keys.split(",")[0].strip()
    return "+".join(part.capitalize() if len(part) > 1 else part.upper()
                    for part in first.split("+"))  # fmt: skip
