"""Progress for project leads: per annotator and per dimension (as ``annotate progress``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Label, Static
from textual.worker import Worker

from annotate.core.plurals import counted
from annotate.core.vocabulary import current_rubric
from annotate.core.workflow import CODING_STATUSES
from annotate.research.watch import not_on_track
from annotate.work.judged import sees_judged_texts
from annotate.work.progress import (
    CODING_ROLE_LABELS,
    STAGE_LABELS,
    WEAKEST_HEADERS,
    agreement_line,
    agreement_progress,
    coding_detail,
    counts,
    detail,
    judge_lines,
    judge_progress,
    weakest_rows,
)
from tui.failures import notify_failure
from tui.services import services
from tui.widgets.key_footer import KeyFooter

STAGES = tuple(STAGE_LABELS.items())
# Four narrow tables rather than two wide ones: each fits 100 columns whole.
TABLES = (
    ("authoring-by-annotator", "Authoring, by annotator"),
    ("authoring-by-dimension", "Authoring, by dimension"),
    (
        "reviews-by-annotator",
        "Reviews, by annotator (given as reviewer; scores received as author)",
    ),
    ("scores-by-dimension", "Review scores, by dimension"),
    ("coding-by-coder", "Rupture coding (3RS), by coder"),
    ("weakest-by-judge", "Weakest by judge first"),
)
CODING = (
    *CODING_ROLE_LABELS.items(),
    *((str(status), status.label) for status in CODING_STATUSES),
    ("reviews_given", "reviewed"),
    ("reviews_pending", "to review"),
)


def not_on_track_line(clients: list[str], shown: int = 3) -> str:
    """How many clients are not on track, the first few by name, and where to look."""
    names = ", ".join(clients[:shown]) + (", ..." if len(clients) > shown else "")
    return (f"{counted(len(clients), 'client')} not on track ({names}): their own alliance "
            "rating fell reliably; see annotate alliance watch")  # fmt: skip


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class ProgressScreen(Screen[None]):
    """The figures of ``annotate progress``, read in a worker; R reloads."""

    DEFAULT_CSS = """
    ProgressScreen #not-on-track {
        padding: 0 1;
        height: auto;
        text-style: bold;
    }
    ProgressScreen #judge {
        padding: 0 1;
        height: auto;
    }
    """
    BINDINGS = [
        Binding("r", "reload", "Reload", id="progress.reload"),
        Binding("escape", "back", "Back", id="progress.back"),
    ]

    @dataclass
    class Loaded(Message):
        totals: dict[str, int]
        figures: dict[str, dict[str, dict[str, Any]]]
        coding: dict[str, dict[str, int]]
        agreement: dict[str, int]
        not_on_track: list[str]  # clients flagged by ``annotate alliance watch``, first first
        # the judge's figures, for a lead only (blind review); None: nothing judged
        judge: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="totals")
        yield Static(id="agreement")
        yield Static(id="judge")
        yield Static(id="not-on-track")
        with VerticalScroll(id="tables"):
            for table_id, title in TABLES:
                yield Label(title, classes=f"panel-title {table_id}")
                yield DataTable(id=table_id, cursor_type="row", classes=table_id)
        yield KeyFooter()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)

    def table(self, table_id: str) -> DataTable[str]:
        return self.query_one(f"#{table_id}", DataTable)

    def on_mount(self) -> None:
        stages = [label for _, label in STAGES]
        # The rubric's criteria, each heading a column of score means ("faith.").
        rubric = current_rubric(services(self).engine)
        self.means = tuple((name, f"{c.heading}.") for name, c in rubric.criteria.items())
        means = [label for _, label in self.means]
        self.table("authoring-by-annotator").add_columns("annotator", *stages)
        self.table("authoring-by-dimension").add_columns("dimension", "items", *stages)
        self.table("reviews-by-annotator").add_columns(
            "annotator", "reviews given", "to review", *means
        )
        self.table("scores-by-dimension").add_columns("dimension", "reviews", *means)
        self.table("coding-by-coder").add_columns("coder", *(label for _, label in CODING))
        self.table("weakest-by-judge").add_columns(*WEAKEST_HEADERS)
        for hidden in ("coding-by-coder", "weakest-by-judge"):
            for part in self.query(f".{hidden}"):
                part.display = False  # shown once somebody codes, or judged for a lead
        self.query_one("#judge", Static).display = False
        self.action_reload()

    def action_reload(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="progress")
    def load(self) -> None:
        engine = services(self).engine
        lead = services(self).lead and sees_judged_texts(engine, services(self).annotator)
        judged = judge_progress(engine) if lead else None
        self.post_message(
            self.Loaded(
                counts(engine),
                detail(engine),
                coding_detail(engine),
                agreement_progress(engine),
                not_on_track(engine).flagged_clients(),
                judged,
            )
        )

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        totals = message.totals
        self.query_one("#totals", Static).update(
            f"{counted(totals['sessions'], 'session')} · "
            f"{counted(totals['items'], 'item')} to explain · "
            f"{counted(totals['drafts'], 'draft')} · "
            f"{counted(totals['rationales'], 'rationale')} · "
            f"{counted(totals['reviews'], 'review')}"
        )
        self.query_one("#agreement", Static).update(agreement_line(message.agreement))
        flagged = self.query_one("#not-on-track", Static)
        flagged.display = bool(message.not_on_track)
        flagged.update(not_on_track_line(message.not_on_track))
        for table_id, _ in TABLES:
            self.table(table_id).clear()
        for name, row in message.figures["by_annotator"].items():
            stages = [str(row[key]) for key, _ in STAGES]
            means = [_mean(row["score_means"].get(key)) for key, _ in self.means]
            self.table("authoring-by-annotator").add_row(name, *stages)
            self.table("reviews-by-annotator").add_row(
                name, str(row["reviews_given"]), str(row["reviews_pending"]), *means
            )
        for name, row in message.figures["by_dimension"].items():
            stages = [str(row[key]) for key, _ in STAGES]
            means = [_mean(row["score_means"].get(key)) for key, _ in self.means]
            self.table("authoring-by-dimension").add_row(name, str(row["items"]), *stages)
            self.table("scores-by-dimension").add_row(name, str(row["reviews"]), *means)
        for part in self.query(".coding-by-coder"):
            part.display = bool(message.coding)
        for name, row in message.coding.items():
            self.table("coding-by-coder").add_row(name, *(str(row[key]) for key, _ in CODING))
        self._show_judge(message.judge)

    def _show_judge(self, judged: dict[str, Any] | None) -> None:
        """The judge's coverage, means and weakest texts, when anything is judged and the
        app was started as a lead (``annotate tui --lead``) by one who neither authors nor
        reviews: one who does never sees the judge (blind review,
        :func:`annotate.work.judged.sees_judged_texts`), and neither does anyone who was not
        started as a lead (a new expert has no work yet, but may be given reviews)."""
        line = self.query_one("#judge", Static)
        line.display = judged is not None
        for part in self.query(".weakest-by-judge"):
            part.display = judged is not None
        if judged is None:
            return
        line.update("\n".join(judge_lines(judged)))
        for row in weakest_rows(judged):
            self.table("weakest-by-judge").add_row(*row)

    def action_back(self) -> None:
        self.dismiss()
