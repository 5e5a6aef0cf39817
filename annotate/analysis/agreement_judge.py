"""The rubric judge checked against the human reviewers (``annotate agreement --judge``).

A *unit* is a text both scored: a rationale version with at least one human review of
that version and a counted judgement of it (:mod:`annotate.work.judged`), or a model's
prediction with a human review and a counted judgement of its current text. Per rubric
criterion: Krippendorff's alpha over the reliability matrix of one row per human
reviewer plus one row for the judge (the level of measurement and bootstrap interval of
:func:`annotate.analysis.agreement.alpha_with_ci`, the ones the human agreement uses),
and the judge's mean bias (judge score minus human score over every (human review,
judge) pair). The judge's pass/fail decision against the human one is Cohen's kappa
over those pairs: each (human review, judge) pair on a unit is one observation. Beside
each figure, the human-human alpha of the criterion (:func:`agreement`), and a plain
sentence where the judge agrees with the reviewers less than they agree with each other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from annotate.analysis._data import reviews
from annotate.analysis.agreement import BOOTSTRAP_SAMPLES, SEED, Level, agreement, alpha_with_ci
from annotate.analysis.binary import counts_of, figures_from_counts
from annotate.analysis.by_source import prediction_reviews
from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.core.guidelines import Rubric
from annotate.core.vocabulary import current_rubric
from annotate.work.judged import Judged, counted_by_model, current_judgements
from store.db import reader

MIN_UNITS = workflow.MIN_AGREEMENT_UNITS
PAIRS_NOTE = "each (human review, judge) pair on a unit is one observation"
NOTHING_JUDGED = "no judged texts: run 'annotate judge' first"


@dataclass(frozen=True)
class CriterionAgreement:
    """One criterion: the judge against the reviewers, beside the reviewers' own alpha."""

    criterion: str
    alpha: float | None  # judge + human reviewers, over ``units``
    ci_low: float | None
    ci_high: float | None
    units: int
    bias: float | None  # mean of judge score - human score over ``pairs``
    pairs: int
    human_alpha: float | None  # reviewers with each other (``annotate agreement``)
    human_ci_low: float | None
    human_ci_high: float | None
    human_units: int
    note: str | None  # why a figure is missing


@dataclass
class JudgeAgreement:
    """The judge MODEL's agreement with the human reviewers, per criterion and overall."""

    model: str
    chosen: str  # why this model: named, or the most counted judgements
    models: dict[str, int]  # counted judgements per model, most first
    level: str
    samples: int
    seed: int
    rationale_units: int
    prediction_units: int
    criteria: list[CriterionAgreement] = field(default_factory=list)
    kappa: float | None = None
    kappa_pairs: int = 0
    raw_agreement: float | None = None
    kappa_note: str = PAIRS_NOTE
    kappa_explained: str | None = None  # why kappa is undefined or 0 by construction
    sentences: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _paired(
    engine: Engine, judged: Judged, criteria: list[str]
) -> tuple[list[dict[str, Any]], int, int]:
    """Human reviews of judged texts: one dict per review (unit, reviewer, passed, scores,
    the judge's scores and passed), and how many rationale and prediction units."""
    rows: list[dict[str, Any]] = []
    experts = reviews(engine, criteria)
    experts = experts[experts["rationale_version"] == experts["current_version"]]
    for record in experts.to_dict("records"):
        judgement = judged.rationales.get(int(record["rationale_id"]))
        if judgement is None or judgement.rationale_version != int(record["rationale_version"]):
            continue
        rows.append({"unit": f"r{record['rationale_id']}", "record": record, "judge": judgement})
    for record in prediction_reviews(engine, criteria).to_dict("records"):
        judgement = judged.predictions.get(int(record["unit"]))
        if judgement is not None:
            rows.append({"unit": f"p{record['unit']}", "record": record, "judge": judgement})
    units = {row["unit"] for row in rows}
    return rows, sum(u[0] == "r" for u in units), sum(u[0] == "p" for u in units)


def judge_matrix(rows: list[dict[str, Any]], criterion: str) -> dict[str, list[float]]:
    """Per unit, the values of the human reviewers then the judge on CRITERION (units the
    judge and at least one reviewer scored on it)."""
    units: dict[str, list[float]] = {}
    judge: dict[str, float] = {}
    for row in rows:
        human = _none(row["record"].get(criterion))
        given = row["judge"].scores.get(criterion)
        if human is None or given is None:
            continue
        units.setdefault(row["unit"], []).append(human)
        judge[row["unit"]] = float(given)
    return {unit: [*values, judge[unit]] for unit, values in units.items()}


def judge_agreement(
    engine: Engine,
    model: str | None = None,
    level: Level = "ordinal",
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    rubric: Rubric | None = None,
) -> JudgeAgreement:
    """The judge (MODEL, by default the one with most counted judgements) against the
    human reviewers; ConfigError when nothing is judged or MODEL judged nothing."""
    rubric = rubric or current_rubric(engine)
    models = counted_by_model(engine)
    if not models:
        raise ConfigError(NOTHING_JUDGED)
    if model is None:
        model, chosen = next(iter(models)), "the model with most counted judgements"
    elif model not in models:
        raise ConfigError(f"no counted judgement by model {model!r}: judged by {', '.join(models)}")
    else:
        chosen = "named"
    with reader(engine).connect() as connection:
        judged = current_judgements(connection, model=model)
    criteria = list(rubric.names)
    rows, rationale_units, prediction_units = _paired(engine, judged, criteria)
    domain = [float(v) for v in range(rubric.scale_min, rubric.scale_max + 1)]
    human = {
        row["criterion"]: row
        for row in agreement(engine, level, samples, seed, rubric).to_dict("records")
    }
    result = JudgeAgreement(model, chosen, models, level, samples, seed, rationale_units,
                            prediction_units)  # fmt: skip
    for criterion in criteria:
        matrix = judge_matrix(rows, criterion)
        figures = alpha_with_ci(list(matrix.values()), domain, level, samples, seed)
        differences = [values[-1] - h for values in matrix.values() for h in values[:-1]]
        other = human.get(criterion, {})
        note = None
        if figures.units < MIN_UNITS:
            note = (
                f"too few units: {figures.units} scored by the judge and a reviewer; "
                f"alpha needs at least {MIN_UNITS}"
            )
        elif figures.alpha is None:
            note = figures.note
        one = CriterionAgreement(
            criterion=criterion,
            alpha=figures.alpha,
            ci_low=figures.ci_low,
            ci_high=figures.ci_high,
            units=figures.units,
            bias=sum(differences) / len(differences) if differences else None,
            pairs=len(differences),
            human_alpha=_none(other.get("alpha")),
            human_ci_low=_none(other.get("ci_low")),
            human_ci_high=_none(other.get("ci_high")),
            human_units=int(other.get("units", 0)),
            note=note,
        )
        result.criteria.append(one)
        result.sentences.extend(sentences(one))
    decisions = [(bool(row["record"]["passed"]), bool(row["judge"].passed)) for row in rows
                 if row["judge"].passed is not None]  # fmt: skip
    result.kappa_pairs = len(decisions)
    if decisions:
        import numpy as np

        table = counts_of([h for h, _ in decisions], [j for _, j in decisions])
        cells = [np.array([value]) for value in table.values()]
        result.kappa = _none(figures_from_counts(*cells)["kappa"][0])
        result.raw_agreement = sum(h == j for h, j in decisions) / len(decisions)
        result.kappa_explained = kappa_explained(decisions)
    return result


def sentences(one: CriterionAgreement) -> list[str]:
    """What a lead should read from one criterion's figures, in plain words."""
    if one.units < MIN_UNITS:
        return [
            f"Too few texts to say how the judge agrees with the reviewers on {one.criterion}: "
            f"{one.units} scored by both, at least {MIN_UNITS} needed."
        ]
    if one.human_alpha is None and one.human_units < MIN_UNITS:
        return [
            f"Too few texts reviewed twice to compare the judge with the reviewers' own "
            f"agreement on {one.criterion}: {one.human_units}, at least {MIN_UNITS} needed."
        ]
    if one.alpha is not None and one.human_alpha is not None and one.alpha < one.human_alpha:
        return [
            f"On {one.criterion} the judge agrees with the reviewers less than they agree with "
            f"each other (α {one.alpha:.2f} vs {one.human_alpha:.2f}): use it to choose what "
            "to review, not to replace review."
        ]
    return []


def kappa_explained(decisions: list[tuple[bool, bool]]) -> str | None:
    """Why kappa over (human, judge) decisions is undefined or 0 by construction."""
    humans, judge = {h for h, _ in decisions}, {j for _, j in decisions}
    if len(humans) == 1 and humans == judge:
        return "the reviewers and the judge made one and the same decision throughout: undefined"
    if len(judge) == 1:
        word = "passed" if True in judge else "failed"
        return f"the judge {word} every paired text: kappa is 0 by construction"
    if len(humans) == 1:
        word = "passed" if True in humans else "failed"
        return f"the reviewers {word} every paired text: kappa is 0 by construction"
    return None
