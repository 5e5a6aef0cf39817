"""How far the turn-level alliance trace can be trusted, and what it says by condition.

Every figure comes from one stored trace, read as session scores by ``trace_scores``
(``chosen_trace`` says which). Intervals are percentile bootstraps that resample
*sessions* with replacement, as the report's other alignment intervals do; resamples
where a figure is undefined (a constant side for a correlation) are skipped. Each figure
draws from its own generator seeded by ``seed`` and the figure's names, so one figure's
interval does not move when another group gains sessions. Sessions of one client are not
independent, so with few clients the intervals are, if anything, too narrow.
"""

from __future__ import annotations

import math
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.core.frames import ci_text, records
from annotate.research.trace_scores import (
    NO_TRACE,
    SESSION_COLUMNS,
    SPEAKERS,
    THIRDS,
    TraceChoice,
    chosen_trace,
    keep_none,
    read_trace,
    session_scores,
    speaker_scores,
    third_scores,
    thirds,
    turn_scores,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "NO_TRACE", "SESSION_COLUMNS", "SPEAKERS", "THIRDS", "TraceChoice", "Validation",
    "chosen_trace", "ci_text", "condition_label", "correlations", "gap_by_condition",
    "gap_by_third", "records", "report", "session_scores", "thirds", "turn_scores",
]  # fmt: skip

BOOTSTRAP_SAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
FEW_SESSIONS = 10
ALL_SESSIONS = "all sessions"  # the label of the rows over every session (condition None)
CORRELATION_COLUMNS = ["speaker", "dimension", "n",
                       "pearson_r", "pearson_r_ci_low", "pearson_r_ci_high", "pearson_p",
                       "spearman_rho", "spearman_rho_ci_low", "spearman_rho_ci_high",
                       "spearman_p", "note"]  # fmt: skip
GAP_COLUMNS = ["condition", "dimension", "n", "gap", "gap_ci_low", "gap_ci_high",
               "client_mean", "counselor_mean"]  # fmt: skip
THIRD_COLUMNS = ["condition", "dimension", "third", "n", "gap", "gap_ci_low", "gap_ci_high",
                 "client_mean", "counselor_mean"]  # fmt: skip


def _generator(seed: int, *names: Any) -> np.random.Generator:
    import numpy as np

    entropy = [seed % 2**63, *(zlib.crc32(str(name).encode()) for name in names)]
    return np.random.default_rng(entropy)


def _interval(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    import numpy as np

    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail])
    return float(low), float(high)


def _row_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of two matrices, NaN where a row is constant."""
    import numpy as np

    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    constant = (np.ptp(x, axis=1) == 0) | (np.ptp(y, axis=1) == 0) | (denominator == 0)
    r = np.full(x.shape[0], np.nan)
    np.divide((dx * dy).sum(axis=1), denominator, out=r, where=~constant)
    return r


def _point(function: Any, x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = function(x, y)
    statistic, pvalue = float(result.statistic), float(result.pvalue)
    return (None if math.isnan(statistic) else statistic, None if math.isnan(pvalue) else pvalue)


def _correlation_row(
    speaker: str,
    dimension: str,
    x: np.ndarray,
    y: np.ndarray,
    n_boot: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    """x: the speaker's turn-inferred session scores; y: the same speaker's ratings."""
    from scipy import stats

    n = len(x)
    row: dict[str, Any] = {
        "speaker": speaker,
        "dimension": dimension,
        "n": n,
        **dict.fromkeys(CORRELATION_COLUMNS[3:-1]),
        "note": None,
    }
    rated = f"{speaker} ratings"
    if n < 3:
        row["note"] = f"only {n} session(s) with both a trace and {rated}: no correlation"
        return row
    if len(set(x)) < 2 or len(set(y)) < 2:
        which = f"the {speaker}-turn scores" if len(set(x)) < 2 else f"the {rated}"
        row["note"] = f"{which} are constant over the {n} sessions: no correlation"
        return row
    row["pearson_r"], row["pearson_p"] = _point(stats.pearsonr, x, y)
    row["spearman_rho"], row["spearman_p"] = _point(stats.spearmanr, x, y)
    if n_boot > 0:
        picked = _generator(seed, speaker, dimension).integers(0, n, size=(n_boot, n))
        xs, ys = x[picked], y[picked]
        resampled = {
            "pearson_r": _row_correlation(xs, ys),
            "spearman_rho": _row_correlation(
                stats.rankdata(xs, axis=1), stats.rankdata(ys, axis=1)
            ),
        }
        for name, values in resampled.items():
            row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _interval(values, confidence)
    if n < FEW_SESSIONS:
        row["note"] = f"only {n} sessions: too few to say how far the trace tracks {rated}"
    return row


def correlations(
    engine: Engine,
    *,
    method: str | None = None,
    model: str | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
    rater_scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per speaker and dimension, the speaker's turn-inferred session scores against the
    same speaker's own ratings of the session (client turns with client ratings,
    counselor turns with counselor ratings).

    ``rater_scores`` (session_id, dimension, rater_role, score: a rater's mean of the
    dimension's items) defaults to ``annotate.research.ratings.dimension_scores``.
    Columns: CORRELATION_COLUMNS; figures NaN when undefined, with ``note`` saying why,
    or that under FEW_SESSIONS sessions is too few to trust.
    """
    import pandas as pd

    from annotate.research.ratings import dimension_scores

    choice, turns = read_trace(engine, method, model)
    raters = dimension_scores(engine) if rater_scores is None else rater_scores
    raters = raters.rename(columns={"rater_role": "speaker", "score": "rating"})
    keys = ["session_id", "dimension", "speaker"]
    paired = speaker_scores(turns).merge(raters[[*keys, "rating"]], on=keys)
    paired = paired.sort_values("session_id")
    rows = []
    for speaker in SPEAKERS:
        for dimension in choice.dimensions:
            subset = paired[(paired["speaker"] == speaker) & (paired["dimension"] == dimension)]
            x, y = (subset[c].to_numpy(dtype=float) for c in ("score", "rating"))
            rows.append(_correlation_row(speaker, dimension, x, y, n_boot, seed, confidence))
    return keep_none(pd.DataFrame(rows, columns=CORRELATION_COLUMNS), "note")


def _gap_rows(
    wide: pd.DataFrame,
    dimensions: tuple[str, ...],
    parts: tuple[str | None, ...],
    n_boot: int,
    seed: int,
    confidence: float,
) -> list[dict[str, Any]]:
    """Per condition (None first: all sessions), dimension and part (a third, or None for
    the whole session), the mean gap over sessions with its interval."""
    rows = []
    for condition, group in _groups(wide):
        for dimension in dimensions:
            for part in parts:
                chosen = group["dimension"] == dimension
                if part is not None:
                    chosen &= group["third"] == part
                subset = group[chosen]
                gaps, n = subset["gap"].to_numpy(dtype=float), len(subset)
                row: dict[str, Any] = {
                    "condition": condition, "dimension": dimension, "third": part, "n": n,
                    "gap": float(gaps.mean()) if n else None,
                    "gap_ci_low": None, "gap_ci_high": None,
                    "client_mean": float(subset["client"].mean()) if n else None,
                    "counselor_mean": float(subset["counselor"].mean()) if n else None,
                }  # fmt: skip
                if n and n_boot > 0:
                    generator = _generator(seed, condition or "", dimension, part or "")
                    means = gaps[generator.integers(0, n, size=(n_boot, n))].mean(axis=1)
                    row["gap_ci_low"], row["gap_ci_high"] = _interval(means, confidence)
                rows.append(row)
    return rows


def _groups(frame: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """All sessions (condition None) first, then each condition in text order."""
    conditions = sorted({c for c in frame["condition"] if isinstance(c, str)})
    return [(None, frame), *((c, frame[frame["condition"] == c]) for c in conditions)]


def _wide(scores: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Client and counselor side by side (rows where both spoke), with gap = client -
    counselor."""
    client = scores[scores["speaker"] == "client"].rename(columns={"score": "client"})
    counselor = scores[scores["speaker"] == "counselor"].rename(columns={"score": "counselor"})
    both = client[[*keys, "client"]].merge(counselor[[*keys, "counselor"]], on=keys)
    return both.assign(gap=both["client"] - both["counselor"]).sort_values(keys)


def gap_by_condition(
    engine: Engine,
    *,
    method: str | None = None,
    model: str | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Per condition and dimension, the mean over sessions of the client-turn minus the
    counselor-turn session score, with its interval; sessions where one speaker has no
    turns are left out. ``condition`` None is all sessions (with or without one).

    Columns: GAP_COLUMNS (``client_mean``, ``counselor_mean``: the two sides' means over
    the same sessions).
    """
    import pandas as pd

    choice, turns = read_trace(engine, method, model)
    wide = _wide(speaker_scores(turns), ["session_id", "condition", "dimension"])
    rows = _gap_rows(wide, choice.dimensions, (None,), n_boot, seed, confidence)
    return keep_none(pd.DataFrame(rows, columns=GAP_COLUMNS), "condition")


def gap_by_third(
    engine: Engine,
    *,
    method: str | None = None,
    model: str | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Per condition (None: all sessions), dimension and third of the session, the mean
    over sessions of the client-turn minus counselor-turn score within that third (a
    session counts in a third where both spoke; see ``thirds`` for the split).

    Columns: THIRD_COLUMNS.
    """
    import pandas as pd

    choice, turns = read_trace(engine, method, model)
    keys = ["session_id", "condition", "dimension", "third"]
    wide = _wide(third_scores(turns), keys)
    rows = _gap_rows(wide, choice.dimensions, THIRDS, n_boot, seed, confidence)
    return keep_none(pd.DataFrame(rows, columns=THIRD_COLUMNS), "condition")


def condition_label(condition: Any) -> str:
    return ALL_SESSIONS if condition is None else str(condition)


@dataclass(frozen=True)
class Validation:
    """``annotate trace --validate`` and the report's section: the trace used and the
    three tables, all from that one trace."""

    trace: TraceChoice
    n_boot: int
    seed: int
    confidence: float
    correlations: pd.DataFrame  # CORRELATION_COLUMNS
    by_condition: pd.DataFrame  # GAP_COLUMNS
    by_third: pd.DataFrame  # THIRD_COLUMNS

    def as_json(self) -> dict[str, Any]:
        choice = self.trace
        return {
            "trace": {"method": choice.method, "model": choice.model,
                      "instrument_id": choice.instrument_id,
                      "instrument_version": choice.instrument_version,
                      "sessions": choice.sessions, "other_traces": list(choice.others)},
            "bootstrap": {"resamples": self.n_boot, "seed": self.seed,
                          "confidence": self.confidence, "unit": "session"},
            "correlations": records(self.correlations),
            "gap_by_condition": records(self.by_condition),
            "gap_by_third": records(self.by_third),
        }  # fmt: skip

    def trust(self, speaker: str) -> str:
        """One sentence on how far the speaker's turn scores track their own ratings."""
        rows = self.correlations[self.correlations["speaker"] == speaker]
        defined = rows[rows["pearson_r"].notna()]
        rated = f"{speaker}s' own ratings"
        if defined.empty:
            return f"No correlation of {speaker} turns with {rated} can be computed yet."
        if int(rows["n"].max()) < FEW_SESSIONS:
            return f"Too few sessions to say how far {speaker} turns track {rated}."
        figures = ", ".join(f"{row['dimension']} r = {row['pearson_r']:.2f}"
                            for _, row in defined.iterrows())  # fmt: skip
        above = defined["pearson_r_ci_low"].fillna(-1) > 0
        below = defined["pearson_r_ci_high"].fillna(1) < 0
        if below.any():
            verdict = "where an interval lies below zero the trace runs against the ratings"
        elif not above.any():
            verdict = "no interval excludes zero: read the strip as wording, not as alliance"
        elif above.all() and (defined["pearson_r"] >= 0.5).all():
            verdict = "a fair guide to where to look, still not a score"
        else:
            verdict = "a weak signal: use it to find moments to read, not to judge sessions"
        return f"{speaker.capitalize()} turns against {rated}: {figures}; {verdict}."

    def describe(self) -> str:
        """What the figures are, which trace they come from and how far to trust them."""
        choice, level = self.trace, f"{self.confidence:.0%}"
        others = f"; {len(choice.others)} other trace(s) stored, not used" if choice.others else ""
        lines = [
            f"Trace: {choice.label}, {choice.sessions} session(s){others}.",
            "Inferred from the words of each turn, not measured: only ratings measure the "
            f"alliance. Intervals: {level} percentile bootstrap, {self.n_boot} resamples of "
            f"sessions (seed {self.seed}).",
            *(self.trust(speaker) for speaker in SPEAKERS),
        ]
        return "\n".join(lines)

    def correlations_view(self) -> pd.DataFrame:
        import pandas as pd

        table = self.correlations
        return pd.DataFrame({
            "speaker": table["speaker"], "dimension": table["dimension"], "n": table["n"],
            "pearson r": [ci_text(row, "pearson_r") for _, row in table.iterrows()],
            "pearson p": table["pearson_p"],
            "spearman rho": [ci_text(row, "spearman_rho") for _, row in table.iterrows()],
            "spearman p": table["spearman_p"],
            "note": table["note"],
        })  # fmt: skip

    def by_condition_view(self) -> pd.DataFrame:
        import pandas as pd

        table = self.by_condition
        return pd.DataFrame({
            "condition": [condition_label(c) for c in table["condition"]],
            "dimension": table["dimension"], "sessions": table["n"],
            "client − counselor": [ci_text(row, "gap") for _, row in table.iterrows()],
            "client": table["client_mean"], "counselor": table["counselor_mean"],
        })  # fmt: skip

    def by_third_view(self) -> pd.DataFrame:
        """One row per condition and dimension, a column per third: gap [CI] (n)."""
        import pandas as pd

        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for _, row in self.by_third.iterrows():
            key = (condition_label(row["condition"]), row["dimension"])
            shown = rows.setdefault(key, {"condition": key[0], "dimension": key[1]})
            text = ci_text(row, "gap")
            shown[row["third"]] = f"{text} (n={row['n']})" if text else None
        return pd.DataFrame(list(rows.values()), columns=["condition", "dimension", *THIRDS])


def report(
    engine: Engine,
    *,
    method: str | None = None,
    model: str | None = None,
    n_boot: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> Validation:
    """Correlations with the ratings and the gaps, all from one trace; ConfigError when
    no trace is stored (NO_TRACE) or none matches ``method`` and ``model``."""
    choice = chosen_trace(engine, method=method, model=model)
    options: dict[str, Any] = {
        "method": choice.method,
        "model": choice.model,
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
    }
    return Validation(
        trace=choice, n_boot=n_boot, seed=seed, confidence=confidence,
        correlations=correlations(engine, **options),
        by_condition=gap_by_condition(engine, **options),
        by_third=gap_by_third(engine, **options),
    )  # fmt: skip
