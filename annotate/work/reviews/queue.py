"""Blind cross-review: reviewers score rationales written by others without seeing who.

The rules live here, not in the UI: a reviewer's queue never holds their own work and
the view returned for reviewing has no author field. The view names the version it
shows; :func:`annotate.work.reviews.write.submit_review` stores the scores for exactly
that version, and refuses a self-review, an unassigned one or a stale one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import col

from annotate.core import workflow
from annotate.core.errors import NotFoundError, PermissionDenied
from annotate.work.rationales.itemcontext import ItemContext, load_context
from annotate.work.rationales.versions import version_row
from annotate.work.reviews.write import assigned_review
from store.db import reader, session_scope
from store.models import Item, Prediction, Rationale, ReviewAssignment


@dataclass(frozen=True)
class ReviewTask:
    """One entry of a reviewer's queue (no author: the review is blind)."""

    assignment_id: int
    rationale_id: int | None  # None for a model's prediction (never shown either way)
    session_id: str
    item_id: str
    dimension: str
    status: str  # workflow.REVIEW_PENDING | REVIEW_DONE


@dataclass(frozen=True)
class ReviewView:
    """What the reviewer sees: context and the text under review, never the author.

    ``rationale_version`` is the version shown: the review is stored for it.
    """

    assignment_id: int
    rationale_id: int | None  # None for a model's prediction
    rationale_version: int
    context: ItemContext
    text: str


def _shuffled_in_session(assignment_id: int, reviewer: str) -> str:
    """A fixed, meaningless order within a session: expert and model texts interleave."""
    return hashlib.sha256(f"{reviewer}:{assignment_id}".encode()).hexdigest()


def review_queue(engine: Engine, reviewer: str, *, include_done: bool = False) -> list[ReviewTask]:
    """The reviewer's assigned reviews, excluding (always) rationales they wrote.

    Reviews that make agreement possible come first: a text assigned to two or more
    reviewers (an overlap unit) before a text only this reviewer has; among overlap units,
    first those another reviewer has already done (this review makes the unit pairable
    for Krippendorff's alpha), then those nobody has done, then those already reviewed
    by two others. Within each of these tiers, expert rationales and models' predictions
    come together, session by session, in an order within each session that tells
    nothing of where a text came from.
    """
    with session_scope(reader(engine)) as session:
        rationales = (
            select(
                col(ReviewAssignment.id),
                col(Rationale.id),
                col(Rationale.session_id),
                col(Rationale.item_id),
                col(Item.dimension),
                col(ReviewAssignment.status),
            )
            .join(Rationale, col(Rationale.id) == col(ReviewAssignment.rationale_id))
            .join(Item, col(Item.id) == col(Rationale.item_id))
            .where(col(ReviewAssignment.reviewer_id) == reviewer)
            .where((col(Rationale.author_id) != reviewer) | col(Rationale.author_id).is_(None))
        )
        predictions = (
            select(
                col(ReviewAssignment.id),
                col(Prediction.session_id),
                col(Prediction.item_id),
                col(Item.dimension),
                col(ReviewAssignment.status),
            )
            .join(Prediction, col(Prediction.id) == col(ReviewAssignment.prediction_id))
            .join(Item, col(Item.id) == col(Prediction.item_id))
            .where(col(ReviewAssignment.reviewer_id) == reviewer)
        )
        if not include_done:
            rationales = rationales.where(col(ReviewAssignment.status) == workflow.REVIEW_PENDING)
            predictions = predictions.where(col(ReviewAssignment.status) == workflow.REVIEW_PENDING)
        tasks = [ReviewTask(*row) for row in session.execute(rationales).all()]
        tasks += [
            ReviewTask(aid, None, sid, iid, dim, status)
            for aid, sid, iid, dim, status in session.execute(predictions).all()
        ]
    has_predictions = any(task.rationale_id is None for task in tasks)
    position = {item: index for index, item in enumerate(_item_order(engine))}
    tier = _agreement_tiers(engine, reviewer)

    def order(task: ReviewTask) -> tuple[int, list[int], object]:
        within = (
            _shuffled_in_session(task.assignment_id, reviewer)
            if has_predictions
            else position.get(task.item_id, 0)
        )
        return (
            tier.get(task.assignment_id, SINGLE),
            [ord(char) for char in task.session_id],
            within,
        )

    return sorted(tasks, key=order)


# Tiers of the review queue, first served first.
COMPLETES_PAIR = 0  # an overlap unit another reviewer has done: this review makes a pair
OVERLAP = 1  # an overlap unit nobody else has done yet
PAIRED = 2  # an overlap unit two others have done already (alpha has it)
SINGLE = 3  # a text assigned to this reviewer only


def _agreement_tiers(engine: Engine, reviewer: str) -> dict[int, int]:
    """Per assignment of ``reviewer`` that shares its text with other reviewers: its tier.

    Assignments absent from the answer are single (no other reviewer has the text).
    """
    mine, others = ReviewAssignment, aliased(ReviewAssignment)
    same_text = or_(
        col(others.rationale_id) == col(mine.rationale_id),
        col(others.prediction_id) == col(mine.prediction_id),
    )
    done = func.sum(case((col(others.status) == workflow.REVIEW_DONE, 1), else_=0))
    query = (
        select(col(mine.id), done)
        .join(others, and_(same_text, col(others.reviewer_id) != reviewer))
        .where(col(mine.reviewer_id) == reviewer)
        .group_by(col(mine.id))
    )
    with reader(engine).connect() as connection:
        rows = connection.execute(query).all()
    by_done = {0: OVERLAP, 1: COMPLETES_PAIR}
    return {int(aid): by_done.get(int(n or 0), PAIRED) for aid, n in rows}


def _item_order(engine: Engine) -> list[str]:
    with reader(engine).connect() as connection:
        return list(
            connection.execute(
                select(col(Item.id)).order_by(col(Item.instrument_id), col(Item.position))
            ).scalars()
        )


def open_review(engine: Engine, assignment_id: int, reviewer: str) -> ReviewView:
    """The blind view of an assigned rationale's current version, or of a model's
    prediction, alike (read only)."""
    with session_scope(reader(engine)) as session:
        assignment = assigned_review(session, assignment_id, reviewer)
        if assignment.prediction_id is not None:
            prediction = session.get(Prediction, assignment.prediction_id)
            assert prediction is not None
            return ReviewView(
                assignment_id=assignment_id,
                rationale_id=None,
                rationale_version=1,
                context=load_context(session, prediction.session_id, prediction.item_id),
                text=prediction.text,
            )
        rationale = session.get(Rationale, assignment.rationale_id)
        assert rationale is not None and rationale.id is not None
        if rationale.author_id == reviewer:
            raise PermissionDenied("you may not review your own rationale")
        current = (
            version_row(session, rationale.id, rationale.current_version)
            if rationale.current_version
            else None
        )
        if current is None:
            raise NotFoundError("this rationale has no saved text to review yet")
        return ReviewView(
            assignment_id=assignment_id,
            rationale_id=rationale.id,
            rationale_version=current.version,
            context=load_context(session, rationale.session_id, rationale.item_id),
            text=current.text,
        )
