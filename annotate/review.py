"""Blind cross-review: reviewers score rationales written by others without seeing who.

The rules live here, not in the UI: a reviewer's queue never holds their own work, the
view returned for reviewing has no author field, and ``submit_review`` refuses a
self-review or an unassigned one with ``PermissionDenied``. A score below the rubric's
threshold on any criterion sends the rationale back to its author.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate import workflow
from annotate.editing import ensure_annotator
from annotate.errors import ConfigError, NotFoundError, PermissionDenied
from annotate.guidelines import Rubric, load_rubric
from annotate.itemcontext import ItemContext, load_context
from store.db import session_scope
from store.models import Item, Rationale, Review, ReviewAssignment


@dataclass(frozen=True)
class ReviewTask:
    """One entry of a reviewer's queue (no author: the review is blind)."""

    assignment_id: int
    rationale_id: int
    session_id: str
    item_id: str
    dimension: str
    status: str  # workflow.REVIEW_PENDING | REVIEW_DONE


@dataclass(frozen=True)
class ReviewView:
    """What the reviewer sees: context and the text under review, never the author."""

    assignment_id: int
    rationale_id: int
    rationale_version: int
    context: ItemContext
    text: str


def review_queue(engine: Engine, reviewer: str, *, include_done: bool = False) -> list[ReviewTask]:
    """The reviewer's assigned reviews, excluding (always) rationales they wrote."""
    with session_scope(engine) as session:
        query = (
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
            .order_by(col(Rationale.session_id), col(Item.position))
        )
        if not include_done:
            query = query.where(col(ReviewAssignment.status) == workflow.REVIEW_PENDING)
        return [ReviewTask(*row) for row in session.execute(query).all()]


def _assignment(
    session: Session, assignment_id: int, reviewer: str
) -> tuple[ReviewAssignment, Rationale]:
    assignment = session.get(ReviewAssignment, assignment_id)
    if assignment is None:
        raise NotFoundError(f"no review assignment {assignment_id}")
    if assignment.reviewer_id != reviewer:
        raise PermissionDenied(f"review {assignment_id} is assigned to another reviewer")
    rationale = session.get(Rationale, assignment.rationale_id)
    assert rationale is not None
    if rationale.author_id == reviewer:
        raise PermissionDenied("you may not review your own rationale")
    return assignment, rationale


def open_review(engine: Engine, assignment_id: int, reviewer: str) -> ReviewView:
    """The blind view of an assigned rationale (its latest stored text)."""
    with session_scope(engine) as session:
        assignment, rationale = _assignment(session, assignment_id, reviewer)
        assert rationale.id is not None
        latest = workflow.latest_version(session, rationale.id)
        if latest is None:
            raise NotFoundError("this rationale has no saved text to review yet")
        return ReviewView(
            assignment_id=assignment_id,
            rationale_id=rationale.id,
            rationale_version=latest.version,
            context=load_context(session, rationale.session_id, rationale.item_id),
            text=latest.text,
        )


def submit_review(
    engine: Engine,
    assignment_id: int,
    reviewer: str,
    scores: dict[str, int],
    comment: str = "",
    *,
    rubric: Rubric | None = None,
) -> Review:
    """Store the scores; a failing score sends the rationale back (``revision_requested``)."""
    rubric = rubric or load_rubric()
    if set(scores) != set(rubric.criteria):
        raise ConfigError(f"scores must be given for exactly {', '.join(rubric.criteria)}")
    for name, value in scores.items():
        if not rubric.scale_min <= value <= rubric.scale_max:
            raise ConfigError(f"{name} must be {rubric.scale_min}..{rubric.scale_max}, not {value}")
    passed = rubric.passes(scores)
    if not passed and not comment.strip():
        raise ConfigError("a failing review needs a comment for the author")
    with session_scope(engine) as session:
        assignment, rationale = _assignment(session, assignment_id, reviewer)
        assert rationale.id is not None
        latest = workflow.latest_version(session, rationale.id)
        if latest is None:
            raise NotFoundError("this rationale has no saved text to review yet")
        ensure_annotator(session, reviewer)
        existing = session.execute(
            select(Review).where(
                col(Review.rationale_id) == rationale.id,
                col(Review.reviewer_id) == reviewer,
                col(Review.rationale_version) == latest.version,
            )
        ).scalar_one_or_none()
        if existing is not None:
            raise PermissionDenied("you have already reviewed this version of the rationale")
        review = Review(
            rationale_id=rationale.id,
            rationale_version=latest.version,
            reviewer_id=reviewer,
            comment=comment.strip() or None,
            passed=passed,
            rubric_version=rubric.version,
            faithfulness=scores["faithfulness"],
            relevance=scores["relevance"],
            informativeness=scores["informativeness"],
        )
        session.add(review)
        assignment.status = workflow.REVIEW_DONE
        session.add(assignment)
        if not passed:
            rationale.status = workflow.REVISION_REQUESTED
            session.add(rationale)
        session.flush()
        return review
