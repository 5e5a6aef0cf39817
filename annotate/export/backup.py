"""Backups and restores of the store, safe while experts keep working.

SQLite: ``backup`` copies a consistent snapshot with SQLite's online backup API into a
private temporary file next to the target, checks it, and renames it into place, so a
backup file is either complete or absent. ``restore`` checks the backup, then copies
it into the live database with the same API in one write transaction: other
connections wait for it and then see the restored data, and a restore killed halfway
leaves the old data (a file swap under a WAL database with open connections would
corrupt it).

PostgreSQL: ``backup`` runs ``pg_dump`` (custom format) when it is installed;
``restore`` deliberately only prints the ``pg_restore`` command, because replacing a
shared team database is a decision for its administrator.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from annotate.core.database import safe_url
from annotate.core.errors import ConfigError, SchemaError, StoreBusy
from store.db import SQLITE_BUSY_TIMEOUT_MS, resolve_url
from store.migrate import known_revisions
from store.private import create_private, make_private_folders, open_private

# Tables whose rows are work that a restore would replace.
WORK_TABLES = ("sessions", "drafts", "rationale_versions", "reviews")


@dataclass
class BackupReport:
    backend: str
    database: str
    file: str
    bytes: int
    revision: str | None
    sessions: int | None = None
    rationale_versions: int | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        raise ConfigError("an in-memory database cannot be backed up or restored")
    return Path(str(parsed.database))


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    else:
        connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return connection


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _count(connection: sqlite3.Connection, table: str) -> int | None:
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.DatabaseError:
        return None


def _copy(source: sqlite3.Connection, destination: sqlite3.Connection) -> None:
    """The online backup API in one step, giving up after the lock wait.

    Python retries a busy step forever; the progress callback ends that.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000

    def progress(_status: int, _remaining: int, _total: int) -> None:
        if time.monotonic() > deadline:
            raise StoreBusy(
                "the database stayed busy (another command is writing): try again in a moment"
            )

    source.backup(destination, progress=progress, sleep=0.05)


def _private_temp(target: Path) -> Path:
    temp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _remove_partial(temp)  # a killed backup's, whose process id this one got
    open_private(temp, exclusive=True).close()
    return temp


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _refuse_live_target(source: Path, target: Path) -> None:
    """A backup written over the live database (or its WAL files) would lose work."""
    for live in (source, source.with_name(f"{source.name}-wal"),
                 source.with_name(f"{source.name}-shm")):  # fmt: skip
        same = target.resolve() == live.resolve()
        with contextlib.suppress(OSError):
            same = same or (target.exists() and os.path.samefile(target, live))
        if same:
            raise ConfigError(
                f"{target} is the live database{'' if live == source else ' file ' + live.name}: "
                "write the backup to another file"
            )


# The files SQLite keeps beside a database while it writes to it.
SIDE_FILES = ("-journal", "-wal", "-shm")


def _remove_partial(temp: Path) -> None:
    """Remove a private copy and the journal files SQLite kept beside it."""
    for path in (temp, *(temp.with_name(temp.name + suffix) for suffix in SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_abandoned_partials(target: Path) -> None:
    """Remove what killed backups to ``target`` left behind: private copies
    (``.NAME.partial-PID``) and SQLite's ``-journal``, ``-wal`` and ``-shm`` files beside
    them, each on its own (a kill can land between their removals), once process PID is
    gone; a running backup's files are left alone."""
    sides = "|".join(re.escape(suffix) for suffix in SIDE_FILES)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.partial-(\d+)(?:{sides})?")
    for partial in target.parent.glob(f".{glob.escape(target.name)}.partial-*"):
        matched = pattern.fullmatch(partial.name)
        if matched is None or partial.is_symlink() or not partial.is_file():
            continue
        try:
            os.kill(int(matched.group(1)), 0)
            continue  # that backup is still running
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue  # a process of another user (or no process id): not ours
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def backup(db: str | None, target: Path | str, *, force: bool = False) -> BackupReport:
    """Write a backup of the store named by ``db`` to ``target``."""
    url = resolve_url(db)
    target = Path(target).expanduser()
    source = _sqlite_path(url)
    if source is not None:
        _refuse_live_target(source, target)
    if target.exists() and not force:
        raise ConfigError(f"{target} exists: pass --force to replace it")
    if target.is_dir():
        raise ConfigError(f"{target} is a directory: name the backup file")
    try:
        make_private_folders(target.parent)
        _remove_abandoned_partials(target)
    except OSError as error:
        raise ConfigError(f"{target}: cannot write a backup there: {error.strerror}") from None
    if source is None:
        return _pg_dump(url, target)
    if not source.is_file():
        raise ConfigError(f"{source}: no database to back up")
    try:
        temp = _private_temp(target)
    except OSError as error:
        raise ConfigError(f"{target}: cannot write a backup there: {error.strerror}") from None
    try:
        with contextlib.closing(_connect(source)) as origin:
            if _revision(origin) is None:
                raise ConfigError(f"{source} is not an annotate database")
            with contextlib.closing(sqlite3.connect(temp)) as copy:
                # One step: a consistent snapshot; WAL lets writers go on meanwhile.
                _copy(origin, copy)
                copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                checked = copy.execute("PRAGMA integrity_check").fetchone()[0]
                if checked != "ok":
                    raise ConfigError(f"the copy failed its integrity check: {checked}")
                report = BackupReport(
                    backend="sqlite",
                    database=safe_url(url),
                    file=str(target),
                    bytes=0,
                    revision=_revision(copy),
                    sessions=_count(copy, "sessions"),
                    rationale_versions=_count(copy, "rationale_versions"),
                )
        _fsync(temp)
        os.replace(temp, target)
        _fsync(target.parent)
    except sqlite3.Error as error:
        raise ConfigError(f"backup of {source} failed: {error}") from None
    finally:
        _remove_partial(temp)
    report.bytes = target.stat().st_size
    return report


def find_pg_tool(name: str) -> str | None:
    """``pg_dump``/``pg_restore`` on PATH, else the newest in Debian's versioned directories."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment carrying the password."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql")._replace(password=None)  # set() keeps None
    return plain.render_as_string(hide_password=False), env


def pg_dump_command(url: str, target: Path | str) -> str:
    plain, _ = _libpq(url)
    return f"pg_dump --format=custom --no-owner --file '{target}' '{plain}'"


def _pg_dump(url: str, target: Path) -> BackupReport:
    tool = find_pg_tool("pg_dump")
    if tool is None:
        raise ConfigError(
            "pg_dump is not installed (package postgresql-client); back up with: "
            + pg_dump_command(url, target)
        )
    plain, env = _libpq(url)
    temp = _private_temp(target)
    try:
        done = subprocess.run(
            [tool, "--format=custom", "--no-owner", "--file", str(temp), plain],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no message"])[0]
            raise ConfigError(f"pg_dump failed: {first}")
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    from store.db import make_engine
    from store.migrate import current_revision

    engine = make_engine(url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    return BackupReport(
        backend="postgresql",
        database=safe_url(url),
        file=str(target),
        bytes=target.stat().st_size,
        revision=revision,
    )


def restore(db: str | None, source: Path | str, *, force: bool = False) -> BackupReport:
    """Replace the store named by ``db`` with the backup ``source`` (SQLite only)."""
    url = resolve_url(db)
    source = Path(source).expanduser()
    target = _sqlite_path(url)
    if target is None:
        plain, _ = _libpq(url)
        raise ConfigError(
            "restoring PostgreSQL is left to its administrator: stop the team's sessions, "
            f"then run: pg_restore --clean --if-exists --no-owner --dbname '{plain}' '{source}'"
        )
    if not source.is_file():
        raise ConfigError(f"{source}: file not found")
    known = known_revisions()
    try:
        with contextlib.closing(_connect(source, read_only=True)) as backup_file:
            checked = backup_file.execute("PRAGMA quick_check").fetchone()[0]
            revision = _revision(backup_file)
            if checked != "ok" or revision is None:
                raise ConfigError(f"{source} is not an intact annotate backup")
            if revision not in known:
                raise SchemaError(
                    f"{source} has schema revision {revision}, made by a newer annotate: "
                    "upgrade annotate first"
                )
            if target.exists():
                with contextlib.closing(_connect(target)) as current:
                    _check_replaceable(current, target, revision, known, force)
            else:
                create_private(target)
            with contextlib.closing(_connect(target)) as destination:
                # One write transaction into the live file: all of the backup or none.
                _copy(backup_file, destination)
                checked = destination.execute("PRAGMA integrity_check").fetchone()[0]
                if checked != "ok":
                    raise ConfigError(f"restored database failed its integrity check: {checked}")
                report = BackupReport(
                    backend="sqlite",
                    database=safe_url(url),
                    file=str(source),
                    bytes=source.stat().st_size,
                    revision=_revision(destination),
                    sessions=_count(destination, "sessions"),
                    rationale_versions=_count(destination, "rationale_versions"),
                )
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"cannot restore {source}: {error}") from None
    return report


def _check_replaceable(
    current: sqlite3.Connection, target: Path, revision: str, known: list[str], force: bool
) -> None:
    """Refuse to replace work or a newer schema unless told to."""
    try:
        current.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        raise ConfigError(f"{target} is not a SQLite database: refusing to replace it") from None
    current_revision = _revision(current)
    if current_revision is not None and current_revision not in known:
        raise SchemaError(
            f"{target} has schema revision {current_revision}, newer than this annotate knows: "
            "refusing to replace it"
        )
    if force:
        return
    if current_revision is not None and known.index(current_revision) > known.index(revision):
        raise ConfigError(
            f"{target} is at schema {current_revision}, newer than the backup's {revision}: "
            "pass --force to replace it anyway (then run 'annotate init')"
        )
    work = {table: _count(current, table) or 0 for table in WORK_TABLES}
    held = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in work.items() if n)
    if held:
        raise ConfigError(
            f"{target} holds work ({held}): pass --force to replace it with the backup "
            "(back it up first)"
        )
