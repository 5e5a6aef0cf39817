"""Blind cross-review: transcript, item, client rating and the text; never the author."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, TextArea
from textual.worker import Worker, WorkerState

from annotate.errors import StaleVersion
from annotate.guidelines import load_rubric
from annotate.lifecycle.reviews import submit_review
from annotate.review import ReviewView, open_review
from tui.app import services
from tui.failures import notify_failure
from tui.widgets.item_panel import ItemPanel
from tui.widgets.rubric import RubricPanel
from tui.widgets.scroll_text import ScrollText
from tui.widgets.transcript import Transcript


class ReviewScreen(Screen[None]):
    """Scores one assigned rationale on the rubric; Ctrl+S submits and moves on."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit review", id="review.submit"),
        Binding("ctrl+down,ctrl+n", "next", "Next", id="review.next"),
        Binding("ctrl+up,ctrl+p", "previous", "Previous", id="review.previous"),
        Binding("escape", "back", "Queue", id="review.back"),
    ]

    @dataclass
    class Loaded(Message):
        view: ReviewView

    @dataclass
    class Submitted(Message):
        passed: bool

    def __init__(self, assignment_ids: list[int], index: int = 0) -> None:
        super().__init__()
        self.assignment_ids = assignment_ids
        self.index = index
        self.view: ReviewView | None = None  # None while a review is being stored or loaded
        self.in_flight: tuple[ReviewView, dict[str, str], str] | None = None  # being stored
        self.submit_queued = False
        self.rubric = load_rubric()

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="left"):
                yield Label("Transcript", classes="panel-title")
                yield Transcript(id="transcript")
            with Vertical(id="right"):
                yield ItemPanel(id="item")
                yield Label("Rationale under review", classes="panel-title")
                yield ScrollText(id="rationale")
                with Horizontal(id="scores"):
                    for key, criterion in self.rubric.criteria.items():
                        with Vertical(classes="score"):
                            yield Label(criterion.name)
                            yield Input(
                                placeholder=f"{self.rubric.scale_min}-{self.rubric.scale_max}",
                                restrict=f"[{self.rubric.scale_min}-{self.rubric.scale_max}]",
                                max_length=1,
                                id=key,
                            )
                yield Label("Comment for the author", classes="panel-title")
                yield TextArea(id="comment", soft_wrap=True)
                with VerticalScroll(id="rubric-box"):
                    yield RubricPanel(self.rubric, id="rubric")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(f"#{next(iter(self.rubric.criteria))}", Input).focus()
        self.load(self.assignment_ids[self.index])

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def load(self, assignment_id: int) -> None:
        app = services(self)
        view = open_review(app.engine, assignment_id, app.annotator)
        self.post_message(self.Loaded(view))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        """Show a review. The score fields are not touched here: they were emptied when
        the last review was submitted, and what was typed since belongs to this one."""
        self.view = message.view
        self.query_one("#transcript", Transcript).show(
            message.view.context.turns, key=message.view.context.session_id
        )
        self.query_one("#item", ItemPanel).show(message.view.context)
        self.query_one("#rationale", ScrollText).show(message.view.text)
        self.sub_title = f"review {self.index + 1} of {len(self.assignment_ids)}"
        if self.submit_queued:  # Ctrl+S was pressed before this review had arrived
            self.submit_queued = False
            self.action_submit()

    def _clear_scores(self) -> None:
        for key in self.rubric.criteria:
            self.query_one(f"#{key}", Input).value = ""
        self.query_one("#comment", TextArea).load_text("")
        self.query_one(f"#{next(iter(self.rubric.criteria))}", Input).focus()

    def _typed(self) -> tuple[dict[str, str], str]:
        values = {key: self.query_one(f"#{key}", Input).value for key in self.rubric.criteria}
        return values, self.query_one("#comment", TextArea).text

    def action_submit(self) -> None:
        if self.view is None:
            self.submit_queued = self.submit_queued or self.in_flight is not None
            return
        values, comment = self._typed()
        for key, criterion in self.rubric.criteria.items():
            if not values[key]:
                self.notify(f"Give a {criterion.name} score.", severity="warning")
                self.query_one(f"#{key}", Input).focus()
                return
        scores = {key: int(value) for key, value in values.items()}
        # The fields empty at once, so what is typed next belongs to the next review,
        # however fast; until that review is shown, nothing more can be submitted.
        self.in_flight = (self.view, values, comment)
        self.view = None
        self._clear_scores()
        shown = self.in_flight[0]
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
        view, values, comment = self.in_flight
        self.in_flight, self.submit_queued = None, False
        if isinstance(event.worker.error, StaleVersion):  # the author changed the text
            self.load(view.assignment_id)  # the new text; score it afresh
            return
        self.view = view
        if self._typed() == ({key: "" for key in values}, ""):  # nothing typed since
            for key, value in values.items():
                self.query_one(f"#{key}", Input).value = value
            self.query_one("#comment", TextArea).load_text(comment)

    @on(Submitted)
    def _submitted(self, message: Submitted) -> None:
        self.in_flight = None
        if message.passed:
            self.notify("Review stored.")
        else:
            self.notify("Review stored; the rationale goes back to its author.")
        if self.index + 1 < len(self.assignment_ids):
            self.index += 1
            self.load(self.assignment_ids[self.index])
        else:
            self.dismiss()

    def _go(self, step: int) -> None:
        target = self.index + step
        if 0 <= target < len(self.assignment_ids) and self.in_flight is None:
            self.index = target
            self._clear_scores()
            self.load(self.assignment_ids[target])

    def action_next(self) -> None:
        self._go(1)

    def action_previous(self) -> None:
        self._go(-1)

    def action_back(self) -> None:
        self.dismiss()
