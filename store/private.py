"""Files holding clinical text, written readable by their owner only (0600; new folders 0700).

Transcripts, rationales, flag notes and quotes leave the database only through these
helpers: the database file itself, backups, exports (data, index, Parquet, manifest),
the HTML report and batch request files. A file written over an existing one ends at
0600 whatever its mode was and whatever the umask. It lives in ``store`` because the
database file is the first such file and ``store`` may not import ``annotate``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def make_private_folders(folder: Path) -> None:
    """Create FOLDER and its missing parents as 0700 folders; existing ones are left as set."""
    missing: list[Path] = []
    current = Path(folder)
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, FOLDER_MODE)
        except FileExistsError:  # made meanwhile (another process); not ours to change
            continue
        os.chmod(path, FOLDER_MODE)  # exactly 0700, whatever the umask took away


def open_private(path: Path, *, exclusive: bool = False, buffering: int = -1) -> BinaryIO:
    """PATH opened for writing from empty, owner-only (an existing file becomes 0600)."""
    path = Path(path)
    make_private_folders(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    if exclusive:
        flags |= os.O_EXCL
    descriptor = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # O_CREAT's mode does not apply to a file that exists
        return os.fdopen(descriptor, "wb", buffering=buffering)
    except BaseException:
        os.close(descriptor)
        raise


def create_private(path: Path) -> None:
    """Create PATH empty and owner-only unless it exists (an existing file keeps its mode:
    a team database may have been shared with a group on purpose)."""
    path = Path(path)
    if path.exists():
        return
    make_private_folders(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        return


def write_private(path: Path, data: bytes) -> None:
    """Replace PATH with DATA in one step: an owner-only file beside it, renamed over it."""
    path = Path(path)
    make_private_folders(path.parent)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as out:  # mkstemp makes it 0600
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
