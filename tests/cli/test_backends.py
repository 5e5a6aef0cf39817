"""Every command works the same with ``--db`` naming a SQLite file or a PostgreSQL URL.

COMMANDS holds one representative run of each command against the demo corpus. A new
command must be added here (the coverage test below fails until it is), so that the
whole command line keeps working on PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from annotate.cli import app
from annotate.guidelines import GUIDELINES_DIR
from tests.factories import session_record, write_jsonl

runner = CliRunner()
pytestmark = pytest.mark.both_backends

# name -> (arguments after --db URL, text expected in the output); {tmp} is a directory.
COMMANDS: dict[str, tuple[list[str], str]] = {
    "init": (["init", "--json"], '"revision"'),
    "demo": (["demo", "--keep", "--no-ui"], "demo ready"),
    "import": (["import", "{tmp}/new.jsonl", "--json"], '"created": 1'),
    "progress": (["progress", "--json"], '"sessions": 17'),
    "instrument load": (
        ["instrument", "load", str(GUIDELINES_DIR / "instruments" / "rupture.toml")],
        "loaded",
    ),
    "backup": (["backup", "{tmp}/backup.file"], "backed up"),
    # restore runs on SQLite; on PostgreSQL it prints the pg_restore command (exit 1).
    "restore": (["restore", "{tmp}/backup.file", "--force"], "restore"),
}


def _leaf_commands(group, prefix: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer may bring its own click)
            names.extend(_leaf_commands(command, f"{prefix}{name} "))
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_has_a_backend_run() -> None:
    group = get_command(app)
    missing = sorted(set(_leaf_commands(group)) - set(COMMANDS))
    assert missing == [], f"add a run of {missing} to COMMANDS in {__file__}"


def test_every_command_runs(demo_engine, db_url: str, backend: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_jsonl(tmp_path / "new.jsonl", [session_record("pg-new", language="zh")])
    from annotate.backup import find_pg_tool

    for name, (arguments, expected) in COMMANDS.items():
        if name == "backup" and backend == "postgresql" and find_pg_tool("pg_dump") is None:
            continue
        arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
        result = runner.invoke(app, ["--db", db_url, *arguments])
        if name == "restore" and backend == "postgresql":
            assert result.exit_code == 1 and "pg_restore" in result.stderr, result.output
            continue
        assert result.exit_code == 0, f"{name}: {result.output}"
        assert expected in result.stdout, f"{name}: {result.stdout}"
    progress = json.loads(runner.invoke(app, ["--db", db_url, "progress", "--json"]).stdout)
    assert progress["sessions"] == 17 and progress["instrument_items"] == 13
