"""Test helper: store judgement rows as ``annotate judge`` would, without a model."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.core.vocabulary import current_rubric
from annotate.work.judged import text_hash
from store.db import session_scope
from store.models import Judgement, JudgementScore, Prediction, Rationale, RationaleVersion

JUDGED_AT = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
THRESHOLD = 3


def add_judgement(
    engine: Engine,
    scores: Mapping[str, int],
    *,
    rationale_id: int | None = None,
    rationale_version: int | None = None,
    prediction_id: int | None = None,
    status: str = "ok",
    reason: str = "The cited turns support the rating.",
    model: str = "judge-model",
    minutes: int = 0,
    text: str | None = None,
    passed: bool | None = None,
    rubric_version: str | None = None,
) -> int:
    """Store one judgement of a rationale (its current version unless RATIONALE_VERSION)
    or of a prediction (hash of its current text unless TEXT), MINUTES after a fixed time;
    ``passed`` defaults to every score >= 3 (None when failed); on the store's current
    rubric unless RUBRIC_VERSION. Returns its id."""
    with session_scope(engine) as session:
        if rubric_version is None:
            rubric_version = current_rubric(session.connection()).version
        if rationale_id is not None:
            rationale = session.get(Rationale, rationale_id)
            assert rationale is not None
            version = rationale_version
            if version is None:
                version = rationale.current_version
            if text is None:
                text = session.execute(
                    select(RationaleVersion.text).where(
                        RationaleVersion.rationale_id == rationale_id,
                        RationaleVersion.version == version,
                    )
                ).scalar_one()
        else:
            assert prediction_id is not None
            version = None
            if text is None:
                prediction = session.get(Prediction, prediction_id)
                assert prediction is not None
                text = prediction.text
        if passed is None and status != "failed":
            passed = all(value >= THRESHOLD for value in scores.values())
        judgement = Judgement(
            rationale_id=rationale_id,
            rationale_version=version,
            prediction_id=prediction_id,
            text_hash=text_hash(text),
            status=status,
            passed=passed,
            reason=reason,
            evidence=[2],
            quotes=[],
            provider="openai",
            model=model,
            prompt_version="test",
            prompt_hash="0" * 64,
            rubric_version=rubric_version,
            created_at=JUDGED_AT + timedelta(minutes=minutes),
        )
        session.add(judgement)
        session.flush()
        assert judgement.id is not None
        if status != "failed":
            for criterion, score in scores.items():
                session.add(JudgementScore(judgement_id=judgement.id, criterion=criterion,
                                           score=score))  # fmt: skip
        return judgement.id
