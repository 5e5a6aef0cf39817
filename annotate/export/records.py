"""Which rationales go into an export, read from the store in ordered batches.

Two passes over the store, both ordered by session id and item position: a light
scan (ids, statuses, review counts; no texts) that decides eligibility and gathers
the client-level figures fold assignment needs, then a batched read of the texts
for the eligible sessions only. Eligibility is one function, :func:`exclusion_reason`,
used by both passes so that the counts in the manifest describe the files exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from annotate import workflow
from store.models import (
    Draft,
    Instrument,
    Item,
    Rating,
    Rationale,
    RationaleVersion,
    Review,
    TherapySession,
    Turn,
)

CLIENT = "client"

# Reasons a rationale is left out, in the order they are checked.
OTHER_INSTRUMENT = "other_instrument"
NOT_ACCEPTED = "not_accepted"
NO_TEXT = "no_text"
NO_CLIENT_RATING = "no_client_rating"
REVIEW_BELOW_THRESHOLD = "review_below_threshold"
UNREVIEWED = "unreviewed"
# Why an exported rationale yields no preference pair (``--format dpo`` only).
DPO_NO_DRAFT = "no_usable_draft"
DPO_SMALL_EDIT = "edit_below_threshold"


@dataclass(frozen=True)
class Policy:
    """The filters of one export: what a rationale needs to be included."""

    instrument_id: str
    threshold: int  # every criterion of every review of the final version must reach it
    include_unreviewed: bool


@dataclass(frozen=True)
class ScanRow:
    """One rationale as the light scan sees it (no texts)."""

    session_id: str
    client_id: str
    item_id: str
    instrument_id: str
    status: str
    final_version: int | None
    reviews: int  # reviews of the final version
    failed_reviews: int  # of those, how many score below the threshold on any criterion
    client_rating: int | None


def exclusion_reason(row: Any, policy: Policy) -> str | None:
    """Why a rationale is left out of the export, or None when it is included.

    A rationale is included when it is accepted, has a final text and a client
    rating, and every review of its final version (each reviewer reviews a version
    at most once) scores at least the threshold on all three criteria. Reviews of
    earlier versions do not count. With no review of the final version it is
    ``unreviewed``: left out unless the policy includes unreviewed work.
    """
    if row.instrument_id != policy.instrument_id:
        return OTHER_INSTRUMENT
    if row.status != workflow.ACCEPTED:
        return NOT_ACCEPTED
    if row.final_version is None:
        return NO_TEXT
    if row.client_rating is None:
        return NO_CLIENT_RATING
    if row.failed_reviews:
        return REVIEW_BELOW_THRESHOLD
    if not row.reviews and not policy.include_unreviewed:
        return UNREVIEWED
    return None


def _final_versions():  # type: ignore[no-untyped-def]
    return (
        select(
            RationaleVersion.rationale_id.label("rationale_id"),  # type: ignore[attr-defined]
            func.max(RationaleVersion.version).label("version"),
        )
        .group_by(RationaleVersion.rationale_id)
        .subquery("final_versions")
    )


def _review_counts(threshold: int):  # type: ignore[no-untyped-def]
    below = or_(
        Review.faithfulness < threshold,
        Review.relevance < threshold,
        Review.informativeness < threshold,
    )
    return (
        select(
            Review.rationale_id.label("rationale_id"),  # type: ignore[attr-defined]
            Review.rationale_version.label("version"),  # type: ignore[attr-defined]
            func.count().label("reviews"),
            func.sum(case((below, 1), else_=0)).label("failed"),
        )
        .group_by(Review.rationale_id, Review.rationale_version)
        .subquery("review_counts")
    )


def _client_ratings():  # type: ignore[no-untyped-def]
    return (
        select(Rating.session_id, Rating.item_id, Rating.value)
        .where(Rating.rater_role == CLIENT)
        .subquery("client_ratings")
    )


def scan(connection: Connection, policy: Policy) -> Iterator[ScanRow]:
    """Every rationale, light, ordered by (session id, item position), streamed."""
    final, reviews, ratings = _final_versions(), _review_counts(policy.threshold), _client_ratings()
    query = (
        select(
            Rationale.session_id,
            TherapySession.client_id,
            Rationale.item_id,
            Item.instrument_id,
            Rationale.status,
            final.c.version,
            func.coalesce(reviews.c.reviews, 0),
            func.coalesce(reviews.c.failed, 0),
            ratings.c.value,
        )
        .join(TherapySession, TherapySession.id == Rationale.session_id)  # type: ignore[arg-type]
        .join(Item, Item.id == Rationale.item_id)  # type: ignore[arg-type]
        .outerjoin(final, final.c.rationale_id == Rationale.id)
        .outerjoin(
            reviews,
            and_(reviews.c.rationale_id == Rationale.id, reviews.c.version == final.c.version),
        )
        .outerjoin(
            ratings,
            and_(
                ratings.c.session_id == Rationale.session_id,
                ratings.c.item_id == Rationale.item_id,
            ),
        )
        .order_by(Rationale.session_id, Item.position, Rationale.item_id)
    )
    result = connection.execution_options(yield_per=2000).execute(query)
    for row in result:
        yield ScanRow(*row)


def session_dimension_scores(
    connection: Connection, instrument_id: str
) -> Iterator[tuple[str, str, float, int]]:
    """(session id, dimension, sum of client ratings, count), ordered, streamed."""
    query = (
        select(
            Rating.session_id,
            Item.dimension,
            func.sum(Rating.value),
            func.count(),
        )
        .join(Item, Item.id == Rating.item_id)  # type: ignore[arg-type]
        .where(Rating.rater_role == CLIENT, Item.instrument_id == instrument_id)
        .group_by(Rating.session_id, Item.dimension)
        .order_by(Rating.session_id, Item.dimension)
    )
    for session_id, dimension, total, count in connection.execution_options(yield_per=2000).execute(
        query
    ):
        yield session_id, dimension, float(total), int(count)


@dataclass(frozen=True)
class InstrumentInfo:
    """What the prompt says about the instrument and its items."""

    id: str
    name: str
    version: str
    scale_min: int
    scale_max: int
    anchors: dict[int, str]
    dimensions: dict[str, dict[str, str]]  # key -> {name, definition}
    items: dict[str, tuple[str, str]]  # item id -> (dimension key, text), in position order


def load_instrument(connection: Connection, instrument_id: str) -> InstrumentInfo | None:
    columns = (Instrument.name, Instrument.version, Instrument.scale_min, Instrument.scale_max)
    columns += (Instrument.anchors, Instrument.dimensions)  # type: ignore[assignment]
    instrument = connection.execute(select(*columns).where(Instrument.id == instrument_id)).first()
    if instrument is None:
        return None
    items = connection.execute(
        select(Item.id, Item.dimension, Item.text)
        .where(Item.instrument_id == instrument_id)
        .order_by(Item.position)
    ).all()
    return InstrumentInfo(
        id=instrument_id,
        name=instrument.name,
        version=instrument.version,
        scale_min=instrument.scale_min,
        scale_max=instrument.scale_max,
        anchors={int(value): label for value, label in instrument.anchors.items()},
        dimensions={
            key: {"name": dim["name"], "definition": dim["definition"]}
            for key, dim in instrument.dimensions.items()
        },
        items={item_id: (dimension, text) for item_id, dimension, text in items},
    )


@dataclass(frozen=True)
class FullRow:
    """One rationale with everything a record is built from."""

    rationale_id: int
    session_id: str
    client_id: str
    item_id: str
    instrument_id: str
    status: str
    final_version: int | None
    reviews: int
    failed_reviews: int
    client_rating: int | None
    text: str | None
    guideline_version: str | None
    draft_status: str | None
    draft_text: str | None
    draft_prompt_version: str | None


def read_batch(
    connection: Connection, session_ids: list[str], policy: Policy
) -> tuple[list[FullRow], dict[str, list[tuple[str, str]]]]:
    """The rationales (with texts) and transcripts of some sessions, in export order."""
    final, reviews, ratings = _final_versions(), _review_counts(policy.threshold), _client_ratings()
    # Only the final version's row is joined, so texts of older versions are never read.
    query = (
        select(
            Rationale.id,
            Rationale.session_id,
            TherapySession.client_id,
            Rationale.item_id,
            Item.instrument_id,
            Rationale.status,
            final.c.version,
            func.coalesce(reviews.c.reviews, 0),
            func.coalesce(reviews.c.failed, 0),
            ratings.c.value,
            RationaleVersion.text,
            RationaleVersion.guideline_version,
            Draft.status,
            Draft.text,
            Draft.prompt_version,
        )
        .join(TherapySession, TherapySession.id == Rationale.session_id)  # type: ignore[arg-type]
        .join(Item, Item.id == Rationale.item_id)  # type: ignore[arg-type]
        .outerjoin(final, final.c.rationale_id == Rationale.id)
        .outerjoin(
            RationaleVersion,
            and_(
                RationaleVersion.rationale_id == Rationale.id,
                RationaleVersion.version == final.c.version,
            ),
        )
        .outerjoin(
            reviews,
            and_(reviews.c.rationale_id == Rationale.id, reviews.c.version == final.c.version),
        )
        .outerjoin(
            ratings,
            and_(
                ratings.c.session_id == Rationale.session_id,
                ratings.c.item_id == Rationale.item_id,
            ),
        )
        .outerjoin(Draft, Draft.id == Rationale.draft_id)  # type: ignore[arg-type]
        .where(Rationale.session_id.in_(session_ids))  # type: ignore[attr-defined]
        .order_by(Rationale.session_id, Item.position, Rationale.item_id)
    )
    rows = [FullRow(*row) for row in connection.execute(query)]
    turns: dict[str, list[tuple[str, str]]] = {session_id: [] for session_id in session_ids}
    turn_query = (
        select(Turn.session_id, Turn.speaker, Turn.text)
        .where(Turn.session_id.in_(session_ids))  # type: ignore[attr-defined]
        .order_by(Turn.session_id, Turn.number)
    )
    for session_id, speaker, text in connection.execute(turn_query):
        turns[session_id].append((speaker, text))
    return rows, turns
