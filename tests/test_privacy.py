"""Access and privacy: private database files, and an API key is never stored or printed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.cli import app
from store.db import make_engine
from tests.cli.test_backends import COMMANDS, invoke, prepare_inputs

runner = CliRunner()
SENTINEL_KEY = "sk-annotate-sentinel-3f9c1e7a5b2d4068"


def test_new_sqlite_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    assert runner.invoke(app, ["--db", str(db), "demo", "--keep", "--no-ui"]).exit_code == 0
    engine = make_engine(str(db))
    with engine.connect() as connection:  # keep the log files open to look at them
        connection.exec_driver_sql("SELECT count(*) FROM sessions").scalar()
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    engine.dispose()


def test_an_api_key_is_never_stored_or_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs every command (COMMANDS in tests/cli/test_backends.py) with a sentinel key set.

    The endpoint is a closed local port, so a command that calls the model fails fast
    and sends nothing anywhere; its error must not echo the key either.
    """
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    db = tmp_path / "work.db"
    prepare_inputs(tmp_path)
    outputs = []
    for name, run in COMMANDS.items():
        code, output, errors = invoke(run, str(db), tmp_path)
        assert code == 0, f"{name}: {output}{errors}"  # the key changes nothing offline
        outputs.append(output + errors)
    for extra in (
        ["--help"],
        ["progress", "--json"],
        ["--debug", "import", "missing.jsonl"],
        ["draft", "--force", "--limit", "2", "--max-retries", "0", "--json"],  # the key's path
    ):
        outputs.append(runner.invoke(app, ["--db", str(db), *extra]).output)
    assert '"provider": "openai"' in outputs[-1] and '"failed": 2' in outputs[-1], outputs[-1]
    assert all(SENTINEL_KEY not in output for output in outputs)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert db in files
    for path in files:
        assert SENTINEL_KEY.encode() not in path.read_bytes(), f"the key is in {path}"


def test_a_database_password_is_never_printed() -> None:
    for url in (
        "postgresql+psycopg2://ana:pw-sentinel-77@127.0.0.1:9/x",  # driver not installed
        "nosuchdriver://ana:pw-sentinel-77@127.0.0.1:9/x",
        "postgresql://ana:pw-sentinel-77@127.0.0.1:9/x",  # nothing listens there
    ):
        for command in (["progress"], ["init"], ["backup", "/nonexistent/b"], ["restore", "x"]):
            result = runner.invoke(app, ["--db", url, *command])
            assert result.exit_code != 0
            assert "pw-sentinel-77" not in result.output, (url, command, result.output)
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
