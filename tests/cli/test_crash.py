"""Crash safety: a command killed with SIGKILL mid-write leaves a consistent store.

Each test runs a real ``annotate`` process, kills it while it writes (tests/crash.py),
then checks integrity, that the work is all there or not there at all, and that
running the command again completes. Add a test here for every command that writes.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from annotate.core.workflow import DRAFT_OK
from annotate.ingest import import_file
from annotate.work.progress import counts
from store.db import make_engine
from tests.crash import assert_consistent, committed_rows, kill_when, start, writing
from tests.export_corpus import build_corpus
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
    full = {"sessions": 112, "turns": 1268, "rationale_versions": 48, "reviews": 22}
    # the demo's files: sessions.jsonl (16 sessions, 300 turns), then its rationales and
    # reviews, then monitoring.jsonl (96 sessions, 968 turns)
    parts = {"sessions": (0, 16, 112), "turns": (0, 300, 1268)}
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
            whole = parts.get(key, (0, value))
            assert figures[key] in whole, f"{key}: {figures[key]} is part of a file"
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


def _drafts_per_unit(db_url: str) -> Counter[tuple[str, str]]:
    """How many drafts each (session, item) has under one provider, model and prompt."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT session_id, item_id, provider, model, prompt_version, status, text "
                    "FROM drafts"
                )
            ).all()
    finally:
        engine.dispose()
    assert all(row.status == DRAFT_OK and row.text for row in rows), "a draft row is partial"
    assert len({(row.provider, row.model, row.prompt_version) for row in rows}) <= 1
    return Counter((row.session_id, row.item_id) for row in rows)


@pytest.mark.both_backends
def test_draft_killed_mid_batch_resumes_drafting_each_item_once(
    engine, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    sessions = 100
    import_file(engine, _big_sessions(tmp_path / "big.jsonl", sessions))
    every_unit = {(f"big{n:05d}", item) for n in range(sessions) for item in ITEMS}
    process = start("draft", "--provider", "offline", db_url=db_url)
    kill_when(process, committed_rows(db_url, "drafts", 60))
    assert_consistent(db_url)
    first = _drafts_per_unit(db_url)
    assert 60 <= len(first) < len(every_unit), "the kill did not land mid-batch"
    assert set(first) <= every_unit and set(first.values()) == {1}

    rerun = start("draft", "--provider", "offline", "--json", db_url=db_url)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr.decode(errors="replace")
    summary = json.loads(stdout)
    assert summary["skipped_already_drafted"] == len(first)
    assert summary["done"] == summary["ok"] == len(every_unit) - len(first)
    final = _drafts_per_unit(db_url)
    assert set(final) == every_unit, "an item is missing"
    assert set(final.values()) == {1}, "an item was drafted twice"
    assert assert_consistent(db_url)["drafts"] == len(every_unit)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.both_backends
def test_export_killed_mid_write_leaves_no_output_and_the_rerun_is_complete(
    engine, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    build_corpus(engine, [3] * 250)
    before = counts(engine)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "export"
    arguments = ("export", "--format", "openai", "--folds", "3", "--json")
    process = start(*arguments, "--out", str(out), db_url=db_url)

    def staging_written() -> bool:  # the first 1 MiB buffer of a data file reached the disk
        return any(
            path.stat().st_size > 0 for path in work.glob(".export.partial-*/fold_*/*.jsonl")
        )

    kill_when(process, staging_written)
    assert not out.exists(), "a killed export must leave nothing at --out"
    assert assert_consistent(db_url) == before  # an export only reads

    rerun = start(*arguments, "--out", str(out), db_url=db_url)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr.decode(errors="replace")
    assert sorted(p.name for p in work.iterdir()) == ["export"], "the killed staging is left"
    manifest = json.loads(stdout)
    assert manifest["counts"]["records"] == 250 * 3 * len(ITEMS)

    reference = tmp_path / "reference"
    uninterrupted = start(*arguments, "--out", str(reference), db_url=db_url)
    assert uninterrupted.wait(timeout=120) == 0
    rerun_files, reference_files = _tree(out), _tree(reference)
    assert len(rerun_files) == 1 + 1 + 3 * 2 * 2  # manifest, dataset_info, folds x splits x 2
    assert rerun_files == reference_files


def _complete_export(out: Path) -> dict:
    """The manifest of the complete export at ``out``: every file it lists, hash intact."""
    import hashlib

    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    for name, info in manifest["files"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"], f"{name} is incomplete"
    return manifest


@pytest.mark.slow
def test_export_force_killed_at_any_moment_leaves_the_old_or_the_new_export(
    engine, db_url: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Replacing an export: SIGKILLs spread over the run, the last ones at the swap itself."""
    import random
    import time

    build_corpus(engine, [2] * 120)
    out = tmp_path / "export"
    base = ("export", "--format", "alpaca", "--json", "--out", str(out))
    first = start(*base, db_url=db_url)
    assert first.wait(timeout=120) == 0
    assert _complete_export(out)["folds"] is None
    begun = time.monotonic()
    timed = start(*base, "--force", "--folds", "2", db_url=db_url)
    assert timed.wait(timeout=120) == 0
    duration = time.monotonic() - begun
    rng = random.Random(7)
    for attempt in range(10):
        folds = ("--folds", "2") if attempt % 2 == 0 else ()
        process = start(*base, "--force", *folds, db_url=db_url)
        # Half the kills land in the last fifth of a run, where the swap happens.
        share = rng.uniform(0.8, 1.05) if attempt % 2 else rng.uniform(0.2, 1.0)
        time.sleep(duration * share)
        process.kill()
        process.wait(timeout=30)
        _complete_export(out)  # always complete: the old or the new export
    rerun = start(*base, "--force", db_url=db_url)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr.decode(errors="replace")
    assert _complete_export(out)["folds"] is None
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
