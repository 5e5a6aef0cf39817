"""Blind cross-review: reviewers score rationales written by others without seeing who.

The rules live here, not in the UI: a reviewer's queue never holds their own work and
the view returned for reviewing has no author field. The view names the version it
shows; :func:`annotate.lifecycle.reviews.submit_review` stores the scores for exactly
that version, and refuses a self-review, an unassigned one or a stale one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate import workflow
from annotate.errors import NotFoundError, PermissionDenied
from annotate.itemcontext import ItemContext, load_context
from annotate.lifecycle.versions import version_row
from store.db import code_point_order, reader, session_scope
from store.models import Item, Rationale, ReviewAssignment


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
    """What the reviewer sees: context and the text under review, never the author.

    ``rationale_version`` is the version shown: the review is stored for it.
    """

    assignment_id: int
    rationale_id: int
    rationale_version: int
    context: ItemContext
    text: str


def review_queue(engine: Engine, reviewer: str, *, include_done: bool = False) -> list[ReviewTask]:
    """The reviewer's assigned reviews, excluding (always) rationales they wrote."""
    with session_scope(reader(engine)) as session:
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
            .order_by(
                code_point_order(col(Rationale.session_id), session.get_bind().dialect),
                col(Item.position),
            )
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
    """The blind view of an assigned rationale: its current version (read only)."""
    with session_scope(reader(engine)) as session:
        _, rationale = _assignment(session, assignment_id, reviewer)
        assert rationale.id is not None
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
