"""The report's sections on the turn-level alliance trace: how far it tracks the ratings,
and the client-minus-counselor gap it infers by condition and within sessions."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.analysis import svg
from annotate.analysis.agreement import BOOTSTRAP_SAMPLES, SEED
from annotate.analysis.html import html_table
from annotate.core.errors import ConfigError
from annotate.research import validate
from annotate.research.validate import NO_TRACE, THIRDS, condition_label

if TYPE_CHECKING:
    import pandas as pd

Y_LABEL = "client − counselor (turns)"


def _estimate(row: Any) -> svg.Estimate | None:
    value, low, high = row["gap"], row["gap_ci_low"], row["gap_ci_high"]
    if value is None or value != value:  # no session: NaN
        return None
    both = all(v is not None and v == v for v in (low, high))
    return float(value), float(low) if both else None, float(high) if both else None


def _series(frame: pd.DataFrame, dimensions: tuple[str, ...]) -> dict[str, list[Any]]:
    """Per dimension, the estimates of ``frame``'s rows in order."""
    return {
        dimension: [_estimate(row) for _, row in frame[frame["dimension"] == dimension].iterrows()]
        for dimension in dimensions
    }


def _charts(result: validate.Validation) -> tuple[str, list[str]]:
    """The gap by condition, and one trajectory over the thirds per condition."""
    dimensions = result.trace.dimensions
    frame = result.by_condition
    groups = [condition_label(c) for c in dict.fromkeys(frame["condition"])]
    by_condition = svg.interval_chart("Inferred gap by condition", groups,
                                      _series(frame, dimensions), x_label="condition",
                                      y_label=Y_LABEL)  # fmt: skip
    by_third = []
    for condition in dict.fromkeys(result.by_third["condition"]):
        same = result.by_third["condition"].map(lambda c, wanted=condition: c == wanted)
        by_third.append(svg.interval_chart(
            f"Within sessions: {condition_label(condition)}", list(THIRDS),
            _series(result.by_third[same], dimensions),
            x_label="third of the session's turns", y_label=Y_LABEL, connect=True,
        ))  # fmt: skip
    return by_condition, by_third


def trace_sections(engine: Engine, samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> list[str]:
    """The trace's validation and gaps as report sections; none when no trace is stored."""
    try:
        result = validate.report(engine, n_boot=samples, seed=seed)
    except ConfigError as error:
        if str(error) == NO_TRACE:
            return []
        raise
    level = f"{result.confidence:.0%}"
    choice = result.trace
    others = f" ({len(choice.others)} other trace(s) stored, not used)" if choice.others else ""
    by_condition, by_third = _charts(result)
    return [
        "<h2>Alliance inferred turn by turn</h2>",
        "<p>These figures are <strong>inferred from the words of each turn</strong> "
        "(their similarity to the inventory's items), <strong>not measured</strong>: only "
        f"the ratings measure the alliance. Trace: {escape(choice.label)}, "
        f"{choice.sessions} session(s){escape(others)}. A speaker's session score is the "
        "mean over their turns; it is set against that speaker's own rating of the session "
        f"(the mean of the dimension's items), with {level} percentile bootstrap intervals "
        f"over {samples} resamples of sessions (seed {seed}).</p>",
        *(f'<p class="note">{escape(result.trust(speaker))}</p>' for speaker in validate.SPEAKERS),
        html_table(result.correlations_view(),
                   "Turn-inferred session scores against the same speaker's ratings"),
        "<h3>Client minus counselor by condition</h3>",
        "<p>The gap is the client-turn minus the counselor-turn session score, over sessions "
        "where both spoke: below 0, the counselor's words read as more allied than the "
        "client's.</p>",
        f'<div class="charts">{by_condition}</div>',
        html_table(result.by_condition_view(),
                   f"Inferred client − counselor gap per session, mean and {level} CI"),
        "<h3>Within the session: first, middle and last third</h3>",
        "<p>Each session's traced turns, in order, are split into thirds (when the count is "
        "not divisible by three the first third, then the middle, take the extra turn: 7 "
        "turns are 3, 2 and 2); a session counts in a third where both spoke.</p>",
        f'<div class="charts">{"".join(by_third)}</div>',
        html_table(result.by_third_view(),
                   f"Inferred client − counselor gap by third, mean, {level} CI and sessions"),
    ]  # fmt: skip
