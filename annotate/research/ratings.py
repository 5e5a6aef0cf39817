"""Session dimension scores of the rated-and-explained instruments (the WAI-SR), per rater.

A session's score on a dimension for one rater (client or counselor) is the mean of that
rater's ratings of the dimension's items, and exists only when the rater rated *every*
item of the dimension: a partial set would average different questions, so an
incomplete one is left out (as ``annotate alignment`` does). Instruments that are rated
but not explained (the binary rupture question) and binary items are not scores here.

Sessions are ordered within a client by ``session_number``; sessions without a number
follow the numbered ones in the order they were imported (import, then creation time,
then id). ``visit`` counts a client's sessions from 1 in that order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.db import reader
from store.tables import INSTRUMENTS, ITEMS, RATINGS, SESSIONS

if TYPE_CHECKING:
    import pandas as pd

CLIENT = "client"
COUNSELOR = "counselor"
CONDITION = "condition"  # the session metadata key read as the condition
SCORE_COLUMNS = ["session_id", "client_id", "counselor_id", "session_number", "visit",
                 "condition", "dimension", "rater_role", "score"]  # fmt: skip


def _rows(engine: Engine, query: Any) -> pd.DataFrame:
    import pandas as pd

    with reader(engine).connect() as connection:
        result = connection.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def scored_items(engine: Engine) -> pd.DataFrame:
    """The items that make dimension scores: id, dimension, position, in instrument order
    (items of explained instruments that are not binary)."""
    query = (
        select(ITEMS.c.id.label("item_id"), ITEMS.c.dimension, ITEMS.c.position)
        .join(INSTRUMENTS, INSTRUMENTS.c.id == ITEMS.c.instrument_id)
        .where(INSTRUMENTS.c.rationales, ITEMS.c.binary_above.is_(None))
        .order_by(ITEMS.c.instrument_id, ITEMS.c.position)
    )
    return _rows(engine, query)


def dimensions(engine: Engine) -> list[str]:
    """The scored dimensions in the order their first item appears (goal, task, bond)."""
    return list(dict.fromkeys(scored_items(engine)["dimension"]))


def item_ratings(engine: Engine, role: str = CLIENT) -> pd.DataFrame:
    """One row per session and scored item rated by ROLE: session_id, item_id, dimension,
    value (float)."""
    query = (
        select(RATINGS.c.session_id, RATINGS.c.item_id, ITEMS.c.dimension, RATINGS.c.value)
        .join(ITEMS, ITEMS.c.id == RATINGS.c.item_id)
        .join(INSTRUMENTS, INSTRUMENTS.c.id == ITEMS.c.instrument_id)
        .where(INSTRUMENTS.c.rationales, ITEMS.c.binary_above.is_(None))
        .where(RATINGS.c.rater_role == role)
        .order_by(RATINGS.c.session_id, ITEMS.c.position)
    )
    frame = _rows(engine, query)
    frame["value"] = frame["value"].astype("float64")
    return frame


def sessions(engine: Engine) -> pd.DataFrame:
    """Every session with its client, counselor, number, condition and ``visit`` (its
    place among the client's sessions, from 1; see the module's docstring)."""
    import pandas as pd

    query = select(
        SESSIONS.c.id.label("session_id"),
        SESSIONS.c.client_id,
        SESSIONS.c.counselor_id,
        SESSIONS.c.session_number,
        SESSIONS.c.meta,
        func.coalesce(SESSIONS.c.import_id, 0).label("import_id"),
        SESSIONS.c.created_at,
    )
    frame = _rows(engine, query)
    frame["condition"] = [
        str(meta[CONDITION]) if isinstance(meta, dict) and meta.get(CONDITION) else None
        for meta in frame["meta"]
    ]
    frame["session_number"] = pd.array(frame["session_number"], dtype="Int64")
    frame["_unnumbered"] = frame["session_number"].isna()
    frame = frame.sort_values(
        ["client_id", "_unnumbered", "session_number", "import_id", "created_at", "session_id"],
        kind="stable",
        na_position="last",
    )
    frame["visit"] = frame.groupby("client_id").cumcount() + 1
    columns = ["session_id", "client_id", "counselor_id", "session_number", "visit", "condition"]
    return frame[columns].reset_index(drop=True)


def dimension_scores(engine: Engine) -> pd.DataFrame:
    """One row per session, dimension and rater role with a complete set of items.

    Columns: ``SCORE_COLUMNS``; ordered by client, visit, dimension (instrument order),
    rater role.
    """
    import pandas as pd

    catalog = scored_items(engine)
    needed = catalog.groupby("dimension")["item_id"].nunique()
    parts = []
    for role in (CLIENT, COUNSELOR):
        rated = item_ratings(engine, role)
        if rated.empty:
            continue
        grouped = (
            rated.groupby(["session_id", "dimension"])["value"]
            .agg(score="mean", items="count")
            .reset_index()
        )
        complete = grouped["items"] == grouped["dimension"].map(needed)
        parts.append(grouped[complete].assign(rater_role=role))
    if not parts:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    scores = pd.concat(parts, ignore_index=True).merge(sessions(engine), on="session_id")
    rank = {name: index for index, name in enumerate(dict.fromkeys(catalog["dimension"]))}
    scores["_rank"] = scores["dimension"].map(rank)
    scores = scores.sort_values(["client_id", "visit", "_rank", "rater_role"], kind="stable")
    scores["score"] = scores["score"].astype("float64")
    return scores[SCORE_COLUMNS].reset_index(drop=True)


def paired(scores: pd.DataFrame) -> pd.DataFrame:
    """SCORES (``dimension_scores``) one row per session and dimension, with ``client``
    and ``counselor`` columns (NaN where that rater has no complete score)."""
    keys = ["session_id", "client_id", "counselor_id", "session_number", "visit",
            "condition", "dimension"]  # fmt: skip
    if scores.empty:
        import pandas as pd

        return pd.DataFrame(columns=[*keys, CLIENT, COUNSELOR])
    values = scores.pivot_table(
        index=["session_id", "dimension"], columns="rater_role", values="score"
    ).reset_index()
    values.columns.name = None
    for role in (CLIENT, COUNSELOR):
        if role not in values:
            values[role] = float("nan")
    info = scores[keys].drop_duplicates(["session_id", "dimension"])  # keeps the order
    wide = info.merge(values[["session_id", "dimension", CLIENT, COUNSELOR]],
                      on=["session_id", "dimension"])  # fmt: skip
    return wide.reset_index(drop=True)
