"""Access and privacy: private database files, and an API key is never stored or printed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
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


@pytest.mark.postgres
def test_serve_keeps_the_database_password_off_command_lines_and_output(
    pg_server, pg_demo_template, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """``ps`` shows every local user each process's command line: no password may be there.

    The lead gives the URL in ``ANNOTATE_DB`` (as the README says for a password); the
    UI processes serve starts must get it the same way, not as ``--db URL``.
    """
    import os
    import signal
    import subprocess
    import sys

    from tests.interactive import ROOT, _browse, _page

    secret = "pw-serve-sentinel-31"
    plain = pg_server.create_database(template=pg_demo_template)
    url = plain.replace("postgres@", f"postgres:{secret}@", 1)  # trust auth ignores it
    process = subprocess.Popen(
        [sys.executable, "-m", "annotate", "serve", "--port", "0", "--annotator", "ana"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "ANNOTATE_DB": url},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    command_lines: list[str] = []
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert " on http://127.0.0.1:" in first, first
        served = first.split(" on ")[1].strip()
        _page(served, 30.0)  # the server listens once the page answers

        def snapshot_command_lines() -> None:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        raw = (entry / "cmdline").read_bytes()
                    except OSError:
                        continue
                    command_lines.append(raw.replace(b"\0", b" ").decode(errors="replace"))

        import asyncio
        import threading

        browsing = threading.Event()

        def watch() -> None:  # every process's command line, while the UI process runs
            while not browsing.is_set():
                snapshot_command_lines()
                browsing.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            screen = asyncio.run(_browse(served, " rationales · ", 60.0))
        finally:
            browsing.set()
            watcher.join()
        assert " rationales · " in screen  # the UI reached the database through its env
    finally:
        process.send_signal(signal.SIGINT)
        output = first + process.communicate(timeout=30)[0]
        pg_server.drop_database(plain.rsplit("/", 1)[1])
    ui = [line for line in command_lines if "annotate tui" in line or "-m annotate" in line]
    assert any(" tui" in line for line in ui), command_lines[:5]
    assert all(secret not in line for line in command_lines)
    assert secret not in output


def test_a_server_echoing_the_key_anywhere_leaves_it_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``annotate draft`` against a server that echoes the key in each place a reply can."""
    from tests.factories import session_record, write_jsonl
    from tests.llm_server import FakeLLM, ServerThread

    db = tmp_path / "work.db"
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("e1")])
    assert runner.invoke(app, ["--db", str(db), "import", str(path)]).exit_code == 0
    fake = FakeLLM(
        faults={
            "e1/goal_1": "echo-auth",
            "e1/goal_2": "echo-body",
            "e1/goal_3": "echo-header",
            "e1/goal_4": "echo-text",
        }
    )
    with ServerThread(fake):
        monkeypatch.setenv("OPENAI_API_KEY", SENTINEL_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        result = runner.invoke(app, ["--db", str(db), "draft", "--max-retries", "0", "--json"])
        report = runner.invoke(app, ["--db", str(db), "progress", "--json"])
    assert result.exit_code == 0, result.output
    assert sum(fake.requests.values()) >= 12  # every echoing mode was asked
    assert SENTINEL_KEY not in result.output + report.output
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert SENTINEL_KEY.encode() not in file.read_bytes(), f"the key is in {file}"
