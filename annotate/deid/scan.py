"""What de-identification would replace, without replacing anything (``annotate deid
scan``, the correction view): detections per session and category, read-only.

Detection is the one masks use (``service.detect_sessions``: a client's sessions read
together, with what is known of the client and the originals already in its map), so
the lead checks what a draft or an export would replace."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.core.errors import NotFoundError
from annotate.deid.detect import CATEGORIES, Span
from annotate.deid.service import SessionText, detect_sessions, known_for_client, read_sessions
from store.db import code_point_order, reader
from store.tables import SESSIONS


@dataclass(frozen=True)
class ScanRow:
    """What de-identification would replace in one session: a count per category (every
    category, 0 included) and, only when asked, the distinct values found."""

    session_id: str
    client_id: str
    language: str
    turns: int
    counts: dict[str, int]
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def scan(
    engine: Engine,
    session_ids: Sequence[str] | None = None,
    *,
    values: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[ScanRow]:
    """Detect (read-only: nothing is stored) in the named sessions, or in all of them."""
    rows: dict[str, ScanRow] = {}
    with reader(engine).connect() as connection:
        sessions = read_sessions(connection, session_ids)
        by_client: dict[str, list[SessionText]] = {}
        for session in sessions:
            by_client.setdefault(session.client_id, []).append(session)
        for client, own in by_client.items():
            knowns = {client: known_for_client(connection, client)}
            found = detect_sessions(connection, own, knowns)
            for session in own:
                rows[session.id] = _row(session, found[session.id], values)
            if on_progress is not None:
                on_progress(len(rows), len(sessions))
    return [rows[session.id] for session in sessions]


def _row(session: SessionText, found: list[list[Span]], values: bool) -> ScanRow:
    counts = dict.fromkeys(CATEGORIES, 0)
    seen: dict[str, dict[str, None]] = {category: {} for category in CATEGORIES}
    for turn in found:
        for span in turn:
            counts[span.category] = counts.get(span.category, 0) + 1
            seen.setdefault(span.category, {})[span.text] = None
    shown = {category: tuple(texts) for category, texts in seen.items()} if values else {}
    return ScanRow(session.id, session.client_id, session.language, len(session.texts),
                   counts, shown)  # fmt: skip


def client_of(engine: Engine, session_id: str) -> str:
    """The client of a stored session (NotFoundError for a session not stored)."""
    with reader(engine).connect() as connection:
        client = connection.execute(
            select(SESSIONS.c.client_id).where(SESSIONS.c.id == session_id)
        ).scalar()
    if client is None:
        raise NotFoundError(f"no session {session_id!r} in the store")
    return str(client)


def session_ids(engine: Engine) -> list[str]:
    """Every stored session's id, in order (for the correction view's paging)."""
    with reader(engine).connect() as connection:
        order = code_point_order(SESSIONS.c.id, connection.dialect)
        return list(connection.execute(select(SESSIONS.c.id).order_by(order)).scalars())


def session_spans(engine: Engine, session_id: str) -> tuple[SessionText, list[list[Span]]]:
    """One session's turns and what is detected in each (for the correction view)."""
    with reader(engine).connect() as connection:
        (session,) = read_sessions(connection, [session_id])
        knowns = {session.client_id: known_for_client(connection, session.client_id)}
        found = detect_sessions(connection, [session], knowns)
    return session, found[session.id]
