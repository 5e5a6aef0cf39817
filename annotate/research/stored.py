"""Reading a session's stored alliance trace back (the editor's strip, the report)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from store.db import reader
from store.tables import INSTRUMENTS, TURN_ALLIANCE


@dataclass(frozen=True)
class TurnScore:
    """One turn's inferred alliance per dimension (mean similarity to its items)."""

    number: int
    speaker: str
    scores: dict[str, float]


@dataclass(frozen=True)
class SessionTrace:
    """A session's trace by one method and model against one instrument version."""

    session_id: str
    method: str  # embedding | lexical
    model: str
    instrument_id: str
    instrument_version: str
    dimensions: tuple[str, ...]  # in the instrument's order
    turns: tuple[TurnScore, ...]  # by turn number

    def by_turn(self) -> dict[int, TurnScore]:
        return {turn.number: turn for turn in self.turns}

    def means(self) -> dict[str, dict[str, float]]:
        """The session's scores: per speaker and dimension, the mean over the speaker's
        turns (a speaker with no scored turn is left out)."""
        found: dict[str, dict[str, float]] = {}
        for speaker in ("client", "counselor"):
            turns = [turn for turn in self.turns if turn.speaker == speaker]
            if turns:
                found[speaker] = {d: sum(t.scores[d] for t in turns) / len(turns)
                                  for d in self.dimensions}  # fmt: skip
        return found

    @property
    def label(self) -> str:
        return method_label(self.method, self.model)


def method_label(method: str, model: str) -> str:
    """How a trace's figures were made, in a few words (``lexical`` says it is no model)."""
    if method == "lexical":
        return f"lexical ({model}, no model)"
    return f"embedding ({model})"


def session_trace(session: Session, session_id: str) -> SessionTrace | None:
    """The session's most recent trace (the newest run of any method and model), or None."""
    t = TURN_ALLIANCE.c
    newest = session.execute(
        select(t.method, t.model, t.instrument_id, t.instrument_version)
        .where(t.session_id == session_id)
        .group_by(t.method, t.model, t.instrument_id, t.instrument_version)
        .order_by(func.max(t.created_at).desc(), t.method, t.model)
        .limit(1)
    ).first()
    if newest is None:
        return None
    method, model, instrument_id, version = newest
    rows = session.execute(
        select(t.turn_number, t.speaker, t.scores)
        .where(t.session_id == session_id, t.method == method, t.model == model,
               t.instrument_id == instrument_id, t.instrument_version == version)
        .order_by(t.turn_number)
    ).all()  # fmt: skip
    dimensions = (
        session.execute(
            select(INSTRUMENTS.c.dimensions).where(INSTRUMENTS.c.id == instrument_id)
        ).scalar_one_or_none()
        or {}
    )
    order = tuple(dimensions) or tuple(sorted({d for row in rows for d in row.scores}))
    turns = _turn_scores(rows, order)
    return SessionTrace(session_id, method, model, instrument_id, version, order, turns)


def traces_of(engine: Engine, sessions: list[str] | None, method: str, model: str
              ) -> list[SessionTrace]:  # fmt: skip
    """The traces of METHOD and MODEL of the sessions named (default: every traced
    session), newest instrument version of each, by session id."""
    t = TURN_ALLIANCE.c
    query = select(
        t.session_id,
        t.turn_number,
        t.speaker,
        t.scores,
        t.instrument_id,
        t.instrument_version,
        t.created_at,
    ).where(t.method == method, t.model == model)
    if sessions:
        query = query.where(t.session_id.in_(sessions))
    grouped: dict[str, list] = {}
    with reader(engine).connect() as connection:
        rows = connection.execute(query.order_by(t.session_id, t.turn_number)).all()
        instruments = dict(
            connection.execute(select(INSTRUMENTS.c.id, INSTRUMENTS.c.dimensions)).all()
        )
    for row in rows:
        grouped.setdefault(row.session_id, []).append(row)
    found = []
    for session_id, group in sorted(grouped.items()):
        newest = max(group, key=lambda r: r.created_at)
        kept = [
            r
            for r in group
            if (r.instrument_id, r.instrument_version)
            == (newest.instrument_id, newest.instrument_version)
        ]
        order = tuple(instruments.get(newest.instrument_id) or {})
        turns = _turn_scores(kept, order)
        found.append(
            SessionTrace(
                session_id,
                method,
                model,
                newest.instrument_id,
                newest.instrument_version,
                order,
                turns,
            )
        )
    return found


def _turn_scores(rows: Any, order: tuple[str, ...]) -> tuple[TurnScore, ...]:
    """Stored rows (turn_number, speaker, scores) as turn scores in ORDER's dimensions."""
    return tuple(
        TurnScore(row.turn_number, row.speaker,
                  {d: float(row.scores[d]) for d in order if d in row.scores})
        for row in rows
    )  # fmt: skip
