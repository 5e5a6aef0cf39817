"""One reader discipline for every file a person hands to annotate.

A file is read with explicit limits before anything in it is believed: at most so many
bytes (a FIFO, ``/dev/zero`` or a 2 GB file is refused without being read whole), UTF-8
text without NUL, lines of bounded length, TOML nested only so deep, strings of bounded
size; then validated against one schema (pydantic models in ``annotate.core.guidelines``,
msgspec structs for the line formats). Every problem is one ``FILE:LINE: what`` error
(``FILE: what`` when no line applies) with any value cut short, raised before anything
is written.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from annotate.core.errors import ConfigError

KIB, MIB = 1 << 10, 1 << 20
MAX_TOML_BYTES = 1 * MIB  # an instrument, scheme, prompt, keymap or logins file
MAX_TOML_DEPTH = 16  # tables and arrays inside each other
MAX_TOML_STRING = 64 * KIB  # characters of one TOML string (a prompt template's body)
MAX_LINE_BYTES = 16 * MIB  # one JSONL line (a whole session with its turns)
SHOWN = 60  # characters of a value quoted in an error line

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TOML_AT = re.compile(r"^(?P<what>.*?) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


class FileError(ConfigError):
    """A file that cannot be read as what it claims to be; ``str()`` is the one line."""

    def __init__(self, path: Path | str, what: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {what}")
        self.path, self.line, self.what = str(path), line, what


def shown(value: object) -> str:
    """A value as quoted in an error line: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit >= MIB else f"{limit // KIB} KiB"


def read_bytes(path: Path | str, limit: int, what: str = "file") -> bytes:
    """At most ``limit`` bytes of a regular file; anything else is one-line refused."""
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileError(path, f"{what} not found") from None
    except OSError as error:
        raise FileError(path, f"cannot read the {what}: {error.strerror or error}") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise FileError(path, f"not a regular file (a {what} is read from a plain file)")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(descriptor, min(limit + 1 - total, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as error:
        raise FileError(path, f"cannot read the {what}: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if total > limit:
        raise FileError(path, f"larger than {_size(limit)}: not a {what}")
    return b"".join(chunks)


def decode(path: Path | str, data: bytes, *, first_line: int = 1) -> str:
    """UTF-8 text (a leading BOM is dropped) without NUL, or the line where it is not."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = first_line + data.count(b"\n", 0, error.start)
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise FileError(path, f"not valid UTF-8 (byte {column} of the line)", line) from None
    found = text.find("\x00")
    if found >= 0:
        raise FileError(path, "contains a NUL byte", first_line + text.count("\n", 0, found))
    return text


def read_text(path: Path | str, limit: int, what: str = "file") -> str:
    """A whole small text file, bounded and decoded (see ``read_bytes`` and ``decode``)."""
    return decode(path, read_bytes(path, limit, what))


def load_toml(path: Path | str, text: str | None = None, *, first_line: int = 1) -> dict[str, Any]:
    """A TOML file (or ``text`` read from it, starting at ``first_line``) with limits."""
    if text is None:
        text = read_text(path, MAX_TOML_BYTES, "TOML file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _TOML_AT.match(message)
        if match is None:
            raise FileError(path, f"not valid TOML: {message[:200]}") from None
        line = first_line - 1 + int(match["line"])
        raise FileError(path, f"not valid TOML: {match['what']}", line) from None
    except RecursionError:
        raise FileError(path, f"nested more than {MAX_TOML_DEPTH} levels deep") from None
    _check_values(path, text, data, first_line)
    return data


def _check_values(path: Path | str, text: str, data: dict[str, Any], first_line: int) -> None:
    """Depth, string size and storable characters of every value, keys included."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(data, 1, ())]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_TOML_DEPTH:
            line = line_of(text, where, first_line)
            raise FileError(path, f"nested more than {MAX_TOML_DEPTH} levels deep", line)
        if isinstance(value, dict):
            for key, inner in value.items():
                _check_string(path, text, key, (*where, key), first_line)
                stack.append((inner, depth + 1, (*where, key)))
        elif isinstance(value, list):
            stack.extend((inner, depth + 1, (*where, i)) for i, inner in enumerate(value))
        elif isinstance(value, str):
            _check_string(path, text, value, where, first_line)


def _check_string(
    path: Path | str, text: str, value: str, where: tuple[str | int, ...], first_line: int
) -> None:
    problem = None
    if len(value) > MAX_TOML_STRING:
        problem = f"a text longer than {MAX_TOML_STRING:,} characters"
    elif _UNSTORABLE.search(value):
        problem = "a NUL character or a lone surrogate (\\u0000, \\ud800) is not text"
    if problem is not None:
        dotted = ".".join(str(part) for part in where) or "key"
        raise FileError(path, f"{dotted}: {problem}", line_of(text, where, first_line))


def line_of(text: str, where: tuple[Any, ...], first_line: int = 1) -> int | None:
    """The line a dotted location (``items.3.id``) is written on, found in the text.

    TOML can spell one key in several ways; this finds the usual ones (``key =``,
    ``[key]``, ``[[key]]``, ``"key" =``), counting ``[[key]]`` headers for an index.
    """
    position, found = 0, None
    previous: Any = None
    for part in where:
        if isinstance(part, int) and isinstance(previous, str):
            header = re.compile(rf"^\s*\[\[\s*(?:[\w.\"-]*\.)?\"?{re.escape(previous)}\"?\s*\]\]",
                                re.M)  # fmt: skip
            matches = list(header.finditer(text, position))
            if len(matches) > part:
                position = matches[part].start()
                found = position
        elif isinstance(part, str):
            key = re.compile(
                rf"^\s*(?:\[+\s*(?:[\w.\"-]*\.)?)?\"?{re.escape(part)}\"?\s*(?:=|\]|\.)", re.M
            )
            match = key.search(text, position)
            if match is not None:
                position = match.start()
                found = position
        previous = part
    if found is None:
        return None
    return first_line + text.count("\n", 0, found)


Model = TypeVar("Model")


def validated(model: type[Model], path: Path | str, data: Any, text: str = "",
              *, first_line: int = 1) -> Model:  # fmt: skip
    """``data`` as ``model`` (a pydantic model), or its first problem in one line."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        location = tuple(first["loc"])
        dotted = ".".join(str(part) for part in location) or "file"
        message = str(first["msg"]).removeprefix("Value error, ")
        line = line_of(text, location, first_line) if text else None
        raise FileError(path, f"{dotted}: {message[:300]}", line) from None


def bounded_lines(
    handle: IO[bytes], limit: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line of a binary file; ``None`` for a line longer
    than ``limit``, which is skipped without being held in memory."""
    number = 0
    while True:
        raw = handle.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while True:  # drop the rest of the line, a block at a time
                rest = handle.readline(MIB)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, raw


def too_long(limit: int = MAX_LINE_BYTES) -> str:
    """The error for a line ``bounded_lines`` refused."""
    return f"the line is longer than {_size(limit)}"
