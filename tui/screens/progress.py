"""Progress for project leads: per annotator and per dimension (as ``annotate progress``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static
from textual.worker import Worker

from annotate.progress import counts, detail
from tui.app import services
from tui.failures import notify_failure

STAGES = (
    ("assigned", "assigned"),
    ("drafted", "drafted"),
    ("edited", "edited"),
    ("accepted", "accepted"),
    ("reviewed", "reviewed"),
    ("sent_back", "sent back"),
    ("awaiting_revision", "to revise"),
)
MEANS = (("faithfulness", "faith."), ("relevance", "relev."), ("informativeness", "inform."))


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class ProgressScreen(Screen[None]):
    """Two tables read in a worker; R reloads."""

    BINDINGS = [
        Binding("r", "reload", "Reload", id="progress.reload"),
        Binding("escape", "back", "Back", id="progress.back"),
    ]

    @dataclass
    class Loaded(Message):
        totals: dict[str, int]
        figures: dict[str, dict[str, dict[str, Any]]]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="totals")
        yield Label(
            "By annotator (as author; reviews given and pending as reviewer)", classes="panel-title"
        )
        yield DataTable(id="by-annotator", cursor_type="row")
        yield Label("By dimension", classes="panel-title")
        yield DataTable(id="by-dimension", cursor_type="row")
        yield Footer()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)

    def on_mount(self) -> None:
        self.query_one("#by-annotator", DataTable).add_columns(
            "annotator",
            *(label for _, label in STAGES),
            "reviews given",
            "to review",
            *(label for _, label in MEANS),
        )
        self.query_one("#by-dimension", DataTable).add_columns(
            "dimension", "items", *(label for _, label in STAGES), *(label for _, label in MEANS)
        )
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="progress")
    def load(self) -> None:
        engine = services(self).engine
        self.post_message(self.Loaded(counts(engine), detail(engine)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        totals = message.totals
        self.query_one("#totals", Static).update(
            f"{totals['sessions']} sessions · {totals['items']} items to explain · "
            f"{totals['drafts']} drafts · {totals['rationales']} rationales · "
            f"{totals['reviews']} reviews"
        )
        annotators = self.query_one("#by-annotator", DataTable)
        annotators.clear()
        for name, row in message.figures["by_annotator"].items():
            annotators.add_row(
                name,
                *(str(row[key]) for key, _ in STAGES),
                str(row["reviews_given"]),
                str(row["reviews_pending"]),
                *(_mean(row["score_means"][key]) for key, _ in MEANS),
            )
        dimensions = self.query_one("#by-dimension", DataTable)
        dimensions.clear()
        for name, row in message.figures["by_dimension"].items():
            dimensions.add_row(
                name,
                str(row["items"]),
                *(str(row[key]) for key, _ in STAGES),
                *(_mean(row["score_means"][key]) for key, _ in MEANS),
            )

    def action_back(self) -> None:
        self.dismiss()
