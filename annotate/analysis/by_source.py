"""Human evaluation by source: the experts' rationales beside each model's, scored blind.

The published human-evaluation table: for each source (``experts``, then each model
whose predictions were imported and reviewed), each rubric criterion's mean and SD, the
share of texts passing the threshold on every criterion in every review, and
Krippendorff's alpha over the texts reviewed twice or more. An expert unit is one
version of a rationale (reviews of its current version); a model unit is one prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.analysis._data import _frame, reviews, with_scores
from annotate.analysis.agreement import BOOTSTRAP_SAMPLES, SEED, Level, alpha_with_ci
from annotate.core.guidelines import Rubric
from annotate.core.vocabulary import current_rubric
from store.tables import PREDICTION_REVIEWS, PREDICTIONS

if TYPE_CHECKING:
    import pandas as pd

EXPERTS = "experts"


def prediction_reviews(engine: Engine, criteria: Sequence[str]) -> pd.DataFrame:
    """One row per review of a model's prediction: source, unit (the prediction), scores."""
    review, prediction = PREDICTION_REVIEWS, PREDICTIONS
    query = (
        select(
            review.c.id.label("review_id"),
            prediction.c.source,
            review.c.prediction_id.label("unit"),
            review.c.reviewer_id,
            review.c.passed,
        )
        .join(prediction, prediction.c.id == review.c.prediction_id)
        .order_by(review.c.id)
    )
    frame = with_scores(engine, _frame(engine, query), criteria, predictions=True)
    return frame.drop(columns="review_id")


def scored_texts(engine: Engine, criteria: Sequence[str] | None = None) -> pd.DataFrame:
    """Every blind review of the current expert texts and of the models' predictions, a
    column per criterion (by default the store's rubric's)."""
    import pandas as pd

    if criteria is None:
        criteria = current_rubric(engine).names
    experts = reviews(engine, criteria)
    experts = experts[experts["rationale_version"] == experts["current_version"]].copy()
    experts["source"] = EXPERTS
    experts["unit"] = experts["rationale_id"].map(lambda rid: f"r{rid}")
    models = prediction_reviews(engine, criteria)
    models["unit"] = models["unit"].map(lambda pid: f"p{pid}")
    columns = ["source", "unit", "reviewer_id", *criteria, "passed"]
    return pd.concat([experts[columns], models[columns]], ignore_index=True)


def by_source(
    engine: Engine,
    level: Level = "ordinal",
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    rubric: Rubric | None = None,
) -> pd.DataFrame:
    """Columns: source, criterion, reviews, texts, mean, sd, pass_share, alpha, ci_low,
    ci_high, units (texts reviewed twice or more), note. Experts first, models by name."""
    import pandas as pd

    rubric = rubric or current_rubric(engine)
    domain = [float(v) for v in range(rubric.scale_min, rubric.scale_max + 1)]
    frame = scored_texts(engine, rubric.names)
    sources = [
        s for s in [EXPERTS, *sorted(set(frame["source"]) - {EXPERTS})] if s in set(frame["source"])
    ]
    rows = []
    for source in sources:
        part = frame[frame["source"] == source]
        passing = (part[list(rubric.names)] >= rubric.threshold).all(axis=1)
        pass_share = float(passing.groupby(part["unit"]).all().mean())
        for criterion in rubric.names:
            units = [list(values) for _, values in part.groupby("unit", sort=True)[criterion]]
            result = alpha_with_ci(units, domain, level, samples, seed)
            rows.append(
                {
                    "source": source,
                    "criterion": criterion,
                    "reviews": len(part),
                    "texts": part["unit"].nunique(),
                    "mean": float(part[criterion].mean()),
                    "sd": float(part[criterion].std()) if len(part) > 1 else None,
                    "pass_share": pass_share,
                    "alpha": result.alpha,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "units": result.units,
                    "note": result.note,
                }
            )
    columns = ["source", "criterion", "reviews", "texts", "mean", "sd", "pass_share", "alpha",
               "ci_low", "ci_high", "units", "note"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
