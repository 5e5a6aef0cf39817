"""Turn coding (3RS markers): move through the turns, toggle codes with keys.

The transcript fills the left; each turn shows its codes as coloured marks (one colour
per family, the legend on the right) and, in a dimmer style with a "?", the proposals of
``annotate draft --markers`` that the coder has not decided. A proposal is never a code:
``a`` accepts the current turn's first open proposal (the code is added, marked as taken
from a suggestion), ``x`` rejects it. Every change is stored at once as a new version
through :mod:`annotate.work.codings` (nothing to save, nothing lost on a crash);
Ctrl+O submits the coding. A reviewer opens the same screen read-only, without the
proposals, and passes (Ctrl+O) or sends back with a comment (Ctrl+R).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Key
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from annotate.core.errors import AnnotateError, StaleVersion
from annotate.core.plurals import counted
from annotate.core.workflow import status_label
from annotate.work import codings
from annotate.work.codings import CodingState, CodingView, Suggestion
from tui.failures import notify_failure
from tui.keys import BindingsInOrder, after_keys_handed_over
from tui.services import services, session_trace
from tui.widgets.alliance_strip import AllianceGutter, TraceTitle, flip_strip, strip_shown
from tui.widgets.key_footer import KeyFooter
from tui.widgets.transcript import SPEAKER_LABEL, SPEAKER_STYLE
from tui.widgets.wrap import Hanging

FAMILY_STYLE = {
    "confrontation": "bold white on dark_red",
    "withdrawal": "bold black on dark_orange",
    "repair": "bold white on dark_green",
}
OTHER_STYLE = "bold white on grey35"
SUGGESTED_STYLE = "italic grey70"
DECISIONS = {"accept_suggestion": "accept", "reject_suggestion": "reject"}

Pending = tuple[str, int, str]  # a change typed while another is written: what, turn, code


def family_style(family: str) -> str:
    return FAMILY_STYLE.get(family, OTHER_STYLE)


class CodingTranscript(BindingsInOrder, OptionList):
    """One option per turn, with the turn's codes and open proposals under its text; its
    cursor keys, the code keys and the accept/reject keys act in the order typed: a code
    or a decision is applied here, in the list's own queue (bubbled up to the screen,
    "Down 4 Down Down" coded the turn the cursor had reached by the time the screen saw
    the 4, and "Down a Down" could accept on the turn after)."""

    DEFAULT_CSS = """
    CodingTranscript { overflow-y: scroll; }
    """

    async def _on_key(self, event: Key) -> None:
        await super()._on_key(event)
        screen = self.screen
        if isinstance(screen, CodingScreen):
            screen.turn_key(event)


class CodingScreen(Screen[None]):
    """Codes one session's turns (or reviews a submitted coding, read-only)."""

    BINDINGS = [
        Binding("a", "accept_suggestion", "Accept proposal", id="coding.accept"),
        Binding("x", "reject_suggestion", "Reject proposal", id="coding.reject"),
        Binding("ctrl+o", "finish", "Submit / pass", id="coding.finish", priority=True),
        Binding("ctrl+r", "send_back", "Send back", id="coding.send_back", priority=True),
        Binding("escape", "back", "Back", id="coding.back"),
        Binding("f5", "toggle_trace", "Alliance strip on/off", id="coding.trace", show=False,
                tooltip="Show or hide each turn's inferred alliance beside the transcript."),
    ]  # fmt: skip

    @dataclass
    class Loaded(Message):
        view: CodingView
        gutter: AllianceGutter | None = None  # the session's alliance strip, if traced

    @dataclass
    class Changed(Message):
        state: CodingState
        note: str

    def __init__(self, coding_id: int) -> None:
        super().__init__()
        self.coding_id = coding_id
        self.view: CodingView | None = None
        self.state: CodingState | None = None
        self.busy = False  # a change is being written: the next key waits for it
        self.waiting: deque[Pending] = deque()  # changes typed meanwhile, in order
        self.key_of: dict[str, str] = {}
        self.decision_of: dict[str, str] = {}  # the accept/reject keys (the user's keymap)
        self.alliance: AllianceGutter | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="coding-status")
        with Horizontal(id="coding-body"):
            with Vertical(id="coding-left"):
                yield TraceTitle(id="trace-title")
                yield CodingTranscript(id="coding-turns")
            with Vertical(id="coding-side"):
                yield Static(id="coding-turn")  # the current turn first: always in sight
                with VerticalScroll(id="coding-legend-box"):
                    yield Static(id="coding-legend")
        yield Input(placeholder="what should the coder change? Enter sends it back",
                    id="coding-comment")  # fmt: skip
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#coding-comment", Input).display = False
        keymap = services(self).user_keymap
        for bindings in self._bindings.key_to_bindings.values():
            for binding in bindings:
                what = DECISIONS.get(binding.action)
                if what is not None:
                    keys = keymap.get(binding.id or "", binding.key).split(",")
                    self.decision_of.update((key.strip(), what) for key in keys)
        self.load()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)
        if event.state.name in ("ERROR", "CANCELLED"):
            self.busy = False
            self.waiting.clear()
        if event.worker.group == "coding" and event.state.name == "ERROR" and self.view is None:
            dropped = services(self).discard_held_keys()  # the coding never opened
            if dropped:
                self.notify(f"{dropped} key(s) typed after Enter were not applied: the "
                            "coding did not open.", severity="warning")  # fmt: skip

    def help_context(self) -> str:
        return (
            "Turn coding: move with the arrow keys; a code's key toggles it on the turn "
            "(see the legend). Proposals (?) are not codes until you accept them (a) or "
            "reject them (x). Every change is stored at once. Ctrl+O submits when you are "
            "done; a reviewer passes with Ctrl+O or sends back with Ctrl+R."
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The coder's keys in coding mode, the reviewer's in review mode (others hidden)."""
        mode = self.view.mode if self.view is not None else None
        if action in ("accept_suggestion", "reject_suggestion"):
            return mode == "code"
        if action == "send_back":
            return mode == "review"
        return True

    # --- loading and drawing -------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="coding")
    def load(self) -> None:
        app = services(self)
        view = codings.coding_view(app.engine, self.coding_id, app.annotator)
        trace = session_trace(app.engine, view.state.session_id)
        self.post_message(self.Loaded(view, AllianceGutter.of(trace) if trace else None))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        first = self.view is None
        self.view, self.state = message.view, message.view.state
        self.alliance = message.gutter
        self.key_of = {code.key: code.id for code in self.view.scheme.codes}
        self.query_one("#coding-legend", Static).update(self._legend())
        turns = self.query_one("#coding-turns", CodingTranscript)
        at = turns.highlighted
        turns.clear_options()
        turns.add_options([self._option(number) for number, _, _ in self.view.turns])
        turns.highlighted = at if at is not None and not first else 0
        if first:
            turns.focus()
        self.refresh_bindings()
        self._refresh_side()
        if first:
            services(self).release_keys()  # typed after Enter in the queue: for this coding

    def _legend(self) -> Text:
        assert self.view is not None
        scheme = self.view.scheme
        text = Text()
        text.append(f"{scheme.name} {scheme.version}\n", style="bold")
        for family_id, family in scheme.families.items():
            text.append(f"\n{family.name}\n", style=family_style(family_id))
            for code in scheme.codes:
                if code.family == family_id:
                    text.append(f" {code.key} ", style="bold reverse")
                    text.append(f" {code.name}\n")
        if self.view.mode == "code":
            text.append("\n? ", style=SUGGESTED_STYLE)
            text.append("a proposal: a accepts, x rejects\n", style="dim")
        return text

    def _turn(self, number: int) -> tuple[int, str, str]:
        assert self.view is not None
        return next(turn for turn in self.view.turns if turn[0] == number)

    def _open_suggestions(self, number: int) -> list[Suggestion]:
        assert self.view is not None and self.state is not None
        have = {code for turn, code, _ in self.state.marks if turn == number}
        return [
            s
            for s in self.view.suggestions
            if s.turn == number and s.id not in self.state.decisions and s.code not in have
        ]

    def _marks_line(self, number: int) -> Text:
        assert self.view is not None and self.state is not None
        scheme = self.view.scheme
        line = Text()
        for turn, code_id, origin in sorted(self.state.marks):
            if turn != number:
                continue
            code = scheme.code(code_id)
            line.append(f" {code.key} {code.name} ", style=family_style(code.family))
            if origin == codings.SUGGESTION:
                line.append("✓", style="dim")
            line.append(" ")
        for suggestion in self._open_suggestions(number):
            line.append(f"? {scheme.code(suggestion.code).name} ", style=SUGGESTED_STYLE)
        return line

    def _option(self, number: int) -> Option:
        _, speaker, text = self._turn(number)
        prefix = Text()
        prefix.append(f"{number:>4} ", style="dim")
        prefix.append(f"{SPEAKER_LABEL.get(speaker, speaker):<9}",
                      style=SPEAKER_STYLE.get(speaker, "bold"))  # fmt: skip
        prefix.append(" ")
        prompt = Hanging(prefix, text, "", self._marks_line(number))
        if self.alliance is not None and strip_shown(self.app):
            return Option(self.alliance.beside(number, prompt), id=f"turn-{number}")
        return Option(prompt, id=f"turn-{number}")

    def current_turn(self) -> int | None:
        assert self.view is not None
        index = self.query_one("#coding-turns", CodingTranscript).highlighted
        if index is None or not 0 <= index < len(self.view.turns):
            return None
        return self.view.turns[index][0]

    @on(OptionList.OptionHighlighted, "#coding-turns")
    def _moved(self) -> None:
        self._refresh_side()

    def _refresh_side(self) -> None:
        if self.view is None or self.state is None:
            return
        state, view = self.state, self.view
        meta = "".join(f" · {key}: {value}" for key, value in view.metadata)
        total = len(state.marks)
        open_count = sum(1 for s in view.suggestions if s.id not in state.decisions)
        who = "your coding" if view.mode == "code" else "review (read-only)"
        status = state.status.replace("_", " ")
        line = Text()
        line.append(f"{state.session_id}", style="bold")
        line.append(f"{meta} · {who} · {state.role} · {status} · {counted(total, 'code')}")
        if view.mode == "code":
            line.append(f" · {counted(open_count, 'proposal')} to decide")
        if view.comments:
            line.append("\nSent back: ", style="bold red")
            line.append(view.comments[-1])
        self.query_one("#coding-status", Static).update(line)
        number = self.current_turn()
        self.query_one("#trace-title", TraceTitle).present(
            self.alliance, number, border=self.query_one("#coding-turns"),
            keys=services(self).user_keymap.get("coding.trace", "f5"),
        )  # fmt: skip
        side = Text()
        if number is not None:
            _, speaker, _ = self._turn(number)
            side.append(f"Turn {number} ({SPEAKER_LABEL.get(speaker, speaker)})\n", style="bold")
            codes = state.codes_on(number)
            if codes:
                for code_id in codes:
                    code = view.scheme.code(code_id)
                    side.append(f" {code.name} ", style=family_style(code.family))
                    side.append("\n")
            else:
                side.append("no codes\n", style="dim")
            for suggestion in self._open_suggestions(number):
                code = view.scheme.code(suggestion.code)
                side.append(f"\n? {code.name}", style="bold")
                side.append(f" ({suggestion.source})\n", style="dim")
                if suggestion.quote:
                    side.append(f"“{suggestion.quote}”\n", style="italic")
                if suggestion.reason:
                    side.append(f"{suggestion.reason}\n", style="dim")
        self.query_one("#coding-turn", Static).update(side)

    def _redraw_turn(self, number: int) -> None:
        assert self.view is not None
        index = next(i for i, turn in enumerate(self.view.turns) if turn[0] == number)
        turns = self.query_one("#coding-turns", CodingTranscript)
        turns.replace_option_prompt_at_index(index, self._option(number).prompt)

    # --- changes -------------------------------------------------------------------------

    def turn_key(self, event: Key) -> None:
        """Toggle the code whose key EVENT is, or accept/reject a proposal, on the turn
        under the cursor (called by the transcript as the key arrives, so it acts on the
        turn it was typed for, and in the order typed)."""
        if self.view is None or self.view.mode != "code":
            return
        if self.query_one("#coding-comment", Input).has_focus:
            return
        number = self.current_turn()
        code = self.key_of.get(event.character or "")
        what = "toggle" if code is not None else self.decision_of.get(event.key)
        if what is None or number is None:
            return
        event.stop()
        event.prevent_default()  # the screen's binding for a or x does not run too
        self._request(what, number, code or "")

    def _request(self, what: str, number: int, code: str = "") -> None:
        if self.busy:  # written once the change before it is stored, in the order typed
            self.waiting.append((what, number, code))
            return
        self._start(what, number, code)

    def _start(self, what: str, number: int, code: str) -> None:
        """Write one change; a decision takes the turn's first proposal still open now
        (after the changes typed before it)."""
        if what == "toggle":
            self._change("toggle", number, code=code)
            return
        if what == "finish":
            self._finish()
            return
        open_ones = self._open_suggestions(number)
        if not open_ones:
            self.notify(f"Turn {number} has no open proposal.", severity="warning")
            return
        self._change(what, number, suggestion=open_ones[0].id)

    def _written(self) -> None:
        """A change is stored (or refused): the next change typed meanwhile, if any."""
        self.busy = False
        while self.waiting and self.state is not None and not self.busy:
            self._start(*self.waiting.popleft())

    def action_accept_suggestion(self) -> None:
        self._decide(True)

    def action_reject_suggestion(self) -> None:
        self._decide(False)

    def _decide(self, accept: bool) -> None:
        """The binding's action (a key typed elsewhere, a click in the footer)."""
        if self.view is None or self.view.mode != "code":
            return
        number = self.current_turn()
        if number is not None:
            self._request("accept" if accept else "reject", number)

    def _change(self, what: str, number: int, *, code: str = "",
                suggestion: int = 0) -> None:  # fmt: skip
        assert self.state is not None
        self.busy = True
        self.write_change(what, number, code, suggestion, self.state.lock_version)

    @work(thread=True, exit_on_error=False, group="coding-write")
    def write_change(self, what: str, number: int, code: str, suggestion: int,
                     base: int) -> None:  # fmt: skip
        app = services(self)
        try:
            if what == "toggle":
                state = codings.toggle_code(app.engine, self.coding_id, app.annotator, number,
                                            code, base)  # fmt: skip
                note = ""
            else:
                state = codings.decide_suggestion(app.engine, self.coding_id, app.annotator,
                                                  suggestion, what == "accept", base)  # fmt: skip
                note = "proposal accepted" if what == "accept" else "proposal rejected"
        except StaleVersion as error:  # the keys typed after it were for what was stale
            self.app.call_from_thread(self.notify, str(error), severity="warning", timeout=10)
            self.app.call_from_thread(self.waiting.clear)
            self.busy = False
            self.load()
            return
        except AnnotateError as error:  # e.g. a client marker on a counselor turn
            self.app.call_from_thread(self.notify, str(error), severity="warning", timeout=8)
            self.app.call_from_thread(self._written)
            return
        self.post_message(self.Changed(state, note))

    @on(Changed)
    def _changed(self, message: Changed) -> None:
        before = self.state
        self.state = message.state
        touched = {turn for turn, _, _ in message.state.marks ^ (before.marks if before else set())}
        decided = message.state.decisions.keys() - (before.decisions if before else {}).keys()
        assert self.view is not None  # a decision may be for a turn the cursor has left
        touched |= {offer.turn for offer in self.view.suggestions if offer.id in decided}
        number = self.current_turn()
        if number is not None:
            touched.add(number)
        for turn in touched:
            self._redraw_turn(turn)
        self._refresh_side()
        if message.note:
            self.notify(message.note, timeout=3)
        self._written()

    async def action_finish(self) -> None:
        # A priority key: the keys typed before it reach the transcript first (a code key
        # there starts or queues its change), then it waits for those changes.
        await after_keys_handed_over(self)
        if self.view is None or self.state is None:
            return
        if self.busy:  # submitted once the changes typed before it are stored (it was dropped)
            self.waiting.append(("finish", 0, ""))
            return
        self._finish()

    def _finish(self) -> None:
        if self.view is None or self.state is None:
            return
        self.busy = True
        if self.view.mode == "code":
            self.submit(self.state.lock_version)
        else:
            self.review(True, None)

    @work(thread=True, exit_on_error=False, group="coding-write")
    def submit(self, base: int) -> None:
        app = services(self)
        state = codings.submit_coding(app.engine, self.coding_id, app.annotator, base)
        self.post_message(self.Changed(state, "coding submitted: it goes to its reviewer"))

    def action_send_back(self) -> None:
        if self.view is None or self.view.mode != "review":
            return
        box = self.query_one("#coding-comment", Input)
        box.display = True
        self.set_focus(box)

    @on(Input.Submitted, "#coding-comment")
    def _comment(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.notify("Say what to change before sending it back.", severity="warning")
            return
        self.query_one("#coding-comment", Input).display = False
        self.busy = True
        self.review(False, event.value)

    @work(thread=True, exit_on_error=False, group="coding-write")
    def review(self, passed: bool, comment: str | None) -> None:
        app = services(self)
        assert self.view is not None
        try:
            status = codings.review_coding(app.engine, self.coding_id, app.annotator,
                                           self.view.version or 0, passed, comment)  # fmt: skip
        except AnnotateError as error:
            self.app.call_from_thread(self.notify, str(error), severity="error", timeout=10)
            self.busy = False
            return
        word = status_label(status) + ("" if status == codings.ACCEPTED else " to its coder")
        self.app.call_from_thread(self.notify, f"coding {word}", timeout=5)
        self.app.call_from_thread(self.app.pop_screen)

    def action_toggle_trace(self) -> None:
        """Show or hide the alliance strip (every turn redrawn at its new width)."""
        if self.view is None or flip_strip(self.app, self.alliance is not None) is None:
            return
        turns = self.query_one("#coding-turns", CodingTranscript)
        for index, (number, _, _) in enumerate(self.view.turns):
            turns.replace_option_prompt_at_index(index, self._option(number).prompt)
        if turns.highlighted is not None:
            turns.scroll_to_highlight()
        self._refresh_side()

    def action_back(self) -> None:
        box = self.query_one("#coding-comment", Input)
        if box.display:
            box.display = False
            self.query_one("#coding-turns", CodingTranscript).focus()
            return
        self.app.pop_screen()
