"""A model's predictions, read and checked against the store; stored for blind review.

``read_predictions`` validates a predictions file (the ``annotate evaluate`` format:
session_id, item_id, rating, optional rationale per JSONL line) with FILE:LINE errors,
for evaluation and for import. ``import_predictions`` stores a model's rationales under
a source name in their own table (``annotate import --kind predictions``): they never
become versions of an expert rationale and never reach an export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core.errors import ConfigError, ImportFailed, NotFoundError
from annotate.ingest.readers import read_jsonl, show
from annotate.ingest.validation import MAX_RATIONALE_LENGTH
from store.db import reader, session_scope
from store.models import Prediction, PredictionReview
from store.tables import INSTRUMENTS, ITEMS, SESSIONS

MAX_ERRORS = 50
FIELDS = {"session_id", "item_id", "rating", "rationale"}


class PredictionsInvalid(ImportFailed):
    """The predictions file had errors; nothing was evaluated."""

    def __init__(self, path: str, errors: list[str], truncated: int = 0) -> None:
        super().__init__(path, errors, truncated)
        more = f" (and {truncated} more)" if truncated else ""
        self.args = (f"{path}: {len(errors) + truncated} error(s){more}; nothing was evaluated",)


@dataclass
class PredictionTargets:
    """What validation and scoring need from the store."""

    dimension_of: dict[str, str]  # item -> dimension (of the instrument)
    dimensions: list[str]
    scale: tuple[int, int]
    sessions: set[str]
    binary_above: dict[str, int]  # binary items of the instrument -> their threshold


def load_targets(engine: Engine, instrument_id: str) -> PredictionTargets:
    with reader(engine).connect() as connection:
        scale = connection.execute(
            select(INSTRUMENTS.c.scale_min, INSTRUMENTS.c.scale_max).where(
                INSTRUMENTS.c.id == instrument_id
            )
        ).first()
        if scale is None:
            raise NotFoundError(f"no instrument {instrument_id!r} in the store")
        items = connection.execute(
            select(ITEMS.c.id, ITEMS.c.dimension, ITEMS.c.binary_above)
            .where(ITEMS.c.instrument_id == instrument_id)
            .order_by(ITEMS.c.position)
        ).all()
        sessions = set(connection.execute(select(SESSIONS.c.id)).scalars())
    dimensions: list[str] = []
    for _, dimension, _ in items:
        if dimension not in dimensions:
            dimensions.append(dimension)
    binary = {item_id: above for item_id, _, above in items if above is not None}
    return PredictionTargets(
        {i: d for i, d, _ in items}, dimensions, (scale[0], scale[1]), sessions, binary
    )


Key = tuple[str, str]  # (session, item)


def read_predictions(
    path: Path, store: PredictionTargets
) -> tuple[dict[Key, float], dict[Key, int], dict[Key, str]]:
    """Validate the file: ({key: rating}, {key: line}, {key: rationale}), or
    PredictionsInvalid with FILE:LINE errors."""
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    errors: list[str] = []
    truncated = 0
    predictions: dict[Key, float] = {}
    first_line: dict[Key, int] = {}
    rationales: dict[Key, str] = {}
    low, high = store.scale

    def fail(line: int, message: str) -> None:
        nonlocal truncated
        if len(errors) < MAX_ERRORS:
            errors.append(f"{path}:{line}: {message}")
        else:
            truncated += 1

    for raw in read_jsonl(path):
        if raw.error is not None or raw.data is None:
            fail(raw.line, raw.error or "unreadable")
            continue
        data = raw.data
        unknown = sorted(set(data) - FIELDS)
        if unknown:
            fail(raw.line, f"unknown field(s) {', '.join(map(show, unknown[:5]))}")
            continue
        session_id, item_id, rating = (
            data.get("session_id"),
            data.get("item_id"),
            data.get("rating"),
        )
        if not isinstance(session_id, str) or not isinstance(item_id, str):
            fail(raw.line, "session_id and item_id must be strings")
            continue
        if session_id not in store.sessions:
            fail(raw.line, f"unknown session {show(session_id)}")
            continue
        if item_id not in store.dimension_of:
            fail(raw.line, f"unknown item {show(item_id)}")
            continue
        if (
            isinstance(rating, bool)
            or not isinstance(rating, int | float)
            or not low <= rating <= high  # before isfinite: a 400-digit int overflows a float
            or not math.isfinite(rating)
        ):
            fail(raw.line, f"rating must be a number from {low} to {high}, got {show(rating)}")
            continue
        if "rationale" in data and not isinstance(data["rationale"], str):
            fail(raw.line, "rationale must be a string")
            continue
        if len(data.get("rationale") or "") > MAX_RATIONALE_LENGTH:
            fail(raw.line, f"rationale has more than {MAX_RATIONALE_LENGTH:,} characters")
            continue
        key = (session_id, item_id)
        if key in first_line:
            fail(raw.line, f"duplicate of line {first_line[key]} ({session_id}, {item_id})")
            continue
        first_line[key] = raw.line
        predictions[key] = float(rating)
        if isinstance(data.get("rationale"), str) and data["rationale"].strip():
            rationales[key] = data["rationale"]
    if errors:
        raise PredictionsInvalid(str(path), errors, truncated)
    if not predictions:
        raise ConfigError(f"{path}: no predictions")
    return predictions, first_line, rationales


MAX_SOURCE = 128


@dataclass
class PredictionImport:
    """What an import of predictions did."""

    path: str
    source: str
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def summary(self) -> str:
        return (
            f"{self.path}: imported {self.records} predictions of {self.source} "
            f"({self.created} new, {self.updated} updated, {self.unchanged} unchanged)"
        )


def check_source(source: str) -> str:
    cleaned = source.strip()
    if not cleaned or len(cleaned) > MAX_SOURCE or any(ord(c) < 32 for c in cleaned):
        raise ConfigError(f"--source must name the model in 1 to {MAX_SOURCE} characters")
    return cleaned


def import_predictions(
    engine: Engine, path: Path, source: str, instrument_id: str = "wai-sr"
) -> PredictionImport:
    """Validate PATH (FILE:LINE errors, nothing written on any) and store its rationales."""
    source = check_source(source)
    store = load_targets(engine, instrument_id)
    ratings, lines, rationales = read_predictions(path, store)
    errors = [
        f"{path}:{lines[key]}: no rationale: predictions are imported to be reviewed"
        for key in sorted(ratings, key=lambda k: lines[k])
        if key not in rationales
    ]
    result = PredictionImport(str(path), source, records=len(ratings))
    with session_scope(engine) as session:
        existing = {
            (p.session_id, p.item_id): p
            for p in session.execute(select(Prediction).where(col(Prediction.source) == source))
            .scalars()
            .all()
        }
        reviewed = set(
            session.execute(
                select(col(PredictionReview.prediction_id))
                .join(Prediction, col(Prediction.id) == col(PredictionReview.prediction_id))
                .where(col(Prediction.source) == source)
            ).scalars()
        )
        for key in sorted(rationales, key=lambda k: lines[k]):
            text, rating = rationales[key], ratings[key]
            old = existing.get(key)
            if old is None:
                session.add(Prediction(source=source, session_id=key[0], item_id=key[1],
                                       rating=rating, text=text))  # fmt: skip
                result.created += 1
            elif old.text == text and old.rating == rating:
                result.unchanged += 1
            elif old.id in reviewed:
                errors.append(
                    f"{path}:{lines[key]}: {source}'s prediction for ({key[0]}, {key[1]}) "
                    "has been reviewed; import a changed text under another --source"
                )
            else:
                old.text, old.rating = text, rating
                result.updated += 1
        if errors:
            session.rollback()
            errors.sort(key=lambda line: int(line.split(":")[1]))
            raise PredictionsInvalid(str(path), errors[:50], max(0, len(errors) - 50))
    return result
