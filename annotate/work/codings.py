"""The life of a turn coding (3RS markers), written in one place like a rationale's.

A *coding* is one coder's codes of one session's turns under one marker scheme. Every
change (a code added or removed, a suggestion accepted, a submission, an import) is the
next :class:`~store.models.CodingVersion` holding the whole code set after it, with
author and time; ``codings.current_version`` names the current one and ``lock_version``
is the optimistic check, in the same UPDATE, under the row lock. A change named against
an older version than the current one is refused with ``StaleVersion`` (the other
window's codes are shown instead), so no change is ever applied to codes the coder did
not see. Nothing is overwritten.

Statuses: ``pending`` (nothing coded), ``in_progress``, ``submitted`` (the coder is
done), ``accepted`` (a reviewer passed it) and ``revision_requested`` (a reviewer sent it
back; the coder changes and submits again). A coding's ``role`` is ``primary`` (the one
exported) or ``second`` (a blind second coding, for agreement only): coders never see
each other's codes.

Suggestions (a model's or the offline hinter's proposed codes, ``marker_suggestions``)
are never codes: a coder accepts one (the code is added with origin ``suggestion``) or
rejects it; both decisions are stored per coding (``suggestion_decisions``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.core import workflow
from annotate.core.errors import ConfigError, NotFoundError, PermissionDenied, StaleVersion
from annotate.core.markers import DEFAULT_SCHEME, misplaced, stored_scheme
from annotate.work.rationales.versions import ensure_annotator, write
from store.db import insert_ignoring_duplicates, reader, session_scope
from store.models import (
    Coding,
    CodingReview,
    MarkerDraft,
    MarkerSuggestion,
    TherapySession,
    Turn,
    utcnow,
)
from store.tables import CODING_REVIEWS as REVIEWS
from store.tables import CODING_VERSIONS as VERSIONS
from store.tables import CODINGS, CURRENT_CODES
from store.tables import SUGGESTION_DECISIONS as DECISIONS

PENDING, IN_PROGRESS, SUBMITTED = workflow.PENDING, workflow.IN_PROGRESS, workflow.SUBMITTED
ACCEPTED, REVISION_REQUESTED = workflow.ACCEPTED, workflow.REVISION_REQUESTED
STATUSES = workflow.CODING_STATUSES
FINISHED = (SUBMITTED, ACCEPTED)  # the coder is done: counts for agreement and export
PRIMARY, SECOND = "primary", "second"
EXPERT, SUGGESTION = "expert", "suggestion"  # where a code came from

Mark = tuple[int, str, str]  # (turn number, code id, origin)


def _sorted(marks: Iterable[Mark]) -> list[list[object]]:
    return [list(mark) for mark in sorted(set(marks))]


def _marks(stored: list) -> set[Mark]:
    return {(int(turn), str(code), str(origin)) for turn, code, origin in stored}


@dataclass(frozen=True)
class CodingRow:
    id: int
    session_id: str
    scheme_id: str
    coder_id: str
    role: str
    status: str
    lock_version: int
    current_version: int | None


def _locked(session: Session, coding_id: int, *, lock: bool = True) -> CodingRow:
    """The coding's row, locked until the transaction ends unless ``lock`` is False."""
    columns = [CODINGS.c[name] for name in CodingRow.__dataclass_fields__]
    query = select(*columns).where(CODINGS.c.id == coding_id)
    row = session.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"coding {coding_id} does not exist")
    return CodingRow(*row)


def _current_marks(session: Session, coding: CodingRow) -> set[Mark]:
    codes = session.execute(
        select(VERSIONS.c.codes).select_from(CURRENT_CODES).where(CODINGS.c.id == coding.id)
    ).scalar_one()
    return _marks(codes or [])


@dataclass(frozen=True)
class CodingState:
    """A coding as its coder sees it after a read or a change."""

    coding_id: int
    session_id: str
    coder_id: str
    role: str
    status: str
    lock_version: int
    marks: frozenset[Mark]
    decisions: dict[int, str] = field(default_factory=dict)  # suggestion id -> decision

    def codes_on(self, turn: int) -> list[str]:
        return sorted(code for number, code, _ in self.marks if number == turn)


def _state(session: Session, coding: CodingRow, marks: set[Mark]) -> CodingState:
    decisions = dict(
        session.execute(
            select(DECISIONS.c.suggestion_id, DECISIONS.c.decision).where(
                DECISIONS.c.coding_id == coding.id
            )
        ).all()
    )
    return CodingState(coding.id, coding.session_id, coding.coder_id, coding.role,
                       coding.status, coding.lock_version, frozenset(marks),
                       decisions)  # fmt: skip


def _store(
    session: Session,
    coding: CodingRow,
    marks: set[Mark],
    author: str,
    kind: str,
    status: str,
) -> CodingRow:
    """The next version with ``marks``, made current, in the caller's transaction."""
    number = coding.lock_version + 1
    now = utcnow()
    scheme_version = stored_scheme(session, coding.scheme_id).version
    session.execute(
        update(CODINGS)
        .where(CODINGS.c.id == coding.id)
        .values(lock_version=number, current_version=number, status=status, updated_at=now)
    )
    session.execute(
        VERSIONS.insert().values(
            coding_id=coding.id, version=number, codes=_sorted(marks), author_id=author,
            kind=kind, scheme_version=scheme_version, created_at=now,
        )
    )  # fmt: skip
    return CodingRow(coding.id, coding.session_id, coding.scheme_id, coding.coder_id,
                     coding.role, status, number, number)  # fmt: skip


def _writable(session: Session, coding_id: int, coder: str, base_version: int) -> CodingRow:
    coding = _locked(session, coding_id)
    if coding.coder_id != coder:
        raise PermissionDenied(f"coding {coding_id} belongs to another coder")
    if coding.status == ACCEPTED:
        raise PermissionDenied(f"coding {coding_id} was accepted by its reviewer: it is final")
    if coding.lock_version != base_version:
        raise StaleVersion(
            f"coding {coding_id} changed in another window (version {coding.lock_version}, "
            f"you saw {base_version}): nothing was changed, the codes shown are now current",
            lock_version=coding.lock_version,
        )
    return coding


def _editing_status(coding: CodingRow) -> str:
    return REVISION_REQUESTED if coding.status == REVISION_REQUESTED else IN_PROGRESS


def _check_turn(session: Session, session_id: str, turn: int) -> str:
    """The turn's speaker; ``NotFoundError`` when the session has no such turn."""
    found = session.execute(
        select(col(Turn.speaker)).where(
            col(Turn.session_id) == session_id, col(Turn.number) == turn
        )
    ).first()
    if found is None:
        raise NotFoundError(f"session {session_id!r} has no turn {turn}")
    return str(found[0])


def read_coding(engine: Engine, coding_id: int, coder: str) -> CodingState:
    """The coding's current state (read-only), for its coder."""
    with Session(reader(engine)) as session:
        coding = _locked(session, coding_id, lock=False)
        if coding.coder_id != coder:
            raise PermissionDenied(f"coding {coding_id} belongs to another coder")
        return _state(session, coding, _current_marks(session, coding))


def toggle_code(
    engine: Engine, coding_id: int, coder: str, turn: int, code: str, base_version: int
) -> CodingState:
    """Add ``code`` to ``turn`` if absent, else remove it: one new version."""

    def work(session: Session) -> CodingState:
        coding = _writable(session, coding_id, coder, base_version)
        scheme = stored_scheme(session, coding.scheme_id)
        if code not in scheme.code_ids:
            raise ConfigError(f"unknown code {code!r} in scheme {scheme.id}")
        speaker = _check_turn(session, coding.session_id, turn)
        marks = _current_marks(session, coding)
        present = {m for m in marks if m[0] == turn and m[1] == code}
        problem = None if present else misplaced(scheme, code, turn, speaker)
        if problem is not None:
            raise ConfigError(problem)
        if present:
            marks -= present
            kind = "remove"
        else:
            marks.add((turn, code, EXPERT))
            kind = "add"
        coding = _store(session, coding, marks, coder, kind, _editing_status(coding))
        return _state(session, coding, marks)

    return write(engine, work)


def decide_suggestion(
    engine: Engine, coding_id: int, coder: str, suggestion_id: int, accept: bool,
    base_version: int,
) -> CodingState:  # fmt: skip
    """Accept (the code is added, origin ``suggestion``) or reject a grounded suggestion.

    A decision can be changed: rejecting an accepted suggestion removes the code it
    added (if the coder has not since set it themselves), accepting a rejected one adds it.
    """

    def work(session: Session) -> CodingState:
        coding = _writable(session, coding_id, coder, base_version)
        suggestion = session.get(MarkerSuggestion, suggestion_id)
        if (
            suggestion is None
            or suggestion.session_id != coding.session_id
            or not suggestion.grounded
        ):
            raise NotFoundError(f"no suggestion {suggestion_id} for this session")
        marks = _current_marks(session, coding)
        mark = (suggestion.turn_number, suggestion.code, SUGGESTION)
        has_code = any(m[0] == mark[0] and m[1] == mark[1] for m in marks)
        if accept and not has_code:
            marks.add(mark)
            coding = _store(session, coding, marks, coder, "accept", _editing_status(coding))
        elif not accept and mark in marks:
            marks.discard(mark)
            coding = _store(session, coding, marks, coder, "remove", _editing_status(coding))
        statement = insert_ignoring_duplicates(DECISIONS, session.connection().dialect.name)
        decision = "accepted" if accept else "rejected"
        session.execute(
            statement.values(suggestion_id=suggestion_id, coding_id=coding_id,
                             decision=decision, decided_at=utcnow())
        )  # fmt: skip
        session.execute(
            update(DECISIONS)
            .where(DECISIONS.c.suggestion_id == suggestion_id, DECISIONS.c.coding_id == coding_id)
            .values(decision=decision, decided_at=utcnow())
        )
        return _state(session, coding, marks)

    return write(engine, work)


def submit_coding(engine: Engine, coding_id: int, coder: str, base_version: int) -> CodingState:
    """The coder is done with the session: status ``submitted`` (a version of its own,
    so a review names exactly the codes it judged)."""

    def work(session: Session) -> CodingState:
        coding = _writable(session, coding_id, coder, base_version)
        marks = _current_marks(session, coding)
        coding = _store(session, coding, marks, coder, "submit", SUBMITTED)
        return _state(session, coding, marks)

    return write(engine, work)


def review_coding(
    engine: Engine, coding_id: int, reviewer: str, version: int | None, passed: bool,
    comment: str | None = None,
) -> str:  # fmt: skip
    """Record a reviewer's verdict on the version they saw; return the coding's status.

    Only an assigned reviewer who is not the coder reviews, only a submitted coding, and
    only its current version (else ``StaleVersion``; ``version`` None: the current one).
    Passing accepts it; failing sends it back to its coder with the comment (a comment is
    then required).
    """
    comment = (comment or "").strip() or None
    if not passed and comment is None:
        raise ConfigError("say what to change: a coding sent back needs a comment")

    def work(session: Session) -> str:
        coding = _locked(session, coding_id)
        if coding.coder_id == reviewer:
            raise PermissionDenied("you cannot review your own coding")
        assignment = session.execute(
            select(CodingReview).where(
                col(CodingReview.coding_id) == coding_id,
                col(CodingReview.reviewer_id) == reviewer,
            )
        ).scalar_one_or_none()
        if assignment is None:
            raise PermissionDenied(f"coding {coding_id} is not assigned to {reviewer} for review")
        if assignment.passed is not None:
            raise PermissionDenied(f"{reviewer} already reviewed coding {coding_id}")
        if coding.status != SUBMITTED:
            raise PermissionDenied(f"coding {coding_id} is not submitted (it is {coding.status})")
        # None (the command line): the version that is current now
        seen = coding.current_version if version is None else version
        if coding.current_version != seen:
            raise StaleVersion(
                f"coding {coding_id} changed since you opened it: review the current codes",
                lock_version=coding.lock_version,
            )
        status = ACCEPTED if passed else REVISION_REQUESTED
        session.execute(
            update(REVIEWS)
            .where(REVIEWS.c.id == assignment.id)
            .values(coding_version=seen, passed=passed, comment=comment, reviewed_at=utcnow())
        )
        session.execute(
            update(CODINGS).where(CODINGS.c.id == coding_id).values(status=status,
                                                                    updated_at=utcnow())
        )  # fmt: skip
        return status

    return write(engine, work)


# --- assignment -------------------------------------------------------------------------


@dataclass
class CodingAssignment:
    primary: int = 0
    second: int = 0
    reviews: int = 0
    skipped: int = 0  # sessions that already had a primary coder


def assign_codings(
    engine: Engine,
    coders: list[str],
    *,
    sessions: list[str] | None = None,
    second_fraction: float = 0.0,
    reviewers: bool = False,
    seed: int = 0,
    scheme_id: str = DEFAULT_SCHEME,
) -> CodingAssignment:
    """Hand out sessions to code: one primary coder each (round robin in a seeded order),
    a blind second coder for ``second_fraction`` of them, and (``reviewers``) the next
    coder as reviewer of each primary coding. Idempotent: sessions with a primary coder
    keep it."""
    names = sorted(dict.fromkeys(name.strip() for name in coders if name.strip()))
    if not names:
        raise ConfigError("name at least one coder")
    if not 0.0 <= second_fraction <= 1.0:
        raise ConfigError("--second must be between 0 and 1")
    if (second_fraction > 0 or reviewers) and len(names) < 2:
        raise ConfigError("a second coder or a reviewer needs at least two coders")
    rng = random.Random(seed)
    result = CodingAssignment()
    with session_scope(engine) as session:
        stored_scheme(session, scheme_id)
        for name in names:
            ensure_annotator(session, name)
        known = list(
            session.execute(
                select(col(TherapySession.id)).order_by(col(TherapySession.id))
            ).scalars()
        )
        if sessions:
            unknown = sorted(set(sessions) - set(known))
            if unknown:
                raise NotFoundError(f"no session {', '.join(map(repr, unknown))}")
            known = [s for s in known if s in set(sessions)]
        existing = {
            (row.session_id, row.coder_id): row
            for row in session.execute(
                select(Coding).where(col(Coding.scheme_id) == scheme_id)
            ).scalars()
        }
        primary_of = {key[0]: row for key, row in existing.items() if row.role == PRIMARY}
        reviewed = set(
            session.execute(
                select(col(CodingReview.coding_id)).join(
                    Coding, col(Coding.id) == col(CodingReview.coding_id)
                )
            ).scalars()
        )
        order = list(known)
        rng.shuffle(order)
        now = utcnow()
        for index, session_id in enumerate(order):
            coding = primary_of.get(session_id)
            if coding is not None:
                result.skipped += 1
            else:
                coding = Coding(session_id=session_id, scheme_id=scheme_id,
                                coder_id=names[index % len(names)], role=PRIMARY,
                                updated_at=now)  # fmt: skip
                session.add(coding)
                session.flush()
                result.primary += 1
                others = [n for n in names if n != coding.coder_id]
                if others and rng.random() < second_fraction:
                    second = others[index % len(others)]
                    if (session_id, second) not in existing:
                        session.add(
                            Coding(session_id=session_id, scheme_id=scheme_id,
                                   coder_id=second, role=SECOND, updated_at=now)
                        )  # fmt: skip
                        result.second += 1
            if reviewers and coding.id not in reviewed:
                # Every primary coding gets one reviewer (existing ones too): never its
                # coder, and someone who does not code the session when there is one.
                session.flush()
                coders_here = set(
                    session.execute(
                        select(col(Coding.coder_id)).where(
                            col(Coding.session_id) == session_id,
                            col(Coding.scheme_id) == scheme_id,
                        )
                    ).scalars()
                )
                others = [n for n in names if n not in coders_here] or [
                    n for n in names if n != coding.coder_id
                ]
                if not others:
                    continue
                reviewer = others[-1 - index % len(others)]
                session.add(CodingReview(coding_id=coding.id, reviewer_id=reviewer))  # type: ignore[arg-type]
                result.reviews += 1
    return result


# --- reads for the queue, statistics and export -----------------------------------------


@dataclass(frozen=True)
class CodingTask:
    coding_id: int
    session_id: str
    client_id: str
    role: str
    status: str
    codes: int
    suggestions: int  # grounded suggestions not yet decided


def coding_queue(engine: Engine, coder: str) -> list[CodingTask]:
    """A coder's codings, sent back first, then unfinished, then finished; ``suggestions``
    counts the proposals the coding screen offers that the coder has not decided."""
    with Session(reader(engine)) as session:
        rows = session.execute(
            select(CODINGS.c.id, CODINGS.c.session_id, CODINGS.c.scheme_id,
                   col(TherapySession.client_id), CODINGS.c.role, CODINGS.c.status,
                   VERSIONS.c.codes)
            .select_from(CURRENT_CODES)
            .join(TherapySession, col(TherapySession.id) == CODINGS.c.session_id)
            .where(CODINGS.c.coder_id == coder)
        ).all()  # fmt: skip
        decided: dict[int, set[int]] = {}
        for coding_id, suggestion_id in session.execute(
            select(DECISIONS.c.coding_id, DECISIONS.c.suggestion_id).where(
                DECISIONS.c.coding_id.in_([row.id for row in rows])
            )
        ).all():
            decided.setdefault(coding_id, set()).add(suggestion_id)
        offered = {
            (row.session_id, row.scheme_id): {
                s.id for s in _suggestions(session, row.session_id, row.scheme_id)
            }
            for row in rows
        }
    tasks = [
        CodingTask(row.id, row.session_id, row.client_id, row.role, row.status,
                   len(_marks(row.codes or [])),
                   len(offered[(row.session_id, row.scheme_id)] - decided.get(row.id, set())))
        for row in rows
    ]  # fmt: skip
    rank: dict[str, int] = {
        REVISION_REQUESTED: 0,
        IN_PROGRESS: 1,
        PENDING: 2,
        SUBMITTED: 3,
        ACCEPTED: 4,
    }
    return sorted(tasks, key=lambda t: (rank.get(t.status, 5), t.session_id))


def finished_codes(
    session: Session, scheme_id: str = DEFAULT_SCHEME, *, role: str | None = PRIMARY
) -> dict[str, dict[str, list[tuple[int, str]]]]:
    """session id -> coder -> sorted (turn, code) of finished codings (submitted or
    accepted) of ``role`` (None: every role). Export takes the primary codings."""
    query = (
        select(CODINGS.c.session_id, CODINGS.c.coder_id, VERSIONS.c.codes)
        .select_from(CURRENT_CODES)
        .where(CODINGS.c.scheme_id == scheme_id, CODINGS.c.status.in_(FINISHED))
    )
    if role is not None:
        query = query.where(CODINGS.c.role == role)
    found: dict[str, dict[str, list[tuple[int, str]]]] = {}
    for session_id, coder, codes in session.execute(query).all():
        found.setdefault(session_id, {})[coder] = sorted(
            {(int(turn), str(code)) for turn, code, _ in codes}
        )
    return found


def unfinished_primary(session: Session, scheme_id: str = DEFAULT_SCHEME) -> set[str]:
    """Sessions whose primary coding under the scheme is not finished yet."""
    query = select(CODINGS.c.session_id).where(
        CODINGS.c.scheme_id == scheme_id,
        CODINGS.c.role == PRIMARY,
        CODINGS.c.status.not_in(FINISHED),
    )
    return set(session.execute(query).scalars())


def exported_codes(
    session: Session, scheme_id: str = DEFAULT_SCHEME
) -> dict[str, list[tuple[int, str]]]:
    """The codes to export per session: its primary coding, once finished."""
    return {
        session_id: next(iter(by_coder.values()))
        for session_id, by_coder in finished_codes(session, scheme_id).items()
    }


# --- the offline hinter's and models' proposals ------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    id: int
    turn: int
    code: str
    reason: str | None
    quote: str | None
    source: str  # "offline hinter" or the model's name


def _suggestions(session: Session, session_id: str, scheme_id: str) -> list[Suggestion]:
    """The grounded suggestions for a session from its newest proposal of each provider
    and model (a rerun replaces what an expert is offered, never their decisions)."""
    drafts = session.execute(
        select(MarkerDraft)
        .where(col(MarkerDraft.session_id) == session_id, col(MarkerDraft.scheme_id) == scheme_id)
        .order_by(col(MarkerDraft.id))
    ).scalars()
    newest: dict[tuple[str, str], MarkerDraft] = {}
    for draft in drafts:
        if draft.status != "failed":
            newest[(draft.provider, draft.model)] = draft
    source = {d.id: "offline hinter" if d.provider == "offline" else d.model
              for d in newest.values()}  # fmt: skip
    rows = session.execute(
        select(MarkerSuggestion).where(
            col(MarkerSuggestion.draft_id).in_(list(source)), col(MarkerSuggestion.grounded)
        )
    ).scalars()
    found = [Suggestion(row.id, row.turn_number, row.code, row.reason, row.quote,
                        source[row.draft_id]) for row in rows]  # fmt: skip
    return sorted(found, key=lambda s: (s.turn, s.code, s.id))


# --- import -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedCoding:
    session_id: str
    scheme_id: str
    coder: str
    role: str
    marks: list[tuple[int, str]]  # (turn, code), checked by the importer


def import_codings(session: Session, codings: list[ImportedCoding]) -> tuple[int, int, int]:
    """Store imported codings in the caller's transaction: each becomes a version of kind
    ``import`` (origin ``expert``), status ``submitted``; return (created, updated,
    unchanged). A coding already accepted by its reviewer, or a second primary coder for
    a session, is refused (``ConfigError``) and the caller rolls back."""
    created = updated = unchanged = 0
    for name in sorted({c.coder for c in codings}):
        ensure_annotator(session, name)
    now = utcnow()
    for item in codings:
        rows = (
            session.execute(
                select(Coding)
                .where(
                    col(Coding.session_id) == item.session_id,
                    col(Coding.scheme_id) == item.scheme_id,
                )
                .with_for_update()
            )
            .scalars()
            .all()
        )
        mine = next((row for row in rows if row.coder_id == item.coder), None)
        if item.role == PRIMARY and any(
            row.role == PRIMARY and row.coder_id != item.coder for row in rows
        ):
            raise ConfigError(f"session {item.session_id!r} already has another primary coder")
        if mine is None:
            mine = Coding(session_id=item.session_id, scheme_id=item.scheme_id,
                          coder_id=item.coder, role=item.role, updated_at=now)  # fmt: skip
            session.add(mine)
            session.flush()
            created += 1
        else:
            if mine.role != item.role:
                raise ConfigError(
                    f"{item.coder!r} codes session {item.session_id!r} as {mine.role}, "
                    f"not {item.role}"
                )
            row = CodingRow(mine.id, mine.session_id, mine.scheme_id, mine.coder_id,
                            mine.role, mine.status, mine.lock_version,
                            mine.current_version)  # fmt: skip
            current = {(turn, code) for turn, code, _ in _current_marks(session, row)}
            if current == set(item.marks) and mine.status in FINISHED:
                unchanged += 1
                continue
            if mine.status == ACCEPTED:
                raise ConfigError(
                    f"{item.coder!r}'s coding of session {item.session_id!r} was accepted "
                    "by its reviewer: it cannot be replaced"
                )
            updated += 1
        row = CodingRow(mine.id, mine.session_id, mine.scheme_id, mine.coder_id, mine.role,  # type: ignore[arg-type]
                        mine.status, mine.lock_version, mine.current_version)  # fmt: skip
        _store(session, row, {(t, c, EXPERT) for t, c in item.marks}, item.coder, "import",
               SUBMITTED)  # fmt: skip
        session.expire(mine)
    return created, updated, unchanged


# --- what the coding screen shows ----------------------------------------------------------


@dataclass(frozen=True)
class CodingView:
    """Everything the coding screen shows for one coding, for its coder or its reviewer.

    A reviewer sees the codes and the transcript, never the proposals or the other
    coder's work; a coder sees their own codes, the proposals with their decisions, and
    the comments of reviews that sent the coding back.
    """

    state: CodingState
    mode: str  # "code" (the coder) | "review" (an assigned reviewer, read-only)
    scheme: Any  # annotate.core.guidelines.MarkerScheme
    turns: tuple[tuple[int, str, str], ...]  # (number, speaker, text)
    metadata: tuple[tuple[str, str], ...]
    suggestions: tuple[Suggestion, ...]
    comments: tuple[str, ...]
    version: int | None  # the current version (what a review judges)


def coding_view(engine: Engine, coding_id: int, user: str) -> CodingView:
    """Open a coding for its coder (``code``) or its assigned reviewer (``review``)."""
    with Session(reader(engine)) as session:
        coding = _locked(session, coding_id, lock=False)
        if coding.coder_id == user:
            mode = "code"
        else:
            assigned = session.execute(
                select(col(CodingReview.id)).where(
                    col(CodingReview.coding_id) == coding_id,
                    col(CodingReview.reviewer_id) == user,
                )
            ).first()
            if assigned is None:
                raise PermissionDenied(f"coding {coding_id} belongs to another coder")
            mode = "review"
        state = _state(session, coding, _current_marks(session, coding))
        scheme = stored_scheme(session, coding.scheme_id)
        turns = tuple(
            (number, speaker, text)
            for number, speaker, text in session.execute(
                select(col(Turn.number), col(Turn.speaker), col(Turn.text))
                .where(col(Turn.session_id) == coding.session_id)
                .order_by(col(Turn.number))
            ).all()
        )
        therapy = session.get(TherapySession, coding.session_id)
        metadata = tuple(sorted(((therapy.meta if therapy else None) or {}).items()))
        comments = tuple(
            comment
            for comment, passed in session.execute(
                select(col(CodingReview.comment), col(CodingReview.passed))
                .where(col(CodingReview.coding_id) == coding_id)
                .order_by(col(CodingReview.reviewed_at))
            ).all()
            if passed is False and comment
        )
        suggestions = tuple(_suggestions(session, coding.session_id, coding.scheme_id))
    if mode == "review":
        state = CodingState(state.coding_id, state.session_id, "", state.role, state.status,
                            state.lock_version, state.marks)  # fmt: skip
    return CodingView(state, mode, scheme, turns, metadata,
                      suggestions if mode == "code" else (), comments if mode == "code" else (),
                      coding.current_version)  # fmt: skip


@dataclass(frozen=True)
class CodingReviewTask:
    coding_id: int
    session_id: str
    codes: int


def coding_review_queue(engine: Engine, reviewer: str) -> list[CodingReviewTask]:
    """Submitted codings assigned to ``reviewer`` and not yet reviewed."""
    with Session(reader(engine)) as session:
        rows = session.execute(
            select(CODINGS.c.id, CODINGS.c.session_id, VERSIONS.c.codes)
            .select_from(CURRENT_CODES)
            .join(REVIEWS, REVIEWS.c.coding_id == CODINGS.c.id)
            .where(
                REVIEWS.c.reviewer_id == reviewer,
                REVIEWS.c.passed.is_(None),
                CODINGS.c.status == SUBMITTED,
            )
            .order_by(CODINGS.c.session_id)
        ).all()
    return [CodingReviewTask(cid, sid, len(codes or [])) for cid, sid, codes in rows]


def coders(engine: Engine) -> list[str]:
    """Everyone who codes a session (under any scheme)."""
    with Session(reader(engine)) as session:
        return sorted(session.execute(select(CODINGS.c.coder_id).distinct()).scalars())
