"""Read, check and prepare a file's records away from the database, in order.

``events`` yields what the importer needs to know, line by line: errors, the record
kind, and checked records (a session already hashed and turned into rows). It touches
no database, so for a large file it runs in a forked child process that streams the
events to the writer through a pipe (a batch or so ahead: the pipe bounds it) while
the writer inserts the previous chunk; the events are the same either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

from annotate.core.catalog import ItemCatalog
from annotate.core.errors import AnnotateError, ConfigError
from annotate.core.reading import bounded_lines, too_long
from annotate.ingest import readers, validation
from annotate.ingest.fast import BOM, SessionLines, session_rows

# Files from this size on are parsed in a child process (tests lower it to 0).
PROCESS_MIN_BYTES = 1 << 20
BATCH_RECORDS = 100  # records per message from the child (~0.3 MB of 28-turn sessions)
PIPE_BYTES = 1 << 20

# Events: ("error", line, message), ("lines", [text]), ("kind", kind),
# ("record", line, record, problems, turn_lines) for a record checked here,
# ("raw", line, data, turn_lines) for a kind whose importer checks its own records, and
# from the child process last, ("sha256", hex digest of the file).
Event = tuple[Any, ...]


def _checker(kind: str, catalog: ItemCatalog) -> Callable[[dict[str, Any]], Any] | None:
    """The validator of a built-in kind (None: the kind's importer checks its records)."""
    if kind == "sessions":

        def check_session(data: dict[str, Any]) -> tuple[Any, list[str]]:
            record, problems = validation.check_session(data, catalog)
            return (record if problems else session_rows(record)), problems

        return check_session
    if kind == "rationales":
        return lambda data: validation.check_rationale(data, catalog)
    if kind == "reviews":
        return lambda data: validation.check_review(data, catalog)
    return None


def _raw_records(
    path: Path,
    kind: str | None,
    ratings_path: Path | None,
    on_bytes: Callable[[int], None] | None,
    lines: list[list[str]],
) -> Iterator[tuple[int, bytes | None, readers.RawRecord | None]]:
    """(line, raw JSONL bytes or None, parsed record or None) for every line of the file.

    JSONL lines come unparsed (the fast path may take them); ``lines`` receives error
    lines that belong to no record (a ratings CSV's), to be reported in order.
    """
    if readers.file_format(path) == "jsonl":
        with path.open("rb") as handle:
            for number, raw in bounded_lines(handle):
                if raw is None:  # longer than any record: skipped without holding it
                    yield number, None, readers.RawRecord(number, None, too_long())
                    continue
                if on_bytes is not None:
                    on_bytes(len(raw))
                yield number, raw, None
        return
    if kind == "sessions" or ratings_path is not None:
        if ratings_path is None:
            raise ConfigError(f"{path}: a sessions CSV needs --ratings FILE with the ratings")
        ratings, rating_errors, rating_lines = readers.read_ratings_csv(ratings_path)
        lines.append(rating_errors)
        seen: set[str] = set()
        for record in readers.read_session_csv(path, ratings, on_bytes):
            if record.data is not None:
                seen.add(record.data["session_id"])
            yield record.line, None, record
        lines.append(
            [
                f"{ratings_path}:{rating_lines[session_id]}: ratings for session "
                f"{readers.show(session_id)} have no turns in {path.name}"
                for session_id in readers.missing_from_turns(ratings, seen)
            ]
        )
        return
    for record in readers.read_csv_records(path, on_bytes):
        yield record.line, None, record


def produce(
    path: Path,
    kind: str | None,
    ratings_path: Path | None,
    catalog: ItemCatalog,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[Event]:
    """Every event of the file, in file order (see the module's docstring)."""
    fast = SessionLines(catalog)
    detected = None
    check: Callable[[dict[str, Any]], Any] | None = None
    lines: list[list[str]] = []
    for number, raw, parsed in _raw_records(path, kind, ratings_path, on_bytes, lines):
        while lines:
            yield ("lines", lines.pop(0))
        if raw is not None:
            if detected == "sessions":
                rows = fast.accept(raw[3:] if number == 1 and raw.startswith(BOM) else raw)
                if rows is not None:
                    yield ("record", number, rows, [], None)
                    continue
            parsed = readers.parse_line(number, raw)
            if parsed is None:
                continue
        assert parsed is not None
        if parsed.data is None:
            yield ("error", parsed.line, parsed.error or "unreadable")
            continue
        if detected is None:
            detected = kind or readers.guess_kind(parsed.data)
            if detected is None:
                yield ("error", parsed.line, "cannot tell the record kind: pass --kind")
                continue
            yield ("kind", detected)
            check = _checker(detected, catalog)
        if check is None:
            yield ("raw", parsed.line, parsed.data, parsed.turn_lines)
        else:
            record, problems = check(parsed.data)
            yield ("record", parsed.line, record, problems, parsed.turn_lines)
    while lines:
        yield ("lines", lines.pop(0))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _in_child(path: Path) -> bool:
    """Whether to parse in a child process: a large file, and fork is safe to use."""
    if not hasattr(os, "fork") or sys.platform != "linux":
        return False
    if sys.version_info >= (3, 12):  # forking a threaded process warns from 3.12 on
        import threading

        if threading.active_count() > 1:
            return False
    return path.stat().st_size >= PROCESS_MIN_BYTES


def events(
    path: Path,
    kind: str | None,
    ratings_path: Path | None,
    catalog: ItemCatalog,
    on_bytes: Callable[[int], None] | None = None,
) -> Generator[Event, None, None]:
    """``produce``'s events, parsed in a child process for a large file."""
    if not _in_child(path):
        yield from produce(path, kind, ratings_path, catalog, on_bytes)
        return
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    _widen(receiver.fileno())
    child = context.Process(
        target=_child, args=(receiver, sender, path, kind, ratings_path, catalog), daemon=True
    )
    child.start()
    sender.close()
    try:
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                raise AnnotateError(f"{path}: the parsing process stopped unexpectedly") from None
            if message is None:
                return
            consumed, batch = message
            if isinstance(batch, BaseException):
                raise batch
            if on_bytes is not None and consumed:
                on_bytes(consumed)
            yield from batch
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _widen(pipe: int) -> None:
    """Let a whole batch sit in the pipe (Linux's default holds 64 KiB), so the parser
    hands it over in one write and goes on parsing while the writer inserts."""
    import fcntl

    with contextlib.suppress(OSError):  # above the system's limit: the default still works
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _child(receiver: Any, sender: Any, path: Path, kind: str | None,
           ratings_path: Path | None, catalog: ItemCatalog) -> None:  # fmt: skip
    """The child's loop: batches of events down the pipe; stop quietly if the writer is gone."""
    # The forked copy of the reading end must go: with it open here, a killed writer
    # would leave this process blocked on a full pipe instead of failing with EPIPE.
    receiver.close()
    consumed = [0]

    def count(n: int) -> None:
        consumed[0] += n

    batch: list[Event] = []
    records = 0
    try:
        try:
            for event in produce(path, kind, ratings_path, catalog, count):
                batch.append(event)
                if event[0] in ("record", "raw"):
                    records += 1
                if records >= BATCH_RECORDS:
                    sender.send((consumed[0], batch))
                    consumed[0], batch, records = 0, [], 0
            batch.append(("sha256", file_sha256(path)))  # the writer records it, on this core
            sender.send((consumed[0], batch))
            sender.send(None)
        except (KeyboardInterrupt, BrokenPipeError):
            return
        except (AnnotateError, OSError, ValueError) as error:
            sender.send((0, error))
    except (KeyboardInterrupt, BrokenPipeError, OSError):
        return  # the writer went away (killed, interrupted or failed): nothing to tell
    finally:
        sender.close()
