"""The Alembic history and the SQLModel tables must describe the same schema."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import store.models  # noqa: F401
from store import migrate
from store.db import make_engine


def test_head_constant_matches_alembic_head() -> None:
    assert migrate.head_revision() == migrate.HEAD_REVISION


@pytest.mark.both_backends
def test_upgrade_from_empty_matches_models(empty_db_url: str, backend: str) -> None:
    engine = make_engine(empty_db_url)
    assert engine.dialect.name == backend
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []
    tables = set(inspect(engine).get_table_names())
    assert {"sessions", "turns", "ratings", "drafts", "rationales", "reviews"} <= tables
    engine.dispose()


def test_sqlite_pragmas_and_private_file(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    engine = make_engine(str(path))
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
