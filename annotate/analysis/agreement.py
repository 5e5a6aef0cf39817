"""Inter-reviewer agreement (Krippendorff's alpha) and review score summaries.

A *unit* is one version of one rationale: the reviewers who scored the same text are
its coders. Reviews of different versions of a rationale are never paired, because
they judged different texts. Alpha is computed per rubric criterion with the
``krippendorff`` package over every unit with two or more reviews, with a percentile
bootstrap confidence interval that resamples units (seeded, so reruns agree).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy.engine import Engine

from annotate.analysis._data import dimension_order, reviews
from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.core.guidelines import Rubric
from annotate.core.vocabulary import current_rubric

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
MIN_UNITS = workflow.MIN_AGREEMENT_UNITS  # fewer overlapping units: no alpha, we say so
BOOTSTRAP_SAMPLES = 1000
SEED = 20080101


@dataclass(frozen=True)
class AlphaResult:
    """One alpha with its interval; ``alpha`` is None when it cannot be computed."""

    alpha: float | None
    ci_low: float | None
    ci_high: float | None
    units: int
    pairable_values: int
    bootstrap_used: int
    note: str | None


def value_counts(units: list[list[float]], domain: list[float]) -> np.ndarray:
    """The units-by-values count matrix the ``krippendorff`` package takes."""
    import numpy as np

    position = {value: index for index, value in enumerate(domain)}
    matrix = np.zeros((len(units), len(domain)), dtype=float)
    for row, values in enumerate(units):
        for value in values:
            matrix[row, position[value]] += 1
    return matrix


def _alpha(counts: np.ndarray, domain: list[float], level: Level) -> float | None:
    """Alpha from a count matrix, or None when there is no variation to measure."""
    import krippendorff

    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.shape[0] == 0 or (pairable.sum(axis=0) > 0).sum() < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value = float(
            krippendorff.alpha(
                value_counts=pairable, value_domain=domain, level_of_measurement=level
            )
        )
    return None if math.isnan(value) else value


def alpha_with_ci(
    units: list[list[float]],
    domain: list[float],
    level: Level = "ordinal",
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
) -> AlphaResult:
    """Krippendorff's alpha over units (each a list of the values its coders gave).

    Units with fewer than two values are not pairable and are left out. The 95%
    interval is the 2.5th and 97.5th percentile of alpha over ``samples`` bootstrap
    resamples of the units; resamples without any variation (alpha undefined) are
    skipped and counted out of ``bootstrap_used``.
    """
    import numpy as np

    if level not in LEVELS:
        raise ConfigError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    paired = [list(values) for values in units if len(values) >= 2]
    pairable = sum(len(values) for values in paired)
    if len(paired) < MIN_UNITS:
        note = (
            f"too little overlap: {len(paired)} rationale version(s) reviewed by two or "
            f"more reviewers; alpha needs at least {MIN_UNITS}"
        )
        return AlphaResult(None, None, None, len(paired), pairable, 0, note)
    counts = value_counts(paired, domain)
    alpha = _alpha(counts, domain, level)
    if alpha is None:
        note = "no variation: every pairable score is the same, so alpha is undefined"
        return AlphaResult(None, None, None, len(paired), pairable, 0, note)
    generator = np.random.default_rng(seed)
    estimates = []
    for _ in range(samples):
        picked = generator.integers(0, len(paired), size=len(paired))
        estimate = _alpha(counts[picked], domain, level)
        if estimate is not None:
            estimates.append(estimate)
    low = high = None
    if estimates:
        low, high = (float(v) for v in np.percentile(estimates, [2.5, 97.5]))
    return AlphaResult(alpha, low, high, len(paired), pairable, len(estimates), None)


def _units(frame: pd.DataFrame, criterion: str) -> list[list[float]]:
    grouped = frame.groupby(["rationale_id", "rationale_version"], sort=True)[criterion]
    return [list(values) for _, values in grouped]


def agreement(
    engine: Engine,
    level: Level = "ordinal",
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    rubric: Rubric | None = None,
) -> pd.DataFrame:
    """Alpha per criterion: columns criterion, alpha, ci_low, ci_high, units, pairable_values,
    bootstrap_used, note."""
    import pandas as pd

    rubric = rubric or current_rubric(engine)
    domain = [float(v) for v in range(rubric.scale_min, rubric.scale_max + 1)]
    frame = reviews(engine, rubric.names)
    rows = []
    for criterion in rubric.names:
        result = alpha_with_ci(_units(frame, criterion), domain, level, samples, seed)
        rows.append({"criterion": criterion, **result.__dict__})
    return pd.DataFrame(rows)


def criterion_scores(
    engine: Engine, by: str | None = None, rubric: Rubric | None = None
) -> pd.DataFrame:
    """Mean and SD (n - 1) of each criterion (the rubric's) over all reviews, optionally
    per ``dimension`` or ``reviewer``: columns [by], criterion, n, mean, sd."""
    import pandas as pd

    criteria = (rubric or current_rubric(engine)).names
    frame = reviews(engine, criteria)
    keys = {None: None, "dimension": "dimension", "reviewer": "reviewer_id"}
    if by not in keys:
        raise ConfigError(f"cannot group scores by {by!r}: use dimension or reviewer")
    column = keys[by]
    long = frame.melt(
        id_vars=[c for c in ("dimension", "reviewer_id") if c in frame],
        value_vars=list(criteria),
        var_name="criterion",
        value_name="score",
    )
    order = {name: index for index, name in enumerate(criteria)}
    group = ["criterion"] if column is None else [column, "criterion"]
    if long.empty:
        return pd.DataFrame(columns=[*([by] if by else []), "criterion", "n", "mean", "sd"])
    table = (
        long.groupby(group, sort=False)["score"]
        .agg(n="count", mean="mean", sd="std")
        .reset_index()
        .rename(columns={"reviewer_id": "reviewer"})
    )
    table["n"] = table["n"].astype(int)
    table["_order"] = table["criterion"].map(order)
    if by == "dimension":
        rank = {name: index for index, name in enumerate(dimension_order(engine))}
        table["_group"] = table["dimension"].map(lambda d: rank.get(d, len(rank)))
    elif by == "reviewer":
        table["_group"] = table["reviewer"]
    else:
        table["_group"] = 0
    table = table.sort_values(["_group", "_order"], kind="stable")
    return table.drop(columns=["_group", "_order"]).reset_index(drop=True)


def pass_rates(engine: Engine, rubric: Rubric | None = None) -> pd.DataFrame:
    """Share of reviewed rationales passing the rubric threshold on all its criteria.

    Over the rationales whose current version (``rationales.current_version``, the text
    export writes) has reviews, two readings, one row each: ``mean`` judges a rationale
    by the mean of each criterion over those reviews; ``every_review`` requires each of
    them to pass (the workflow's rule: one failing review sends it back).
    Columns: rule, threshold, rationales, passed, share.
    """
    import pandas as pd

    rubric = rubric or current_rubric(engine)
    frame = reviews(engine, rubric.names)
    current = frame[frame["rationale_version"] == frame["current_version"]]
    rows: list[dict[str, object]] = []
    if current.empty:
        for rule in ("mean", "every_review"):
            rows.append(
                {
                    "rule": rule,
                    "threshold": rubric.threshold,
                    "rationales": 0,
                    "passed": 0,
                    "share": None,
                }
            )
        return pd.DataFrame(rows)
    grouped = current.groupby("rationale_id")
    means = grouped[list(rubric.names)].mean()
    mean_pass = (means >= rubric.threshold).all(axis=1)
    each = (current[list(rubric.names)] >= rubric.threshold).all(axis=1)
    every_pass = each.groupby(current["rationale_id"]).all()
    for rule, passed in (("mean", mean_pass), ("every_review", every_pass)):
        count = int(passed.sum())
        rows.append(
            {
                "rule": rule,
                "threshold": rubric.threshold,
                "rationales": len(passed),
                "passed": count,
                "share": count / len(passed),
            }
        )
    return pd.DataFrame(rows)
