"""Every file the tool reads is a hostile file (issue 23): one line, a non-zero exit,
nothing written or deleted, no traceback.

Covers ``export --force`` over a folder holding files the export did not write and over
broken manifests, ``--db`` naming a loop of symbolic links, a damaged database under
``export``, login names and logins files, and what a killed backup leaves beside its
target.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.export import writer
from cli.app import app
from tests.crash import start
from tui.logins import MAX_FILE_BYTES, read_logins

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "annotate" / "demo_data"


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


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "work.db"
    result = _invoke("--db", str(path), "demo", "--no-ui")
    assert result.exit_code == 0, result.output
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "work.db"
    shutil.copyfile(demo_template, path)
    return path


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder``: file contents, None for folders and links."""
    return {
        str(path.relative_to(folder)): (
            path.read_bytes() if path.is_file() and not path.is_symlink() else None
        )
        for path in sorted(folder.rglob("*"))
    }


def _export(db: Path, out: Path, *args: str):  # type: ignore[no-untyped-def]
    return _invoke("--db", str(db), "export", "--format", "openai", "--out", str(out), *args)


# --- export --force replaces only what an export wrote -------------------------------------


def test_force_over_an_export_holding_a_thesis_keeps_the_thesis(
    demo_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _export(demo_db, out).exit_code == 0
    (out / "thesis.txt").write_text("three years of my life", encoding="utf-8")
    before = _tree(out)
    line = _one_line_error(_export(demo_db, out, "--force"))
    assert line == (
        f"error: {out / 'thesis.txt'}: not written by annotate export (the folder is replaced "
        "only when every file is listed in its manifest.json); move it or choose another --out"
    )
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "work.db"]  # no staging left
    (out / "thesis.txt").unlink()
    assert _export(demo_db, out, "--force").exit_code == 0


@pytest.mark.parametrize(
    ("plant", "named"),
    [
        ("fold_1/notes.md", "fold_1/notes.md"),  # a foreign file in an export's subfolder
        ("fold_1/drafts/old.txt", "fold_1/drafts/old.txt"),  # in a subfolder of its own
        ("fold_1/empty/", "fold_1/empty/"),  # a folder the export did not make
        ("link->/", "link (a symbolic link)"),  # a link, even to a folder
        ("fold_2/train.jsonl.bak", "fold_1/a.txt"),  # the first in sorted order is named
    ],
)
def test_force_names_the_first_foreign_entry_and_deletes_nothing(
    demo_db: Path, tmp_path: Path, plant: str, named: str
) -> None:
    out = tmp_path / "out"
    assert _export(demo_db, out, "--folds", "2").exit_code == 0
    if plant.startswith("link->"):
        (out / "link").symlink_to(tmp_path)
    elif plant.endswith("/"):
        (out / plant).mkdir()
    else:
        (out / plant).parent.mkdir(parents=True, exist_ok=True)
        (out / plant).write_text("mine", encoding="utf-8")
    if named == "fold_1/a.txt":
        (out / named).write_text("mine too", encoding="utf-8")
    before = _tree(out)
    _one_line_error(_export(demo_db, out, "--force"), f"{out / named}", "not written by annotate")
    assert _tree(out) == before


def test_a_folder_nested_deeper_than_the_recursion_limit_is_one_line(
    demo_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _export(demo_db, out).exit_code == 0
    deep = out
    for _ in range(sys.getrecursionlimit() + 200):
        deep = deep / "d"
        deep.mkdir()
    try:
        _one_line_error(_export(demo_db, out, "--force"), f"{deep}/: not written by annotate")
        assert deep.is_dir()
    finally:
        while deep != out:  # shutil.rmtree (and pytest's clean-up) recurse per level
            deep.rmdir()
            deep = deep.parent


@pytest.mark.parametrize(
    ("manifest", "said"),
    [
        (b'{"tool": {"name": "annotate"', "(not JSON)"),
        (b"[" * 200_000 + b"]" * 200_000, "(nested too deeply)"),
        (b'{"tool": {"name": "annotate\xff"}, "files": {}}', "(not UTF-8)"),
        (b'{"tool": {"name": "annotate"}, "files": 5}', "(it lists no files)"),
        (b'{"tool": "annotate", "files": {}}', "is another tool's"),
        (b"[1, 2]", "is another tool's"),
    ],
)
def test_a_broken_manifest_is_one_line_and_nothing_is_deleted(
    demo_db: Path, tmp_path: Path, manifest: bytes, said: str
) -> None:
    out = tmp_path / "out"
    assert _export(demo_db, out).exit_code == 0
    (out / "manifest.json").write_bytes(manifest)
    before = _tree(out)
    _one_line_error(_export(demo_db, out, "--force"), said, "not replaced")
    assert _tree(out) == before


class _CountingReader:
    """A file opened for reading that records the size of every read."""

    def __init__(self, handle, sizes: list[int]) -> None:  # type: ignore[no-untyped-def]
        self._handle = handle
        self._sizes = sizes

    def read(self, size: int = -1) -> bytes:
        self._sizes.append(size)
        return self._handle.read(size)

    def __enter__(self) -> _CountingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def test_a_huge_manifest_is_not_read_past_the_limit(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert _export(demo_db, out).exit_code == 0
    monkeypatch.setattr(writer, "MANIFEST_READ_LIMIT", 1 << 20)
    with (out / "manifest.json").open("r+b") as handle:
        handle.truncate(4 << 30)  # 4 GiB, sparse: read whole, it would fill the memory
    sizes: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        handle = real_open(self, *args, **kwargs)
        return _CountingReader(handle, sizes) if self.name == "manifest.json" else handle

    monkeypatch.setattr(Path, "open", counting_open)
    _one_line_error(_export(demo_db, out, "--force"), "larger than 1 MiB", "not replaced")
    assert sizes == [(1 << 20) + 1]
    assert (out / "manifest.json").stat().st_size == 4 << 30


EVERY_FORMAT = [
    ("openai",),
    ("alpaca", "--parquet"),
    ("sharegpt", "--folds", "2"),
    ("dpo",),
    ("dpo", "--conversational", "--folds", "2"),
    ("dpo", "--parquet", "--folds", "2"),
    ("markers",),
    ("markers", "--folds", "2", "--parquet"),
    ("openai", "--folds", "loco", "--parquet"),
    ("alpaca", "--target", "rating", "--folds", "2"),
]


@pytest.mark.parametrize("options", EVERY_FORMAT, ids=lambda options: "-".join(options))
def test_every_export_lists_every_file_it_writes_so_force_replaces_it(
    demo_db: Path, tmp_path: Path, options: tuple[str, ...]
) -> None:
    out = tmp_path / "out"
    args = ("--db", str(demo_db), "export", "--format", *options, "--out", str(out))
    first = _invoke(*args)
    assert first.exit_code == 0, first.output
    listed = writer._listed_files(out)
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert written == listed
    assert writer.first_foreign_entry(out, listed) is None
    again = _invoke(*args, "--force")
    assert again.exit_code == 0, again.output
    # Another export's files over this one replace it too, and are all listed.
    other = _invoke("--db", str(demo_db), "export", "--format", "openai", "--folds", "3",
                    "--out", str(out), "--force")  # fmt: skip
    assert other.exit_code == 0, other.output
    assert writer.first_foreign_entry(out, writer._listed_files(out)) is None
    assert (out / "fold_3" / "val.jsonl").is_file()


# --- --db a loop of symbolic links, a damaged database -------------------------------------


@pytest.mark.parametrize("links", [{"loop.sqlite": "loop.sqlite"}, {"a": "b", "b": "a"}])
def test_a_loop_of_symbolic_links_as_db_is_one_line(tmp_path: Path, links: dict[str, str]) -> None:
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    db = str(tmp_path / next(iter(links)))
    commands = [
        ["init"],
        ["import", str(DEMO / "sessions.jsonl")],
        ["progress"],
        ["backup", str(tmp_path / "b.db")],
    ]
    for command in commands:
        _one_line_error(_invoke("--db", db, *command), db, "a loop of symbolic links")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(links)


def _damage_table(db: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage, as a bad disk would."""
    with sqlite3.connect(db) as connection:
        root = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    with db.open("r+b") as handle:
        handle.seek((root - 1) * size)
        handle.write(b"\xff" * size)


@pytest.mark.parametrize(
    ("table", "fmt"), [("rationale_versions", "openai"), ("turns", "dpo"), ("codings", "markers")]
)
def test_export_from_a_damaged_database_is_one_line(
    demo_db: Path, tmp_path: Path, table: str, fmt: str
) -> None:
    """The export reads through the raw driver cursor, whose errors SQLAlchemy never
    wraps: they get the same line as every other command's."""
    _damage_table(demo_db, table)
    out = tmp_path / "out"
    line = _one_line_error(
        _invoke("--db", str(demo_db), "export", "--format", fmt, "--out", str(out)),
        "cannot use database",
        str(demo_db),
        "database disk image is malformed",
        "restore a backup",
    )
    assert "SELECT" not in line
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging


def test_driver_errors_get_the_database_line() -> None:
    from annotate.core.database import driver_error
    from annotate.core.errors import ConfigError, StoreBusy

    damaged = driver_error("x.db", sqlite3.DatabaseError("database disk image is malformed"))
    assert isinstance(damaged, ConfigError) and "x.db: database disk image" in str(damaged)
    assert isinstance(driver_error("x.db", sqlite3.OperationalError("database is locked")),
                      StoreBusy)  # fmt: skip
    assert driver_error("x.db", ValueError("not a database error")) is None


# --- login names and logins files ----------------------------------------------------------


BAD_NAMES = [
    ("\udcff\udcfeana", "not valid UTF-8"),  # bytes that are not UTF-8, as argv gives them
    ("ana\u200b", "U+200B"),  # zero-width space
    ("a\u200db", "U+200D"),  # zero-width joiner
    ("\ufeffana", "U+FEFF"),  # byte order mark
    ("ana\x1b[2J", "U+001B"),
    ("ana\nben", "U+000A"),
    (" ana", "starts or ends with a space"),
    ("ana ", "starts or ends with a space"),
    ("a" * 65, "longer than 64 characters"),
    ("", "it is empty"),
]


@pytest.mark.parametrize(("name", "said"), BAD_NAMES)
def test_login_add_refuses_a_name_that_is_not_a_printable_bounded_identifier(
    tmp_path: Path, name: str, said: str
) -> None:
    logins = tmp_path / "logins.toml"
    _one_line_error(
        _invoke("login", "add", name, "--logins", str(logins)), "not a usable login name", said
    )
    assert not logins.exists()


def test_login_add_from_a_real_argv_of_bytes_is_one_line(tmp_path: Path) -> None:
    logins = tmp_path / "logins.toml"
    done = subprocess.run(
        [sys.executable, "-m", "annotate", "login", "add", b"\xff\xfeana", "--logins", logins],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
    )
    assert done.returncode != 0
    lines = done.stderr.decode("utf-8", "replace").splitlines()
    assert len(lines) == 1 and "not valid UTF-8" in lines[0], lines
    assert not logins.exists()


@pytest.mark.parametrize("name", ["王小明", "Ana Lima", "a" * 64, "d'Arcy-O'Neil"])
def test_login_names_in_any_script_are_accepted(tmp_path: Path, name: str) -> None:
    pytest.importorskip("argon2")
    logins = tmp_path / "logins.toml"
    result = _invoke("login", "add", name, "--logins", str(logins))
    assert result.exit_code == 0, result.output
    assert list(read_logins(logins)) == [name]


ARGON = '"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"'


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
        (b'[logins.ana]\nhash = "\xff"\n', "not UTF-8"),
        (b"[logins.ana\n", "not a logins file"),
        (b"# " + b"x" * (MAX_FILE_BYTES + 10) + b"\n", "larger than 1 MiB"),
        (f'[logins."ana\\u200b"]\nhash = {ARGON}\n'.encode(), "U+200B"),
        (f'[logins." ana"]\nhash = {ARGON}\n'.encode(), "starts or ends with a space"),
        (f'[logins."{"a" * 65}"]\nhash = {ARGON}\n'.encode(), "longer than 64"),
        (b"[logins.ana]\nhash = 5\n", "has no Argon2 hash"),
        (b"logins = 5\n", "must be a table"),
    ],
)
def test_a_broken_logins_file_is_one_line(tmp_path: Path, content: bytes, said: str) -> None:
    logins = tmp_path / "logins.toml"
    logins.write_bytes(content)
    for command in (["login", "list"], ["login", "remove", "ana"]):
        _one_line_error(_invoke(*command, "--logins", str(logins)), str(logins), said)
    assert logins.read_bytes() == content


def test_a_logins_file_that_is_no_file_is_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    _one_line_error(_invoke("login", "list", "--logins", str(fifo)), "not a regular file")
    _one_line_error(_invoke("login", "list", "--logins", str(tmp_path)), "not a regular file")
    (tmp_path / "loop.toml").symlink_to("loop.toml")
    _one_line_error(
        _invoke("login", "list", "--logins", str(tmp_path / "loop.toml")), "cannot read"
    )


# --- a killed backup leaves nothing that the next backup keeps ------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_backup_removes_a_killed_backups_copy_and_its_journal_files(
    demo_db: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    dead, alone = _dead_pid(), _dead_pid()
    left = [f".b.db.partial-{dead}", f".b.db.partial-{dead}-journal",
            f".b.db.partial-{dead}-wal", f".b.db.partial-{dead}-shm",
            f".b.db.partial-{alone}-journal"]  # fmt: skip
    for name in left:
        (folder / name).write_bytes(b"half a copy")
    running = f".b.db.partial-{os.getppid()}-journal"  # a backup still running: kept
    keep = [".b.db.partial-x-journal", "b.db.partial-1-journal", "notes.txt", running]
    for name in keep:
        (folder / name).write_text("not a killed backup's", encoding="utf-8")
    result = _invoke("--db", str(demo_db), "backup", str(folder / "b.db"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(["b.db", *keep])


def test_backups_killed_in_their_first_moments_leave_nothing_behind(
    demo_db: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    target = folder / "b.db"
    # The copy is made within about 10 ms of its file's creation; SQLite's journal
    # beside it lives from about 1 ms to its end.
    for delay in (0.0, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.008, 0.02):
        process = start("backup", str(target), "--force", db_url=str(demo_db))
        deadline = time.monotonic() + 60
        while not (folder / f".b.db.partial-{process.pid}").exists() and process.poll() is None:
            assert time.monotonic() < deadline, "the backup never began"
            time.sleep(0.001)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        again = _invoke("--db", str(demo_db), "backup", str(target), "--force")
        assert again.exit_code == 0, again.output
        assert sorted(p.name for p in folder.iterdir()) == ["b.db"]
