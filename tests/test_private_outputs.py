"""Every file annotate writes that holds clinical text is owner-only (0600, folders 0700).

Run under a permissive umask (022), and over files that already exist readable by
everyone (0644): a rewrite must end owner-only too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.export.formats import FORMATS
from cli.app import app
from store.private import create_private, make_private_folders, open_private, write_private

runner = CliRunner()


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _run(*arguments: str) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result.output


def test_helpers_make_files_0600_and_new_folders_0700(
    tmp_path: Path, permissive_umask: None
) -> None:
    existing = tmp_path / "old.txt"
    existing.write_text("readable by all")
    existing.chmod(0o644)
    write_private(existing, b"now private")
    assert (_mode(existing), existing.read_bytes()) == (0o600, b"now private")
    shown = tmp_path / "open.txt"
    shown.write_text("x")
    shown.chmod(0o644)
    with open_private(shown) as handle:
        handle.write(b"y")
    assert (_mode(shown), shown.read_bytes()) == (0o600, b"y")
    deep = tmp_path / "a" / "b" / "c.txt"
    write_private(deep, b"z")
    assert [_mode(p) for p in (deep.parent.parent, deep.parent, deep)] == [0o700, 0o700, 0o600]
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    make_private_folders(shared / "inner")
    assert (_mode(shared), _mode(shared / "inner")) == (0o755, 0o700)  # existing: as set
    team = tmp_path / "team.db"
    team.write_bytes(b"")
    team.chmod(0o660)  # a database shared with a group on purpose stays shared
    create_private(team)
    assert _mode(team) == 0o660
    create_private(tmp_path / "new.db")
    assert _mode(tmp_path / "new.db") == 0o600


def test_every_written_file_is_owner_only(
    tmp_path: Path, permissive_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "work.db")
    _run("--db", db, "demo", "--keep", "--no-ui")
    report = tmp_path / "reports" / "report.html"
    backup = tmp_path / "backups" / "work.db"
    requests = tmp_path / "batches" / "requests.jsonl"
    for path in (report, backup, requests):  # already there, readable by everyone
        path.parent.mkdir(mode=0o755)
        path.write_text("old")
        path.chmod(0o644)
    _run("--db", db, "report", "--html", str(report), "--samples", "20")
    assert "Krippendorff" in report.read_text(encoding="utf-8")
    _run("--db", db, "backup", str(backup), "--force")
    base = ["--db", db, "draft", "--base-url", "http://127.0.0.1:9/v1", "--session", "s13",
            "--include-accepted"]  # fmt: skip
    assert "wrote 12 request(s)" in _run(*base, "--batch-file", str(requests))
    _run("--db", db, "restore", str(backup), "--force")
    exports = tmp_path / "exports"
    for fmt in FORMATS:
        out = exports / fmt
        options = ["--folds", "2", "--parquet"] if fmt != "markers" else []
        if fmt != "markers":
            options.append("--include-unreviewed")
        arguments = ["--db", db, "export", "--format", fmt, "--out", str(out), *options]
        _run(*arguments)
        for written in out.rglob("*"):  # a second export replaces files left 0644
            if written.is_file():
                written.chmod(0o644)
        _run(*arguments, "--force")
    written_files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    names = {p.relative_to(tmp_path).as_posix() for p in written_files}
    assert {"reports/report.html", "backups/work.db", "batches/requests.jsonl",
            "exports/openai/fold_2/val.parquet", "exports/dpo/manifest.json",
            "exports/markers/train.index.jsonl", "work.db"} <= names  # fmt: skip
    assert {p.relative_to(tmp_path).as_posix(): _mode(p) for p in written_files} == {
        name: 0o600 for name in names
    }
    folders = [p for p in exports.rglob("*") if p.is_dir()] + [exports]
    assert {str(p): _mode(p) for p in folders} == {str(p): 0o700 for p in folders}
