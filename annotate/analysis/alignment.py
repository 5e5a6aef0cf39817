"""How well counselors' own ratings track their clients' (per alliance dimension).

A session's dimension score for one rater is the mean of that rater's ratings of the
dimension's items, and exists only when the rater rated *every* item of the dimension
(a partial set would compare different questions). ``total`` is the mean of all the
instrument's items, under the same rule.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from annotate.analysis._data import dimension_order, items, ratings

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_INSTRUMENT = "wai-sr"
TOTAL = "total"
COLUMNS = [
    "dimension",
    "n",
    "pearson_r",
    "pearson_p",
    "spearman_rho",
    "spearman_p",
    "mse",
    "counselor_higher",
    "client_mean",
    "counselor_mean",
]


def dimension_scores(engine: Engine, instrument_id: str = DEFAULT_INSTRUMENT) -> pd.DataFrame:
    """Per session, dimension and rater role: the mean of the items (complete sets only).

    Columns: session_id, dimension, rater_role, score, items. ``dimension`` includes
    ``total`` (all items of the instrument).
    """
    import pandas as pd

    catalog = items(engine, instrument_id)
    needed = catalog.groupby("dimension")["id"].nunique().to_dict()
    frame = ratings(engine, instrument_id)
    columns = ["session_id", "dimension", "rater_role", "score", "items"]
    if frame.empty or not needed:
        return pd.DataFrame(columns=columns)
    whole = frame.assign(dimension=TOTAL)
    needed[TOTAL] = len(catalog)
    both = pd.concat([frame, whole], ignore_index=True)
    grouped = (
        both.groupby(["session_id", "dimension", "rater_role"])["value"]
        .agg(score="mean", items="count")
        .reset_index()
    )
    complete = grouped["items"] == grouped["dimension"].map(needed)
    return grouped[complete].reset_index(drop=True)[columns]


def _correlation(function, x, y) -> tuple[float | None, float | None]:
    """r and p, or None when undefined (fewer than 3 pairs or a constant side)."""
    if len(x) < 3 or x.nunique() < 2 or y.nunique() < 2:
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = function(x, y)
    statistic, pvalue = float(result.statistic), float(result.pvalue)
    return (
        None if math.isnan(statistic) else statistic,
        None if math.isnan(pvalue) else pvalue,
    )


def alignment(engine: Engine, instrument_id: str = DEFAULT_INSTRUMENT) -> pd.DataFrame:
    """Counselor vs client per dimension over sessions with both scores.

    Columns: dimension, n, pearson_r, pearson_p, spearman_rho, spearman_p, mse (mean of
    (counselor - client)^2), counselor_higher (share of sessions where the counselor's
    score is above the client's), client_mean, counselor_mean. Correlations are None
    when undefined (fewer than 3 sessions, or one side constant).
    """
    import pandas as pd

    pairs = paired_scores(engine, instrument_id)
    rows = []
    for dimension in [*dimension_order(engine, instrument_id), TOTAL]:
        subset = pairs[pairs["dimension"] == dimension]
        rows.append({"dimension": dimension, **pair_figures(subset["client"], subset["counselor"])})
    return pd.DataFrame(rows, columns=COLUMNS)


def pair_figures(client: pd.Series, counselor: pd.Series) -> dict[str, float | int | None]:
    """The alignment figures of one set of paired session scores (see ``alignment``)."""
    from scipy import stats

    n = len(client)
    pearson_r, pearson_p = _correlation(stats.pearsonr, counselor, client)
    spearman_rho, spearman_p = _correlation(stats.spearmanr, counselor, client)
    return {
        "n": n,
        "pearson_r": pearson_r,
        "pearson_p": pearson_p,
        "spearman_rho": spearman_rho,
        "spearman_p": spearman_p,
        "mse": float(((counselor - client) ** 2).mean()) if n else None,
        "counselor_higher": float((counselor > client).mean()) if n else None,
        "client_mean": float(client.mean()) if n else None,
        "counselor_mean": float(counselor.mean()) if n else None,
    }


def paired_scores(engine: Engine, instrument_id: str = DEFAULT_INSTRUMENT) -> pd.DataFrame:
    """Sessions with both a client and a counselor score: session_id, dimension, client,
    counselor."""
    import pandas as pd

    scores = dimension_scores(engine, instrument_id)
    if scores.empty:
        return pd.DataFrame(columns=["session_id", "dimension", "client", "counselor"])
    wide = scores.pivot_table(
        index=["session_id", "dimension"], columns="rater_role", values="score"
    ).reset_index()
    for role in ("client", "counselor"):
        if role not in wide:
            wide[role] = float("nan")
    wide = wide.dropna(subset=["client", "counselor"])
    wide.columns.name = None
    return wide[["session_id", "dimension", "client", "counselor"]].reset_index(drop=True)
