"""Shared set-up for editing, review and UI tests: assigned work with drafts on the demo corpus."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core.instruments import explained_items
from annotate.work.assignment import assign_authoring, assign_reviews
from store.db import session_scope
from store.models import Draft, Rating, Rationale

FIXED_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def draft_row(session_id: str, item_id: str, text: str, evidence=(2, 4)) -> Draft:  # type: ignore[no-untyped-def]
    """A grounded draft row as the drafting service would store it for a model's reply
    (fixed provenance; an ``offline`` provider would make it a scaffold accept refuses)."""
    return Draft(
        session_id=session_id,
        item_id=item_id,
        status="ok",
        text=text,
        evidence=list(evidence),
        quotes=[],
        provider="openai",
        model="fixture",
        prompt_version="test",
        prompt_hash="0" * 64,
        created_at=FIXED_TIME,
    )


def make_draft(engine: Engine, session_id: str, item_id: str, text: str, evidence=(2, 4)) -> Draft:  # type: ignore[no-untyped-def]
    """Store one draft row and return it."""
    with session_scope(engine) as session:
        draft = draft_row(session_id, item_id, text, evidence)
        session.add(draft)
        session.flush()
        return draft


def draft_all_pending(engine: Engine) -> None:
    """A draft for every rated (session, item) without an imported rationale."""
    with session_scope(engine) as session:
        done = set(session.execute(select(Rationale.session_id, Rationale.item_id)).all())
        units = session.execute(
            select(Rating.session_id, Rating.item_id)
            .where(Rating.rater_role == "client")
            .where(col(Rating.item_id).in_(explained_items()))  # not the rupture question
        ).all()
        for session_id, item_id in units:
            if (session_id, item_id) not in done:
                session.add(
                    draft_row(
                        session_id,
                        item_id,
                        f"Draft for {item_id} in {session_id}: the client's words in turn 2 "
                        "and the counselor's reply in turn 4 explain the rating.",
                    )
                )


def prepare_work(engine: Engine) -> Engine:
    """Demo corpus + drafts + authoring split among ana, ben, chen + reviews (overlap 2)."""
    draft_all_pending(engine)
    assign_authoring(engine, ["ana", "ben", "chen"], seed=0)
    assign_reviews(engine, fraction=1.0, overlap=2, overlap_fraction=0.5, seed=0)
    return engine


def review_now(  # type: ignore[no-untyped-def]
    engine: Engine, assignment_id: int, reviewer: str, scores, comment: str = ""
):
    """Open an assigned review as the review screen does, then submit for the version shown."""
    from annotate.work.reviews.queue import open_review
    from annotate.work.reviews.write import submit_review

    shown = open_review(engine, assignment_id, reviewer).rationale_version
    return submit_review(engine, assignment_id, reviewer, scores, comment, shown_version=shown)


def current_text(session, rationale: Rationale | int) -> str | None:  # type: ignore[no-untyped-def]
    """The text of the version ``rationales.current_version`` names (None without one)."""
    from store.models import RationaleVersion

    if isinstance(rationale, int):
        rationale = session.get(Rationale, rationale)
    if rationale is None or rationale.current_version is None:
        return None
    row = session.execute(
        select(RationaleVersion.text).where(
            RationaleVersion.rationale_id == rationale.id,
            RationaleVersion.version == rationale.current_version,
        )
    ).first()
    return None if row is None else row[0]


def pending_rationale(engine: Engine, session_id: str, item_id: str) -> int:
    """A rationale row with nothing written yet (as assignment creates one, unassigned)."""
    with session_scope(engine) as session:
        rationale = Rationale(session_id=session_id, item_id=item_id)
        session.add(rationale)
        session.flush()
        assert rationale.id is not None
        return rationale.id
