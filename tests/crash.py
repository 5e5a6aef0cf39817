"""Kill a command mid-write, then check the store: the harness of the crash-safety tests.

A crash test starts a real ``annotate`` process, waits until it is writing, kills it
with SIGKILL (no cleanup code runs, as in a power cut of the process or an OOM kill),
then checks that the store is consistent and holds all or nothing of the work::

    process = start("import", str(big_file), db_url=db_url)
    killed_after = kill_when(process, writing(db_url))
    figures = assert_consistent(db_url)

``writing(db_url)`` is true once the process has written uncommitted data: on SQLite
when the write-ahead log has grown past a threshold (the page cache spilled), on
PostgreSQL when a backend on the test database holds a transaction id (it has
written). ``committed_rows(db_url, table, n)`` waits for committed work instead.
Any other condition works too, e.g. ``file_grew(path)`` or a lambda.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from annotate.work.progress import counts
from store.db import make_engine

ROOT = Path(__file__).resolve().parents[1]


def start(*args: str, db_url: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m annotate --db URL ARGS...`` in a child process (output captured)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "annotate", "--db", db_url, *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_when(
    process: subprocess.Popen, condition: Callable[[], bool], timeout: float = 120.0
) -> float:
    """SIGKILL ``process`` as soon as ``condition()`` holds; return the seconds it ran.

    Fails if the process finishes first (the test then proves nothing).
    """
    begun = time.monotonic()
    while not condition():
        if process.poll() is not None:
            _, stderr = process.communicate()
            raise AssertionError(
                f"the command finished (exit {process.returncode}) before the kill: "
                f"{stderr.decode(errors='replace')[-500:]}"
            )
        if time.monotonic() - begun > timeout:
            process.kill()
            raise AssertionError("the command never started writing")
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the command ended before SIGKILL landed"
    return time.monotonic() - begun


def _sqlite_file(db_url: str) -> Path | None:
    url = make_url(db_url)
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def writing(db_url: str, min_wal_bytes: int = 256 * 1024) -> Callable[[], bool]:
    """A condition that turns true once another process writes to the store."""
    path = _sqlite_file(db_url)
    if path is not None:
        make_engine(db_url).dispose()  # creates the file in WAL mode if it is new
        # Start from an empty log, so that its growth is the new writer's pages
        # (outside any transaction, hence plain sqlite3).
        with contextlib.closing(sqlite3.connect(path)) as connection:
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0, "could not empty the write-ahead log"
        wal = Path(f"{path}-wal")
        return lambda: wal.exists() and wal.stat().st_size >= min_wal_bytes
    engine = make_engine(db_url)
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    )

    def condition() -> bool:
        with engine.connect() as connection:
            return bool(connection.execute(query).scalar())

    return condition


def committed_rows(db_url: str, table: str, at_least: int) -> Callable[[], bool]:
    """A condition that turns true once ``table`` holds ``at_least`` committed rows.

    Read without taking any lock (the store's SQLite engine begins every transaction
    as a writer): plain sqlite3 on SQLite; on PostgreSQL readers take no locks anyway.
    """
    path = _sqlite_file(db_url)
    query = f"SELECT count(*) FROM {table}"
    if path is not None:

        def on_sqlite() -> bool:
            with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection:
                return bool(connection.execute(query).fetchone()[0] >= at_least)

        return on_sqlite
    engine = make_engine(db_url)

    def on_postgresql() -> bool:
        with engine.connect() as connection:
            return bool(connection.execute(text(query)).scalar_one() >= at_least)

    return on_postgresql


def file_grew(path: Path, min_bytes: int = 1) -> Callable[[], bool]:
    return lambda: path.exists() and path.stat().st_size >= min_bytes


def assert_consistent(db_url: str) -> dict[str, int]:
    """The store opens, passes its integrity checks, and its figures can be read."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                integrity = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                assert integrity == ["ok"], integrity
                orphans = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                assert orphans == [], orphans
            else:
                # Constraints are enforced by the server; check none is left unvalidated.
                invalid = connection.execute(
                    text("SELECT conname FROM pg_constraint WHERE NOT convalidated")
                ).all()
                assert invalid == [], invalid
        return counts(engine)
    finally:
        engine.dispose()
