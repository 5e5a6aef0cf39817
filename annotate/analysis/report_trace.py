"""The report's sections on the turn-level alliance trace: how far it tracks the ratings,
and the client-minus-counselor gap it infers by condition and within sessions."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.analysis import svg
from annotate.analysis.agreement import BOOTSTRAP_SAMPLES, SEED
from annotate.analysis.html import html_table
from annotate.analysis.report_alignment import ci_text
from annotate.core.errors import ConfigError
from annotate.research import validate
from annotate.research.validate import NO_TRACE, THIRDS, TraceChoice

if TYPE_CHECKING:
    import pandas as pd

ALL_SESSIONS = "all sessions"


@dataclass(frozen=True)
class TraceValidation:
    """``annotate trace --validate``: the trace used and the three tables."""

    trace: TraceChoice
    n_boot: int
    seed: int
    confidence: float
    correlations: pd.DataFrame  # validate.CORRELATION_COLUMNS
    by_condition: pd.DataFrame  # validate.GAP_COLUMNS
    by_third: pd.DataFrame  # validate.THIRD_COLUMNS

    def to_json(self) -> dict[str, Any]:
        choice = self.trace
        return {
            "trace": {
                "method": choice.method,
                "model": choice.model,
                "instrument_id": choice.instrument_id,
                "instrument_version": choice.instrument_version,
                "sessions": choice.sessions,
                "other_traces": list(choice.others),
            },
            "bootstrap": {
                "resamples": self.n_boot,
                "seed": self.seed,
                "confidence": self.confidence,
                "unit": "session",
            },
            "correlations": validate.records(self.correlations),
            "gap_by_condition": validate.records(self.by_condition),
            "gap_by_third": validate.records(self.by_third),
        }


def trace_validation(
    engine: Engine,
    *,
    method: str | None = None,
    model: str | None = None,
    n_boot: int = validate.BOOTSTRAP_SAMPLES,
    seed: int = validate.SEED,
    confidence: float = validate.CONFIDENCE,
) -> TraceValidation:
    """Correlations with the ratings and the gaps, all from one trace (see
    ``annotate.research.validate``); ConfigError when no trace is stored."""
    choice = validate.chosen_trace(engine, method=method, model=model)
    options: dict[str, Any] = {
        "method": choice.method,
        "model": choice.model,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
    }
    return TraceValidation(
        trace=choice,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        correlations=validate.correlations(engine, **options),
        by_condition=validate.gap_by_condition(engine, **options),
        by_third=validate.gap_by_third(engine, **options),
    )


def _trust(table: pd.DataFrame, speaker: str) -> str:
    """One sentence on how far the speaker's turn scores track the speaker's ratings."""
    rows = table[table["speaker"] == speaker]
    defined = rows[rows["pearson_r"].notna()]
    rated = f"{speaker}s' own ratings"
    if defined.empty:
        return f"No correlation with {rated} can be computed yet."
    if int(rows["n"].max()) < validate.FEW_SESSIONS:
        return f"Too few sessions to say how far {speaker} turns track {rated}."
    figures = ", ".join(
        f"{row['dimension']} r = {row['pearson_r']:.2f}" for _, row in defined.iterrows()
    )
    above = defined["pearson_r_ci_low"].fillna(-1) > 0
    if not above.any():
        verdict = "no interval excludes zero: read the strip as wording, not as alliance"
    elif above.all() and (defined["pearson_r"] >= 0.5).all():
        verdict = "a fair guide to where to look, still not a score"
    else:
        verdict = "a weak signal: use it to find moments to read, not to judge sessions"
    return f"{speaker.capitalize()} turns against {rated}: {figures}; {verdict}."


def _correlation_table(table: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "speaker": table["speaker"],
            "dimension": table["dimension"],
            "n": table["n"],
            "pearson r": [ci_text(row, "pearson_r") for _, row in table.iterrows()],
            "pearson p": table["pearson_p"],
            "spearman rho": [ci_text(row, "spearman_rho") for _, row in table.iterrows()],
            "spearman p": table["spearman_p"],
            "note": table["note"],
        }
    )


def _label(condition: Any) -> str:
    return ALL_SESSIONS if condition is None else str(condition)


def _estimate(row: Any) -> svg.Estimate | None:
    if row["gap"] is None or row["gap"] != row["gap"]:
        return None
    low, high = row["gap_ci_low"], row["gap_ci_high"]
    defined = low is not None and high is not None and low == low and high == high
    return float(row["gap"]), float(low) if defined else None, float(high) if defined else None


def _gap_table(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            **{key: [_label(v) if key == "condition" else v for v in frame[key]] for key in keys},
            "dimension": frame["dimension"],
            "n": frame["n"],
            "client − counselor": [ci_text(row, "gap") for _, row in frame.iterrows()],
        }
    )


def _condition_part(frame: pd.DataFrame, dimensions: tuple[str, ...], level: str) -> list[str]:
    groups = list(dict.fromkeys(frame["condition"]))
    series = {
        dimension: [_estimate(row) for _, row in frame[frame["dimension"] == dimension].iterrows()]
        for dimension in dimensions
    }
    chart = svg.interval_chart(
        "Inferred gap by condition",
        [_label(g) for g in groups],
        series,
        x_label="condition",
        y_label="client − counselor (turns)",
    )
    return [
        "<h3>Client minus counselor by condition</h3>",
        f'<div class="charts">{chart}</div>',
        html_table(
            _gap_table(frame, ["condition"]),
            f"Inferred client − counselor gap per session, mean and {level} CI",
        ),
    ]


def _third_part(frame: pd.DataFrame, dimensions: tuple[str, ...], level: str) -> list[str]:
    charts = []
    for condition in dict.fromkeys(frame["condition"]):
        group = frame[frame["condition"].map(lambda c, wanted=condition: c == wanted)]
        series = {
            dimension: [
                _estimate(row) for _, row in group[group["dimension"] == dimension].iterrows()
            ]
            for dimension in dimensions
        }
        charts.append(
            svg.interval_chart(
                f"Within session: {_label(condition)}",
                list(THIRDS),
                series,
                x_label="third of the session's turns",
                y_label="client − counselor (turns)",
                connect=True,
            )
        )
    return [
        "<h3>Within the session: first, middle and last third</h3>",
        "<p>Each session's traced turns, in order, are split into thirds (when the count "
        "is not divisible by three the first third, then the middle, take the extra turn: "
        "7 turns are 3, 2 and 2); a session counts in a third where both spoke.</p>",
        f'<div class="charts">{"".join(charts)}</div>',
        html_table(
            _gap_table(frame, ["condition", "third"]),
            f"Inferred client − counselor gap by third, mean and {level} CI",
        ),
    ]


def trace_sections(engine: Engine, samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> list[str]:
    """The trace's validation and gaps as report sections; none when no trace is stored."""
    try:
        result = trace_validation(engine, n_boot=samples, seed=seed)
    except ConfigError as error:
        if str(error) == NO_TRACE:
            return []
        raise
    level = f"{result.confidence:.0%}"
    choice = result.trace
    others = f" ({len(choice.others)} other trace(s) stored, not used)" if choice.others else ""
    return [
        "<h2>Alliance inferred turn by turn</h2>",
        "<p>These figures are <strong>inferred from the words of each turn</strong> "
        "(similarity to the inventory's items), <strong>not measured</strong>: only the "
        "ratings measure the alliance. Trace: "
        f"{escape(choice.label)}, {choice.sessions} session(s){escape(others)}. A speaker's "
        "session score is the mean over their turns; it is set against that speaker's own "
        f"ratings of the session, with {level} percentile bootstrap intervals over "
        f"{samples} resamples of sessions (seed {seed}).</p>",
        *(
            f'<p class="note">{escape(_trust(result.correlations, speaker))}</p>'
            for speaker in validate.SPEAKERS
        ),
        html_table(
            _correlation_table(result.correlations),
            "Turn-inferred session scores against the same speaker's ratings",
        ),
        "<p>The gap is the client-turn minus the counselor-turn session score: below 0, "
        "the counselor's words read as more allied than the client's.</p>",
        *_condition_part(result.by_condition, choice.dimensions, level),
        *_third_part(result.by_third, choice.dimensions, level),
    ]
