"""Engines and transactional session scopes for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import errno
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Table, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from store.private import create_private

if TYPE_CHECKING:
    from sqlalchemy.sql.dml import Insert
    from sqlmodel import Session

T = TypeVar("T")

DEFAULT_DB = "annotate.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# PostgreSQL: lock waits (40P01 deadlock, 40001 serialization, 55P03 lock not available).
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}
# ``postgresql://`` alone would pick psycopg2, which annotate does not install.
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def resolve_url(db: str | None) -> str:
    """Turn a path or URL (or None: ``$ANNOTATE_DB``, then ``./annotate.db``) into a URL."""
    value = db or os.environ.get("ANNOTATE_DB") or DEFAULT_DB
    for scheme in _POSTGRES_SCHEMES:
        if value.startswith(scheme):
            return "postgresql+psycopg://" + value.removeprefix(scheme)
    if "://" in value:
        return value
    try:
        path = Path(value).expanduser().resolve()
    except RuntimeError:  # a loop of symbolic links (Python before 3.13 raises this)
        raise OSError(errno.ELOOP, "a loop of symbolic links, it leads to no file", value) from None
    return f"sqlite:///{path}"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (``file:`` URIs such as ``?mode=ro&uri=true`` too);
    None for other databases and in-memory ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = str(parsed.database)
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database)


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy (not pysqlite) issue BEGIN, so transactions cover every statement.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock up front, so concurrent writers wait on the
    # busy timeout instead of failing with "database is locked" mid-transaction.
    # Readers (see ``reader``) begin DEFERRED: in WAL mode they never wait for a writer.
    mode = "DEFERRED" if conn.get_execution_options().get(READ_ONLY) else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


READ_ONLY = "annotate_read_only"


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite its transactions never take the write
    lock, so a report or a queue listing does not wait behind a long import."""
    return engine.execution_options(**{READ_ONLY: True})


def make_engine(db: str | None = None) -> Engine:
    """Build an engine for a path or URL with the store's connection settings."""
    url = resolve_url(db)
    path = sqlite_file(url)
    if make_url(url).get_backend_name() == "sqlite":
        if path is not None and make_url(url).query.get("mode") != "ro":
            create_private(path)  # transcripts are clinical data
        engine = create_engine(url, poolclass=NullPool) if path else create_engine(url)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if make_url(url).get_backend_name() == "postgresql":
        # Timestamp columns are timestamptz; this session zone makes SQL that turns
        # them into dates or text (reports, psql) see UTC, as on SQLite.
        connect_args["options"] = "-c timezone=UTC"
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    from sqlmodel import Session  # imported here: small commands start without sqlmodel

    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def bulk_insert(
    connection: Connection, table: Table, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many plain rows (ints and strings) with one driver ``executemany``.

    Core's per-row parameter processing costs more than SQLite's own insert on large
    imports; this compiles the statement once for the dialect and hands the tuples
    straight to the driver. Only for columns whose values need no type processing.
    """
    if not rows:
        return
    compiled = table.insert().compile(dialect=connection.dialect, column_keys=columns)
    order = compiled.positiontup
    if order is None:  # named paramstyle (psycopg: pyformat)
        params: list[Any] = [dict(zip(columns, row, strict=True)) for row in rows]
    elif list(order) == columns:
        params = rows
    else:
        index = [columns.index(key) for key in order]
        params = [tuple(row[i] for i in index) for row in rows]
    connection.exec_driver_sql(str(compiled), params)


def insert_ignoring_duplicates(table: Table, dialect_name: str) -> Insert:
    """``INSERT`` that skips rows whose key exists (safe when two writers add the same id)."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"no insert-or-ignore for {dialect_name}")


def upsert(table: Table, dialect_name: str, keys: list[str], values: dict[str, Any]) -> Insert:
    """``INSERT`` of one row that overwrites the row with the same ``keys`` if there is one."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table).values(**values)
    elif dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(**values)  # type: ignore[assignment]
    else:
        raise NotImplementedError(f"no upsert for {dialect_name}")
    changed = {name: value for name, value in values.items() if name not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changed)


def is_transient(error: BaseException) -> bool:
    """A lock wait that ran out, a deadlock or a serialization failure: worth retrying."""
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in TRANSIENT_SQLSTATES:
        return True
    message = str(error.orig).lower()
    return "database is locked" in message or "database table is locked" in message


def run_transaction(engine: Engine, work: Callable[[Session], T], *, attempts: int = 5) -> T:
    """Run ``work(session)`` in one transaction, retrying it when a lock wait runs out.

    ``work`` must be safe to run again from the start (it reads what it needs inside
    the transaction). After ``attempts`` tries the last transient error is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(engine) as session:
                return work(session)
        except DBAPIError as error:
            if attempt == attempts or not is_transient(error):
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def advisory_lock(connection: Connection, name: str) -> None:
    """Serialise writers of one kind (e.g. imports) on PostgreSQL for this transaction.

    SQLite needs nothing: ``BEGIN IMMEDIATE`` already gives one writer at a time.
    """
    if connection.dialect.name == "postgresql":
        from sqlalchemy import text

        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def stored_timestamp(connection: Connection, value: datetime) -> Any:
    """An aware datetime as the store's timestamp columns take it from the driver:
    UTC text on SQLite (SQLAlchemy's format), the datetime itself on PostgreSQL."""
    if connection.dialect.name == "sqlite":
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


POSTGRES_COPY = True  # False: executemany on PostgreSQL too (the import benchmark compares)


def insert_rows(
    connection: Connection, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert plain rows (ints, strings, driver-ready values) as fast as the backend can.

    SQLite: one ``executemany``; PostgreSQL: ``COPY ... FROM STDIN`` through psycopg,
    in the connection's transaction. Errors are raised as SQLAlchemy's ``DBAPIError``.
    """
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name != "postgresql" or not POSTGRES_COPY:
        mark = "%s" if connection.dialect.name == "postgresql" else "?"
        marks = ", ".join([mark] * len(columns))
        connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        return
    import psycopg

    statement = f"COPY {table} ({names}) FROM STDIN"
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as error:
        raise DBAPIError.instance(statement, None, error, psycopg.Error) from error


def code_point_order(column: Any, dialect: Dialect) -> Any:
    """``column`` for ORDER BY in code point order, as SQLite compares text.

    A PostgreSQL database usually sorts text by its language's collation (en-US puts
    'a' before 'B'); the "C" collation sorts by bytes, which in UTF-8 is code point
    order, so listings, ``--limit`` and exported files come out the same on both backends.
    """
    return column.collate("C") if dialect.name == "postgresql" else column
