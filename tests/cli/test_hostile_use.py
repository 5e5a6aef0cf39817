"""A tired or hostile user at the command line: one line, a non-zero exit, nothing destroyed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from store.db import make_engine
from tests.factories import session_record, write_jsonl

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def _one_line_error(result, *fragments: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    path = tmp_path / "work.db"
    assert _invoke("--db", str(path), "demo", "--no-ui").exit_code == 0
    return path


def test_backup_over_the_live_database_is_refused_and_no_save_is_lost(demo_db: Path) -> None:
    """``backup DB DB --force`` used to swap a snapshot over the live file under a writer."""
    from annotate.core.database import open_store
    from annotate.work.assignment import assign_authoring
    from annotate.work.queue import authoring_queue
    from annotate.work.rationales import editor

    engine = open_store(str(demo_db))
    assign_authoring(engine, ["ana"], seed=0)
    pending = [e for e in authoring_queue(engine, "ana") if e.status == "pending"][:40]
    saved: list[int] = []

    def expert() -> None:
        for entry in pending:
            editor.save(engine, entry.rationale_id, "ana", f"text of {entry.rationale_id}", 0)
            saved.append(entry.rationale_id)

    writer = threading.Thread(target=expert)
    writer.start()
    for target in (demo_db, Path(f"{demo_db}-wal"), Path(f"{demo_db}-shm")):
        result = _invoke("--db", str(demo_db), "backup", str(target), "--force")
        _one_line_error(result, "is the live database")
    writer.join()
    with engine.connect() as connection:
        from sqlalchemy import text

        stored = connection.execute(
            text("SELECT count(*) FROM rationale_versions WHERE kind = 'save'")
        ).scalar_one()
    engine.dispose()
    assert len(saved) == len(pending) == stored


def test_backup_to_an_unwritable_place_is_one_line(demo_db: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for target in ("/proc/x.db", str(afile / "x.db")):
        _one_line_error(_invoke("--db", str(demo_db), "backup", target), "cannot write a backup")


def test_backup_removes_copies_a_killed_backup_left(demo_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "monday.db"
    target.parent.mkdir()
    dead = target.with_name(".monday.db.partial-999999999")  # no such process
    dead.write_bytes(b"half a copy")
    running = target.with_name(f".monday.db.partial-{os.getppid()}")  # a live process
    running.write_bytes(b"being written")
    other = target.with_name(".tuesday.db.partial-999999999")  # another backup's
    other.write_bytes(b"not ours")
    assert _invoke("--db", str(demo_db), "backup", str(target)).exit_code == 0
    assert not dead.exists() and running.exists() and other.exists() and target.is_file()


def test_a_mistyped_database_is_refused_not_created(demo_db: Path, tmp_path: Path) -> None:
    typo = tmp_path / "wrok.db"
    for command in (["progress"], ["export", "--format", "openai", "--out", str(tmp_path / "x")],
                    ["edits"], ["backup", str(tmp_path / "b.db")], ["assign", "--annotators", "a"],
                    ["review-assign"], ["report", "--html", str(tmp_path / "r.html")]):  # fmt: skip
        result = _invoke("--db", str(typo), *command)
        _one_line_error(result, str(typo), "no database")
        assert not typo.exists(), command
    assert not (tmp_path / "x").exists()
    # import and init may create it
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("s1")])
    assert _invoke("--db", str(typo), "import", str(path)).exit_code == 0
    assert typo.exists()


def test_import_of_a_directory_says_so(tmp_path: Path) -> None:
    result = _invoke("--db", str(tmp_path / "n.db"), "import", str(tmp_path))
    _one_line_error(result, f"{tmp_path}: is a directory")


@pytest.mark.parametrize("damage", ["not-sqlite", "truncated"])
def test_a_file_that_is_not_a_database_is_one_line(
    demo_db: Path, tmp_path: Path, damage: str
) -> None:
    bad = tmp_path / "bad.db"
    if damage == "not-sqlite":
        bad.write_text("these are my notes, not a database\n" * 50)
    else:
        engine = make_engine(str(demo_db))
        engine.dispose()
        bad.write_bytes(demo_db.read_bytes()[:3000])
    for command in (["progress"], ["init"], ["draft", "--provider", "offline"]):
        result = _invoke("--db", str(bad), *command)
        line = _one_line_error(result, "cannot use database", str(bad))
        assert "SELECT" not in line and "INSERT" not in line


def test_a_read_only_database_is_one_line_without_row_parameters(
    demo_db: Path, tmp_path: Path
) -> None:
    fresh = write_jsonl(tmp_path / "fresh.jsonl", [session_record("undrafted")])
    assert _invoke("--db", str(demo_db), "import", str(fresh)).exit_code == 0  # work for draft
    read_only = f"sqlite:///file:{demo_db}?mode=ro&uri=true"
    for command in (["draft", "--provider", "offline"], ["assign", "--annotators", "ana"]):
        result = _invoke("--db", read_only, *command)
        line = _one_line_error(result, "read-only")
        assert "transcript" not in line.lower() and "[parameters" not in line
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("ro1")])
    _one_line_error(_invoke("--db", read_only, "import", str(path)), "read-only")
    assert not (tmp_path / "file:").exists()


def test_a_newer_schema_says_upgrade_annotate(demo_db: Path) -> None:
    import sqlite3

    with sqlite3.connect(demo_db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    for command in (["progress"], ["init"]):
        line = _one_line_error(_invoke("--db", str(demo_db), *command), "newer annotate")
        assert "upgrade annotate" in line and "run 'annotate init'" not in line


def test_export_out_symlinks_are_one_line_in_a_real_process(demo_db: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    process = subprocess.run(
        [sys.executable, "-m", "annotate", "--db", str(demo_db), "export", "--format", "openai",
         "--out", str(link), "--force"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert process.returncode != 0 and "Traceback" not in process.stderr
    assert process.stderr.strip().splitlines() == [
        f"error: {link}: is a symbolic link; give the directory itself"
    ]


def test_serve_beyond_loopback_needs_an_explicit_flag(demo_db: Path) -> None:
    result = _invoke("--db", str(demo_db), "serve", "--host", "0.0.0.0", "--port", "0")
    _one_line_error(result, "--allow-remote", "TLS proxy")
