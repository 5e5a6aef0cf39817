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


@pytest.mark.both_backends
def test_0007_turns_json_null_timings_into_sql_null(empty_db_url: str, backend: str) -> None:
    """Drafts stored before 0007 held the JSON text ``null`` for absent server timings;
    the migration makes them SQL NULL and keeps real timings; new drafts store NULL."""
    import json

    from sqlalchemy import text

    from tests.rows import load_rows

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "schema_0001_demo.json"
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, "0001")
    load_rows(engine, json.loads(fixture.read_text(encoding="utf-8")))
    migrate.upgrade(engine, "0006")
    as_json = "CAST(:t AS JSON)" if backend == "postgresql" else ":t"
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE drafts SET server_timings = {as_json}"), {"t": "null"})
        columns = ("session_id, item_id, status, evidence, quotes, provider, model, "
                   "prompt_version, prompt_hash, params, created_at")  # fmt: skip
        connection.execute(  # a copy of the fixture's draft, with timings a server sent
            text(f"INSERT INTO drafts ({columns}, server_timings) "
                 f"SELECT {columns}, {as_json} FROM drafts"),
            {"t": '{"cache_n": 3}'},
        )  # fmt: skip
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, server_timings IS NULL FROM drafts ORDER BY id")
        ).all()
    assert [bool(is_null) for _, is_null in rows] == [True, False]
    engine.dispose()


@pytest.mark.both_backends
def test_0008_moves_review_scores_into_rows_and_back(empty_db_url: str, backend: str) -> None:
    """Reviews and reviews of predictions stored before 0008 keep their three scores, as
    one review_scores / prediction_review_scores row per criterion; the columns go.
    Downgrading to 0007 puts them back."""
    import json

    from sqlalchemy import text

    from tests.rows import load_rows

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "schema_0001_demo.json"
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, "0001")
    load_rows(engine, json.loads(fixture.read_text(encoding="utf-8")))
    migrate.upgrade(engine, "0007")
    with engine.begin() as connection:
        before = connection.execute(
            text("SELECT id, faithfulness, relevance, informativeness FROM reviews ORDER BY id")
        ).all()
        connection.execute(text(
            "INSERT INTO predictions (id, source, session_id, item_id, text, imported_at) "
            "SELECT 1, 'model-a', session_id, item_id, 'A model text.', CURRENT_TIMESTAMP "
            "FROM rationales ORDER BY id LIMIT 1"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO prediction_reviews (id, prediction_id, reviewer_id, faithfulness, "
            "relevance, informativeness, passed, rubric_version, created_at) "
            "SELECT 7, 1, id, 2, 4, 5, false, '1.0.0', CURRENT_TIMESTAMP FROM annotators "
            "ORDER BY id LIMIT 1"
        ))  # fmt: skip
    assert len(before) == 22
    migrate.upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("reviews")}
    assert not columns & {"faithfulness", "relevance", "informativeness"}
    with engine.connect() as connection:
        scores = connection.execute(
            text("SELECT review_id, criterion, score FROM review_scores")
        ).all()
        model = connection.execute(
            text("SELECT prediction_review_id, criterion, score FROM prediction_review_scores")
        ).all()
    expected = {
        (rid, name, value)
        for rid, *values in before
        for name, value in zip(("faithfulness", "relevance", "informativeness"), values,
                               strict=True)
    }  # fmt: skip
    assert set(map(tuple, scores)) == expected and len(scores) == 66
    assert set(map(tuple, model)) == {(7, "faithfulness", 2), (7, "relevance", 4),
                                      (7, "informativeness", 5)}  # fmt: skip
    from alembic import command

    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    with engine.connect() as connection:
        after = connection.execute(
            text("SELECT id, faithfulness, relevance, informativeness FROM reviews ORDER BY id")
        ).all()
        model_after = connection.execute(
            text("SELECT faithfulness, relevance, informativeness FROM prediction_reviews")
        ).all()
    assert [tuple(row) for row in after] == [tuple(row) for row in before]
    assert [tuple(row) for row in model_after] == [(2, 4, 5)]
    engine.dispose()


@pytest.mark.both_backends
def test_0009_adds_the_deid_tables_and_takes_them_away(empty_db_url: str, backend: str) -> None:
    """0009 adds the four de-identification tables and marker_drafts.params (nullable)
    to a store with rows, which keeps every row; its rows can be written (a client's map
    is unique per identifier); downgrading to 0008 drops the tables and the column and
    nothing else."""
    import json

    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.rows import dump_rows, load_rows

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "schema_0001_demo.json"
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, "0001")
    load_rows(engine, json.loads(fixture.read_text(encoding="utf-8")))
    migrate.upgrade(engine, "0008")
    with engine.begin() as connection:  # a marker draft made before 0009
        connection.execute(text(
            "INSERT INTO marker_schemes (id, name, version, families, codes, cues, loaded_at) "
            "VALUES ('3rs', '3RS', '1', '[]', '[]', '{}', CURRENT_TIMESTAMP)"))  # fmt: skip
        connection.execute(text(
            "INSERT INTO marker_drafts (id, session_id, scheme_id, status, provider, model, "
            "prompt_version, prompt_hash, scheme_version, created_at) SELECT 5, id, '3rs', "
            "'ok', 'offline', 'offline-cues-1', 'm1', 'h', '1', CURRENT_TIMESTAMP "
            "FROM sessions ORDER BY id LIMIT 1"))  # fmt: skip
    before = dump_rows(engine)
    assert len(before["tables"]["marker_drafts"]["rows"]) == 1
    migrate.upgrade(engine, "0009")
    deid = {"deid_clients", "deid_surrogates", "deid_roster", "deid_corrections"}
    assert deid <= set(inspect(engine).get_table_names())
    params = {c["name"]: c["nullable"] for c in inspect(engine).get_columns("marker_drafts")}
    assert params.get("params") is True  # a marker draft's parameters, NULL before
    after = dump_rows(engine)
    drafted, was = after["tables"].pop("marker_drafts"), before["tables"]["marker_drafts"]
    assert drafted["columns"] == [*was["columns"], "params"]
    assert drafted["rows"] == [[*row, None] for row in was["rows"]]  # kept, params NULL
    kept = {name: rows for name, rows in before["tables"].items() if name != "marker_drafts"}
    assert {name: after["tables"][name] for name in kept} == kept
    with engine.begin() as connection:
        client = connection.execute(text("SELECT id FROM clients ORDER BY id LIMIT 1")).scalar()
        connection.execute(
            text("INSERT INTO deid_clients (client_id, date_shift_days, created_at) "
                 "VALUES (:c, 17, CURRENT_TIMESTAMP)"), {"c": client})  # fmt: skip
        connection.execute(
            text("INSERT INTO deid_surrogates (client_id, mode, category, original, surrogate, "
                 "created_at) VALUES (:c, 'surrogate', 'name', 'Ann', 'Bea', CURRENT_TIMESTAMP)"),
            {"c": client},
        )  # fmt: skip
        connection.execute(
            text("INSERT INTO deid_roster (name, category, client_id, loaded_at) "
                 "VALUES ('Ann', 'name', NULL, CURRENT_TIMESTAMP)"))  # fmt: skip
        connection.execute(
            text("INSERT INTO deid_corrections (client_id, text, category, action, made_by, "
                 "created_at) VALUES (:c, 'Maple', 'place', 'mark', 'lead', CURRENT_TIMESTAMP)"),
            {"c": client},
        )  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text("INSERT INTO deid_surrogates (client_id, mode, category, original, surrogate, "
                 "created_at) VALUES (:c, 'surrogate', 'name', 'Ann', 'Cy', CURRENT_TIMESTAMP)"),
            {"c": client},
        )  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as connection:  # a client that is not
        connection.execute(
            text("INSERT INTO deid_clients (client_id, date_shift_days, created_at) "
                 "VALUES ('nobody', 3, CURRENT_TIMESTAMP)"))  # fmt: skip
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    assert not deid & set(inspect(engine).get_table_names())
    assert "params" not in {c["name"] for c in inspect(engine).get_columns("marker_drafts")}
    assert dump_rows(engine)["tables"] == before["tables"]
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    engine.dispose()


@pytest.mark.both_backends
def test_0010_adds_the_turn_alliance_table_and_takes_it_away(
    empty_db_url: str, backend: str
) -> None:
    """0010 adds turn_alliance and items.counselor_text (nullable) to a store with rows,
    keeping every row (counselor_text NULL); a turn's score is unique per (session, turn,
    method, model, instrument version); downgrading to 0009 takes both away and nothing
    else."""
    import json

    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.rows import dump_rows, load_rows

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "schema_0001_demo.json"
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, "0001")
    load_rows(engine, json.loads(fixture.read_text(encoding="utf-8")))
    migrate.upgrade(engine, "0009")
    before = dump_rows(engine)
    migrate.upgrade(engine, "0010")
    assert "turn_alliance" in set(inspect(engine).get_table_names())
    after = dump_rows(engine)
    items, was = after["tables"].pop("items"), before["tables"]["items"]
    assert items["columns"] == [*was["columns"], "counselor_text"]
    assert items["rows"] == [[*row, None] for row in was["rows"]]
    kept = {name: rows for name, rows in before["tables"].items() if name != "items"}
    assert {name: after["tables"][name] for name in kept} == kept
    insert = text(
        "INSERT INTO turn_alliance (session_id, turn_number, speaker, method, model, "
        "instrument_id, instrument_version, scores, params, created_at) SELECT id, 1, "
        "'client', 'lexical', 'char-3-5', 'wai-sr', '1.0.0', '{\"goal\": 0.25}', NULL, "
        "CURRENT_TIMESTAMP FROM sessions ORDER BY id LIMIT 1"
    )
    with engine.begin() as connection:
        connection.execute(insert)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(insert)  # the same turn, method, model and version again
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")
    assert "turn_alliance" not in set(inspect(engine).get_table_names())
    assert "counselor_text" not in {c["name"] for c in inspect(engine).get_columns("items")}
    assert dump_rows(engine)["tables"] == before["tables"]
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    engine.dispose()


@pytest.mark.both_backends
def test_0011_adds_judgements_and_draft_samples_and_takes_them_away(
    empty_db_url: str, backend: str
) -> None:
    """0011 adds judgements, judgement_scores and draft_samples to a store with rows and
    adds rationales.queue_rank (NULL), keeping every row; a judgement's score is one per
    criterion; downgrading to 0010 takes all that away and nothing else."""
    import json

    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tests.rows import dump_rows, load_rows

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "schema_0001_demo.json"
    engine = make_engine(empty_db_url)
    migrate.upgrade(engine, "0001")
    load_rows(engine, json.loads(fixture.read_text(encoding="utf-8")))
    migrate.upgrade(engine, "0010")
    before = dump_rows(engine)
    migrate.upgrade(engine, "0011")
    added = {"judgements", "judgement_scores", "draft_samples"}
    assert added <= set(inspect(engine).get_table_names())
    after = dump_rows(engine)
    rationales, was = after["tables"].pop("rationales"), before["tables"]["rationales"]
    assert rationales["columns"] == [*was["columns"], "queue_rank"]
    assert rationales["rows"] == [[*row, None] for row in was["rows"]]
    kept = {name: rows for name, rows in before["tables"].items() if name != "rationales"}
    assert {name: after["tables"][name] for name in kept} == kept
    with engine.begin() as connection:
        judgement = connection.execute(text(
            "INSERT INTO judgements (rationale_id, rationale_version, text_hash, status, "
            "passed, evidence, quotes, provider, model, prompt_version, prompt_hash, "
            "rubric_version, params, created_at) SELECT id, 1, 'h', 'ok', true, '[3]', "
            "'[]', 'openai', 'm', '1', 'p', '1.0.0', '{}', CURRENT_TIMESTAMP "
            "FROM rationales ORDER BY id LIMIT 1 RETURNING id"
        )).scalar_one()  # fmt: skip
        score = text("INSERT INTO judgement_scores (judgement_id, criterion, score) "
                     "VALUES (:j, 'faithfulness', 4)")  # fmt: skip
        connection.execute(score, {"j": judgement})
        connection.execute(text(
            "INSERT INTO draft_samples (session_id, item_id, samples, draft_ids, method, "
            "uncertainty, created_at) SELECT session_id, item_id, 2, '[]', 'rouge-l', 0.5, "
            "CURRENT_TIMESTAMP FROM rationales ORDER BY id LIMIT 1"
        ))  # fmt: skip
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(score, {"j": judgement})  # the same criterion twice
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    assert not added & set(inspect(engine).get_table_names())
    assert "queue_rank" not in {c["name"] for c in inspect(engine).get_columns("rationales")}
    assert dump_rows(engine)["tables"] == before["tables"]
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.HEAD_REVISION
    engine.dispose()
