"""Open the configured store, creating a new database or refusing an outdated one."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from annotate.core.errors import AnnotateError, ConfigError, SchemaError, StoreBusy
from store import migrate
from store.db import is_transient, make_engine, resolve_url, session_scope, sqlite_file

BUSY = "the database is busy (another command is writing): try again"


def safe_url(url: str) -> str:
    """The URL without its password, for messages (even when the URL is malformed)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


def _one_line(error: BaseException | None) -> str:
    return " ".join(str(error).split())


def _engine(db: str | None) -> Engine:
    try:
        return make_engine(db)
    except (ArgumentError, ModuleNotFoundError) as error:
        message = str(error).replace(resolve_url(db), safe_url(resolve_url(db)))
        raise ConfigError(f"cannot use database {safe_url(resolve_url(db))!r}: {message}") from None


def _newer_schema(revision: str) -> SchemaError:
    return SchemaError(
        f"this database was made by a newer annotate (schema revision {revision}; this "
        f"annotate knows up to {migrate.HEAD_REVISION}): upgrade annotate"
    )


DAMAGED = ("database disk image is malformed", "file is not a database")


def database_error(db: str | None, error: DBAPIError) -> AnnotateError:
    """One line for a database that cannot be used: never SQL or row parameters."""
    if is_transient(error):
        return StoreBusy(BUSY)
    return _unusable(db, error.orig)


def _unusable(db: str | None, cause: BaseException | None) -> ConfigError:
    reason = _one_line(cause)
    if "readonly" in reason.replace("-", "").replace(" ", ""):
        reason = "it is read-only (check the file's permissions)"
    elif any(damage in reason for damage in DAMAGED):
        reason += " (the file is damaged: restore a backup with 'annotate restore BACKUP')"
    try:
        name = safe_url(resolve_url(db))
    except OSError:
        name = str(db)
    return ConfigError(f"cannot use database {name}: {reason}")


def driver_error(db: str | None, error: BaseException) -> AnnotateError | None:
    """:func:`database_error` for any database failure a command let through: SQLAlchemy's
    wrapped errors and the drivers' own (code that reads through the raw driver cursor
    for speed raises ``sqlite3.DatabaseError`` or ``psycopg.Error``); None for others."""
    if isinstance(error, DBAPIError):
        return database_error(db, error)
    psycopg = sys.modules.get("psycopg")
    raw = (sqlite3.Error,) + ((psycopg.Error,) if psycopg is not None else ())
    if not isinstance(error, raw):
        return None
    message = str(error).lower()
    if "database is locked" in message or "database table is locked" in message:
        return StoreBusy(BUSY)
    return _unusable(db, error)


def initialise(db: str | None = None) -> tuple[Engine, str | None]:
    """Run migrations up to head and install the default instrument; return the old revision."""
    engine = _engine(db)
    try:
        before = migrate.current_revision(engine)
        if before is None and _create_head(engine):
            return engine, None  # a new database: schema and defaults in one step, no ORM
        from annotate.core.guidelines import (
            RUPTURE_INSTRUMENT,
            default_instrument,
            default_markers,
            load_instrument,
        )
        from annotate.core.instruments import install_instrument
        from annotate.core.markers import install_markers
        from store.models import Instrument, MarkerScheme

        if before != migrate.HEAD_REVISION:
            if before is not None and before not in migrate.known_revisions():
                raise _newer_schema(before)
            migrate.upgrade(engine)
        with session_scope(engine) as session:
            # WAI-SR, the rupture question and 3RS come with every store; a team's own
            # copies (``instrument load``, ``codes load``: a licensed wording, another
            # version) are never overwritten here.
            if session.get(Instrument, default_instrument().id) is None:
                install_instrument(session, default_instrument())
            if session.get(Instrument, "rupture") is None:
                install_instrument(session, load_instrument(RUPTURE_INSTRUMENT))
            if session.get(MarkerScheme, default_markers().id) is None:
                install_markers(session, default_markers())
    except DBAPIError as error:
        raise database_error(db, error) from None
    return engine, before


def _create_head(engine: Engine) -> bool:
    """Create the head schema and the default instruments on a database that has none;
    False if the head file is stale or another process created the schema meanwhile
    (then the caller migrates as usual)."""
    from sqlalchemy import inspect

    from annotate.core.new_store import install_defaults
    from store.db import advisory_lock
    from store.schema import create_head, head_is_current

    if not head_is_current(engine.dialect.name):
        return False
    with engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE, so one creator at a time
        advisory_lock(connection, "annotate.schema")
        if inspect(connection).has_table("alembic_version"):
            return False
        create_head(connection)
        install_defaults(connection)
    return True


def open_store(db: str | None = None, *, create: bool = False) -> Engine:
    """An engine on a database at the current schema.

    A SQLite file that does not exist is created (and initialised) only with ``create``
    (``init``, ``import``, ``demo``); every other command refuses it in one line, so a
    mistyped ``--db`` never quietly gives an empty store.
    """
    path = _sqlite_file(db)
    if path is not None and not path.exists() and not create:
        raise ConfigError(f"no database at {path}; run 'annotate init' to create one")
    engine = _engine(db)
    try:
        revision = migrate.current_revision(engine)
    except DBAPIError as error:
        raise database_error(db, error) from None
    if revision is None:
        engine, _ = initialise(db)
    elif revision != migrate.HEAD_REVISION:
        if revision not in migrate.known_revisions():
            raise _newer_schema(revision)
        raise SchemaError(
            f"database schema is at revision {revision}, this annotate needs "
            f"{migrate.HEAD_REVISION}: back it up, then run 'annotate init' to upgrade"
        )
    return engine


def _sqlite_file(db: str | None) -> Path | None:
    try:
        return sqlite_file(resolve_url(db))
    except ArgumentError:
        return None
