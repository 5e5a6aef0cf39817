"""What people tell the detector: the lead's roster file, and corrections of detections.

A roster is a CSV file with the header ``name,category,client_id`` (``client_id`` may be
left out, or empty: the name is then known in every client's texts); ``category`` is
``name`` or ``place``. It is read as every file a person hands to annotate is
(``annotate.core.reading``): bounded in size, UTF-8, one ``FILE:LINE: what`` error for
the first problem, and nothing is stored unless the whole file is good. A correction
marks a miss (``mark``: replace this text from now on) or unmarks a false hit
(``unmark``: never replace it); the latest correction of a text is the one in force.
Both are written under the lock that guards the client's map (``write_locked``).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.reading import MIB, FileError, read_text, shown
from annotate.deid.detect import CATEGORIES
from store.db import advisory_lock, is_transient, reader
from store.tables import CLIENTS, DEID_CORRECTIONS, DEID_ROSTER, SESSIONS, TURNS

T = TypeVar("T")

ROSTER_CATEGORIES = ("name", "place")
ROSTER_COLUMNS = ("name", "category", "client_id")
MAX_ROSTER_BYTES = 4 * MIB
MAX_ROSTER_ROWS = 100_000
MAX_TEXT = 200  # characters of a roster name, a marked or unmarked text
MAX_ID = 128  # characters of a client id or of who made a correction
_LOCK = "annotate-deid-map"


def write_locked(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 5) -> T:
    """WORK in one write transaction holding the de-identification lock (SQLite's write
    lock; an advisory lock on PostgreSQL), retried when a lock wait runs out."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as connection:
                advisory_lock(connection, _LOCK)
                return work(connection)
        except DBAPIError as error:
            if attempt == attempts or not is_transient(error):
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def _text_problem(value: str) -> str | None:
    if not value:
        return "is empty"
    if len(value) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    if not value.isprintable():
        return "holds a line break or control character"
    return None


# -- the roster ----------------------------------------------------------------------


@dataclass(frozen=True)
class RosterEntry:
    line: int
    name: str
    category: str
    client_id: str | None


@dataclass(frozen=True)
class RosterLoad:
    """What ``load_roster`` did: entries in the file, newly stored, already stored."""

    path: str
    entries: int
    added: int
    already: int


def read_roster(path: Path | str) -> list[RosterEntry]:
    """The roster file's entries (repeats once), or a ``FILE:LINE: what`` error."""
    text = read_text(path, MAX_ROSTER_BYTES, "roster file")
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    entries: dict[tuple[str, str, str | None], RosterEntry] = {}
    try:
        header = next(rows, None)
        if header is None:
            raise FileError(path, "empty: the header name,category,client_id is missing")
        columns = [column.strip().lower() for column in header]
        if columns not in (list(ROSTER_COLUMNS), list(ROSTER_COLUMNS[:2])):
            raise FileError(path, f"the header must be name,category,client_id, not "
                            f"{shown(','.join(header))}", 1)  # fmt: skip
        position = rows.line_num
        for row in rows:
            line, position = position + 1, rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                raise FileError(path, f"expected {len(columns)} columns, found {len(row)}", line)
            name, category = row[0].strip(), row[1].strip().lower()
            client = row[2].strip() if len(row) > 2 and row[2].strip() else None
            problem = _text_problem(name)
            if problem is not None:
                raise FileError(path, f"name {shown(name)} {problem}", line)
            if category not in ROSTER_CATEGORIES:
                raise FileError(path, f"category {shown(category)} is not name or place", line)
            if client is not None and (len(client) > MAX_ID or not client.isprintable()):
                raise FileError(path, f"client_id {shown(client)} is not a client id", line)
            entries.setdefault((name, category, client), RosterEntry(line, name, category,
                                                                     client))  # fmt: skip
            if len(entries) > MAX_ROSTER_ROWS:
                raise FileError(path, f"more than {MAX_ROSTER_ROWS:,} entries", line)
    except csv.Error as error:
        raise FileError(path, f"not valid CSV: {error}", max(1, rows.line_num)) from None
    return list(entries.values())


def load_roster(engine: Engine, path: Path | str) -> RosterLoad:
    """Store the roster file's names and places (those not stored yet), all or nothing;
    a client the file names must be in the store."""
    entries = read_roster(path)

    def work(connection: Connection) -> RosterLoad:
        named = {entry.client_id for entry in entries if entry.client_id is not None}
        known: set[str] = set()
        listed = sorted(named)
        for start in range(0, len(listed), 500):
            chunk = listed[start : start + 500]
            known.update(connection.execute(
                select(CLIENTS.c.id).where(CLIENTS.c.id.in_(chunk))).scalars())  # fmt: skip
        for entry in entries:
            if entry.client_id is not None and entry.client_id not in known:
                raise FileError(path, f"no client {shown(entry.client_id)} in the store",
                                entry.line)  # fmt: skip
        query = select(DEID_ROSTER.c.name, DEID_ROSTER.c.category, DEID_ROSTER.c.client_id)
        stored = {(name, category, client) for name, category, client in connection.execute(query)}
        new = [e for e in entries if (e.name, e.category, e.client_id) not in stored]
        if new:
            connection.execute(
                DEID_ROSTER.insert(),
                [{"name": e.name, "category": e.category, "client_id": e.client_id}
                 for e in new],
            )  # fmt: skip
        return RosterLoad(str(path), len(entries), len(new), len(entries) - len(new))

    return write_locked(engine, work)


# -- corrections ---------------------------------------------------------------------


@dataclass(frozen=True)
class Correction:
    """One stored correction of the detector."""

    id: int
    client_id: str
    text: str
    category: str | None  # None: an unmark made without naming the category
    action: str  # mark | unmark
    made_by: str
    created_at: datetime


def _correct(
    engine: Engine, client_id: str, text: str, category: str | None, action: str, made_by: str
) -> int:
    text = text.strip()
    problem = _text_problem(text)
    if problem is not None:
        raise ConfigError(f"the text to {action} {problem}")
    if category is not None and category not in CATEGORIES:
        raise ConfigError(f"unknown category {category!r}: use one of {', '.join(CATEGORIES)}")
    who = made_by.strip()
    if not who or len(who) > MAX_ID or not who.isprintable():
        raise ConfigError(f"who made the correction must be named in 1 to {MAX_ID} characters")

    def work(connection: Connection) -> int:
        query = select(CLIENTS.c.id).where(CLIENTS.c.id == client_id)
        if connection.execute(query).first() is None:
            raise NotFoundError(f"no client {client_id!r} in the store")
        values = {"client_id": client_id, "text": text, "category": category,
                  "action": action, "made_by": who}  # fmt: skip
        key = connection.execute(DEID_CORRECTIONS.insert().values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    return write_locked(engine, work)


def mark(engine: Engine, client_id: str, text: str, category: str, made_by: str) -> int:
    """Replace TEXT as an identifier of CATEGORY in CLIENT_ID's texts from now on (a miss
    the detector made); the correction's id."""
    if category not in CATEGORIES:
        raise ConfigError(f"unknown category {category!r}: use one of {', '.join(CATEGORIES)}")
    return _correct(engine, client_id, text, category, "mark", made_by)


def unmark(
    engine: Engine, client_id: str, text: str, made_by: str, *, category: str | None = None
) -> int:
    """Never replace TEXT in CLIENT_ID's texts from now on (a false hit); the correction's
    id. CATEGORY records what it was detected as, when known."""
    return _correct(engine, client_id, text, category, "unmark", made_by)


def said_by(engine: Engine, client_id: str, text: str) -> bool:
    """Whether TEXT is written in any turn of CLIENT_ID's sessions (a mark of a text no
    session holds is kept, but the lead is told: it is often a typo)."""
    query = (
        select(TURNS.c.session_id)
        .join(SESSIONS, SESSIONS.c.id == TURNS.c.session_id)
        .where(SESSIONS.c.client_id == client_id, TURNS.c.text.contains(text, autoescape=True))
        .limit(1)
    )
    with reader(engine).connect() as connection:
        return connection.execute(query).first() is not None


def corrections(engine: Engine, client_id: str | None = None) -> list[Correction]:
    """Every stored correction (or one client's), oldest first."""
    query = select(DEID_CORRECTIONS).order_by(DEID_CORRECTIONS.c.id)
    if client_id is not None:
        query = query.where(DEID_CORRECTIONS.c.client_id == client_id)
    with reader(engine).connect() as connection:
        if client_id is not None:
            known = select(CLIENTS.c.id).where(CLIENTS.c.id == client_id)
            if connection.execute(known).first() is None:
                raise NotFoundError(f"no client {client_id!r} in the store")
        return [
            Correction(
                row.id,
                row.client_id,
                row.text,
                row.category,
                row.action,
                row.made_by,
                row.created_at,
            )  # fmt: skip
            for row in connection.execute(query)
        ]
