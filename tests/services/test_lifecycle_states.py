"""The lifecycle's promises under random interleavings of everyone's actions (both backends).

A hypothesis state machine plays two authors (each with several editor windows, some
left open while the other window saves), a reviewer with review screens, and the
project lead's rationale and review imports. It keeps its own model of what must be
true (which version is current, its status, which draft it began from) and after every
step checks the store against it and against the README's promises:

- the current version is never a conflict text, and is the last write that won;
- what export writes for each (session, item) is the current version's text, and no
  exported target is drafter scaffolding;
- every review names a version that existed when it was stored, is not a conflict and
  was not written by its reviewer;
- a rationale whose current text began from a draft links that draft (none otherwise);
- ``annotate edits`` figures equal a recomputation from the rows.

``ANNOTATE_STATEFUL_EXAMPLES`` sets the number of runs (default 200; the slow hypothesis
profile 2400, tests/hypothesis_profiles.py; the README's "slow run" uses 2000).
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotate.analysis.edits import edit_stats
from annotate.core import workflow
from annotate.core.errors import ConflictError, ImportFailed, PermissionDenied, StaleVersion
from annotate.export import ExportOptions, export_dataset
from annotate.export import records as export_records
from annotate.ingest import import_file
from annotate.work.rationales import editor
from annotate.work.rationales.rules import offline_labels, scaffold_problem
from annotate.work.reviews.queue import open_review
from annotate.work.reviews.write import submit_review
from store.db import reader, session_scope
from store.models import (
    Annotator,
    Autosave,
    Draft,
    Rationale,
    RationaleVersion,
    Review,
    ReviewAssignment,
    ReviewScore,
)
from tests import hypothesis_profiles
from tests.factories import session_record, write_jsonl

pytestmark = [pytest.mark.both_backends, pytest.mark.slow]

EXAMPLES = hypothesis_profiles.examples(200, "ANNOTATE_STATEFUL_EXAMPLES")
SESSIONS = ("st1", "st2")
ITEMS = ("goal_1", "bond_2")
AUTHORS = ("ana", "ben")  # ana writes st1's rationales, ben st2's
REVIEWER = "cy"
PASS = {"faithfulness": 4, "relevance": 4, "informativeness": 4}
FAIL = {"faithfulness": 4, "relevance": 2, "informativeness": 4}
WORDS = st.sampled_from(
    ["The client names sleep as the goal (turn 2).", "来访者在第2轮提出睡眠目标。", "short",
     "The counselor reflected; the client gave minimal answers.", "  padded  "]
)  # fmt: skip


def _author_of(session_id: str) -> str:
    return AUTHORS[SESSIONS.index(session_id)]


@dataclass(frozen=True)
class Window:
    """An editor window: what it showed and what it will send."""

    rationale_id: int
    author: str
    lock_version: int
    draft_id: int | None  # the draft its text began from
    text: str


@dataclass(frozen=True)
class ReviewScreen:
    assignment_id: int
    rationale_id: int
    shown_version: int


@dataclass
class Expected:
    """The machine's own model of one rationale."""

    session_id: str
    item_id: str
    author: str
    lock_version: int = 0
    current: int | None = None
    status: str = workflow.PENDING
    draft_id: int | None = None


def _reset(engine: Engine, workdir: Path) -> tuple[dict[int, Expected], dict[int, int]]:
    """Fresh work on the imported sessions: four rationales, review assignments, drafts."""
    with session_scope(engine) as session:
        for model in (ReviewScore, Review, ReviewAssignment, Autosave, RationaleVersion,
                      Rationale, Draft):  # fmt: skip
            session.execute(delete(model))
        expected: dict[int, Expected] = {}
        assignments: dict[int, int] = {}
        for session_id in SESSIONS:
            for item_id in ITEMS:
                rationale = Rationale(
                    session_id=session_id, item_id=item_id, author_id=_author_of(session_id)
                )
                session.add(rationale)
                session.flush()
                assert rationale.id is not None
                expected[rationale.id] = Expected(session_id, item_id, _author_of(session_id))
                assignment = ReviewAssignment(rationale_id=rationale.id, reviewer_id=REVIEWER)
                session.add(assignment)
                session.flush()
                assert assignment.id is not None
                assignments[rationale.id] = assignment.id
                # ben's items start from offline scaffolds, ana's from a model's drafts.
                offline = _author_of(session_id) == "ben"
                text = f"{'Offline' if offline else 'Model'} draft of {item_id}: turn 2."
                session.add(_draft(session_id, item_id, text, offline=offline))
    return expected, assignments


def _draft(session_id: str, item_id: str, text: str, *, offline: bool = False) -> Draft:
    return Draft(
        session_id=session_id, item_id=item_id, status="ok", text=text, evidence=[2],
        quotes=[], provider="offline" if offline else "openai",
        model="offline-lexical-1" if offline else "test-model",
        prompt_version="1.0.0", prompt_hash="0" * 64,
    )  # fmt: skip


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _levenshtein(a: str, b: str) -> int:
    """The textbook table, independent of annotate.analysis.textdistance's bit-parallel version."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        row = [i]
        for j, cb in enumerate(b, start=1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = row
    return previous[-1]


class Lifecycle(RuleBasedStateMachine):
    windows = Bundle("windows")
    screens = Bundle("review_screens")

    def __init__(self, engine: Engine, workdir: Path) -> None:
        super().__init__()
        self.engine = engine
        self.reads = reader(engine)  # checks never take SQLite's write lock
        self.workdir = workdir
        self.expected, self.assignments = _reset(engine, workdir)

    # -- helpers ---------------------------------------------------------------------------

    def _file(self, records: list[dict]) -> Path:
        handle, name = tempfile.mkstemp(suffix=".jsonl", dir=self.workdir)
        os.close(handle)
        return write_jsonl(Path(name), records)

    def _won(self, rationale_id: int, number: int, *, kind: str, draft_id: int | None) -> None:
        model = self.expected[rationale_id]
        model.lock_version = model.current = number
        model.draft_id = draft_id
        if kind in (workflow.VERSION_ACCEPT, workflow.VERSION_IMPORT):
            model.status = workflow.ACCEPTED
        elif model.status != workflow.REVISION_REQUESTED:
            model.status = workflow.IN_PROGRESS

    def _draft_of(self, draft_id: int | None) -> Draft | None:
        if draft_id is None:
            return None
        with Session(self.reads) as session:
            return session.get(Draft, draft_id)

    # -- authors ---------------------------------------------------------------------------

    @rule(target=windows, which=st.integers(0, 3))
    def open(self, which: int) -> Window:
        rationale_id = sorted(self.expected)[which]
        model = self.expected[rationale_id]
        state = editor.open_rationale(self.engine, rationale_id, model.author)
        assert state.lock_version == model.lock_version
        assert state.current_version == model.current
        return Window(rationale_id, model.author, state.lock_version,
                      state.initial_draft_id, state.initial_text)  # fmt: skip

    @rule(window=windows, words=WORDS, append=st.booleans())
    def type_and_autosave(self, window: Window, words: str, append: bool) -> None:
        text = f"{window.text} {words}" if append else words
        editor.autosave(self.engine, window.rationale_id, window.author, text,
                        window.lock_version, window.draft_id if append else None)  # fmt: skip

    def _store(self, window: Window, text: str, draft_id: int | None, accept: bool) -> Window:
        model = self.expected[window.rationale_id]
        operation = editor.accept if accept else editor.save
        problem = accept and scaffold_problem(text)
        stale = window.lock_version != model.lock_version
        try:
            result = operation(self.engine, window.rationale_id, window.author, text,
                               window.lock_version, draft_id)  # fmt: skip
        except PermissionDenied as error:
            assert problem, f"refused without a reason: {error}"
            return window
        except ConflictError as error:
            assert stale and not problem
            model.lock_version = error.lock_version  # type: ignore[assignment]
            state = editor.open_rationale(self.engine, window.rationale_id, window.author)
            return Window(window.rationale_id, window.author, state.lock_version,
                          state.initial_draft_id, state.initial_text)  # fmt: skip
        assert not stale and not problem
        kind = workflow.VERSION_ACCEPT if accept else workflow.VERSION_SAVE
        self._won(window.rationale_id, result.version, kind=kind, draft_id=draft_id)
        return replace(window, lock_version=result.lock_version, text=text, draft_id=draft_id)

    @rule(target=windows, window=consumes(windows), words=WORDS, edit=st.booleans(),
          accept=st.booleans())  # fmt: skip
    def save(self, window: Window, words: str, edit: bool, accept: bool) -> Window:
        """Save or accept the window's text (kept, or edited), from whatever it showed."""
        text = f"{window.text} {words}" if edit else window.text
        if not text.strip():
            text = words
        draft_id = window.draft_id if window.text.strip() else None
        return self._store(window, text, draft_id, accept)

    @rule(target=windows, window=consumes(windows))
    def accept_as_shown(self, window: Window) -> Window:
        """Ctrl+O on whatever the window shows (a draft untouched, perhaps)."""
        text = window.text if window.text.strip() else "Accepted as typed."
        return self._store(window, text, window.draft_id if window.text.strip() else None, True)

    @rule(target=windows, window=consumes(windows), words=WORDS)
    def double_save(self, window: Window, words: str) -> Window:
        """Ctrl+S twice quickly: the second waits for the first (the editor queues it)."""
        first = self._store(window, f"{window.text} {words}".strip(), window.draft_id, False)
        if first is window:
            return window
        second = self._store(first, first.text + ".", first.draft_id, False)
        assert second.lock_version == first.lock_version + 1, "a double save conflicted"
        return second

    @rule(target=windows, window=consumes(windows), words=WORDS)
    def write_from_scratch(self, window: Window, words: str) -> Window:
        """Empty the editor, type one's own words: the text began from no draft."""
        return self._store(window, words, None, False)

    @rule(target=windows, window=consumes(windows))
    def revert(self, window: Window) -> Window:
        state = editor.open_rationale(self.engine, window.rationale_id, window.author)
        if state.draft is None:
            return window
        return replace(window, text=state.draft.text, draft_id=state.draft.id)

    @rule(target=windows, window=consumes(windows), offline=st.booleans())
    def regenerate(self, window: Window, offline: bool) -> Window:
        model = self.expected[window.rationale_id]
        label = "offline" if offline else "model"

        def drafter(engine: Engine, session_id: str, item_id: str) -> Draft:
            with session_scope(engine) as session:
                row = _draft(session_id, item_id, f"A {label} redraft of {item_id}.",
                             offline=offline)  # fmt: skip
                session.add(row)
                session.flush()
                return row

        view = editor.regenerate(self.engine, window.rationale_id, model.author, drafter)
        assert (view.scaffold_label is not None) == offline
        return replace(window, text=view.text, draft_id=view.id)  # untouched: the new draft

    @rule(which=st.integers(0, 3), note=st.sampled_from(["check turn 7", ""]))
    def flag(self, which: int, note: str) -> None:
        rationale_id = sorted(self.expected)[which]
        editor.flag(self.engine, rationale_id, self.expected[rationale_id].author, note)

    # -- reviewers -------------------------------------------------------------------------

    @rule(target=screens, which=st.integers(0, 3))
    def open_review(self, which: int) -> ReviewScreen:
        rationale_id = sorted(self.expected)[which]
        model = self.expected[rationale_id]
        assignment_id = self.assignments[rationale_id]
        if model.current is None:
            return multiple()
        view = open_review(self.engine, assignment_id, REVIEWER)
        assert view.rationale_version == model.current
        return ReviewScreen(assignment_id, rationale_id, view.rationale_version)

    @rule(screen=consumes(screens), passed=st.booleans())
    def submit(self, screen: ReviewScreen, passed: bool) -> None:
        model = self.expected[screen.rationale_id]
        scores, comment = (PASS, "") if passed else (FAIL, "too general")
        already = self._reviewed(screen.rationale_id, screen.shown_version)
        try:
            submit_review(self.engine, screen.assignment_id, REVIEWER, scores, comment,
                          shown_version=screen.shown_version)  # fmt: skip
        except StaleVersion:
            assert model.current != screen.shown_version
            return
        except PermissionDenied:
            assert already
            return
        assert model.current == screen.shown_version and not already
        if not passed:
            model.status = workflow.REVISION_REQUESTED

    def _reviewed(self, rationale_id: int, version: int | None) -> bool:
        with Session(self.reads) as session:
            rows = session.execute(
                select(Review.id).where(
                    Review.rationale_id == rationale_id,  # type: ignore[arg-type]
                    Review.reviewer_id == REVIEWER,  # type: ignore[arg-type]
                    Review.rationale_version == version,  # type: ignore[arg-type]
                )
            ).all()
        return bool(rows)

    # -- the project lead's imports ----------------------------------------------------------

    @rule(which=st.integers(0, 3), words=WORDS)
    def import_rationale(self, which: int, words: str) -> None:
        rationale_id = sorted(self.expected)[which]
        model = self.expected[rationale_id]
        text = f"Imported: {words}"
        record = {"session_id": model.session_id, "item_id": model.item_id,
                  "author": model.author, "text": text}  # fmt: skip
        with Session(self.reads) as session:
            row = session.get(Rationale, rationale_id)
            assert row is not None
            current = session.execute(
                select(RationaleVersion.text).where(
                    RationaleVersion.rationale_id == rationale_id,  # type: ignore[arg-type]
                    RationaleVersion.version == row.current_version,  # type: ignore[arg-type]
                )
            ).scalar()
        result = import_file(self.engine, self._file([record]))
        if current == text:
            assert not result.changed
            return
        self._won(rationale_id, model.lock_version + 1, kind=workflow.VERSION_IMPORT,
                  draft_id=None)  # fmt: skip

    @rule(which=st.integers(0, 3), pick=st.sampled_from(["default", "current", "old", "any"]),
          reviewer=st.sampled_from([REVIEWER, "ana", "ben"]), passed=st.booleans())  # fmt: skip
    def import_review(self, which: int, pick: str, reviewer: str, passed: bool) -> None:
        rationale_id = sorted(self.expected)[which]
        model = self.expected[rationale_id]
        scores = PASS if passed else FAIL
        record = {"session_id": model.session_id, "item_id": model.item_id,
                  "reviewer": reviewer, **scores, "comment": "imported"}  # fmt: skip
        version: int | None = None
        if pick == "current":
            version = model.current
        elif pick == "old":
            version = 1
        elif pick == "any":
            version = model.lock_version  # may be a conflict text or 0 (no text)
        if pick != "default":
            record["rationale_version"] = version
        scored = model.current if pick == "default" else version
        with Session(self.reads) as session:
            kind = session.execute(
                select(RationaleVersion.kind).where(
                    RationaleVersion.rationale_id == rationale_id,  # type: ignore[arg-type]
                    RationaleVersion.version == scored,  # type: ignore[arg-type]
                )
            ).scalar()
            earlier = session.execute(
                select(Review).where(
                    Review.rationale_id == rationale_id,  # type: ignore[arg-type]
                    Review.reviewer_id == reviewer,  # type: ignore[arg-type]
                    Review.rationale_version == scored,  # type: ignore[arg-type]
                )
            ).scalar()
        scorable = kind is not None and kind != workflow.VERSION_CONFLICT
        allowed = scorable and reviewer != model.author
        same = earlier is not None and (earlier.passed, earlier.comment) == (passed, "imported")
        try:
            result = import_file(self.engine, self._file([record]))
        except ImportFailed:
            assert not allowed or (earlier is not None and not same)
            return
        assert allowed and (earlier is None or same)
        if result.created and not passed and scored == model.current:
            model.status = workflow.REVISION_REQUESTED

    # -- the promises ----------------------------------------------------------------------

    @invariant()
    def current_version_is_the_last_winning_write_and_never_a_conflict(self) -> None:
        with Session(self.reads) as session:
            for rationale_id, model in self.expected.items():
                row = session.get(Rationale, rationale_id)
                assert row is not None
                assert (row.current_version, row.lock_version, row.status) == (
                    model.current, model.lock_version, model.status
                )  # fmt: skip
                if row.current_version is not None:
                    version = session.execute(
                        select(RationaleVersion).where(
                            RationaleVersion.rationale_id == rationale_id,  # type: ignore[arg-type]
                            RationaleVersion.version == row.current_version,  # type: ignore[arg-type]
                        )
                    ).scalar_one()
                    assert version.kind != workflow.VERSION_CONFLICT

    @invariant()
    def the_current_text_links_the_draft_it_began_from(self) -> None:
        with Session(self.reads) as session:
            for rationale_id, model in self.expected.items():
                row = session.get(Rationale, rationale_id)
                assert row is not None and row.draft_id == model.draft_id

    @invariant()
    def reviews_name_a_real_text_of_someone_else(self) -> None:
        with Session(self.reads) as session:
            for review in session.execute(select(Review)).scalars():
                version = session.execute(
                    select(RationaleVersion).where(
                        RationaleVersion.rationale_id == review.rationale_id,  # type: ignore[arg-type]
                        RationaleVersion.version == review.rationale_version,  # type: ignore[arg-type]
                    )
                ).scalar_one()
                assert version.kind != workflow.VERSION_CONFLICT
                assert version.created_at <= review.created_at
                assert review.reviewer_id != version.author_id
                assert review.reviewer_id != self.expected[review.rationale_id].author

    @invariant()
    def export_reads_the_current_text_and_never_scaffolding(self) -> None:
        """What export writes from: its own reader, checked against the rows."""
        policy = export_records.Policy("wai-sr", 3, include_unreviewed=True)
        labels = [label.strip("[]【】") for label in offline_labels().values()]
        with export_records.read_snapshot(self.engine) as connection:
            reader = export_records.BatchReader(connection, policy, len(SESSIONS))
            rows, _ = reader.read(list(SESSIONS))
        with Session(self.reads) as session:
            for row in rows:
                model = self.expected[row.rationale_id]
                assert row.final_version == model.current
                text = session.execute(
                    select(RationaleVersion.text).where(
                        RationaleVersion.rationale_id == row.rationale_id,  # type: ignore[arg-type]
                        RationaleVersion.version == model.current,  # type: ignore[arg-type]
                    )
                ).scalar()
                assert row.text == text
                if export_records.exclusion_reason(row, policy) is None:
                    assert not any(label in row.text for label in labels)
                    assert scaffold_problem(row.text) is None

    @invariant()
    def edits_figures_equal_a_recomputation_from_the_rows(self) -> None:
        accepted = with_draft = unchanged = 0
        distances: list[float] = []
        with Session(self.reads) as session:
            for rationale_id, model in self.expected.items():
                if model.status != workflow.ACCEPTED:
                    continue
                accepted += 1
                final = session.execute(
                    select(RationaleVersion.text).where(
                        RationaleVersion.rationale_id == rationale_id,  # type: ignore[arg-type]
                        RationaleVersion.version == model.current,  # type: ignore[arg-type]
                    )
                ).scalar_one()
                draft = self._draft_of(model.draft_id)
                if draft is None or draft.text is None:
                    continue
                with_draft += 1
                a, b = _clean(draft.text), _clean(final)
                unchanged += a == b
                distances.append(_levenshtein(a, b) / max(len(a), len(b), 1))
        table = edit_stats(self.engine, "annotator").set_index("annotator")
        total = table.loc["all"]
        assert (int(total["accepted"]), int(total["with_draft"]), int(total["no_draft"])) == (
            accepted, with_draft, accepted - with_draft
        )  # fmt: skip
        if accepted:
            assert int(total["unchanged"]) == unchanged
        if distances:
            assert float(total["edit_distance_mean"]) == pytest.approx(
                sum(distances) / len(distances)
            )

    def teardown(self) -> None:
        """Once per run: the real export's files hold exactly the current texts."""
        out = Path(tempfile.mkdtemp(dir=self.workdir)) / "export"
        manifest = export_dataset(
            self.engine, ExportOptions("alpaca", out, target="rationale", include_unreviewed=True)
        )
        lines = (out / "train.jsonl").read_text("utf-8").splitlines()
        index = (out / "train.index.jsonl").read_text("utf-8").splitlines()
        with Session(self.reads) as session:
            for entry, line in zip(index, lines, strict=True):
                key = json.loads(entry)
                rationale = session.execute(
                    select(Rationale).where(
                        Rationale.session_id == key["session_id"],  # type: ignore[arg-type]
                        Rationale.item_id == key["item_id"],  # type: ignore[arg-type]
                    )
                ).scalar_one()
                text = session.execute(
                    select(RationaleVersion.text).where(
                        RationaleVersion.rationale_id == rationale.id,  # type: ignore[arg-type]
                        RationaleVersion.version == rationale.current_version,  # type: ignore[arg-type]
                    )
                ).scalar_one()
                assert text in json.loads(line)["output"]
        assert manifest["counts"]["records"] == len(lines)


@pytest.fixture
def lifecycle_engine(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The test's store with two sessions and the people of the machine."""
    records = [session_record(session_id, client_id=f"cl-{session_id}") for session_id in SESSIONS]
    import_file(engine, write_jsonl(tmp_path / "sessions.jsonl", records))
    with session_scope(engine) as session:
        for name in (*AUTHORS, REVIEWER):
            session.add(Annotator(id=name))
    return engine


# The runs are split over SHARDS tests so that pytest-xdist runs them side by side (one
# test of 200 runs was a quarter of the suite's time); together they make EXAMPLES runs.
SHARDS = 4


@pytest.mark.parametrize("shard", range(SHARDS))
def test_lifecycle_promises_hold_under_random_interleavings(  # type: ignore[no-untyped-def]
    lifecycle_engine, tmp_path, shard: int
) -> None:
    run_state_machine_as_test(
        # The shard in the factory's signature gives each shard its own seed and its own
        # key in hypothesis' example database, also under derandomize.
        lambda shard=shard: Lifecycle(lifecycle_engine, tmp_path),
        settings=settings(
            max_examples=-(-EXAMPLES // SHARDS),
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
