"""Open the configured store, creating a new database or refusing an outdated one."""

from __future__ import annotations

import re

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from annotate.errors import ConfigError, SchemaError, StoreBusy
from store import migrate
from store.db import is_transient, make_engine, resolve_url, session_scope

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


def initialise(db: str | None = None) -> tuple[Engine, str | None]:
    """Run migrations up to head and install the default instrument; return the old revision."""
    from annotate.guidelines import default_instrument
    from annotate.instruments import install_instrument

    engine = _engine(db)
    try:
        before = migrate.current_revision(engine)
        if before != migrate.HEAD_REVISION:
            migrate.upgrade(engine)
        with session_scope(engine) as session:
            install_instrument(session, default_instrument())
    except OperationalError as error:
        if is_transient(error):
            raise StoreBusy(BUSY) from None
        raise ConfigError(f"cannot open database: {_one_line(error.orig)}") from None
    return engine, before


def open_store(db: str | None = None) -> Engine:
    """An engine on a database at the current schema (a new, empty one is initialised)."""
    engine = _engine(db)
    try:
        revision = migrate.current_revision(engine)
    except OperationalError as error:
        if is_transient(error):
            raise StoreBusy(BUSY) from None
        raise ConfigError(f"cannot open database: {_one_line(error.orig)}") from None
    if revision is None:
        engine, _ = initialise(db)
    elif revision != migrate.HEAD_REVISION:
        raise SchemaError(
            f"database schema is at revision {revision}, this annotate needs "
            f"{migrate.HEAD_REVISION}: back it up, then run 'annotate init' to upgrade"
        )
    return engine
