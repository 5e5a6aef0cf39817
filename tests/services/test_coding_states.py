"""Stateful test of a coding: two windows of its coder and a reviewer, in any order.

The model keeps the codes the coder last saw succeed and the whole history; after every
step the store must hold exactly that: the current version's codes, one version per
successful change, nothing written by a refused one (a stale window, a code that does
not fit the speaker, a finished coding), and an accepted coding final.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import text

from annotate.core.database import initialise
from annotate.core.demo import DEMO_SESSIONS
from annotate.core.errors import AnnotateError, StaleVersion
from annotate.ingest import import_file
from annotate.work import codings
from store.db import session_scope
from store.models import Coding, CodingReview, MarkerDraft, MarkerSuggestion
from tests import hypothesis_profiles

EXAMPLES = hypothesis_profiles.examples(150, "ANNOTATE_STATEFUL_EXAMPLES")
SESSION = "s11"  # odd turns the counselor's, even turns the client's; 20 turns
CODES = ["shutdown", "avoidance", "masking", "complaint", "explore", "redirect"]
TURNS = list(range(1, 21))
_coders = itertools.count()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    engine, _ = initialise(str(tmp_path_factory.mktemp("states") / "c.db"))
    import_file(engine, DEMO_SESSIONS)
    with session_scope(engine) as session:
        draft = MarkerDraft(session_id=SESSION, scheme_id="3rs", status="ok", provider="openai",
                            model="m", prompt_version="1", prompt_hash="h",
                            scheme_version="1.0.0")  # fmt: skip
        session.add(draft)
        session.flush()
        for turn, code in ((2, "shutdown"), (8, "avoidance"), (15, "explore")):
            row = MarkerSuggestion(
                draft_id=draft.id,
                session_id=SESSION,  # type: ignore[arg-type]
                turn_number=turn,
                code=code,
                quote="q",
                grounded=True,
            )
            session.add(row)
    yield engine
    engine.dispose()


def _speaker(turn: int) -> str:
    return "counselor" if turn % 2 else "client"


def _fits(code: str, turn: int) -> bool:
    repair = code in ("explore", "redirect")
    return _speaker(turn) == ("counselor" if repair else "client")


class CodingMachine(RuleBasedStateMachine):
    engine = None  # set by the test

    @initialize()
    def start(self) -> None:
        self.coder = f"coder{next(_coders)}"
        with session_scope(self.engine) as session:  # type: ignore[arg-type]
            row = Coding(session_id=SESSION, scheme_id="3rs", coder_id=self.coder, role="second")
            from annotate.work.rationales.versions import ensure_annotator

            ensure_annotator(session, self.coder)
            ensure_annotator(session, "reviewer")
            session.add(row)
            session.flush()
            self.coding_id = int(row.id)  # type: ignore[arg-type]
            session.add(CodingReview(coding_id=self.coding_id, reviewer_id="reviewer"))
        with self.engine.connect() as connection:  # type: ignore[union-attr]
            self.suggestions = dict(connection.execute(text(
                "SELECT id, turn_number || ':' || code FROM marker_suggestions"
            )).all())  # fmt: skip
        self.marks: set[tuple[int, str, str]] = set()
        self.version = 0
        self.windows = [0, 0]  # the version each window last saw
        self.status = codings.PENDING
        self.reviewed = False

    def _won(self, state: codings.CodingState, window: int) -> None:
        assert state.lock_version == self.version + 1
        self.version = state.lock_version
        self.windows[window] = self.version
        self.marks = set(state.marks)
        self.status = state.status

    def _refused_as_expected(self, window: int, error: AnnotateError) -> None:
        if self.status == codings.ACCEPTED:  # final, whatever the window saw
            assert "final" in str(error)
            return
        if isinstance(error, StaleVersion):
            assert self.windows[window] != self.version
        else:
            assert self.windows[window] == self.version

    @rule(window=st.sampled_from([0, 1]), turn=st.sampled_from(TURNS),
          code=st.sampled_from(CODES))  # fmt: skip
    def toggle(self, window: int, turn: int, code: str) -> None:
        present = any(t == turn and c == code for t, c, _ in self.marks)
        try:
            state = codings.toggle_code(self.engine, self.coding_id, self.coder, turn, code,  # type: ignore[arg-type]
                                        self.windows[window])  # fmt: skip
        except AnnotateError as error:
            self._refused_as_expected(window, error)
            if not isinstance(error, StaleVersion):
                assert self.status == codings.ACCEPTED or not (present or _fits(code, turn))
            return
        assert self.windows[window] == self.version and self.status != codings.ACCEPTED
        assert present or _fits(code, turn)
        self._won(state, window)
        assert any(t == turn and c == code for t, c, _ in self.marks) != present

    @rule(window=st.sampled_from([0, 1]), index=st.integers(0, 2), accept=st.booleans())
    def decide(self, window: int, index: int, accept: bool) -> None:
        suggestion = sorted(self.suggestions)[index]
        before = self.version
        try:
            state = codings.decide_suggestion(self.engine, self.coding_id, self.coder,  # type: ignore[arg-type]
                                              suggestion, accept, self.windows[window])  # fmt: skip
        except AnnotateError as error:
            self._refused_as_expected(window, error)
            return
        if state.lock_version == before:  # nothing to change in the codes
            self.windows[window] = before
            return
        self._won(state, window)

    @rule(window=st.sampled_from([0, 1]))
    def submit(self, window: int) -> None:
        try:
            state = codings.submit_coding(self.engine, self.coding_id, self.coder,  # type: ignore[arg-type]
                                          self.windows[window])  # fmt: skip
        except AnnotateError as error:
            self._refused_as_expected(window, error)
            return
        self._won(state, window)
        assert self.status == codings.SUBMITTED

    @rule(window=st.sampled_from([0, 1]))
    def reload(self, window: int) -> None:
        self.windows[window] = self.version

    @rule(passed=st.booleans(), stale=st.booleans())
    def review(self, passed: bool, stale: bool) -> None:
        version = self.version - 1 if stale else self.version
        try:
            status = codings.review_coding(self.engine, self.coding_id, "reviewer", version,  # type: ignore[arg-type]
                                           passed, None if passed else "look again")  # fmt: skip
        except AnnotateError:
            assert self.reviewed or self.status != codings.SUBMITTED or stale
            return
        assert not self.reviewed and self.status == codings.SUBMITTED and not stale
        self.reviewed = True
        self.status = codings.ACCEPTED if passed else codings.REVISION_REQUESTED
        assert status == self.status

    @invariant()
    def store_matches(self) -> None:
        if not hasattr(self, "coding_id"):
            return
        with self.engine.connect() as connection:  # type: ignore[union-attr]
            status, lock, current = connection.execute(
                text("SELECT status, lock_version, current_version FROM codings WHERE id = :c"),
                {"c": self.coding_id},
            ).one()
            versions = connection.execute(
                text("SELECT version, codes FROM coding_versions WHERE coding_id = :c "
                     "ORDER BY version"), {"c": self.coding_id},
            ).all()  # fmt: skip
        assert (status, lock) == (self.status, self.version)
        assert [v for v, _ in versions] == list(range(1, self.version + 1))
        assert current == (self.version or None)
        if versions:
            codes = versions[-1][1]
            stored = json.loads(codes) if isinstance(codes, str) else codes
            assert {(t, c, o) for t, c, o in stored} == self.marks
        assert all(_fits(c, t) for t, c, _ in self.marks)


def test_coding_lifecycle_states(store) -> None:  # type: ignore[no-untyped-def]
    CodingMachine.engine = store
    CodingMachine.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )  # fmt: skip
    CodingMachine.TestCase().runTest()
