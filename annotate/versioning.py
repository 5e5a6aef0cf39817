"""Concurrency-safe writes of expert work: rationale versions and reviews.

Several experts may save at once, on one SQLite file over SSH or on a shared
PostgreSQL. A save names the version it started from, and one atomic
``UPDATE rationales ... WHERE id = :id AND lock_version = :expected`` decides who was
first. The text that loses is not dropped: it is stored as a version of kind
``conflict`` and ``ConflictError`` asks its author to merge. Each write is one short
transaction, retried when a lock wait runs out, so a busy database delays a save
instead of failing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from annotate import workflow
from annotate.errors import ConfigError, ConflictError, NotFoundError, PermissionDenied, StoreBusy
from store.db import insert_ignoring_duplicates, is_transient, run_transaction
from store.models import (
    Annotator,
    Autosave,
    Item,
    Rationale,
    RationaleVersion,
    Review,
    ReviewAssignment,
    TherapySession,
    utcnow,
)

T = TypeVar("T")

RATIONALES = Rationale.__table__  # type: ignore[attr-defined]


def _write(engine: Engine, work: Callable[[Session], T]) -> T:
    try:
        return run_transaction(engine, work)
    except DBAPIError as error:
        if is_transient(error):
            raise StoreBusy(
                "the database stayed busy (another command is writing): nothing was saved, "
                "try again in a moment"
            ) from None
        raise


def _ensure_annotator(session: Session, annotator_id: str) -> None:
    table = Annotator.__table__  # type: ignore[attr-defined]
    statement = insert_ignoring_duplicates(table, session.connection().dialect.name)
    session.execute(statement.values(id=annotator_id, created_at=utcnow()))


def check_text(text: str, what: str = "text") -> None:
    """Refuse text no database can store faithfully (NUL, lone surrogates) or no text."""
    if not text.strip():
        raise ConfigError(f"the {what} is empty")
    if "\x00" in text:
        raise ConfigError(f"the {what} contains a NUL character")
    if not _encodable(text):
        raise ConfigError(f"the {what} contains an invalid character (a lone surrogate)")


def rationale_id_for(engine: Engine, session_id: str, item_id: str) -> int:
    """The id of the rationale for (session, item), creating a pending one if needed."""

    def work(session: Session) -> int:
        if session.get(TherapySession, session_id) is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        if session.get(Item, item_id) is None:
            raise NotFoundError(f"unknown item {item_id!r}")
        statement = insert_ignoring_duplicates(RATIONALES, session.connection().dialect.name)
        session.execute(
            statement.values(
                session_id=session_id,
                item_id=item_id,
                status=workflow.PENDING,
                flagged=False,
                lock_version=0,
                updated_at=utcnow(),
            )
        )
        query = select(RATIONALES.c.id).where(
            RATIONALES.c.session_id == session_id, RATIONALES.c.item_id == item_id
        )
        return int(session.execute(query).scalar_one())

    return _write(engine, work)


def save_rationale_version(
    engine: Engine,
    rationale_id: int,
    text: str,
    author_id: str,
    expected_version: int,
    *,
    kind: str = workflow.VERSION_SAVE,
    status: str | None = None,
    guideline_version: str | None = None,
) -> RationaleVersion:
    """Store ``text`` as the next version if nobody saved since ``expected_version``.

    On success the rationale's ``lock_version`` is the new version's number, its
    status ``status`` (default: ``accepted`` for kind ``accept``, else
    ``in_progress``), its author set if it had none, and the author's autosave
    cleared. If someone else saved first, the text is stored anyway as a version
    of kind ``conflict`` (not the current text) and ``ConflictError`` is raised
    after the commit, naming both versions.
    """
    if kind not in (workflow.VERSION_SAVE, workflow.VERSION_ACCEPT, workflow.VERSION_IMPORT):
        raise ValueError(f"unknown version kind {kind!r}")
    check_text(text)
    new_status = status or (
        workflow.ACCEPTED if kind == workflow.VERSION_ACCEPT else workflow.IN_PROGRESS
    )
    if new_status not in workflow.RATIONALE_STATUSES:
        raise ValueError(f"unknown rationale status {new_status!r}")
    if guideline_version is None:
        from annotate.guidelines import load_manual

        guideline_version = load_manual().version

    def work(session: Session) -> tuple[RationaleVersion, bool]:
        _ensure_annotator(session, author_id)
        now = utcnow()
        won = (
            session.connection()
            .execute(
                update(RATIONALES)
                .where(RATIONALES.c.id == rationale_id)
                .where(RATIONALES.c.lock_version == expected_version)
                .values(
                    lock_version=RATIONALES.c.lock_version + 1,
                    status=new_status,
                    author_id=func.coalesce(RATIONALES.c.author_id, author_id),
                    updated_at=now,
                )
            )
            .rowcount
            == 1
        )
        if won:
            number = expected_version + 1
        else:
            # The row lock taken by this UPDATE orders concurrent losers too.
            bumped = (
                session.connection()
                .execute(
                    update(RATIONALES)
                    .where(RATIONALES.c.id == rationale_id)
                    .values(lock_version=RATIONALES.c.lock_version + 1)
                )
                .rowcount
            )
            if bumped != 1:
                raise NotFoundError(f"rationale {rationale_id} does not exist")
            number = session.execute(
                select(RATIONALES.c.lock_version).where(RATIONALES.c.id == rationale_id)
            ).scalar_one()
        version = RationaleVersion(
            rationale_id=rationale_id,
            version=number,
            text=text,
            author_id=author_id,
            kind=kind if won else workflow.VERSION_CONFLICT,
            guideline_version=guideline_version,
            created_at=now,
        )
        session.add(version)
        session.execute(
            delete(Autosave).where(
                Autosave.rationale_id == rationale_id,  # type: ignore[arg-type]
                Autosave.annotator_id == author_id,  # type: ignore[arg-type]
            )
        )
        session.flush()
        return version, won

    version, won = _write(engine, work)
    if not won:
        raise ConflictError(
            f"rationale {rationale_id} was saved by someone else since version "
            f"{expected_version}; your text is kept as conflict version {version.version}: "
            "compare the two, then save again",
            rationale_id=rationale_id,
            kept_version=version.version,
            lock_version=version.version,
        )
    return version


def save_review(
    engine: Engine,
    rationale_id: int,
    reviewer_id: str,
    scores: Mapping[str, int],
    *,
    rationale_version: int,
    comment: str | None = None,
) -> Review:
    """Record one reviewer's rubric scores for the version they read.

    Refuses a review of one's own rationale (or of a version one wrote) and a second
    review of the same version by the same reviewer. A failing score sends the
    rationale back (``revision_requested``) only if the reviewed version is still
    the current one; the matching review assignment is marked done.
    """
    from annotate.guidelines import load_rubric

    rubric = load_rubric()
    if set(scores) != set(rubric.criteria):
        raise ConfigError(f"a review scores exactly: {', '.join(rubric.criteria)}")
    for name, value in scores.items():
        if type(value) is not int or not rubric.scale_min <= value <= rubric.scale_max:
            raise ConfigError(
                f"{name}: score {value!r} is outside the scale "
                f"{rubric.scale_min}..{rubric.scale_max}"
            )
    if comment is not None:
        comment = comment or None
        if comment is not None and ("\x00" in comment or not _encodable(comment)):
            raise ConfigError("the comment contains an invalid character")

    def work(session: Session) -> Review:
        _ensure_annotator(session, reviewer_id)
        rationale = session.execute(
            select(RATIONALES.c.author_id).where(RATIONALES.c.id == rationale_id).with_for_update()
        ).first()
        if rationale is None:
            raise NotFoundError(f"rationale {rationale_id} does not exist")
        reviewed = session.execute(
            select(RationaleVersion).where(
                col(RationaleVersion.rationale_id) == rationale_id,
                col(RationaleVersion.version) == rationale_version,
            )
        ).scalar_one_or_none()
        if reviewed is None or reviewed.kind == workflow.VERSION_CONFLICT:
            raise NotFoundError(f"rationale {rationale_id} has no version {rationale_version}")
        if reviewer_id in (rationale.author_id, reviewed.author_id):
            raise PermissionDenied(f"{reviewer_id!r} may not review their own rationale")
        existing = session.execute(
            select(col(Review.id)).where(
                col(Review.rationale_id) == rationale_id,
                col(Review.reviewer_id) == reviewer_id,
                col(Review.rationale_version) == rationale_version,
            )
        ).first()
        if existing is not None:
            raise ConflictError(
                f"{reviewer_id!r} already reviewed version {rationale_version} of "
                f"rationale {rationale_id}",
                rationale_id=rationale_id,
            )
        now = utcnow()
        passed = rubric.passes(dict(scores))
        review = Review(
            rationale_id=rationale_id,
            rationale_version=rationale_version,
            reviewer_id=reviewer_id,
            faithfulness=scores["faithfulness"],
            relevance=scores["relevance"],
            informativeness=scores["informativeness"],
            comment=comment,
            passed=passed,
            rubric_version=rubric.version,
            created_at=now,
        )
        session.add(review)
        current = workflow.latest_version(session, rationale_id)
        if not passed and current is not None and current.version == rationale_version:
            session.execute(
                update(RATIONALES)
                .where(RATIONALES.c.id == rationale_id)
                .values(status=workflow.REVISION_REQUESTED, updated_at=now)
            )
        session.execute(
            update(ReviewAssignment.__table__)  # type: ignore[attr-defined]
            .where(ReviewAssignment.rationale_id == rationale_id)  # type: ignore[arg-type]
            .where(ReviewAssignment.reviewer_id == reviewer_id)  # type: ignore[arg-type]
            .values(status=workflow.REVIEW_DONE)
        )
        session.flush()
        return review

    return _write(engine, work)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
