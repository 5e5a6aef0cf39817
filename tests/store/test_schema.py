"""A new database made from the head schema files equals a migrated one, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import store.models  # noqa: F401
from annotate.core.database import initialise
from annotate.core.guidelines import (
    RUPTURE_INSTRUMENT,
    default_instrument,
    default_markers,
    load_instrument,
)
from annotate.core.instruments import install_instrument
from annotate.core.markers import install_markers
from annotate.core.new_store import install_defaults
from store import migrate, schema
from store.db import make_engine

SEED_TABLES = {
    "instruments": "SELECT id, name, version, scale_min, scale_max, anchors, dimensions,"
    " rationales FROM instruments ORDER BY id",
    "items": "SELECT id, instrument_id, dimension, position, text, binary_above FROM items"
    " ORDER BY id",
    "marker_schemes": "SELECT id, name, version, families, codes, cues FROM marker_schemes",
}


@pytest.mark.parametrize("dialect", schema.DIALECTS)
def test_head_files_are_current(dialect: str) -> None:
    assert schema.head_is_current(dialect)
    assert schema.head_file(dialect).read_text(encoding="utf-8") == schema.render(dialect), (
        "the models or migrations changed: run python -m store.schema"
    )


def _described(engine: Engine) -> dict[str, Any]:
    """Everything the inspector tells about each table, columns in their order."""
    inspector = inspect(engine)
    described: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        described[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                )
                for fk in inspector.get_foreign_keys(table)
            ),  # fmt: skip
            "indexes": sorted(
                (str(i["name"]), tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    return described


@pytest.mark.both_backends
def test_created_head_equals_the_migrated_schema(backend: str, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engines = []
    for way in ("migrated", "created"):
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'{way}.db'}"
        else:
            url = request.getfixturevalue("pg_server").create_database()
        engine = make_engine(url)
        if way == "migrated":
            migrate.upgrade(engine)
        else:
            with engine.begin() as connection:
                schema.create_head(connection)
        engines.append(engine)
    migrated, created = engines
    assert migrate.current_revision(created) == migrate.HEAD_REVISION
    assert _described(created) == _described(migrated)
    with created.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    for engine in engines:
        engine.dispose()


@pytest.mark.both_backends
def test_a_new_store_gets_the_same_defaults_as_an_installed_one(
    backend: str, request, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for way in ("orm", "plain"):
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'{way}.db'}"
        else:
            url = request.getfixturevalue("pg_server").create_database()
        engine = make_engine(url)
        with engine.begin() as connection:
            schema.create_head(connection)
            if way == "plain":
                install_defaults(connection)
        if way == "orm":
            with Session(engine) as session:
                install_instrument(session, default_instrument())
                install_instrument(session, load_instrument(RUPTURE_INSTRUMENT))
                install_markers(session, default_markers())
                session.commit()
        with engine.connect() as connection:
            rows.append({t: list(connection.execute(text(q))) for t, q in SEED_TABLES.items()})
            loaded = connection.execute(text("SELECT loaded_at FROM instruments")).scalars()
            assert all(value is not None for value in loaded)
        engine.dispose()
    assert rows[0] == rows[1]
    assert len(rows[0]["items"]) == 13  # WAI-SR's 12 and the rupture question


def test_initialise_creates_a_new_store_at_head_and_upgrades_an_old_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine, before = initialise(str(tmp_path / "new.db"))
    assert before is None and migrate.current_revision(engine) == migrate.HEAD_REVISION
    engine.dispose()
    old = make_engine(str(tmp_path / "old.db"))
    migrate.upgrade(old, "0005")
    engine, before = initialise(str(tmp_path / "old.db"))
    assert before == "0005" and migrate.current_revision(engine) == migrate.HEAD_REVISION
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM items")).scalar() == 13
    for each in (old, engine):
        each.dispose()
