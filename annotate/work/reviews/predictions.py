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

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.work.assignment import check_sample, sample_sessions
from annotate.work.rationales.versions import ensure_annotator
from store.db import session_scope
from store.models import Annotator, Prediction, ReviewAssignment


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
