"""Bulk reads of the store into DataFrames, shared by the statistics modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.core import workflow
from annotate.core.frames import records  # noqa: F401  (the analysis commands' JSON rows)
from annotate.core.vocabulary import current_rubric, read_scores
from store.db import reader
from store.tables import (
    DRAFTS,
    ITEMS,
    RATINGS,
    RATIONALE_VERSIONS,
    RATIONALES,
    REVIEWS,
    is_current_text,
)

if TYPE_CHECKING:
    import pandas as pd


def _frame(engine: Engine, query: Any) -> pd.DataFrame:
    import pandas as pd

    with reader(engine).connect() as connection:
        result = connection.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def reviews(engine: Engine, criteria: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per review with its rationale's session, item, dimension, author and
    current version (a review of an older text has ``rationale_version`` below it), and
    one float column per criterion (``criteria``, by default the store's rubric's: a
    review scored on another rubric has NaN for a criterion it lacks)."""
    review, rationale, item = REVIEWS, RATIONALES, ITEMS
    query = (
        select(
            review.c.id.label("review_id"),
            review.c.rationale_id,
            review.c.rationale_version,
            rationale.c.current_version,
            review.c.reviewer_id,
            rationale.c.author_id,
            rationale.c.session_id,
            rationale.c.item_id,
            item.c.dimension,
            review.c.passed,
            review.c.created_at,
        )
        .join(rationale, rationale.c.id == review.c.rationale_id)
        .join(item, item.c.id == rationale.c.item_id)
        .order_by(review.c.id)
    )
    if criteria is None:
        criteria = current_rubric(engine).names
    return with_scores(engine, _frame(engine, query), criteria, predictions=False)


def with_scores(
    engine: Engine, frame: pd.DataFrame, criteria: Sequence[str], *, predictions: bool
) -> pd.DataFrame:
    """``frame`` (reviews, ``review_id`` first) with a float column per criterion, placed
    before ``passed``."""
    with reader(engine).connect() as connection:
        scores = read_scores(connection, None, predictions=predictions)
    at = list(frame.columns).index("passed")
    for offset, name in enumerate(criteria):
        values = [scores.get(int(rid), {}).get(name) for rid in frame["review_id"]]
        frame.insert(at + offset, name, [float("nan") if v is None else float(v) for v in values])
        frame[name] = frame[name].astype("float64")
    return frame


def ratings(engine: Engine, instrument_id: str | None = None) -> pd.DataFrame:
    """One row per rating: session, item, dimension, instrument, rater role, value."""
    rating, item = RATINGS, ITEMS
    query = (
        select(
            rating.c.session_id,
            rating.c.item_id,
            item.c.dimension,
            item.c.instrument_id,
            item.c.position,
            rating.c.rater_role,
            rating.c.value,
        )
        .join(item, item.c.id == rating.c.item_id)
        .order_by(rating.c.session_id, item.c.position)
    )
    if instrument_id is not None:
        query = query.where(item.c.instrument_id == instrument_id)
    frame = _frame(engine, query)
    frame["value"] = frame["value"].astype("float64")
    return frame


def items(engine: Engine, instrument_id: str | None = None) -> pd.DataFrame:
    """The instrument items in their defined order."""
    item = ITEMS
    query = select(item.c.id, item.c.instrument_id, item.c.dimension, item.c.position).order_by(
        item.c.instrument_id, item.c.position
    )
    if instrument_id is not None:
        query = query.where(item.c.instrument_id == instrument_id)
    return _frame(engine, query)


def rationales(engine: Engine) -> pd.DataFrame:
    """One row per rationale with its current text, its final text and the draft it began from.

    ``current_text`` is the version ``rationales.current_version`` names; ``final_text``
    is that text for an accepted rationale, else missing. ``draft_text`` is the text of
    the draft the current text began from (``rationales.draft_id``).
    """
    rationale, item = RATIONALES, ITEMS
    version, draft = RATIONALE_VERSIONS, DRAFTS
    query = (
        select(
            rationale.c.id.label("rationale_id"),
            rationale.c.session_id,
            rationale.c.item_id,
            item.c.dimension,
            rationale.c.author_id,
            rationale.c.status,
            rationale.c.current_version,
            rationale.c.draft_id,
            draft.c.status.label("draft_status"),
            draft.c.text.label("draft_text"),
            version.c.text.label("current_text"),
            version.c.created_at.label("current_at"),
        )
        .join(item, item.c.id == rationale.c.item_id)
        .outerjoin(version, is_current_text(version))
        .outerjoin(draft, draft.c.id == rationale.c.draft_id)
        .order_by(rationale.c.id)
    )
    frame = _frame(engine, query)
    accepted = frame["status"] == workflow.ACCEPTED
    frame["final_text"] = frame["current_text"].where(accepted, None)
    return frame


def drafts(engine: Engine) -> pd.DataFrame:
    """One row per draft: when it was made and its status."""
    draft = DRAFTS
    return _frame(
        engine, select(draft.c.id, draft.c.status, draft.c.created_at).order_by(draft.c.id)
    )


def dimension_order(engine: Engine, instrument_id: str | None = None) -> list[str]:
    """Dimensions in the order their first item appears in the instrument (goal, task, bond)."""
    frame = items(engine, instrument_id)
    return list(dict.fromkeys(frame["dimension"]))


def sort_by_dimension(frame: pd.DataFrame, order: list[str], *more: str) -> pd.DataFrame:
    """Rows ordered by the instrument's dimension order, then by ``more`` columns."""
    if frame.empty:
        return frame
    rank = {name: index for index, name in enumerate(order)}
    keyed = frame.assign(_rank=frame["dimension"].map(lambda d: rank.get(d, len(rank))))
    return (
        keyed.sort_values(["_rank", *more], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )
