"""Output files written as records stream past: JSONL, its index, optional Parquet.

Each data file is written once, line by line, with its SHA-256 computed on the way,
so no file is ever read back or held in memory. The export is built in a temporary
directory beside the target and moved into place only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from annotate.core.errors import ConfigError
from annotate.export import formats
from annotate.export.manifest import TOOL_NAME, SplitContents, SplitRecords, dataset_info
from store.private import make_private_folders, open_private, write_private

if TYPE_CHECKING:
    from annotate.export.options import ExportOptions
    from annotate.export.plan import Plan

FileInfo = dict[str, dict[str, Any]]  # relative path -> {sha256, bytes[, lines]}
PARQUET_BATCH_ROWS = 1000  # Parquet row groups are cut every this many records
_BUFFER = 1 << 20
# Write buffers of all files together stay under this (leave-one-client-out opens four
# files per client); each file gets at most _BUFFER and at least _MIN_BUFFER.
_BUFFER_BUDGET = 64 << 20
_MIN_BUFFER = 64 << 10
_SPARE_FILES = 64  # descriptors left for the database, Python and the libraries


class HashedFile:
    """A binary file that counts its lines and hashes its bytes as they are written."""

    def __init__(self, root: Path, name: str, buffer: int = _BUFFER) -> None:
        self.name = name
        self._handle = open_private(root / name, buffering=buffer)
        self._sha = hashlib.sha256()
        self.lines = 0
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._sha.update(data)
        self.lines += 1
        self.bytes += len(data)

    def close(self) -> dict[str, Any]:
        self._handle.close()
        return {"sha256": self._sha.hexdigest(), "bytes": self.bytes, "lines": self.lines}


class DataFile:
    """One split (e.g. ``fold_2/train``): its JSONL, ``.index.jsonl`` and Parquet files."""

    def __init__(self, root: Path, stem: str, schema: Any | None, buffer: int = _BUFFER) -> None:
        self.root = root
        self.stem = stem
        self.data = HashedFile(root, f"{stem}.jsonl", buffer)
        self.index = HashedFile(root, f"{stem}.index.jsonl", buffer)
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._parquet: Any = None
        self._parquet_file: BinaryIO | None = None
        self.client_ids: set[str] = set()
        self.session_ids: set[str] = set()

    @property
    def records(self) -> int:
        return self.data.lines

    def contents(self) -> SplitContents:
        return SplitContents(self.records, sorted(self.client_ids), sorted(self.session_ids))

    def write(
        self, line: bytes, record: dict[str, Any] | None, index_tail: str, client_id: str,
        session_id: str,
    ) -> None:  # fmt: skip
        """Write one record; ``index_tail`` is its index entry as JSON without the opening
        brace, so the line number (different in each file) is prepended by formatting."""
        self.client_ids.add(client_id)
        self.session_ids.add(session_id)
        self.data.write(line)
        self.index.write(f'{{"line": {self.data.lines}, {index_tail}'.encode())
        if self._schema is not None:
            assert record is not None, "Parquet needs the record"
            self._rows.append(record)

    def flush_parquet(self) -> None:
        """Write the pending rows as one row group (:class:`Splits` says when)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._parquet_file = open_private(self.root / f"{self.stem}.parquet")
            self._parquet = pq.ParquetWriter(self._parquet_file, self._schema, compression="zstd")
        if self._rows:
            self._parquet.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> dict[str, dict[str, Any]]:
        """Close every file; return {relative path: {sha256, bytes, lines}}."""
        files = {self.data.name: self.data.close(), self.index.name: self.index.close()}
        if self._schema is not None:
            self.flush_parquet()
            self._parquet.close()
            assert self._parquet_file is not None
            self._parquet_file.close()
            name = f"{self.stem}.parquet"
            files[name] = describe_file(self.root, name)
        return files


class Splits:
    """The data files of one export and the files each record goes to.

    Without folds every record goes to ``train``; with folds, to the ``val`` file of
    its client's fold and to the ``train`` file of every other fold. Pending Parquet
    rows are written out every ``PARQUET_BATCH_ROWS`` records in all files at once:
    a record is one object shared by every file it goes to, so memory holds at most
    that many records however many folds there are (a per-file limit would let each
    small validation file keep its client's records to the end).
    """

    def __init__(
        self,
        root: Path,
        stems: list[str],
        schema: Any | None,
        fold_of: dict[str, int],
        fold_count: int,
    ) -> None:
        _ensure_open_files(len(stems) * (3 if schema is not None else 2))
        buffer = max(_MIN_BUFFER, min(_BUFFER, _BUFFER_BUDGET // (2 * len(stems))))
        self.files = {stem: DataFile(root, stem, schema, buffer) for stem in stems}
        self._fold_of = fold_of
        self._fold_count = fold_count
        self._parquet = schema is not None
        self._pending = 0
        self._targets: dict[str, list[DataFile]] = {}

    def _files_of(self, client_id: str) -> list[DataFile]:
        targets = self._targets.get(client_id)
        if targets is None:
            if not self._fold_count:
                targets = [self.files["train"]]
            else:
                own = self._fold_of[client_id]
                targets = [
                    self.files[f"fold_{fold}/{'val' if fold == own else 'train'}"]
                    for fold in range(1, self._fold_count + 1)
                ]
            self._targets[client_id] = targets
        return targets

    def write(
        self,
        client_id: str,
        line: bytes,
        record: dict[str, Any] | None,
        index_tail: str,
        session_id: str,
    ) -> None:
        for data_file in self._files_of(client_id):
            data_file.write(line, record, index_tail, client_id, session_id)
        if self._parquet:
            self._pending += 1
            if self._pending >= PARQUET_BATCH_ROWS:
                for data_file in self.files.values():
                    data_file.flush_parquet()
                self._pending = 0

    def close(self) -> tuple[FileInfo, SplitRecords]:
        """Close every file and remove the data files of empty fold splits (a trainer
        pointed at an empty file fails; an unfolded export keeps its one ``train`` file):
        (the :data:`FileInfo` of the files kept, {stem: contents})."""
        described: FileInfo = {}
        for data_file in self.files.values():
            files = data_file.close()
            if data_file.records or not self._fold_count:
                described.update(files)
            else:
                for name in files:
                    (data_file.root / name).unlink()
                folder = (data_file.root / data_file.stem).parent
                if folder != data_file.root and not any(folder.iterdir()):
                    folder.rmdir()
        return described, {stem: data_file.contents() for stem, data_file in self.files.items()}


def _ensure_open_files(needed: int) -> None:
    """Raise the soft limit on open files when an export needs more (many folds)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed + _SPARE_FILES
    if soft == resource.RLIM_INFINITY or wanted <= soft:
        return
    if hard != resource.RLIM_INFINITY and wanted > hard:
        raise ConfigError(
            f"this export writes {needed} files at once but the open-file limit is {hard}: "
            "raise it (ulimit -n) or use fewer folds"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def describe_file(root: Path, name: str) -> dict[str, Any]:
    """SHA-256 and size of a finished file (read in chunks)."""
    sha = hashlib.sha256()
    path = root / name
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_BUFFER), b""):
            sha.update(chunk)
    return {"sha256": sha.hexdigest(), "bytes": path.stat().st_size}


def write_json(root: Path, name: str, data: Any) -> None:
    """A small JSON document, byte-stable: sorted nothing, indented, trailing newline."""
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    write_private(root / name, text.encode("utf-8"))


STAGING_MARK = ".partial-"
MANIFEST = "manifest.json"
# A manifest is read only up to this size. Leave-one-client-out folds make the largest:
# each fold lists every other client, about 2 MiB for 300 clients, 9 MiB for 600 and
# 24 MiB for 1,000 (ids of 11 characters).
MANIFEST_READ_LIMIT = 32 << 20
_REPLACE_RULE = (
    "not written by annotate export (the folder is replaced only when every file is "
    "listed in its manifest.json); move it or choose another --out"
)


def _listed_files(directory: Path) -> set[str]:
    """The files the manifest in ``directory`` lists, itself included (relative POSIX
    paths); ConfigError in one line when there is no manifest of this tool there.

    The manifest is hostile input like any file: it is read up to
    ``MANIFEST_READ_LIMIT`` bytes and must be UTF-8 JSON of the manifest's shape.
    """
    manifest = directory / MANIFEST
    refused = f"{directory}: not empty and holds no export made by annotate"
    if manifest.is_symlink() or not manifest.is_file():
        raise ConfigError(f"{refused} (no {MANIFEST}); not replaced")
    not_ours = f"{manifest}: not a manifest written by annotate export"
    try:
        with manifest.open("rb") as handle:
            raw = handle.read(MANIFEST_READ_LIMIT + 1)
    except OSError as error:
        raise ConfigError(f"{manifest}: cannot read it: {error.strerror}") from None
    if len(raw) > MANIFEST_READ_LIMIT:
        raise ConfigError(
            f"{not_ours} (larger than {MANIFEST_READ_LIMIT >> 20} MiB); {directory} not replaced"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{not_ours} (not UTF-8); {directory} not replaced") from None
    except RecursionError:
        raise ConfigError(f"{not_ours} (nested too deeply); {directory} not replaced") from None
    except ValueError:
        raise ConfigError(f"{not_ours} (not JSON); {directory} not replaced") from None
    tool = data.get("tool") if isinstance(data, dict) else None
    if not isinstance(tool, dict) or tool.get("name") != TOOL_NAME:
        raise ConfigError(f"{refused} (its {MANIFEST} is another tool's); not replaced")
    files = data.get("files")
    if not isinstance(files, dict):
        raise ConfigError(f"{not_ours} (it lists no files); {directory} not replaced")
    return {name for name in files if isinstance(name, str)} | {MANIFEST}


def first_foreign_entry(directory: Path, listed: set[str]) -> str | None:
    """The first entry under ``directory`` (names sorted in each folder, depth first)
    that an export did not write: a file the manifest does not list, anything that is not
    a regular file or folder (symbolic links included), or an empty folder holding no
    listed file. Its path relative to ``directory`` (a folder's ending in ``/``), or
    None when there is none."""
    folders = {str(parent) for name in listed for parent in PurePosixPath(name).parents}
    # Depth first without recursion (a hostile tree may be nested thousands deep): per
    # open folder, its path relative to ``directory`` and its remaining entries.
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [("", _sorted_entries(directory))]
    while stack:
        folder, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            # Nothing under a folder the manifest does not name is listed, so one that
            # gets here is empty (its first file would have been named).
            if folder and folder not in folders:
                return folder + "/"
            continue
        relative = f"{folder}/{entry.name}" if folder else entry.name
        if entry.is_dir(follow_symlinks=False):
            stack.append((relative, _sorted_entries(Path(entry.path))))
        elif not entry.is_file(follow_symlinks=False) or relative not in listed:
            return relative
    return None


def _sorted_entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return iter(sorted(entries, key=lambda entry: entry.name))


def check_replaceable(directory: Path) -> None:
    """Refuse (ConfigError, one line) to replace ``directory`` unless it is an export of
    this tool holding nothing but the files its manifest lists: ``--force`` deletes it."""
    listed = _listed_files(directory)
    try:
        foreign = first_foreign_entry(directory, listed)
    except OSError as error:
        raise ConfigError(f"{directory}: cannot look through it: {error.strerror}") from None
    if foreign is not None:
        path = directory / foreign
        kind = " (a symbolic link)" if path.is_symlink() else ""
        raise ConfigError(f"{path}{'/' if foreign.endswith('/') else ''}{kind}: {_REPLACE_RULE}")


class Staging:
    """Build the export in a temporary sibling directory; swap it into place on success.

    An existing target is replaced only when ``force`` is given, its manifest says this
    tool wrote it and every file in it (in subfolders too) is one the manifest lists;
    anything else is refused, never deleted, and a symbolic link at the target is
    refused. The check is made again just before the swap, so a file put there while
    the export ran is not deleted either. The new export replaces the old in one atomic
    exchange of the two directories (Linux ``renameat2(RENAME_EXCHANGE)``): at every
    instant the target holds the complete old or the complete new export. The staging
    directory is locked (``flock``) while the export runs; a killed export leaves it
    unlocked, and the next export to the same target removes it (it holds
    transcripts, which must not linger in hidden directories), as it removes an old
    export swapped out by an export killed before it could delete it.
    """

    def __init__(self, out_dir: Path, force: bool) -> None:
        self.out_dir = out_dir
        if out_dir.is_symlink():
            raise ConfigError(f"{out_dir}: is a symbolic link; give the directory itself")
        if out_dir.exists():
            if not out_dir.is_dir():
                raise ConfigError(f"{out_dir}: exists and is not a directory")
            if any(out_dir.iterdir()):
                if not force:
                    raise ConfigError(f"{out_dir}: not empty (use --force to replace an export)")
                check_replaceable(out_dir)
        try:
            make_private_folders(out_dir.parent)
            prefix = f".{out_dir.name}{STAGING_MARK}"
            for stale in out_dir.parent.glob(f"{prefix}*"):
                _remove_if_abandoned(stale)
            self.root = Path(tempfile.mkdtemp(prefix=prefix, dir=out_dir.parent))
        except OSError as error:
            raise ConfigError(f"{out_dir}: cannot write here: {error.strerror}") from None
        self._lock = _lock(self.root)

    def commit(self) -> None:
        # The directory stays owner-only (as mkdtemp made it): transcripts are clinical data.
        if self.out_dir.exists() and any(self.out_dir.iterdir()):
            try:
                check_replaceable(self.out_dir)  # what arrived there while we wrote
            except BaseException:
                self.abort()
                raise
        if self.out_dir.exists() and _exchange(self.root, self.out_dir):
            shutil.rmtree(self.root, ignore_errors=True)  # now the old export
        else:
            if self.out_dir.exists():  # no atomic exchange here: the old export goes first
                shutil.rmtree(self.out_dir)
            os.replace(self.root, self.out_dir)
        _unlock(self._lock)

    def abort(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        _unlock(self._lock)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directories atomically (Linux); False where the system cannot."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange)
    if result != 0:
        error = ctypes.get_errno()
        if error in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this file system
            return False
        raise OSError(error, os.strerror(error), str(second))
    return True


def _lock(directory: Path) -> int | None:
    """Hold an exclusive lock on ``directory`` until unlocked or the process ends."""
    try:
        import fcntl
    except ImportError:  # not on Windows: stale staging directories then stay
        return None
    descriptor = os.open(directory, os.O_RDONLY)
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return descriptor


def _unlock(descriptor: int | None) -> None:
    if descriptor is not None:
        os.close(descriptor)  # closing the descriptor releases the lock


def _remove_if_abandoned(directory: Path) -> None:
    """Remove a staging directory whose export is no longer running (its lock is free)."""
    if not directory.is_dir() or directory.is_symlink():
        return
    try:
        descriptor = _lock(directory)
    except BlockingIOError:
        return  # another export is writing it right now
    except OSError:
        return  # gone meanwhile, or not ours to open
    if descriptor is None:
        return
    try:
        shutil.rmtree(directory, ignore_errors=True)
    finally:
        _unlock(descriptor)


def write_export(
    options: ExportOptions,
    plan: Plan,
    write_records: Callable[[Splits], None],
    make_manifest: Callable[[FileInfo, SplitRecords], dict[str, Any]],
) -> dict[str, Any]:
    """Stage the files, write the records, dataset_info.json and the manifest, and move
    the export into place; on any error nothing is left behind."""
    staging = Staging(options.out_dir, options.force)
    try:
        schema = formats.parquet_schema(options.fmt) if options.parquet else None
        splits = Splits(staging.root, plan.stems, schema, plan.fold_of, plan.fold_count)
        write_records(splits)
        file_info, split_records = splits.close()
        # LlamaFactory reads every format but TRL's conversational pairs; empty splits
        # have no file (the manifest says why).
        info = (
            {}
            if options.conversational
            else dataset_info(options.fmt, split_records, options.parquet)
        )
        write_json(staging.root, "dataset_info.json", info)
        file_info["dataset_info.json"] = describe_file(staging.root, "dataset_info.json")
        manifest = make_manifest(file_info, split_records)
        write_json(staging.root, "manifest.json", manifest)
    except BaseException:
        staging.abort()
        raise
    staging.commit()
    return manifest
