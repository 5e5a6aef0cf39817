"""The report's section on the rubric judge, for leads: how far it agrees with the human
reviewers beside how far they agree with each other, its coverage, and the texts it
finds weakest. Nothing when no judgement is stored."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from annotate.analysis import svg
from annotate.analysis.agreement import BOOTSTRAP_SAMPLES, SEED, Level
from annotate.analysis.agreement_judge import (
    NOTHING_JUDGED,
    PAIRS_NOTE,
    JudgeAgreement,
    judge_agreement,
)
from annotate.analysis.html import html_table
from annotate.core.errors import ConfigError
from annotate.work.judged import JudgeSummary, judge_summary

if TYPE_CHECKING:
    import pandas as pd

WEAKEST_LISTED = 10
JUDGE_SERIES = "judge vs reviewers"
HUMAN_SERIES = "reviewers with each other"


def agreement_frame(result: JudgeAgreement) -> pd.DataFrame:
    """One row per criterion: the judge's alpha, the reviewers' own, bias and counts."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "criterion": one.criterion,
                "judge alpha": one.alpha,
                "judge CI low": one.ci_low,
                "judge CI high": one.ci_high,
                "units": one.units,
                "reviewers alpha": one.human_alpha,
                "reviewers CI low": one.human_ci_low,
                "reviewers CI high": one.human_ci_high,
                "double-reviewed units": one.human_units,
                "bias (judge − human)": one.bias,
                "pairs": one.pairs,
            }
            for one in result.criteria
        ]
    )


def weakest_frame(summary: JudgeSummary) -> pd.DataFrame:
    """The weakest accepted rationales by the judge, weakest first."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "session": weak.session_id,
                "item": weak.item_id,
                "author": weak.author,
                "scores": ", ".join(f"{name} {value}" for name, value in weak.scores.items()),
                "min": weak.min_score,
                "judge passed": weak.passed,
                "reason": weak.reason,
            }
            for weak in summary.weakest
        ]
    )


def coverage_text(summary: JudgeSummary) -> str:
    """Coverage of the accepted rationales (and predictions) in one sentence."""
    text = (
        f"By {summary.model or 'no model'}: "
        f"{summary.judged} of {summary.accepted} accepted rationales judged on their current "
        f"version ({summary.judged_older} only on an older version, "
        f"{summary.not_judged} not judged on the current one); the judge fails "
        f"{summary.failing} of them"
    )
    if summary.predictions:
        text += f"; {summary.predictions_judged} of {summary.predictions} predictions judged"
    means = ", ".join(
        f"{name} {value:.2f}" for name, value in summary.means.items() if value is not None
    )
    return text + (f". Mean judge score: {means}." if means else ".")


def _chart(result: JudgeAgreement) -> str:
    """Both alphas per criterion with their 95% intervals (alpha can fall below 0)."""
    categories = [one.criterion for one in result.criteria]
    series: dict[str, list[svg.Estimate | None]] = {
        JUDGE_SERIES: [
            None if one.alpha is None else (one.alpha, one.ci_low, one.ci_high)
            for one in result.criteria
        ],
        HUMAN_SERIES: [
            None
            if one.human_alpha is None
            else (one.human_alpha, one.human_ci_low, one.human_ci_high)  # fmt: skip
            for one in result.criteria
        ],
    }
    return svg.interval_chart(f"Krippendorff's alpha: {result.model}", categories, series,
                              x_label="criterion", y_label="alpha")  # fmt: skip


def judge_sections(
    engine: Engine, level: Level = "ordinal", samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED
) -> list[str]:
    """The "Rubric judge" section; none when no judgement is stored."""
    summary = judge_summary(engine, weakest=WEAKEST_LISTED)
    if not summary.stored:
        return []
    parts = [
        "<h2>Rubric judge</h2>",
        "<p>A model scored the accepted rationales (and imported predictions) on the review "
        "rubric. It is for leads, to choose what humans review first; reviewers never see "
        "it, and it does <strong>not</strong> replace review: its scores count only as far "
        "as they agree with the reviewers, below.</p>",
        f"<p>{escape(coverage_text(summary))}</p>",
    ]
    try:
        result = judge_agreement(engine, None, level, samples, seed)
    except ConfigError as error:
        if str(error) != NOTHING_JUDGED:
            raise
        return [*parts, f'<p class="note">{escape(NOTHING_JUDGED)}</p>']
    others = ", ".join(f"{name} ({n})" for name, n in result.models.items() if name != result.model)
    kappa = "–" if result.kappa is None else f"{result.kappa:.2f}"
    raw = "–" if result.raw_agreement is None else f"{result.raw_agreement:.0%}"
    decision = (
        f"Pass/fail: Cohen's kappa {kappa}, raw agreement {raw} over {result.kappa_pairs} "
        f"pairs ({PAIRS_NOTE})"
        + (f"; {result.kappa_explained}" if result.kappa_explained else "")
        + "."
    )
    parts += [
        f"<p>Judge model: {escape(result.model)} ({escape(result.chosen)}"
        + (f"; also stored: {escape(others)}" if others else "")
        + f"). Units: {result.rationale_units} rationale versions and "
        f"{result.prediction_units} predictions scored by the judge and at least one "
        f"reviewer; Krippendorff's alpha ({escape(level)}) over one row per reviewer plus "
        f"the judge, 95% bootstrap CI over {samples} resamples (seed {seed}).</p>",
        f'<div class="charts">{_chart(result)}</div>',
        html_table(
            agreement_frame(result),
            "The judge against the reviewers, beside the reviewers' own agreement",
        ),  # fmt: skip
        f"<p>{escape(decision)}</p>",
        *(f'<p class="note">{escape(sentence)}</p>' for sentence in result.sentences),
        "<h3>Weakest by judge first</h3>",
        html_table(
            weakest_frame(summary),
            f"The {WEAKEST_LISTED} weakest accepted rationales "
            "by the judge (failing first, then the lowest score)",
        ),  # fmt: skip
    ]
    return parts
