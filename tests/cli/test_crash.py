"""Crash safety: a command killed with SIGKILL mid-write leaves a consistent store.

Each test runs a real ``annotate`` process, kills it while it writes (tests/crash.py),
then checks integrity, that the work is all there or not there at all, and that
running the command again completes. Add a test here for every command that writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.importing import import_file
from annotate.progress import counts
from store.db import make_engine
from tests.crash import assert_consistent, kill_when, start, writing
from tests.factories import ITEMS


def _big_sessions(path: Path, sessions: int, turns: int = 20) -> Path:
    sentence = "I keep saying it is fine, but I did not do the homework again this week. "
    with path.open("w", encoding="utf-8") as handle:
        for n in range(sessions):
            record = {
                "session_id": f"big{n:05d}",
                "client_id": f"c{n % 50}",
                "counselor_id": f"t{n % 5}",
                "turns": [
                    {"speaker": ("counselor", "client")[t % 2], "text": f"{t}: {sentence}"}
                    for t in range(turns)
                ],
                "client_ratings": {item: 1 + (n + i) % 5 for i, item in enumerate(ITEMS)},
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


@pytest.mark.both_backends
def test_import_killed_mid_write_leaves_nothing_and_reimport_works(
    engine, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    big = _big_sessions(tmp_path / "big.jsonl", 3000)
    before = counts(engine)
    process = start("import", str(big), db_url=db_url)
    kill_when(process, writing(db_url))
    after = assert_consistent(db_url)
    assert after == before, "a killed import must leave no rows of its file"
    result = import_file(engine, big)
    assert result.created == 3000
    assert counts(engine)["sessions"] == before["sessions"] + 3000


@pytest.mark.both_backends
def test_demo_killed_between_and_during_files_is_all_or_nothing_per_file(
    engine, db_url: str
) -> None:  # type: ignore[no-untyped-def]
    full = {"sessions": 16, "turns": 300, "rationale_versions": 48, "reviews": 22}
    for threshold in (1, 32 * 1024):
        process = start("demo", "--keep", "--no-ui", db_url=db_url)
        try:
            kill_when(process, writing(db_url, min_wal_bytes=threshold))
        except AssertionError as error:
            if "finished" not in str(error):
                raise
            break  # the demo completed before this kill point: nothing more to test
        figures = assert_consistent(db_url)
        for key, value in full.items():
            assert figures[key] in (0, value), f"{key}: {figures[key]} is part of a file"
    done = start("demo", "--keep", "--no-ui", db_url=db_url)
    assert done.wait(timeout=120) == 0, done.stderr.read() if done.stderr else ""
    figures = assert_consistent(db_url)
    assert {key: figures[key] for key in full} == full


def test_init_killed_leaves_no_half_schema(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'new.db'}"
    process = start("init", db_url=db_url)
    wal = tmp_path / "new.db-wal"
    try:
        kill_when(process, lambda: wal.exists())
    except AssertionError as error:
        assert "finished" in str(error)
    from sqlalchemy import inspect

    from store import migrate
    from store.db import make_engine

    engine = make_engine(db_url)
    revision = migrate.current_revision(engine)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert (revision, tables) in ((None, set()),) or revision == migrate.HEAD_REVISION
    again = start("init", db_url=db_url)
    assert again.wait(timeout=120) == 0
    assert_consistent(db_url)


def _demo_file(tmp_path: Path, name: str) -> str:
    db = tmp_path / name
    process = start("demo", "--no-ui", db_url=str(db))
    assert process.wait(timeout=120) == 0
    return str(db)


def test_backup_killed_leaves_no_backup_file_and_the_database_intact(tmp_path: Path) -> None:
    db = _demo_file(tmp_path, "work.db")
    before = assert_consistent(f"sqlite:///{db}")
    target = tmp_path / "out" / "b.db"
    target.parent.mkdir()
    process = start("backup", str(target), db_url=db)
    try:
        kill_when(process, lambda: any(target.parent.glob(".b.db.partial-*")))
        assert not target.exists(), "a killed backup must not leave a backup file"
    except AssertionError as error:
        assert "finished" in str(error)
    assert assert_consistent(f"sqlite:///{db}") == before
    assert start("backup", str(target), "--force", db_url=db).wait(timeout=120) == 0
    assert assert_consistent(f"sqlite:///{target}") == before


def test_restore_killed_leaves_the_old_or_the_new_data(tmp_path: Path) -> None:
    db = _demo_file(tmp_path, "work.db")
    backup = tmp_path / "b.db"
    assert start("backup", str(backup), db_url=db).wait(timeout=120) == 0
    engine = make_engine(db)
    import_file(engine, _big_sessions(tmp_path / "more.jsonl", 400))
    old = counts(engine)
    engine.dispose()
    new = assert_consistent(f"sqlite:///{backup}")
    process = start("restore", str(backup), "--force", db_url=db)
    try:
        kill_when(process, writing(f"sqlite:///{db}", min_wal_bytes=1))
    except AssertionError as error:
        assert "finished" in str(error)
    assert assert_consistent(f"sqlite:///{db}") in (old, new)
    assert start("restore", str(backup), "--force", db_url=db).wait(timeout=120) == 0
    assert assert_consistent(f"sqlite:///{db}") == new
