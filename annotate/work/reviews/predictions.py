"""Model rationales for blind human evaluation: imported apart, reviewed like expert work.

``import_predictions`` stores a model's rationales (the ``annotate evaluate`` file
format) under a source name, in their own table: they never become versions of an
expert rationale and never reach an export. ``assign_prediction_reviews`` puts a sample
of them into reviewers' blind queues beside expert work (the queue and the review
screen show no source); the scores go to ``prediction_reviews`` through
:func:`annotate.work.reviews.write.submit_review`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.work.assignment import check_sample, sample_sessions
from annotate.work.rationales.versions import ensure_annotator
from store.db import session_scope
from store.models import Annotator, Prediction, PredictionReview, ReviewAssignment

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
    from annotate.analysis.evaluate import PredictionsInvalid, _load_store, read_predictions

    source = check_source(source)
    store = _load_store(engine, instrument_id)
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


@dataclass
class PredictionAssignment:
    """What ``assign_prediction_reviews`` handed out."""

    source: str
    sessions: list[str] = field(default_factory=list)
    overlap_sessions: list[str] = field(default_factory=list)
    assigned: dict[str, int] = field(default_factory=dict)
    short_of_reviewers: int = 0


def assign_prediction_reviews(
    engine: Engine,
    source: str,
    *,
    fraction: float | None = None,
    sessions: int | None = None,
    overlap: int = 1,
    overlap_fraction: float = 0.25,
    reviewers: list[str] | None = None,
    seed: int = 0,
) -> PredictionAssignment:
    """Give SOURCE's predictions of a sample of sessions to reviewers, as for expert work.

    The sample is drawn from sessions with predictions not yet under review; on the
    overlap subset each prediction gets ``overlap`` reviewers (for alpha). Reviewers
    are the given names, else every annotator; the least loaded go first.
    """
    check_sample(fraction, sessions, overlap, overlap_fraction)
    rng = random.Random(seed)
    with session_scope(engine) as session:
        rows = session.execute(
            select(col(Prediction.id), col(Prediction.session_id))
            .where(col(Prediction.source) == source)
            .order_by(col(Prediction.session_id), col(Prediction.id))
        ).all()
        if not rows:
            known = sorted(session.execute(select(col(Prediction.source)).distinct()).scalars())
            hint = f" (imported: {', '.join(known)})" if known else ""
            raise ConfigError(f"no predictions from {source!r}{hint}")
        pool = reviewers or sorted(session.execute(select(col(Annotator.id))).scalars())
        for name in pool:
            ensure_annotator(session, name)
        under_review = set(
            session.execute(
                select(col(ReviewAssignment.prediction_id)).where(
                    col(ReviewAssignment.prediction_id).is_not(None)
                )
            ).scalars()
        )
        load = dict.fromkeys(pool, 0)
        for reviewer, count in session.execute(
            select(col(ReviewAssignment.reviewer_id), func.count())
            .where(col(ReviewAssignment.status) == workflow.REVIEW_PENDING)
            .group_by(col(ReviewAssignment.reviewer_id))
        ).all():
            if reviewer in load:
                load[reviewer] = int(count)
        by_session: dict[str, list[int]] = defaultdict(list)
        for prediction_id, session_id in rows:
            if prediction_id not in under_review:
                by_session[session_id].append(prediction_id)
        sample, overlapping = sample_sessions(
            rng, list(by_session), fraction, sessions, overlap, overlap_fraction
        )
        order = list(pool)
        rng.shuffle(order)
        result = PredictionAssignment(source, sample, sorted(overlapping), dict.fromkeys(pool, 0))
        for session_id in sample:
            wanted = overlap if session_id in overlapping else 1
            for prediction_id in by_session[session_id]:
                chosen = sorted(order, key=lambda name: load[name])[:wanted]
                if len(chosen) < wanted:
                    result.short_of_reviewers += 1
                for reviewer in chosen:
                    session.add(ReviewAssignment(prediction_id=prediction_id, reviewer_id=reviewer,
                                                 status=workflow.REVIEW_PENDING))  # fmt: skip
                    load[reviewer] += 1
                    result.assigned[reviewer] += 1
    return result
