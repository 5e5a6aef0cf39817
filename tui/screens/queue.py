"""The annotator's queue: their rationales (with comments on work sent back) and reviews."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.cells import cell_len
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from annotate.core import workflow
from annotate.core.plurals import counted
from annotate.core.vocabulary import rationale_dimensions
from annotate.work.codings import (
    FINISHED,
    CodingReviewTask,
    CodingTask,
    coding_queue,
    coding_review_queue,
)
from annotate.work.queue import (
    QueueEntry,
    annotators_with_work,
    authoring_queue,
    find_entry,
    sent_back_first,
)
from annotate.work.reviews.queue import ReviewTask, review_queue
from tui.failures import notify_failure
from tui.keys import after_keys_handed_over
from tui.services import services
from tui.widgets.key_footer import KeyFooter

ALL = "all"
UNSAVED_MARK = " · unsaved"  # after the status of an item with autosaved text
STATUS_CHOICES = (ALL, *workflow.RATIONALE_STATUSES)
STATUS_LABEL: dict[str, str] = {status: status.label for status in workflow.RATIONALE_STATUSES}


STATUS_WIDTH = max(map(len, STATUS_LABEL.values()))


def fit_columns(table: DataTable) -> None:
    """Give each auto-width column the width of its widest cell now.

    DataTable measures new rows only when it is idle, so under load (or under a dialog)
    a refilled table was drawn with each column as wide as its header ("bond" for
    "bond_4"). The same measure, taken at once, makes the first frame right.
    """
    rows = [table.get_row_at(index) for index in range(table.row_count)]
    for index, column in enumerate(table.ordered_columns):
        if column.auto_width:
            widths = [cell_len(str(row[index])) for row in rows]
            column.content_width = max([cell_len(column.label.plain), *widths])
    table.refresh()


class QueueScreen(Screen[None]):
    """Lists the work; Enter opens an item in the editor or a review."""

    BINDINGS = [
        Binding("s", "cycle_status", "Status filter", id="queue.status"),
        Binding("d", "cycle_dimension", "Dimension filter", id="queue.dimension"),
        # Priority: the box has focus before the next key, so "/s13" typed in one burst
        # lands in it whole.
        Binding("slash", "jump", "Find session", id="queue.jump", priority=True,
                tooltip="Jump to a session or client id."),
        Binding("tab", "app.focus_next", "Other list", id="queue.other_list"),
        Binding("r", "reload", "Reload", id="queue.reload"),
        Binding("home", "first_row", "First", id="queue.first", show=False, priority=True),
        Binding("end", "last_row", "Last", id="queue.last", show=False, priority=True),
        # Priority: what is typed after Enter waits for the item it opens (tui.keys).
        Binding("enter", "open", "Open the row", id="queue.open", show=False, priority=True),
    ]  # fmt: skip

    @dataclass
    class Loaded(Message):
        entries: list[QueueEntry]
        reviews: list[ReviewTask]
        totals: dict[str, int]
        others: list[str]  # who has work, when this annotator has none
        codings: list[CodingTask] = field(default_factory=list)
        coding_reviews: list[CodingReviewTask] = field(default_factory=list)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="summary")
        with Horizontal(id="filters"):
            yield Label("Status")
            yield Select(
                [(STATUS_LABEL.get(s, s), s) for s in STATUS_CHOICES],
                value=ALL,
                allow_blank=False,
                id="status",
            )
            yield Label("Dimension")
            # The loaded instruments' dimensions (a team may load another instrument).
            self.dimensions = (ALL, *rationale_dimensions(services(self).engine))
            yield Select(
                [(d, d) for d in self.dimensions], value=ALL, allow_blank=False, id="dimension"
            )
        yield Input(placeholder="session or client id, then Enter", id="jump")
        yield Label("Your rationales (sent back first)", classes="panel-title")
        yield DataTable(id="authoring", cursor_type="row", zebra_stripes=True)
        yield Label("Reviews assigned to you (blind)", classes="panel-title")
        yield DataTable(id="reviews", cursor_type="row", zebra_stripes=True)
        # Turn coding (3RS), shown only to those who have some: the two lists side by side,
        # so at 100x30 the rationale work keeps most of the screen.
        with Horizontal(id="coding-work"):
            with Vertical(id="to-code", classes="coding-part"):
                yield Label("Sessions to code (rupture markers)", classes="panel-title")
                yield DataTable(id="codings", cursor_type="row", zebra_stripes=True)
            with Vertical(id="to-review-coding", classes="coding-part"):
                yield Label("Codings to review", classes="panel-title")
                yield DataTable(id="coding-reviews", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_failure(self, event)
        if event.worker.group == "queue" and event.state == WorkerState.ERROR:
            services(self).release_keys()  # the lists stay as they were; keys act on them

    def on_mount(self) -> None:
        authoring = self.query_one("#authoring", DataTable)
        # Columns of a fixed vocabulary get their width at once ("in progress" is the
        # longest status): they never jump or cut when a filter or a reload brings longer
        # values (Textual sizes the other columns when it is idle).
        fixed = {"status": STATUS_WIDTH, "draft": 5, "flag": 4}
        for label in ("session", "lang", "item", "dimension", "status", "draft", "flag",
                      "comment"):  # fmt: skip
            authoring.add_column(label, width=fixed.get(label))
        self.query_one("#jump", Input).display = False
        self.return_to: int | None = None  # the rationale the editor was last on
        self.first_load = True
        self.query_one("#reviews", DataTable).add_columns("session", "item", "dimension")
        self.query_one("#codings", DataTable).add_columns(
            "session", "client", "role", "status", "codes", "proposals"
        )
        self.query_one("#coding-reviews", DataTable).add_columns("session", "codes")
        self.query_one("#coding-work").display = False
        self.codings: list[CodingTask] = []
        self.coding_reviews: list[CodingReviewTask] = []
        authoring.focus()
        self.entries: list[QueueEntry] = []
        self.reviews: list[ReviewTask] = []
        self.loaded = False
        self.pending_jump: str | None = None  # typed before the queue had arrived

    def on_screen_resume(self) -> None:
        self.action_reload()

    def _filters(self) -> tuple[str | None, str | None]:
        status = self.query_one("#status", Select).value
        dimension = self.query_one("#dimension", Select).value
        return (
            None if status == ALL else str(status),
            None if dimension == ALL else str(dimension),
        )

    def action_reload(self) -> None:
        status, dimension = self._filters()
        self.applied_filters: tuple[str | None, str | None] | None = (status, dimension)
        # Keys typed while the lists load act on what they bring (Enter opens the row the
        # expert will see, F3 is not lost): held until they are shown (tui.keys).
        services(self).hold_keys()
        self.load(status, dimension)

    @work(thread=True, exclusive=True, exit_on_error=False, group="queue")
    def load(self, status: str | None, dimension: str | None) -> None:
        engine, annotator = services(self).engine, services(self).annotator
        everything = authoring_queue(engine, annotator)
        totals = {"assigned": len(everything)}
        for entry in everything:
            totals[entry.status] = totals.get(entry.status, 0) + 1
        entries = sent_back_first(
            [
                entry
                for entry in everything
                if (status is None or entry.status == status)
                and (dimension is None or entry.dimension == dimension)
            ]
        )
        assigned_reviews = review_queue(engine, annotator)
        reviews = [
            task for task in assigned_reviews if dimension is None or task.dimension == dimension
        ]
        to_code = coding_queue(engine, annotator)
        to_review = coding_review_queue(engine, annotator)
        idle = not (everything or assigned_reviews or to_code or to_review)
        others = annotators_with_work(engine) if idle else []
        self.post_message(self.Loaded(entries, reviews, totals, others, to_code, to_review))

    @on(Loaded)
    def show(self, message: Loaded) -> None:
        previous = self.entries
        self.entries, self.reviews = message.entries, message.reviews
        authoring = self.query_one("#authoring", DataTable)
        row = authoring.cursor_row
        # The cursor stays on the same item when it is still listed (a filter changed).
        at = previous[row].rationale_id if 0 <= row < len(previous) else None
        authoring.clear()
        for entry in message.entries:
            authoring.add_row(
                entry.session_id,
                entry.language or "",
                entry.item_id,
                entry.dimension,
                STATUS_LABEL.get(entry.status, entry.status)
                + (UNSAVED_MARK if entry.unsaved else ""),
                "yes" if entry.drafted else "-",
                "flag" if entry.flagged else "",
                entry.comment or "",
                key=str(entry.rationale_id),
            )
        # The status column widens only while an item carries the unsaved mark.
        status = next(c for c in authoring.ordered_columns if c.label.plain == "status")
        unsaved = any(entry.unsaved for entry in message.entries)
        status.width = STATUS_WIDTH + (len(UNSAVED_MARK) if unsaved else 0)
        fit_columns(authoring)
        keys = [entry.rationale_id for entry in message.entries]
        if self.return_to in keys:  # back from the editor: on the item it was showing
            row = keys.index(self.return_to)
            self.return_to = None
        elif self.first_load:
            row = self._offer_unsaved(message.entries, message.others)
        else:
            row = keys.index(at) if at in keys else 0
        self.first_load = False
        if message.entries:
            authoring.move_cursor(row=min(row, len(message.entries) - 1))
        self.loaded = True
        services(self).release_keys()
        if self.pending_jump is not None:
            query, self.pending_jump = self.pending_jump, None
            self._jump_to(query)
        reviews = self.query_one("#reviews", DataTable)
        reviews.clear()
        for task in message.reviews:
            reviews.add_row(
                task.session_id, task.item_id, task.dimension, key=str(task.assignment_id)
            )
        fit_columns(reviews)
        self._show_codings(message)
        totals = message.totals
        to_code = sum(1 for t in message.codings if t.status not in FINISHED)
        coding_note = (
            f" · {counted(to_code, 'session')} to code"
            if message.codings or message.coding_reviews
            else ""
        )
        self.query_one("#summary", Static).update(
            f"{services(self).annotator}: {counted(totals['assigned'], 'rationale')} · "
            + "".join(
                f"{totals.get(status, 0)} {status.label} · "
                for status in (
                    workflow.ACCEPTED,
                    workflow.IN_PROGRESS,
                    workflow.PENDING,
                    workflow.REVISION_REQUESTED,
                )
            )  # fmt: skip
            + f"{counted(len(message.reviews), 'review')} to do{coding_note}"
        )

    def _show_codings(self, message: Loaded) -> None:
        self.codings, self.coding_reviews = message.codings, message.coding_reviews
        self.query_one("#to-code").display = bool(message.codings)
        self.query_one("#to-review-coding").display = bool(message.coding_reviews)
        self.query_one("#coding-work").display = bool(message.codings or message.coding_reviews)
        table = self.query_one("#codings", DataTable)
        table.clear()
        for task in message.codings:
            table.add_row(task.session_id, task.client_id, task.role,
                          task.status.replace("_", " "), str(task.codes),
                          str(task.suggestions) if task.suggestions else "-",
                          key=str(task.coding_id))  # fmt: skip
        fit_columns(table)
        reviews = self.query_one("#coding-reviews", DataTable)
        reviews.clear()
        for review in message.coding_reviews:
            reviews.add_row(review.session_id, str(review.codes), key=str(review.coding_id))
        fit_columns(reviews)

    @on(DataTable.RowSelected, "#codings")
    def _open_coding(self, event: DataTable.RowSelected) -> None:
        from tui.screens.coding import CodingScreen

        self.app.push_screen(CodingScreen(self.codings[event.cursor_row].coding_id))

    @on(DataTable.RowSelected, "#coding-reviews")
    def _open_coding_review(self, event: DataTable.RowSelected) -> None:
        from tui.screens.coding import CodingScreen

        self.app.push_screen(CodingScreen(self.coding_reviews[event.cursor_row].coding_id))

    def _cycle(self, select_id: str, choices: tuple[str, ...]) -> None:
        select = self.query_one(select_id, Select)
        select.value = choices[(choices.index(str(select.value)) + 1) % len(choices)]

    def action_cycle_status(self) -> None:
        self._cycle("#status", STATUS_CHOICES)

    def action_cycle_dimension(self) -> None:
        self._cycle("#dimension", self.dimensions)

    @on(Select.Changed)
    def _filter_changed(self) -> None:
        # The Selects announce their first value when mounted: no second load for that.
        if self._filters() != getattr(self, "applied_filters", None):
            self.action_reload()

    @on(DataTable.RowSelected, "#authoring")
    def _open_rationale(self, event: DataTable.RowSelected) -> None:
        from tui.screens.annotate import AnnotateScreen

        ids = [entry.rationale_id for entry in self.entries]

        def back(last: int | None) -> None:
            self.return_to = last

        self.app.push_screen(AnnotateScreen(ids, event.cursor_row), back)

    @on(DataTable.RowSelected, "#reviews")
    def _open_review(self, event: DataTable.RowSelected) -> None:
        from tui.screens.review import ReviewScreen

        ids = [task.assignment_id for task in self.reviews]
        self.app.push_screen(ReviewScreen(ids, event.cursor_row))

    async def action_open(self) -> None:
        """Enter on a list: open its row; keys typed after it are held until the editor, the
        review or the coding has its item on screen (they belong to it, not to this list).

        The row is chosen only once the keys typed before Enter have acted: a list's
        arrows and Tab act when they have travelled from the list up to the app, so the
        choice waits behind them in every queue on that path (the list, the screen, the
        app); "Down Down Enter" in one burst opens the row two below."""
        await after_keys_handed_over(self)
        if self._focused_table() is None:
            raise SkipAction()  # Enter in the find box or a menu: theirs
        app = services(self)
        app.hold_keys()  # released by the screen it opens, once shown

        def open_focused_row() -> None:
            table = self._focused_table()
            if table is None or not table.row_count:
                app.discard_held_keys()
                return
            table.action_select_cursor()

        path = [node for node in (self.focused, self, self.app) if node is not None]

        def after(index: int) -> None:
            if index == len(path):
                open_focused_row()
            else:
                path[index].call_later(after, index + 1)

        after(0)

    def _focused_table(self) -> DataTable | None:
        focused = self.focused
        return focused if isinstance(focused, DataTable) else None

    def action_first_row(self) -> None:
        table = self._focused_table()
        if table is not None and table.row_count:
            table.move_cursor(row=0)

    def action_last_row(self) -> None:
        table = self._focused_table()
        if table is not None and table.row_count:
            table.move_cursor(row=table.row_count - 1)

    def action_jump(self) -> None:
        box = self.query_one("#jump", Input)
        if box.has_focus:  # a "/" typed in the box itself
            box.insert_text_at_cursor("/")
            return
        box.display = True
        box.value = ""
        self.set_focus(box)  # now, not after a refresh: the next keys of a burst go to it

    @on(Input.Submitted, "#jump")
    def _jump(self, event: Input.Submitted) -> None:
        box = self.query_one("#jump", Input)
        box.display = False
        self.set_focus(self.query_one("#authoring", DataTable))
        if not self.loaded:
            self.pending_jump = event.value  # done when the queue arrives
            return
        self._jump_to(event.value)

    def _jump_to(self, query: str) -> None:
        found = find_entry(self.entries, query)
        if found is None:
            self.notify(f"No session or client id starts with {query.strip()!r} here.")
            return
        self.query_one("#authoring", DataTable).move_cursor(row=found)

    def _offer_unsaved(self, entries: list[QueueEntry], others: list[str]) -> int:
        """At start: the row to begin on, after saying what needs attention."""
        annotator = services(self).annotator
        if not entries and not self.reviews:
            names = ", ".join(others) or "nobody yet"
            self.notify(
                f"No work is assigned to {annotator!r}. Annotators with work: {names}. "
                "Start with: annotate tui --annotator NAME",
                severity="warning",
                timeout=30,
            )
            return 0
        for row, entry in enumerate(entries):
            if entry.unsaved:
                self.notify(
                    f"Unsaved text from your last sitting: {entry.session_id} {entry.item_id} "
                    "(marked 'unsaved'); Enter opens it.",
                    timeout=15,
                )
                return row
        return 0
