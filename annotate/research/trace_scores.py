"""A stored alliance trace read back as per-turn and per-session scores (the figures
``validate`` correlates with the ratings and compares between speakers).

A speaker's *session score* on a dimension is the mean of that speaker's turn scores in
the session (turns without a score on the dimension left out). One trace is used for
every figure: the (method, model, instrument version) stored for the most sessions,
ties going to the newest run; ``method`` and ``model`` narrow the choice
(``chosen_trace`` says which was used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from annotate.core.errors import ConfigError
from annotate.research.stored import method_label
from store.db import reader
from store.tables import INSTRUMENTS, SESSIONS, TURN_ALLIANCE

if TYPE_CHECKING:
    import pandas as pd

SPEAKERS = ("client", "counselor")
THIRDS = ("first", "middle", "last")
NO_TRACE = "no alliance trace stored: run 'annotate trace' first"

SESSION_COLUMNS = ["session_id", "client_id", "counselor_id", "condition", "speaker",
                   "dimension", "score", "n_turns"]  # fmt: skip


@dataclass(frozen=True)
class TraceChoice:
    """The stored trace every figure is computed from, and how many others there are."""

    method: str
    model: str
    instrument_id: str
    instrument_version: str
    sessions: int
    dimensions: tuple[str, ...]  # in the instrument's order
    others: tuple[str, ...]  # labels of the stored traces not used

    @property
    def label(self) -> str:
        kind = method_label(self.method, self.model)
        return f"{kind}, {self.instrument_id} {self.instrument_version}"


def _frame(engine: Engine, query: Any) -> pd.DataFrame:
    import pandas as pd

    with reader(engine).connect() as connection:
        result = connection.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _describe(method: str, model: str, instrument_id: str, version: str) -> str:
    return f"{method} {model} ({instrument_id} {version})"


def chosen_trace(
    engine: Engine, *, method: str | None = None, model: str | None = None
) -> TraceChoice:
    """The trace with the most sessions (newest on a tie) among those matching ``method``
    and ``model``; ConfigError when none is stored or none matches."""
    t = TURN_ALLIANCE.c
    query = select(
        t.method,
        t.model,
        t.instrument_id,
        t.instrument_version,
        func.count(func.distinct(t.session_id)).label("sessions"),
        func.max(t.created_at).label("newest"),
    ).group_by(t.method, t.model, t.instrument_id, t.instrument_version)
    stored = _frame(engine, query)
    if stored.empty:
        raise ConfigError(NO_TRACE)
    keys = ["method", "model", "instrument_id", "instrument_version"]
    wanted = stored
    if method is not None:
        wanted = wanted[wanted["method"] == method]
    if model is not None:
        wanted = wanted[wanted["model"] == model]
    if wanted.empty:
        listed = "; ".join(_describe(*row) for row in stored[keys].itertuples(index=False))
        asked = " ".join(part for part in (method, model) if part is not None)
        raise ConfigError(f"no alliance trace by {asked} stored (stored: {listed})")
    ranked = wanted.sort_values(
        ["sessions", "newest", *keys], ascending=[False, False, True, True, True, True]
    )
    best = ranked.iloc[0]
    others = tuple(
        _describe(*row)
        for row in stored[keys].itertuples(index=False)
        if tuple(row) != tuple(best[keys])
    )
    dimensions = _dimensions(engine, str(best["instrument_id"]))
    return TraceChoice(
        str(best["method"]),
        str(best["model"]),
        str(best["instrument_id"]),
        str(best["instrument_version"]),
        int(best["sessions"]),
        dimensions,
        others,
    )


def _dimensions(engine: Engine, instrument_id: str) -> tuple[str, ...]:
    with reader(engine).connect() as connection:
        stored = connection.execute(
            select(INSTRUMENTS.c.dimensions).where(INSTRUMENTS.c.id == instrument_id)
        ).scalar_one_or_none()
    return tuple(stored or ())


def _condition(meta: Any) -> str | None:
    """The session's metadata ``condition`` as text; None when absent or empty."""
    value = meta.get("condition") if isinstance(meta, dict) else None
    return None if value is None or value == "" else str(value)


def turn_scores(engine: Engine, choice: TraceChoice) -> pd.DataFrame:
    """One row per traced turn and dimension of ``choice``: session_id, client_id,
    counselor_id, condition, turn_number, speaker, dimension, value (sorted by session
    and turn)."""
    import pandas as pd

    t, s = TURN_ALLIANCE.c, SESSIONS.c
    query = (
        select(
            t.session_id, s.client_id, s.counselor_id, s.meta, t.turn_number, t.speaker, t.scores
        )
        .join(SESSIONS, s.id == t.session_id)
        .where(
            t.method == choice.method,
            t.model == choice.model,
            t.instrument_id == choice.instrument_id,
            t.instrument_version == choice.instrument_version,
        )
        .order_by(t.session_id, t.turn_number)
    )
    turns = _frame(engine, query)
    stored = {d for scores in turns["scores"] for d in (scores or {})}
    order = [d for d in choice.dimensions if d in stored] or sorted(stored)
    rows = [
        (
            row.session_id,
            row.client_id,
            row.counselor_id,
            _condition(row.meta),
            int(row.turn_number),
            row.speaker,
            dimension,
            float(row.scores[dimension]),
        )
        for row in turns.itertuples(index=False)
        for dimension in order
        if row.scores and row.scores.get(dimension) is not None
    ]
    columns = [
        "session_id",
        "client_id",
        "counselor_id",
        "condition",
        "turn_number",
        "speaker",
        "dimension",
        "value",
    ]
    return pd.DataFrame(rows, columns=columns)


def session_scores(
    engine: Engine, *, method: str | None = None, model: str | None = None
) -> pd.DataFrame:
    """Per session, speaker and dimension the mean of the speaker's turn scores.

    Columns: SESSION_COLUMNS (``condition`` is the session's metadata ``condition`` or
    None; ``n_turns`` the speaker's turns scored on the dimension). A speaker without
    turns in a session has no row for it.
    """
    return speaker_scores(read_trace(engine, method, model)[1])


def read_trace(engine: Engine, method: str | None, model: str | None
               ) -> tuple[TraceChoice, pd.DataFrame]:  # fmt: skip
    """The chosen trace and its turn scores (``turn_scores``)."""
    choice = chosen_trace(engine, method=method, model=model)
    return choice, turn_scores(engine, choice)


def speaker_scores(turns: pd.DataFrame) -> pd.DataFrame:
    """``turn_scores`` as session scores (SESSION_COLUMNS): the mean per speaker."""
    keys = ["session_id", "client_id", "counselor_id", "speaker", "dimension"]
    if turns.empty:
        import pandas as pd

        return pd.DataFrame(columns=SESSION_COLUMNS)
    grouped = (
        turns.assign(condition=turns["condition"].astype(object))
        .groupby([*keys, "condition"], sort=False, dropna=False)["value"]
        .agg(score="mean", n_turns="count")
        .reset_index()
    )
    return keep_none(grouped[SESSION_COLUMNS].copy(), "condition")


def keep_none(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``frame`` with ``columns`` as objects, so a missing text stays None (not NaN)."""
    import pandas as pd

    for column in columns:
        values = [value if isinstance(value, str) else None for value in frame[column]]
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    return frame


def thirds(turn_count: int) -> list[str]:
    """The third of each of ``turn_count`` turns in order: split as numpy.array_split
    does, so when the count is not divisible by 3 the first third and then the middle
    take the extra turn (7 turns: 3, 2, 2; 8 turns: 3, 3, 2)."""
    import numpy as np

    parts = np.array_split(np.arange(turn_count), 3)
    return [name for name, part in zip(THIRDS, parts, strict=True) for _ in part]


def third_scores(turns: pd.DataFrame) -> pd.DataFrame:
    """Session scores per third: each session's traced turns, by turn number, in thirds."""
    positions = turns[["session_id", "turn_number"]].drop_duplicates()
    positions = positions.sort_values(["session_id", "turn_number"])
    positions["third"] = [
        third
        for _, numbers in positions.groupby("session_id", sort=False)
        for third in thirds(len(numbers))
    ]
    placed = turns.merge(positions, on=["session_id", "turn_number"])
    keys = ["session_id", "condition", "speaker", "dimension", "third"]
    grouped = placed.groupby(keys, dropna=False, sort=False)["value"].mean()
    return keep_none(grouped.rename("score").reset_index(), "condition")
