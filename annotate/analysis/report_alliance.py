"""The report's alliance monitoring sections: counselor effects and clients not on track.

Both read every counselor's and client's ratings: the report is for leads.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.analysis import svg
from annotate.analysis.html import html_table
from annotate.research.counselors import SAMPLES, SEED, counselor_effects
from annotate.research.watch import not_on_track

if TYPE_CHECKING:
    from annotate.research.counselors import CounselorEffects
    from annotate.research.watch import ClientTrack, Watch

TRAJECTORY_CHARTS = 12  # at most this many flagged clients get a chart


def interval_text(value: float | None, low: float | None, high: float | None) -> str | None:
    """``0.25 [0.10, 0.40]``; the value alone without an interval; None when missing."""
    if value is None:
        return None
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _effects_tables(effects: CounselorEffects) -> list[str]:
    import pandas as pd

    icc = pd.DataFrame(
        {
            "dimension": [d.dimension for d in effects.dimensions],
            "ICC [95% CI]": [interval_text(d.icc, d.icc_low, d.icc_high)
                             for d in effects.dimensions],
            "counselors": [d.n_counselors for d in effects.dimensions],
            "clients": [d.n_clients for d in effects.dimensions],
            "sessions": [d.n_sessions for d in effects.dimensions],
            "counselor var": [d.counselor_var for d in effects.dimensions],
            "client var": [d.client_var for d in effects.dimensions],
            "session var": [d.residual_var for d in effects.dimensions],
        }
    )  # fmt: skip
    samples = max((d.samples for d in effects.dimensions), default=0)
    parts = [html_table(icc, f"ICC per dimension (95% CI: parametric bootstrap, {samples} "
                             "resamples)")]  # fmt: skip
    parts += [_note(f"{d.dimension}: {w}") for d in effects.dimensions for w in d.warnings]
    for dimension in effects.dimensions:
        own = [c for c in effects.counselors if c.dimension == dimension.dimension]
        if not own:
            continue
        chart = svg.interval_chart(
            f"{dimension.dimension}: counselor − client gap (shrunken, 95%)",
            [c.counselor_id for c in own],
            {"gap": [(c.gap_estimate, c.gap_low, c.gap_high) if c.gap_estimate is not None
                     else None for c in own]},
            x_label="counselor", y_label="counselor − client",
        )  # fmt: skip
        table = pd.DataFrame(
            {
                "counselor": [c.counselor_id for c in own],
                "clients": [c.clients for c in own],
                "sessions": [c.sessions for c in own],
                "client mean": [c.client_mean for c in own],
                "client mean, shrunken [95%]": [
                    interval_text(c.client_estimate, c.client_low, c.client_high) for c in own
                ],
                "paired sessions": [c.paired_sessions for c in own],
                "gap": [c.gap_mean for c in own],
                "gap, shrunken [95%]": [
                    interval_text(c.gap_estimate, c.gap_low, c.gap_high) for c in own
                ],
            }
        )
        parts.append(f'<div class="charts">{chart}</div>')
        parts.append(html_table(table, f"{dimension.dimension}: per counselor, largest "
                                       "overestimation first", digits=2))  # fmt: skip
    return parts


def counselor_section(engine: Engine, samples: int = SAMPLES, seed: int = SEED) -> list[str]:
    """Counselor effects: the ICC table and, per dimension, each counselor's shrunken mean
    client rating and gap (chart and table)."""
    effects = counselor_effects(engine, samples=samples, seed=seed)
    return [
        "<h2>Counselor effects</h2>",
        "<p><em>ICC</em>: the share of the variance of client-rated alliance that lies "
        "between counselors, from a mixed model with sessions within clients within "
        "counselors (statsmodels MixedLM, REML), with a 95% parametric bootstrap interval "
        f"(seed {seed}). In naturalistic data 5–9% of outcome variance lies between "
        "therapists; with few counselors the estimate is very uncertain. Per counselor: the "
        "mean client rating and the counselor-minus-client gap as shrunken (empirical Bayes) "
        "estimates, pulled toward the mean of all counselors the fewer sessions a counselor "
        "has. For supervision and practice, not for ranking people. Leads only.</p>",
        *(_note(note) for note in effects.notes),
        *_effects_tables(effects),
    ]


def _trajectory_chart(track: ClientTrack, dimension: str) -> str:
    points = track.trajectory[dimension]
    labels = [str(number if number is not None else visit) for visit, number, _, _ in points]
    series: dict[str, list[Any]] = {
        "client": [(c, None, None) if c is not None else None for _, _, c, _ in points],
        "counselor": [(s, None, None) if s is not None else None for _, _, _, s in points],
    }
    return svg.interval_chart(f"{track.client_id}: {dimension}", labels, series,
                              x_label="session", y_label="score", connect=True,
                              height=220)  # fmt: skip


def _flag_table(watch: Watch) -> Any:
    import pandas as pd

    flags = watch.flags
    missed = {True: "yes", False: "no", None: "unknown"}
    return pd.DataFrame(
        {
            "client": [f.client_id for f in flags],
            "counselor": [f.counselor_id for f in flags],
            "session": [f.session_id for f in flags],
            "dimension": [f.dimension for f in flags],
            "score": [f.score for f in flags],
            "compared to": [f.compared_to for f in flags],
            "from": [f.reference for f in flags],
            "drop": [f.drop for f in flags],
            "threshold": [f.threshold for f in flags],
            "counselor from": [f.counselor_reference for f in flags],
            "counselor at": [f.counselor_score for f in flags],
            "missed": [missed[f.missed] for f in flags],
        }
    )


def flagged_note(watch: Watch) -> str:
    """A line for the top of the report naming the clients not on track (empty if none)."""
    flagged = watch.flagged_clients()
    if not flagged:
        return ""
    return (f'<p class="note">Clients not on track ({len(flagged)}): '
            f'{escape(", ".join(flagged))}. See <a href="#not-on-track">Clients not on '
            "track</a>.</p>")  # fmt: skip


def watch_section(engine: Engine, watch: Watch | None = None) -> list[str]:
    """Clients not on track: thresholds, flagged sessions, a trajectory chart per flagged
    client and dimension, and every client with flagged clients first."""
    import pandas as pd

    watch = watch or not_on_track(engine)
    thresholds = pd.DataFrame(
        {
            "dimension": [r.dimension for r in watch.reliability],
            "alpha": [r.alpha for r in watch.reliability],
            "alpha from": [r.alpha_source for r in watch.reliability],
            "SD (first sessions)": [r.sd for r in watch.reliability],
            "clients": [r.sd_clients for r in watch.reliability],
            "SE diff": [r.se_diff for r in watch.reliability],
            "threshold": [r.threshold for r in watch.reliability],
        }
    )
    order = [r.dimension for r in watch.reliability]
    clients = pd.DataFrame(
        {
            "client": [t.client_id for t in watch.clients],
            "counselor": [", ".join(t.counselors) for t in watch.clients],
            "sessions": [t.sessions for t in watch.clients],
            "flags": [t.flags for t in watch.clients],
            "missed": [t.missed for t in watch.clients],
            **{d: [" → ".join("–" if c is None else f"{c:.2f}" for _, _, c, _ in
                              t.trajectory.get(d, [])) for t in watch.clients] for d in order},
        }
    )  # fmt: skip
    charts = []
    for track in [t for t in watch.clients if t.flags][:TRAJECTORY_CHARTS]:
        flagged = dict.fromkeys(f.dimension for f in watch.flags if f.client_id == track.client_id)
        charts += [_trajectory_chart(track, dimension) for dimension in flagged]
    flagged_count = len(watch.flagged_clients())
    return [
        '<h2 id="not-on-track">Clients not on track</h2>',
        f"<p>{escape(watch.meaning)} Reliable change (Jacobson–Truax): threshold = 1.96 × SD "
        "× √2 × √(1 − alpha), with alpha the dimension's Cronbach's alpha in the store's "
        "client ratings and SD that of clients' first-session scores. Baseline: the mean of "
        f"a client's first {watch.baseline} session(s). "
        f"{flagged_count} client(s) flagged. Leads only.</p>",
        *(_note(note) for note in watch.notes()),
        html_table(thresholds, "Reliable change threshold per dimension"),
        html_table(_flag_table(watch), "Flagged sessions, flagged clients first", digits=2),
        f'<div class="charts">{"".join(charts)}</div>' if charts else "",
        html_table(
            clients, "Clients, not on track first (client-rated scores in session order)", digits=2
        ),  # fmt: skip
    ]
