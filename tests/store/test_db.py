"""store.db on both backends: URLs, bulk inserts, duplicate-safe inserts, retried transactions."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from annotate.work.rationales.versions import save_version
from store.db import (
    bulk_insert,
    insert_ignoring_duplicates,
    is_transient,
    make_engine,
    resolve_url,
    run_transaction,
    session_scope,
)
from store.models import Client, Counselor, TherapySession, Turn, utcnow
from store.tables import ANNOTATORS, TURNS
from tests.workdata import pending_rationale


def test_postgres_urls_get_the_installed_driver() -> None:
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgres://u@h:5433/db") == "postgresql+psycopg://u@h:5433/db"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.both_backends
def test_bulk_insert_round_trips_any_text(engine) -> None:  # type: ignore[no-untyped-def]
    huge = "长" * 3_000_000 + "🙂"  # 9 MB of UTF-8 in one turn
    texts = ["plain", "引号 \"quotes\" and 'apostrophes'", "tab\tnewline\nCRLF\r\n", huge]
    with session_scope(engine) as session:
        session.add(Client(id="c"))
        session.add(Counselor(id="t"))
        session.flush()
        session.add(TherapySession(id="s", client_id="c", counselor_id="t", content_hash="h"))
        session.flush()
        rows = [("s", n, "client", value) for n, value in enumerate(texts, start=1)]
        bulk_insert(session.connection(), TURNS, ["session_id", "number", "speaker", "text"], rows)
    with engine.connect() as connection:
        stored = connection.execute(select(Turn.text).order_by(Turn.number)).scalars().all()
    assert stored == texts


@pytest.mark.both_backends
def test_insert_ignoring_duplicates(engine) -> None:  # type: ignore[no-untyped-def]
    table = ANNOTATORS
    with session_scope(engine) as session:
        statement = insert_ignoring_duplicates(table, engine.dialect.name)
        session.execute(statement, [{"id": "ana", "created_at": utcnow()}])
        session.execute(
            statement,
            [{"id": "ana", "created_at": utcnow()}, {"id": "ben", "created_at": utcnow()}],
        )
    with engine.connect() as connection:
        assert connection.execute(select(table.c.id).order_by(table.c.id)).scalars().all() == [
            "ana",
            "ben",
        ]


def _locked() -> OperationalError:
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


def test_transient_errors_are_retried_then_raised(engine) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def flaky(session):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) < 3:
            raise _locked()
        return session.execute(text("SELECT 7")).scalar_one()

    assert run_transaction(engine, flaky) == 7 and len(calls) == 3

    def always(session):  # type: ignore[no-untyped-def]
        raise _locked()

    with pytest.raises(OperationalError):
        run_transaction(engine, always, attempts=2)
    assert is_transient(_locked())
    assert not is_transient(IntegrityError("x", {}, Exception("UNIQUE constraint failed")))

    def wrong(session):  # type: ignore[no-untyped-def]
        calls.append(1)
        raise IntegrityError("x", {}, Exception("UNIQUE constraint failed"))

    calls.clear()
    with pytest.raises(IntegrityError):
        run_transaction(engine, wrong)
    assert len(calls) == 1, "a constraint violation is not retried"


def test_sqlite_writer_waits_for_another_writer_instead_of_failing(demo_engine, db_url) -> None:  # type: ignore[no-untyped-def]
    unit = pending_rationale(demo_engine, "s02", "goal_1")
    holder = make_engine(db_url)
    started = threading.Event()

    def hold_the_write_lock() -> None:
        with holder.begin() as connection:  # BEGIN IMMEDIATE: the write lock
            connection.execute(text("UPDATE annotators SET id = id"))
            started.set()
            time.sleep(1.0)

    thread = threading.Thread(target=hold_the_write_lock)
    thread.start()
    started.wait(5)
    begun = time.perf_counter()
    version = save_version(demo_engine, unit, "saved after the wait", "ana", 0)
    waited = time.perf_counter() - begun
    thread.join()
    assert version.version == 1
    assert waited >= 0.5, "the save should have waited for the lock, not bypassed it"


def test_readers_do_not_wait_for_a_writer_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A long write (an import) must not hold up progress figures or an expert's queue."""
    from annotate.core.database import initialise
    from annotate.work.progress import counts
    from annotate.work.queue import authoring_queue

    engine, _ = initialise(str(tmp_path / "r.db"))
    writer = engine.connect()
    transaction = writer.begin()  # BEGIN IMMEDIATE: the write lock, held until rollback
    writer.execute(text("INSERT INTO annotators (id, created_at) VALUES ('x', '2026-01-01')"))
    results: dict[str, object] = {}

    def read() -> None:
        results["counts"] = counts(engine)
        results["queue"] = authoring_queue(engine, "x")

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(timeout=10)  # a reader that waited would sit out the 30 s busy timeout
    finished = not thread.is_alive()
    transaction.rollback()
    writer.close()
    thread.join()
    assert finished, "a read waited for the writer's lock"
    assert results["counts"]["annotators"] == 0  # type: ignore[index]
    assert results["queue"] == []


@pytest.mark.both_backends
def test_opening_an_item_or_a_review_does_not_wait_for_a_writer(demo_engine, db_url) -> None:  # type: ignore[no-untyped-def]
    """An expert opens an item while a long import holds the write lock (and its row locks)."""
    from sqlmodel import Session

    from annotate.work.assignment import assign_reviews
    from annotate.work.rationales.editor import open_rationale
    from annotate.work.reviews.queue import open_review, review_queue
    from store.models import Rationale

    assign_reviews(demo_engine, fraction=1.0, seed=0)
    with Session(demo_engine) as session:
        rationale = session.execute(select(Rationale).where(Rationale.author_id == "ana")).scalar()
        assert rationale is not None
    reviewer = next(n for n in ("ben", "chen") if review_queue(demo_engine, n))
    task = review_queue(demo_engine, reviewer)[0]
    holder = make_engine(db_url)
    writer = holder.connect()
    transaction = writer.begin()  # SQLite: BEGIN IMMEDIATE, the write lock
    # PostgreSQL: the row locks a save or an import takes on the rationales being opened.
    writer.execute(
        text("SELECT id FROM rationales WHERE id IN (:a, :b) FOR UPDATE")
        if holder.dialect.name == "postgresql"
        else text("UPDATE annotators SET id = id"),
        {"a": rationale.id, "b": task.rationale_id},
    )
    results: dict[str, object] = {}

    def open_both() -> None:
        results["editor"] = open_rationale(demo_engine, rationale.id, "ana")  # type: ignore[arg-type]
        results["review"] = open_review(demo_engine, task.assignment_id, reviewer)

    begun = time.perf_counter()
    thread = threading.Thread(target=open_both)
    thread.start()
    thread.join(timeout=10)  # one that waited would sit out the 30 s busy timeout
    waited = time.perf_counter() - begun
    finished = not thread.is_alive()
    transaction.rollback()
    writer.close()
    thread.join()
    holder.dispose()
    assert finished and waited < 5, "opening waited for the writer's lock"
    assert results["editor"].saved_text
    assert results["review"].text
