"""The command line: help, JSON output, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app
from tests.factories import session_record, write_jsonl

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def test_help_lists_every_command_with_one_line() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("import", "progress", "init", "demo", "instrument"):
        assert f"  {command} " in result.output


def test_progress_json_on_empty_db(tmp_path: Path) -> None:
    assert runner.invoke(app, ["--db", str(tmp_path / "e.db"), "init"]).exit_code == 0
    result = runner.invoke(app, ["--db", str(tmp_path / "e.db"), "progress", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("sessions", "drafts", "rationales", "reviews"):
        assert data[key] == 0 and isinstance(data[key], int)


def test_import_then_progress(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("a"), session_record("b")])
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 2 sessions (2 new)" in result.output
    again = runner.invoke(app, ["import", str(path)])
    assert "nothing changed" in again.output
    data = json.loads(runner.invoke(app, ["progress", "--json"]).stdout)
    assert (data["sessions"], data["items"]) == (2, 24)


def test_bad_file_gives_lines_and_non_zero_exit(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("a"), "{broken"])
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2: not valid JSON" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {path}: 1 error(s); nothing was imported"
    )
    assert "Traceback" not in result.output


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.jsonl'}: file not found"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "annotate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_process_error_has_no_traceback_unless_debug(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.jsonl")
    plain = _run("import", missing, cwd=tmp_path)
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1, plain.stderr
    debug = _run("--debug", "import", missing, cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_bad_database_url_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", "nosuchdriver://x/y", "progress"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot use database")


def test_outdated_schema_is_refused(tmp_path: Path) -> None:
    from store import migrate
    from store.db import make_engine

    db = str(tmp_path / "old.db")
    engine = make_engine(db)
    migrate.upgrade(engine, "0001")  # the first released schema
    engine.dispose()
    result = runner.invoke(app, ["--db", db, "progress"])
    assert result.exit_code == 1 and "run 'annotate init' to upgrade" in result.stderr


def test_demo_headless_prints_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--db", str(tmp_path / "d.db"), "demo", "--no-ui"])
    assert result.exit_code == 0, result.output
    assert "demo ready" in result.output and "16 sessions" in result.output


def test_a_database_locked_too_long_is_one_line(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "busy.db"
    assert runner.invoke(app, ["--db", str(db), "init"]).exit_code == 0
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("a")])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that never lets go
    from store import db as store_db

    original = store_db.SQLITE_BUSY_TIMEOUT_MS
    store_db.SQLITE_BUSY_TIMEOUT_MS = 200
    try:
        result = runner.invoke(app, ["--db", str(db), "import", str(path)])
    finally:
        store_db.SQLITE_BUSY_TIMEOUT_MS = original
        holder.rollback()
        holder.close()
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: the database is busy (another command is writing): try again"
    )


def test_a_database_locked_during_the_work_is_one_line(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    import annotate.ingest

    def locked(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(annotate.ingest, "import_file", locked)
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("a")])
    result = runner.invoke(app, ["import", str(path)])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "error: the database is busy (another command is writing): try again"
    )
