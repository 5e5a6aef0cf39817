"""An annotator's authoring work: the rationales assigned to them, filterable."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core import workflow
from annotate.core.vocabulary import current_rubric, describe_review, read_scores
from store.db import code_point_order, reader, session_scope
from store.models import Autosave, Draft, Item, Rationale, Review, ReviewAssignment, TherapySession


@dataclass(frozen=True)
class QueueEntry:
    rationale_id: int
    session_id: str
    item_id: str
    dimension: str
    status: str
    flagged: bool
    drafted: bool
    comment: str | None  # the latest failing review's scores and comment, for work sent back
    client_id: str = ""
    language: str | None = None
    unsaved: bool = False  # the annotator has autosaved text here that was never saved


def authoring_queue(
    engine: Engine, annotator: str, *, status: str | None = None, dimension: str | None = None
) -> list[QueueEntry]:
    """Rationales authored by ``annotator``, optionally filtered: those ``assign --order``
    ranked first by their queue_rank, then the rest in session and item order."""
    with session_scope(reader(engine)) as session:
        query = (
            select(
                col(Rationale.id),
                col(Rationale.session_id),
                col(Rationale.item_id),
                col(Item.dimension),
                col(Rationale.status),
                col(Rationale.flagged),
                col(TherapySession.client_id),
                col(TherapySession.language),
            )
            .join(Item, col(Item.id) == col(Rationale.item_id))
            .join(TherapySession, col(TherapySession.id) == col(Rationale.session_id))
            .where(col(Rationale.author_id) == annotator)
            .order_by(
                col(Rationale.queue_rank).is_(None),  # ranked first (assign --order), by rank
                col(Rationale.queue_rank),
                code_point_order(col(Rationale.session_id), session.get_bind().dialect),
                col(Item.position),
            )
        )
        if status:
            query = query.where(col(Rationale.status) == status)
        if dimension:
            query = query.where(col(Item.dimension) == dimension)
        rows = session.execute(query).all()
        ids = [row[0] for row in rows]
        drafted = set(
            session.execute(
                select(col(Draft.session_id), col(Draft.item_id))
                .where(col(Draft.session_id).in_({row[1] for row in rows}))
                .where(col(Draft.status) != workflow.DRAFT_FAILED)
            ).all()
        )
        latest_failing = (
            select(col(Review.rationale_id), func.max(col(Review.id)).label("review_id"))
            .where(col(Review.rationale_id).in_(ids), col(Review.passed).is_(False))
            .group_by(col(Review.rationale_id))
            .subquery()
        )
        unsaved = set(
            session.execute(
                select(col(Autosave.rationale_id)).where(
                    col(Autosave.annotator_id) == annotator, col(Autosave.rationale_id).in_(ids)
                )
            ).scalars()
        )
        failing = session.execute(
            select(col(Review.rationale_id), col(Review.id), col(Review.comment)).join(
                latest_failing, latest_failing.c.review_id == col(Review.id)
            )
        ).all()
        connection = session.connection()
        scores = read_scores(connection, [row[1] for row in failing]) if failing else {}
        rubric = current_rubric(connection) if failing else None
        comments: dict[int, str | None] = {
            rationale_id: describe_review(
                rubric.ordered(scores[review_id]) if rubric else {}, comment, short=True
            )
            for rationale_id, review_id, comment in failing
        }
    return [
        QueueEntry(
            rationale_id=rid,
            session_id=sid,
            item_id=iid,
            dimension=dim,
            status=state,
            flagged=bool(flagged),
            drafted=(sid, iid) in drafted,
            comment=comments.get(rid) if state == workflow.REVISION_REQUESTED else None,
            client_id=client,
            language=language,
            unsaved=rid in unsaved,
        )
        for rid, sid, iid, dim, state, flagged, client, language in rows
    ]


def sent_back_first(entries: list[QueueEntry]) -> list[QueueEntry]:
    """Work a reviewer sent back first (it waits on its author), the rest in their order."""
    return sorted(entries, key=lambda entry: entry.status != workflow.REVISION_REQUESTED)


def find_entry(entries: list[QueueEntry], query: str) -> int | None:
    """The first entry whose session id or client id starts with ``query`` (ignoring case)."""
    wanted = query.strip().casefold()
    if not wanted:
        return None
    for index, entry in enumerate(entries):
        if entry.session_id.casefold().startswith(wanted):
            return index
    for index, entry in enumerate(entries):
        if entry.client_id.casefold().startswith(wanted):
            return index
    return None


def next_with_status(
    engine: Engine, rationale_ids: list[int], current: int, wanted: tuple[str, ...]
) -> int | None:
    """The index in ``rationale_ids`` of the next rationale (after ``current``, wrapping
    round) whose status is one of ``wanted``; None when there is none."""
    if not rationale_ids:
        return None
    with session_scope(reader(engine)) as session:
        status_of = dict(
            session.execute(
                select(col(Rationale.id), col(Rationale.status)).where(
                    col(Rationale.id).in_(rationale_ids)
                )
            ).all()
        )
    count = len(rationale_ids)
    for step in range(1, count + 1):
        index = (current + step) % count
        if status_of.get(rationale_ids[index]) in wanted:
            return index
    return None


UNFINISHED = (workflow.PENDING, workflow.IN_PROGRESS, workflow.REVISION_REQUESTED)
SENT_BACK = (workflow.REVISION_REQUESTED,)


def annotators_with_work(engine: Engine) -> list[str]:
    """Everyone who has rationales to write or reviews assigned, in name order."""
    with session_scope(reader(engine)) as session:
        authors = session.execute(
            select(col(Rationale.author_id)).where(col(Rationale.author_id).is_not(None)).distinct()
        ).scalars()
        reviewers = session.execute(select(col(ReviewAssignment.reviewer_id)).distinct()).scalars()
        return sorted({*authors, *reviewers})
