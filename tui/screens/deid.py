"""Check and correct de-identification, turn by turn (``annotate deid review``).

A session's turns with every detected identifier coloured by its kind; Left and Right
choose a detection in the highlighted turn, U unmarks it (a false hit: never replaced
in this client's texts again), M marks a text the detector missed. Corrections are
stored at once and used from then on, by this view and by every draft and export.

Keys typed in a burst act in the order typed, each on the session it was typed for: the
screen's keys are priority bindings that first let the turn list handle the keys typed
before them (``tui.keys``); a key that changes what is shown (], [, U, a mark) then holds
the keys after it until the session is shown again, and they are handed over to it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from annotate.deid.detect import CATEGORIES, Span
from annotate.deid.scan import session_ids, session_spans
from annotate.deid.service import SessionText, corrections, mark, unmark
from tui.failures import notify_failure
from tui.keys import BindingsInOrder, after_keys_handed_over
from tui.services import services
from tui.widgets.key_footer import KeyFooter

CATEGORY_STYLE = {
    "name": "bold black on #e5a50a",
    "place": "bold black on #57e389",
    "date": "bold black on #99c1f1",
    "phone": "bold black on #dc8add",
    "email": "bold black on #dc8add",
    "url": "bold black on #dc8add",
    "id": "bold black on #f66151",
    "age": "bold black on #f9f06b",
}
SPEAKER_STYLE = {"client": "bold cyan", "counselor": "bold magenta"}
SPEAKER_LABEL = {"client": "Client", "counselor": "Counselor"}
KEPT_SHOWN = 6  # the client's latest unmarked texts shown under the legend


def turn_prompt(
    number: int, speaker: str, text: str, spans: tuple[Span, ...], selected: int | None
) -> Table:
    """One turn: its number and speaker, then its text (wrapped under itself) with each
    detection coloured by kind, the selected one underlined and marked by a bar."""
    prefix = Text(no_wrap=True)
    prefix.append("▌ " if selected is not None else "  ", style="bold yellow")
    prefix.append(f"{number:>4} ", style="dim")
    prefix.append(
        f"{SPEAKER_LABEL.get(speaker, speaker):<9} ", style=SPEAKER_STYLE.get(speaker, "")
    )
    body = Text(overflow="fold")
    position = 0
    for index, span in enumerate(spans):
        body.append(text[position : span.start])
        style = CATEGORY_STYLE.get(span.category, "reverse")
        if index == selected:
            style += " underline reverse"
        body.append(text[span.start : span.end], style=style)
        position = span.end
    body.append(text[position:])
    grid = Table.grid()
    grid.add_column(width=prefix.cell_len, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(prefix, body)
    return grid


def legend(counts: Counter[str], kept: tuple[str, ...] = (), chosen: Span | None = None) -> Text:
    """Each kind in its colour, with how many detections of it the session holds; the
    chosen detection's kind in words; the texts unmarked for this client (kept as they
    are), so a wrong unmark can be seen."""
    out = Text()
    for category in CATEGORIES:
        out.append(f" {category} {counts.get(category, 0)} ", style=CATEGORY_STYLE[category])
        out.append(" ")
    out.append("\nChosen: ", style="bold")
    if chosen is None:
        out.append("none in this turn", style="dim")
    else:
        out.append(chosen.text, style=CATEGORY_STYLE.get(chosen.category, "reverse"))
        out.append(f" ({chosen.category})")
    out.append("\nKept (unmarked) for this client: ", style="bold")
    if kept:
        shown = kept[-KEPT_SHOWN:]  # the latest unmarks (a wrong one is usually recent)
        if len(kept) > len(shown):
            out.append(f"({len(kept) - len(shown)} earlier) ", style="dim")
        out.append(" · ".join(repr(text) for text in shown))
    else:
        out.append("none", style="dim")
    return out


class TurnList(BindingsInOrder, OptionList):
    """The session's turns; Left and Right choose a detection in the highlighted turn, in
    the order typed after the cursor keys ("Down Right" in one burst chooses in the turn
    Down moved to)."""

    DEFAULT_CSS = """
    TurnList { height: 1fr; overflow-y: scroll; }
    TurnList > .option-list--option-highlighted { text-style: none; }
    """
    BINDINGS = [
        Binding("right", "screen.next_span", "Next hit", id="deid.next_span",
                tooltip="Choose the next detection in this turn."),
        Binding("left", "screen.previous_span", "Prev. hit", id="deid.previous_span",
                tooltip="Choose the previous detection in this turn."),
    ]  # fmt: skip


class DeidScreen(Screen[None]):
    """One session's detections, to check and correct; [ and ] move between sessions."""

    DEFAULT_CSS = """
    DeidScreen #deid-heading { height: auto; padding: 0 1; }
    DeidScreen #deid-legend { height: auto; padding: 0 1; }
    """

    # Priority bindings: each acts as its key arrives, after the keys typed before it
    # (tui.keys), so "] Down u" unmarks in the session ] opens.
    BINDINGS = [
        Binding("u", "unmark", "Unmark", id="deid.unmark", priority=True,
                tooltip="A false hit: never replace this text in the client's texts."),
        Binding("m", "mark", "Mark a miss", id="deid.mark", priority=True,
                tooltip="Replace a text the detector missed in the client's texts."),
        Binding("right_square_bracket", "next_session", "Next session",
                id="deid.next_session", priority=True),
        Binding("left_square_bracket", "previous_session", "Prev. session",
                id="deid.previous_session", priority=True),
        Binding("escape", "back", "Back", id="deid.back", priority=True),
    ]  # fmt: skip

    @dataclass
    class Loaded(Message):
        """A session's turns and detections, read in a worker."""

        session: SessionText
        spans: list[tuple[Span, ...]]
        sessions: list[str]
        kept: tuple[str, ...] = ()  # the client's texts unmarked (kept as they are)

    @dataclass
    class Corrected(Message):
        """A correction was stored; the session is read again with it."""

        note: str

    def __init__(self, session_id: str | None = None) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: SessionText | None = None
        self.spans: list[tuple[Span, ...]] = []
        self.sessions: list[str] = []
        self.kept: tuple[str, ...] = ()
        self.counts: Counter[str] = Counter()
        # The chosen detection, as (turn index, detection index): kept with its turn, so
        # keys typed in one burst (Down Right) choose in the turn the cursor is on now,
        # whenever the list's highlight message arrives.
        self.choice: tuple[int, int] = (0, 0)
        self.pointer: int | None = None  # the turn drawn with the pointer
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Reading the session and finding what identifies someone…", id="deid-heading")
        yield Static(id="deid-legend")
        yield TurnList(id="deid-turns")
        yield KeyFooter()

    def on_mount(self) -> None:
        services(self).hold_keys()  # keys typed before the first session is shown: for it
        self.load(self.session_id)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)
        if event.state == WorkerState.ERROR:
            self._drop_held_keys("the session was not shown")

    def _drop_held_keys(self, why: str) -> None:
        """A load or correction that did not happen: the keys typed for the session it was
        to show are not given to the one still shown."""
        dropped = services(self).discard_held_keys()
        if dropped:
            self.notify(f"{dropped} key(s) typed after that were not applied: {why}.",
                        severity="warning")  # fmt: skip

    # -- loading ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="deid")
    def load(self, session_id: str | None) -> None:
        engine = services(self).engine
        sessions = session_ids(engine)
        if session_id is None:
            if not sessions:
                self.app.call_from_thread(self._drop_held_keys, "no session to show")
                self.app.call_from_thread(self.notify, "No sessions in the store.")
                return
            session_id = sessions[0]
        session, spans = session_spans(engine, session_id)
        latest: dict[str, str] = {}  # the latest correction of a text is in force
        for correction in corrections(engine, session.client_id):
            latest.pop(correction.text, None)
            latest[correction.text] = correction.action
        kept = tuple(text for text, action in latest.items() if action == "unmark")
        found = [tuple(turn) for turn in spans]
        self.post_message(self.Loaded(session, found, sessions, kept))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        same = self.session is not None and self.session.id == message.session.id
        turns = self.query_one("#deid-turns", OptionList)
        keep = turns.highlighted if same else 0
        self.session, self.spans, self.sessions = message.session, message.spans, message.sessions
        self.kept = message.kept
        self.session_id = message.session.id
        counts = self.counts = Counter(span.category for found in self.spans for span in found)
        position = (
            self.sessions.index(self.session_id) + 1 if self.session_id in self.sessions else 0
        )
        self.query_one("#deid-heading", Static).update(
            f"Session {self.session_id} ({position} of {len(self.sessions)}) · client "
            f"{self.session.client_id} · {self.session.language} · "
            f"{sum(counts.values())} to replace"
        )
        turns.clear_options()
        turns.add_options(
            [
                Option(self._prompt(index, None), id=f"turn-{index}")
                for index in range(len(self.spans))
            ]
        )
        self.choice = (0, 0)
        if self.spans:
            turns.highlighted = min(keep or 0, len(self.spans) - 1)
            self._redraw(turns.highlighted)
        else:
            self._show_legend()
        turns.focus()
        self.loaded = True
        services(self).release_keys()  # keys typed while it loaded: for this session

    def _show_legend(self) -> None:
        self.query_one("#deid-legend", Static).update(
            legend(self.counts, self.kept, self.current_span())
        )

    def _prompt(self, index: int, selected: int | None) -> Table:
        assert self.session is not None
        number = self.session.numbers[index] if self.session.numbers else index + 1
        speaker = self.session.speakers[index] if self.session.speakers else ""
        return turn_prompt(number, speaker, self.session.texts[index], self.spans[index], selected)

    def _redraw(self, index: int | None) -> None:
        """Draw the pointer and the chosen detection on turn INDEX (and off the last)."""
        turns = self.query_one("#deid-turns", OptionList)
        if self.pointer is not None and self.pointer != index and self.pointer < len(self.spans):
            turns.replace_option_prompt_at_index(self.pointer, self._prompt(self.pointer, None))
        self.pointer = None
        if index is not None and 0 <= index < len(self.spans):
            turns.replace_option_prompt_at_index(index, self._prompt(index, self._chosen(index)))
            self.pointer = index
        self._show_legend()

    def _chosen(self, index: int) -> int:
        """The detection chosen in turn INDEX (the first unless one was chosen there)."""
        turn, chosen = self.choice
        return chosen if turn == index and chosen < len(self.spans[index]) else 0

    @on(OptionList.OptionHighlighted, "#deid-turns")
    def _moved(self, event: OptionList.OptionHighlighted) -> None:
        self._redraw(event.option_index)

    # -- choosing and correcting ---------------------------------------------------------

    def current_span(self) -> Span | None:
        """The detection chosen in the highlighted turn (None: the turn has none)."""
        index = self.query_one("#deid-turns", OptionList).highlighted
        if index is None or not 0 <= index < len(self.spans) or not self.spans[index]:
            return None
        return self.spans[index][self._chosen(index)]

    def _step(self, step: int) -> None:
        index = self.query_one("#deid-turns", OptionList).highlighted
        if index is None or not 0 <= index < len(self.spans) or not self.spans[index]:
            return
        self.choice = (index, (self._chosen(index) + step) % len(self.spans[index]))
        self._redraw(index)

    def action_next_span(self) -> None:
        self._step(1)

    def action_previous_span(self) -> None:
        self._step(-1)

    async def action_unmark(self) -> None:
        await after_keys_handed_over(self)
        span = self.current_span()
        if span is None or self.session is None:
            self.notify("No detection in this turn to unmark.", severity="warning")
            return
        services(self).hold_keys()  # the keys after U act on the session read again
        self.correct("unmark", self.session.client_id, span.text, span.category)

    async def action_mark(self) -> None:
        await after_keys_handed_over(self)
        if self.session is None:
            return
        from tui.screens.deid_mark import MarkMissScreen

        client_id = self.session.client_id

        def marked(result: tuple[str, str] | None) -> None:
            if result is not None:  # the dialog holds the keys typed after its Enter
                self.correct("mark", client_id, *result)

        services(self).hold_keys()  # the keys after M: for the dialog, once it is shown
        self.app.push_screen(MarkMissScreen(client_id), marked)

    @work(thread=True, exclusive=True, exit_on_error=False, group="deid-correct")
    def correct(self, action: str, client_id: str, text: str, category: str) -> None:
        app = services(self)
        if action == "mark":
            mark(app.engine, client_id, text, category, app.annotator)
            note = f"Marked {text!r} ({category}): replaced in {client_id}'s texts from now on."
        else:
            unmark(app.engine, client_id, text, app.annotator, category=category)
            note = f"Unmarked {text!r}: kept in {client_id}'s texts from now on."
        self.post_message(self.Corrected(note))

    @on(Corrected)
    def _corrected(self, message: Corrected) -> None:
        self.notify(message.note)
        self.load(self.session_id)

    # -- sessions ------------------------------------------------------------------------

    async def _go(self, step: int) -> None:
        """Open the session STEP places on; the keys typed from now on are held for it (a
        ] among them moves on from that one, so "] ] ]" moves three sessions)."""
        await after_keys_handed_over(self)
        if not self.sessions or self.session_id not in self.sessions:
            return
        index = (self.sessions.index(self.session_id) + step) % len(self.sessions)
        services(self).hold_keys()
        self.load(self.sessions[index])

    async def action_next_session(self) -> None:
        await self._go(1)

    async def action_previous_session(self) -> None:
        await self._go(-1)

    async def action_back(self) -> None:
        """Back to the screen under this one; opened on its own (``deid review``): quit."""
        await after_keys_handed_over(self)
        if len(self.app.screen_stack) > 2:
            self.dismiss()
        else:
            self.app.exit()
