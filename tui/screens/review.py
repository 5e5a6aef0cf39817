"""Blind cross-review: transcript, item, client rating and the text; never the author."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Input, Label, TextArea
from textual.worker import Worker, WorkerState

from annotate.core.errors import StaleVersion
from annotate.core.vocabulary import current_rubric
from annotate.work.reviews.queue import ReviewView, open_review
from annotate.work.reviews.write import submit_review
from tui.failures import notify_failure
from tui.keys import after_keys_handed_over
from tui.services import services
from tui.widgets.editor import UndoSafeTextArea
from tui.widgets.item_panel import ItemPanel, transcript_title
from tui.widgets.key_footer import KeyFooter
from tui.widgets.rubric import rubric_text
from tui.widgets.scroll_text import ScrollText
from tui.widgets.transcript import Transcript

Form = tuple[dict[str, str], str]  # the scores as typed, and the comment


class ReviewScreen(Screen[None]):
    """Scores one assigned rationale on the rubric; Ctrl+S submits and moves on."""

    AUTO_FOCUS = "#scores Input"  # the first score, when the screen appears (keys go there)

    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit review", id="review.submit", priority=True),
        Binding("ctrl+down,ctrl+n", "next", "Next", id="review.next"),
        Binding("ctrl+up,ctrl+p", "previous", "Previous", id="review.previous"),
        Binding("escape", "back", "Queue", id="review.back"),
        # Priority, with Ctrl+S: keys that move the focus act in the order typed, so
        # "4<Tab>5<Tab>3<Tab>note<Ctrl+S>" in one burst fills the form as typed (tui.keys).
        Binding("tab", "next_field", "Next field", id="review.next_field", show=False,
                priority=True),
        Binding("shift+tab", "previous_field", "Previous field",
                id="review.previous_field", show=False, priority=True),
    ]  # fmt: skip

    @dataclass
    class Loaded(Message):
        view: ReviewView

    @dataclass
    class Submitted(Message):
        passed: bool

    def __init__(self, assignment_ids: list[int], index: int = 0) -> None:
        super().__init__()
        self.assignment_ids = assignment_ids
        self.index = index  # the review shown (or being loaded)
        self.view: ReviewView | None = None  # None while a review is being stored or loaded
        self.in_flight: tuple[int, ReviewView, Form] | None = None  # (position, view, form)
        # Keys are never lost, however fast: Ctrl+S takes what the fields hold as the
        # form of the review at ``typing_for`` and empties them for the next one, even
        # before that review has arrived; each form is sent once its review is shown.
        self.typing_for = index
        self.forms: dict[int, Form] = {}

    def compose(self) -> ComposeResult:
        # The store's rubric: its criteria are the score fields (a team may load another).
        self.rubric = current_rubric(services(self).engine)
        yield Header()
        with Horizontal():
            with Vertical(id="left"):
                yield Label("Transcript", classes="panel-title", id="transcript-title")
                yield Transcript(id="transcript")
            with Vertical(id="right"):
                yield ItemPanel(id="item")
                # Titles sit in the borders: at 100x30 every row goes to text.
                yield ScrollText(id="rationale", title="Rationale under review")
                with Vertical(id="scores"):
                    for key, criterion in self.rubric.criteria.items():
                        with Horizontal(classes="score"):
                            yield Label(criterion.name, classes="score-name")
                            yield Input(
                                placeholder=f"{self.rubric.scale_min}-{self.rubric.scale_max}",
                                restrict=f"[{self.rubric.scale_min}-{self.rubric.scale_max}]",
                                max_length=1,
                                id=key,
                            )
                comment = UndoSafeTextArea(id="comment", soft_wrap=True)
                comment.border_title = "Comment for the author"
                yield comment
                yield ScrollText(rubric_text(self.rubric), id="rubric-box", title="Rubric")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.set_focus(self.query_one(f"#{next(iter(self.rubric.criteria))}", Input))
        services(self).release_keys()  # typed after Enter in the queue: the first score's
        self.load(self.assignment_ids[self.index])

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load(self, assignment_id: int) -> None:
        app = services(self)
        view = open_review(app.engine, assignment_id, app.annotator)
        self.post_message(self.Loaded(view))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        """Show a review; a form typed ahead for it is sent now. The fields are not touched:
        what they hold belongs to the review at ``typing_for``."""
        self.view = message.view
        self.query_one("#transcript", Transcript).show(
            message.view.context.turns, key=message.view.context.session_id
        )
        self.query_one("#item", ItemPanel).show(message.view.context)
        self.query_one("#transcript-title", Label).update(transcript_title(message.view.context))
        self.query_one("#rationale", ScrollText).show(message.view.text)
        self.sub_title = f"review {self.index + 1} of {len(self.assignment_ids)}"
        self._send_ready()

    def _clear_scores(self) -> None:
        for key in self.rubric.criteria:
            self.query_one(f"#{key}", Input).value = ""
        self.query_one("#comment", TextArea).load_text("")
        # Focus now, not after a refresh: the next key of a burst goes to the first score.
        self.set_focus(self.query_one(f"#{next(iter(self.rubric.criteria))}", Input))

    def _typed(self) -> Form:
        values = {key: self.query_one(f"#{key}", Input).value for key in self.rubric.criteria}
        return values, self.query_one("#comment", TextArea).text

    async def action_next_field(self) -> None:
        await after_keys_handed_over(self)
        self.focus_next()

    async def action_previous_field(self) -> None:
        await after_keys_handed_over(self)
        self.focus_previous()

    async def action_submit(self) -> None:
        await after_keys_handed_over(self)
        values, comment = self._typed()
        if not any(values.values()) and not comment and self.index in self.forms:
            self._send_ready()  # Ctrl+S again after a failed store: try that form again
            return
        for key, criterion in self.rubric.criteria.items():
            if not values[key]:
                self.notify(f"Give a {criterion.name} score.", severity="warning")
                self.set_focus(self.query_one(f"#{key}", Input))
                return
        if self.typing_for >= len(self.assignment_ids):
            self.notify("That was the last review in this list.", severity="warning")
            return
        self.forms[self.typing_for] = (values, comment)
        self.typing_for += 1
        self._clear_scores()
        self._send_ready()

    def _send_ready(self) -> None:
        """Send the form of the review on screen, if it has one and nothing is being stored."""
        if self.view is None or self.in_flight is not None or self.index not in self.forms:
            return
        form = self.forms.pop(self.index)
        values, comment = form
        self.in_flight = (self.index, self.view, form)
        shown, self.view = self.view, None
        scores = {key: int(value) for key, value in values.items()}
        self.submit(shown.assignment_id, shown.rationale_version, scores, comment)

    @work(thread=True, exclusive=True, exit_on_error=False, group="submit")
    def submit(
        self, assignment_id: int, shown_version: int, scores: dict[str, int], comment: str
    ) -> None:
        """Store the scores for the version on screen (refused if it is no longer current)."""
        app = services(self)
        review = submit_review(
            app.engine,
            assignment_id,
            app.annotator,
            scores,
            comment,
            shown_version=shown_version,
        )
        self.post_message(self.Submitted(review.passed))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)
        failed = event.state == WorkerState.ERROR and event.worker.group == "submit"
        if not failed or self.in_flight is None:
            return
        position, view, form = self.in_flight
        self.in_flight = None
        if isinstance(event.worker.error, StaleVersion):  # the author changed the text
            ahead = [p for p in self.forms if p > position]
            self.forms.clear()
            if ahead:
                self.notify(
                    f"{len(ahead)} review(s) typed ahead were not stored: score this "
                    "changed text first, then those again.",
                    severity="warning",
                )
            self.typing_for = position
            self._clear_scores()
            self.load(view.assignment_id)  # the new text; score it afresh
            return
        # Not stored (e.g. the database was busy): the form waits; Ctrl+S sends it again.
        self.view = view
        self.forms[position] = form

    @on(Submitted)
    def _submitted(self, message: Submitted) -> None:
        self.in_flight = None
        # The same words for expert work and a model's prediction: the review is blind.
        if message.passed:
            self.notify("Review stored.")
        else:
            self.notify("Review stored, below the threshold.")
        if self.index + 1 < len(self.assignment_ids):
            self.index += 1
            self.load(self.assignment_ids[self.index])
        else:
            self.dismiss()

    def _go(self, step: int) -> None:
        target = self.index + step
        busy = self.in_flight is not None or self.forms
        if 0 <= target < len(self.assignment_ids) and not busy:
            self.index = self.typing_for = target
            self.view = None
            self._clear_scores()
            self.load(self.assignment_ids[target])

    def action_next(self) -> None:
        self._go(1)

    def action_previous(self) -> None:
        self._go(-1)

    def action_back(self) -> None:
        self.dismiss()
