"""De-identification with the store: what is known of a client, its map, and masks.

Detection and surrogates are pure (``detect``, ``surrogates``); this module gives them
what the store knows of a client (names in the session metadata, the lead's roster,
people's corrections) and keeps what must last: the client's date shift, chosen once,
and its map from identifiers to surrogates, so that every text of a client gets the
same surrogate in every process. New map entries are written under one lock per store
(SQLite's write lock, an advisory lock on PostgreSQL) after re-reading the map, so two
processes masking the same client agree on one surrogate. The map never leaves here.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from annotate.core.errors import ConfigError, NotFoundError
from annotate.deid.detect import Known, Span, detect_turns
from annotate.deid.roster import (
    Correction,
    RosterLoad,
    corrections,
    load_roster,
    mark,
    unmark,
    write_locked,
)
from annotate.deid.surrogates import Surrogates, found_forms
from store.db import code_point_order, insert_ignoring_duplicates, reader
from store.tables import (
    DEID_CLIENTS,
    DEID_CORRECTIONS,
    DEID_ROSTER,
    DEID_SURROGATES,
    SESSIONS,
    TURNS,
)

T = TypeVar("T")

__all__ = [
    "Correction", "RosterLoad", "SessionMask", "SessionText", "corrections", "known_for_client",
    "detect_sessions", "load_roster", "mark", "masks_for_sessions", "read_sessions", "unmark",
]  # fmt: skip

MODES = ("surrogate", "tag")
# Names in a session's ``names`` metadata: "Dana Reyes, Sam; 小林、王芳，李雷"
NAME_SEPARATORS = re.compile(r"[,;、，；]")
SHIFT_DAYS = 365  # a client's date shift lies in -365..365 days, never 0
_CJK = re.compile(r"[\u3400-\u9fff]")


def names_in_metadata(value: object) -> list[str]:
    """The names a session's ``names`` metadata lists (separated by , ; 、 ，)."""
    if not isinstance(value, str):
        return []
    return [name.strip() for name in NAME_SEPARATORS.split(value) if name.strip()]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def known_for_client(connection: Connection, client_id: str) -> Known:
    """What the store knows of CLIENT_ID's identifiers: the ``names`` metadata of all its
    sessions, the roster (its rows and everyone's), and its corrections (the latest
    correction of a text is in force: ``mark`` adds it, ``unmark`` keeps it)."""
    names: list[str] = []
    places: list[str] = []
    metas = connection.execute(
        select(SESSIONS.c.meta).where(SESSIONS.c.client_id == client_id).order_by(SESSIONS.c.id)
    ).scalars()
    for meta in metas:
        if isinstance(meta, dict):
            names.extend(names_in_metadata(meta.get("names")))
    roster = connection.execute(
        select(DEID_ROSTER.c.name, DEID_ROSTER.c.category)
        .where((DEID_ROSTER.c.client_id == client_id) | DEID_ROSTER.c.client_id.is_(None))
        .order_by(DEID_ROSTER.c.id)
    ).all()
    for name, category in roster:
        (places if category == "place" else names).append(name)
    latest: dict[str, tuple[str, str | None]] = {}
    for text, category, action in connection.execute(
        select(DEID_CORRECTIONS.c.text, DEID_CORRECTIONS.c.category, DEID_CORRECTIONS.c.action)
        .where(DEID_CORRECTIONS.c.client_id == client_id)
        .order_by(DEID_CORRECTIONS.c.id)
    ):
        latest.pop(text, None)  # re-inserted: the dict keeps the order of the latest
        latest[text] = (action, category)
    keep = [text for text, (action, _) in latest.items() if action == "unmark"]
    marks = [(text, category) for text, (action, category) in latest.items()
             if action == "mark" and category is not None]  # fmt: skip
    known = Known(tuple(names), tuple(places)).adding(marks)
    kept = set(keep)
    return Known(
        names=_unique(name for name in known.names if name not in kept),
        places=_unique(place for place in known.places if place not in kept),
        keep=_unique(keep),
        extra=tuple(dict.fromkeys(known.extra)),
    )


def language_of(stored: str | None, texts: Sequence[str]) -> str:
    """A session's language: as stored, else "zh" when its text is Chinese, else "en"."""
    if stored:
        return stored
    sample = "".join(texts[:20])
    return "zh" if len(_CJK.findall(sample)) * 4 > len(sample) else "en"


# -- the map -------------------------------------------------------------------------


def _date_shift(connection: Connection, client_id: str, *, create: bool) -> int | None:
    """CLIENT_ID's date shift; chosen at random and stored first if ``create``."""
    query = select(DEID_CLIENTS.c.date_shift_days).where(DEID_CLIENTS.c.client_id == client_id)
    shift = connection.execute(query).scalar()
    if shift is None and create:
        chosen = (1 + secrets.randbelow(SHIFT_DAYS)) * secrets.choice((-1, 1))
        statement = insert_ignoring_duplicates(DEID_CLIENTS, connection.dialect.name)
        connection.execute(statement.values(client_id=client_id, date_shift_days=chosen))
        shift = connection.execute(query).scalar()  # another writer's, if it came first
    return None if shift is None else int(shift)


def _stored_map(connection: Connection, client_id: str, mode: str) -> dict[tuple[str, str], str]:
    rows = connection.execute(
        select(DEID_SURROGATES.c.category, DEID_SURROGATES.c.original, DEID_SURROGATES.c.surrogate)
        .where(DEID_SURROGATES.c.client_id == client_id, DEID_SURROGATES.c.mode == mode)
        .order_by(DEID_SURROGATES.c.id)
    )
    return {(category, original): surrogate for category, original, surrogate in rows}


def _store_entries(
    connection: Connection, client_id: str, mode: str, entries: Sequence[tuple[str, str, str]]
) -> bool:
    """Insert new map entries; False when another writer stored one of them first."""
    if not entries:
        return True
    statement = insert_ignoring_duplicates(DEID_SURROGATES, connection.dialect.name)
    connection.execute(
        statement,
        [
            {"client_id": client_id, "mode": mode, "category": category, "original": original,
             "surrogate": surrogate}
            for category, original, surrogate in entries
        ],
    )  # fmt: skip
    stored = _stored_map(connection, client_id, mode)
    return all(stored.get((c, o)) == s for c, o, s in entries)


def _replaced(
    surrogates: Surrogates, texts: Sequence[str], spans: Sequence[Sequence[Span]]
) -> list[str]:
    return [surrogates.replace(text, list(found)) for text, found in zip(texts, spans, strict=True)]


class _ClientMap:
    """One client's surrogates in this process: shared by the client's masks, safe to use
    from several threads (the drafting engine masks item contexts concurrently)."""

    def __init__(self, engine: Engine, client_id: str, mode: str, known: Known) -> None:
        self.engine, self.client_id, self.mode, self.known = engine, client_id, mode, known
        self.lock = threading.Lock()
        self.surrogates: Surrogates | None = None

    def _fresh(self, connection: Connection, *, create: bool) -> Surrogates | None:
        shift = _date_shift(connection, self.client_id, create=create)
        if shift is None:
            return None
        known_map = _stored_map(connection, self.client_id, self.mode)
        return Surrogates(
            self.client_id, mode=self.mode, date_shift_days=shift, known_map=known_map
        )

    def _cached(self) -> Surrogates | None:
        if self.surrogates is None:
            with reader(self.engine).connect() as connection:
                self.surrogates = self._fresh(connection, create=False)
        return self.surrogates

    def apply_cached(self, apply: Callable[[Surrogates], T]) -> T | None:
        """APPLY (replacing texts) with the map as this process knows it; None when that
        needs an entry the store does not hold yet (see ``apply_stored``). Call with
        ``lock`` held."""
        surrogates = self._cached()
        if surrogates is None:
            return None
        before = len(surrogates.new_entries())
        out = apply(surrogates)
        if len(surrogates.new_entries()) == before:
            return out
        self.surrogates = None  # it holds entries never stored: forget it
        return None

    def apply_stored(self, connection: Connection, apply: Callable[[Surrogates], T]) -> T:
        """APPLY with the stored map, re-read, and its new entries stored (in the caller's
        transaction, which holds the map's lock, and with ``lock`` held)."""
        for _ in range(3):
            surrogates = self._fresh(connection, create=True)
            assert surrogates is not None
            out = apply(surrogates)
            if _store_entries(connection, self.client_id, self.mode, surrogates.new_entries()):
                self.surrogates = surrogates
                return out
        raise ConfigError(f"client {self.client_id}: the surrogate map keeps changing; try again")

    def apply(self, apply: Callable[[Surrogates], T]) -> T:
        """APPLY with the client's map; new map entries are stored before it returns (no
        write when the map already holds every identifier)."""
        with self.lock:
            out = self.apply_cached(apply)
            if out is not None:
                return out
            return write_locked(self.engine, partial(self.apply_stored, apply=apply))

    def restore(self, text: str) -> str:
        with self.lock:
            surrogates = self._cached()
            return text if surrogates is None else surrogates.restore(text)


@dataclass(frozen=True)
class SessionMask:
    """A session's de-identified turns, and its client's map for any other text of the
    client (a rationale, an item context) and for reading a model's reply back."""

    session_id: str
    client_id: str
    turns: tuple[str, ...]  # masked turn texts, in turn order
    spans: tuple[tuple[Span, ...], ...]  # per turn, in the original text
    language: str = field(default="en", kw_only=True)
    _client: _ClientMap = field(repr=False, compare=False, kw_only=True)

    def mask(self, text: str) -> str:
        """TEXT of this client with its identifiers (what is known of the client and every
        original in its map too) replaced by the same map."""
        known, language = self._client.known, self.language
        return self._client.apply(lambda surrogates: surrogates.mask_text(text, language, known))

    def restore(self, text: str) -> str:
        """The client's surrogates (or tags) in TEXT back to their originals."""
        return self._client.restore(text)


@dataclass(frozen=True)
class SessionText:
    """A session's turn texts as stored, with its client and language."""

    id: str
    client_id: str
    language: str
    texts: tuple[str, ...]
    speakers: tuple[str, ...] = ()  # per turn: client | counselor
    numbers: tuple[int, ...] = ()  # per turn, from 1


def read_sessions(connection: Connection, session_ids: Sequence[str] | None) -> list[SessionText]:
    """The named sessions (every session if None) with their turns, in the given order."""
    query = select(SESSIONS.c.id, SESSIONS.c.client_id, SESSIONS.c.language)
    if session_ids is not None:
        wanted = list(dict.fromkeys(session_ids))
        found = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for row in connection.execute(query.where(SESSIONS.c.id.in_(chunk))):
                found[row.id] = row
        missing = [sid for sid in wanted if sid not in found]
        if missing:
            raise NotFoundError(f"no session {', '.join(missing[:5])} in the store")
        rows = [found[sid] for sid in wanted]
    else:
        rows = list(
            connection.execute(query.order_by(code_point_order(SESSIONS.c.id, connection.dialect)))
        )
    sessions = []
    for row in rows:
        turns = connection.execute(
            select(TURNS.c.number, TURNS.c.speaker, TURNS.c.text)
            .where(TURNS.c.session_id == row.id)
            .order_by(TURNS.c.number)
        ).all()
        texts = tuple(turn.text for turn in turns)
        sessions.append(SessionText(row.id, row.client_id, language_of(row.language, texts), texts,
                                    tuple(turn.speaker for turn in turns),
                                    tuple(turn.number for turn in turns)))  # fmt: skip
    return sessions


def detect_sessions(
    connection: Connection,
    sessions: Sequence[SessionText],
    knowns: dict[str, Known],
    mode: str = "surrogate",
) -> dict[str, list[list[Span]]]:
    """Each session's detections, by session id. A client's sessions are read together, with
    what is known of the client and every original already in its stored map: a name found
    in one of a client's sessions is found in all of them, wherever a sentence begins."""
    by_client: dict[str, list[SessionText]] = {}
    for session in sessions:
        by_client.setdefault(session.client_id, []).append(session)
    found: dict[str, list[list[Span]]] = {}
    for client, own in by_client.items():
        stored = _stored_map(connection, client, mode)
        known = knowns[client].adding(found_forms(stored))
        language = next((s.language for s in own if s.language.startswith("zh")), own[0].language)
        spans = detect_turns([text for s in own for text in s.texts], language, known)
        position = 0
        for session in own:
            found[session.id] = spans[position : position + len(session.texts)]
            position += len(session.texts)
    return found


def masks_for_sessions(
    engine: Engine, session_ids: Sequence[str], *, mode: str = "surrogate"
) -> dict[str, SessionMask]:
    """Each named session de-identified, by session id: detected with its client's Known,
    replaced with its client's stored map. New map entries and new clients' date shifts
    are stored in one transaction, under the map's lock, before anything returns."""
    if mode not in MODES:
        raise ConfigError(f"unknown de-identification mode {mode!r}: use surrogate or tag")
    with reader(engine).connect() as connection:
        sessions = read_sessions(connection, session_ids)
        knowns = {s.client_id: known_for_client(connection, s.client_id) for s in sessions}
        found = detect_sessions(connection, sessions, knowns, mode)
    clients = {client: _ClientMap(engine, client, mode, known) for client, known in knowns.items()}
    # One client's texts (all its sessions, turns in order) are replaced together.
    texts: dict[str, list[str]] = {client: [] for client in clients}
    spans: dict[str, list[list[Span]]] = {client: [] for client in clients}
    for session in sessions:
        texts[session.client_id].extend(session.texts)
        spans[session.client_id].extend(found[session.id])
    replaced: dict[str, list[str]] = {}
    for client, client_map in clients.items():
        with client_map.lock:
            out = client_map.apply_cached(partial(_replaced, texts=texts[client],
                                                  spans=spans[client]))  # fmt: skip
        if out is not None:
            replaced[client] = out
    pending = [client for client in clients if client not in replaced]

    def store(connection: Connection) -> dict[str, list[str]]:
        done = {}
        for client in pending:
            replace = partial(_replaced, texts=texts[client], spans=spans[client])
            with clients[client].lock:
                done[client] = clients[client].apply_stored(connection, replace)
        return done

    if pending:
        replaced.update(write_locked(engine, store))
    masks: dict[str, SessionMask] = {}
    position = dict.fromkeys(clients, 0)
    for session in sessions:
        start = position[session.client_id]
        position[session.client_id] = start + len(session.texts)
        turns = replaced[session.client_id][start : start + len(session.texts)]
        masks[session.id] = SessionMask(
            session.id, session.client_id, tuple(turns),
            tuple(tuple(turn) for turn in found[session.id]),
            language=session.language, _client=clients[session.client_id],
        )  # fmt: skip
    return masks
