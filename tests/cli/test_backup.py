"""``annotate backup`` / ``restore``: private, complete copies; no silent overwrite."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from annotate.export.backup import find_pg_tool
from cli.app import app
from store import migrate
from store.db import make_engine
from tests.rows import dump_rows

runner = CliRunner()


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    path = str(tmp_path / "work.db")
    assert _invoke("--db", path, "demo", "--no-ui").exit_code == 0
    return path


def _rows(db: str) -> dict:
    engine = make_engine(db)
    try:
        return dump_rows(engine)
    finally:
        engine.dispose()


def test_backup_is_private_complete_and_not_overwritten(demo_db: str, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "monday.db"
    result = _invoke("--db", demo_db, "backup", str(target), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["sessions"], report["rationale_versions"], report["revision"]) == (
        112,  # the demo's 16 annotated sessions and 96 rated for monitoring
        48,
        migrate.HEAD_REVISION,
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["monday.db"]
    with sqlite3.connect(target) as copy:  # one self-contained file, not WAL
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert _rows(str(target)) == _rows(demo_db)
    again = _invoke("--db", demo_db, "backup", str(target))
    assert again.exit_code == 1 and "pass --force" in again.stderr
    assert _invoke("--db", demo_db, "backup", str(target), "--force").exit_code == 0


def test_backup_of_a_missing_or_foreign_file_is_one_line(tmp_path: Path) -> None:
    missing = _invoke("--db", str(tmp_path / "none.db"), "backup", str(tmp_path / "b.db"))
    assert missing.exit_code == 1 and "no database to back up" in missing.stderr
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    foreign = _invoke("--db", str(other), "backup", str(tmp_path / "b.db"))
    assert foreign.exit_code == 1 and "not an annotate database" in foreign.stderr
    assert not (tmp_path / "b.db").exists()


def test_restore_into_new_refuses_work_then_forced(demo_db: str, tmp_path: Path) -> None:
    backup = tmp_path / "b.db"
    assert _invoke("--db", demo_db, "backup", str(backup)).exit_code == 0
    fresh = tmp_path / "fresh.db"
    restored = _invoke("--db", str(fresh), "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert _rows(str(fresh)) == _rows(demo_db)

    # New work in the live database, then an attempt to restore the older backup over it.
    engine = make_engine(demo_db)
    with engine.begin() as connection:
        connection.execute(text("UPDATE rationales SET flagged = 1 WHERE id = 1"))
    refused = _invoke("--db", demo_db, "restore", str(backup))
    assert refused.exit_code == 1
    held = "holds work (112 sessions, 192 drafts, 48 rationale versions, 22 reviews)"
    assert held in refused.stderr
    # A connection open during the restore sees the restored data afterwards.
    with engine.connect() as reader:
        assert reader.execute(text("SELECT flagged FROM rationales WHERE id = 1")).scalar() == 1
        reader.rollback()  # idle, as a terminal UI between two reads
        forced = _invoke("--db", demo_db, "restore", str(backup), "--force")
        assert forced.exit_code == 0, forced.output
        reader.rollback()
        assert reader.execute(text("SELECT flagged FROM rationales WHERE id = 1")).scalar() == 0
    engine.dispose()
    assert _rows(demo_db) == _rows(str(backup))


def test_restore_refuses_unknown_schemas_and_non_backups(demo_db: str, tmp_path: Path) -> None:
    backup = tmp_path / "b.db"
    assert _invoke("--db", demo_db, "backup", str(backup)).exit_code == 0
    with sqlite3.connect(backup) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
    newer = _invoke("--db", str(tmp_path / "n.db"), "restore", str(backup))
    assert newer.exit_code == 1 and "made by a newer annotate" in newer.stderr
    assert not (tmp_path / "n.db").exists()

    good = tmp_path / "good.db"
    assert _invoke("--db", demo_db, "backup", str(good)).exit_code == 0
    with sqlite3.connect(demo_db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
    over_newer = _invoke("--db", demo_db, "restore", str(good), "--force")
    assert over_newer.exit_code == 1 and "newer than this annotate knows" in over_newer.stderr

    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    result = _invoke("--db", str(tmp_path / "x.db"), "restore", str(junk))
    assert result.exit_code == 1 and result.stderr.startswith("error: cannot restore")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgres_backup_runs_pg_dump_and_restore_prints_the_command(
    backend: str, demo_engine, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    if find_pg_tool("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    with_password = db_url.replace("postgres@", "postgres:sekret-pw@")
    target = tmp_path / "team.dump"
    result = _invoke("--db", with_password, "backup", str(target), "--json")
    assert result.exit_code == 0, result.output
    assert "sekret-pw" not in result.output
    assert json.loads(result.stdout)["backend"] == "postgresql"
    assert target.stat().st_size > 10_000 and stat.S_IMODE(target.stat().st_mode) == 0o600

    restore = _invoke("--db", with_password, "restore", str(target))
    assert restore.exit_code == 1 and "pg_restore --clean" in restore.stderr
    assert "sekret-pw" not in restore.output

    # The dump is a real one: pg_restore into an empty database gives the same rows.
    empty = db_url.rsplit("/", 1)[0] + "/postgres"
    admin = make_engine(empty).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE restored_copy"))
    admin.dispose()
    copy_url = db_url.rsplit("/", 1)[0] + "/restored_copy"
    libpq = copy_url.replace("postgresql+psycopg://", "postgresql://")
    pg_restore = find_pg_tool("pg_restore")
    assert pg_restore is not None
    subprocess.run([pg_restore, "--no-owner", "--dbname", libpq, str(target)], check=True)
    assert _rows(copy_url) == _rows(db_url)
    admin = make_engine(empty).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE restored_copy WITH (FORCE)"))
    admin.dispose()
