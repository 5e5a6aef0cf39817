"""Stream records out of JSONL and CSV files, each with the line it started on."""

from __future__ import annotations

import csv
import json
import re
import reprlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from annotate.core.reading import MIB, bounded_lines, too_long

KINDS = ("sessions", "rationales", "reviews")
RATER_ROLES = ("client", "counselor")
# A CSV cell may hold a whole transcript turn (the csv module's default limit is 128 KiB);
# a longer cell is refused, so a hostile file cannot make one huge string.
CSV_FIELD_LIMIT = 16 * MIB  # as long as a JSONL line may be
# Text no database can store faithfully: NUL (PostgreSQL refuses it) and lone
# surrogates (from "\ud800" escapes in JSON, or undecodable bytes in CSV).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

SHOWN = 80  # characters of a value shown in an error line
_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60
_short.maxlevel, _short.maxlist, _short.maxdict = 2, 4, 4


def show(value: Any) -> str:
    """A value as it appears in an error line: its repr, cut short (input may be huge)."""
    text = _short.repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def unstorable(data: Any) -> str | None:
    """Why a parsed record holds text that cannot be stored, or None if it is clean."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            strings: Any = (value,)
        elif isinstance(value, dict):
            strings = [k for k in value if isinstance(k, str)]
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
            continue
        else:
            continue
        for text in strings:
            found = _UNSTORABLE.search(text)
            if found is None:
                continue
            if found.group() == "\x00":
                return "contains a NUL character (\\u0000)"
            return "contains an invalid character (a lone UTF-16 surrogate such as \\ud800)"
    return None


@dataclass(slots=True)
class RawRecord:
    """A parsed record, or the reason the line could not be parsed."""

    line: int
    data: dict[str, Any] | None
    error: str | None = None
    turn_lines: list[int] | None = None  # a sessions CSV: the line of each turn's own row


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    raise ValueError(f"{path}: unknown file type {suffix!r}: use .jsonl or .csv")


def guess_kind(data: dict[str, Any]) -> str | None:
    """Tell the record kind from its fields (used when --kind is not given)."""
    if "turns" in data:
        return "sessions"
    if "reviewer" in data:
        return "reviews"
    if "author" in data and "text" in data:
        return "rationales"
    if "speaker" in data:  # a CSV turn row
        return "sessions"
    return None


class DuplicateKey(ValueError):
    """A JSON object names the same key twice (json.loads would keep the last silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return data


def read_jsonl(path: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[RawRecord]:
    """Yield one record per non-blank line; bad lines become records with an error."""
    with path.open("rb") as handle:
        for number, raw in bounded_lines(handle):
            if raw is None:  # longer than any record: skipped without holding it
                yield RawRecord(number, None, too_long())
                continue
            if on_bytes is not None:
                on_bytes(len(raw))
            record = parse_line(number, raw)
            if record is not None:
                yield record


def parse_line(number: int, raw: bytes) -> RawRecord | None:
    """One JSONL line as a record (or the reason it is unreadable); None for a blank line."""
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        return RawRecord(number, None, f"not valid UTF-8 (byte {error.start + 1})")
    if not text.strip():
        return None
    if "\x00" in text:
        return RawRecord(number, None, "contains a NUL byte")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        return RawRecord(number, None, f"not valid JSON: {error.msg} (column {error.colno})")
    except DuplicateKey as error:
        return RawRecord(number, None, f"duplicate key {json.dumps(error.key)}")
    except RecursionError:
        return RawRecord(number, None, "not valid JSON: nested too deeply")
    except ValueError:  # Python refuses integers of more than 4300 digits
        return RawRecord(number, None, "not valid JSON: a number is too long")
    if not isinstance(data, dict):
        return RawRecord(number, None, "expected a JSON object")
    # NUL and surrogates can only come from \u escapes (raw NUL is caught above).
    problem = unstorable(data) if "\\u" in text else None
    if problem is not None:
        return RawRecord(number, None, problem)
    return RawRecord(number, data)


def _csv_rows(
    path: Path, on_bytes: Callable[[int], None] | None
) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """Rows of a CSV file as dicts with the line each row starts on."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with path.open("rb") as binary:
        try:
            reader = csv.reader(_csv_lines(binary), delimiter=delimiter, strict=True)
            header = next(reader, None)
            if header is None:
                return
            header = [column.strip() for column in header]
            if any(_UNSTORABLE.search(column) for column in header):
                yield 1, None, "the header is not valid UTF-8 text"
                return
            duplicated = sorted({c for c in header if header.count(c) > 1})
            if duplicated:
                yield 1, None, f"the header repeats column(s) {', '.join(map(show, duplicated))}"
                return
            position, consumed = reader.line_num, 0
            for row in reader:
                start, position = position + 1, reader.line_num
                if on_bytes is not None and binary.tell() > consumed:
                    on_bytes(binary.tell() - consumed)
                    consumed = binary.tell()
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    yield start, None, f"expected {len(header)} columns, found {len(row)}"
                    continue
                if any("\x00" in cell for cell in row):
                    yield start, None, "contains a NUL byte"
                    continue
                if any(_UNSTORABLE.search(cell) for cell in row):
                    yield start, None, "not valid UTF-8"
                    continue
                yield start, dict(zip(header, row, strict=True)), None
        except _LineTooLong as error:
            yield error.line, None, too_long()
        except csv.Error as error:
            if "field larger than field limit" in str(error):
                yield reader.line_num, None, f"a cell is longer than {CSV_FIELD_LIMIT // MIB} MiB"
            else:
                yield reader.line_num, None, f"not valid CSV: {error}"


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _csv_lines(binary: IO[bytes]) -> Iterator[str]:
    """The file's lines as text for the csv module, each of bounded length.

    Undecodable bytes become lone surrogates, so the row they are in is reported (a
    decode error would surface a buffer later, on a wrong line). UTF-8 never uses the
    newline byte inside a character, so decoding line by line is exact.
    """
    for number, raw in bounded_lines(binary):
        if raw is None:
            raise _LineTooLong(number)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield raw.decode("utf-8", "surrogateescape")


INT_FIELDS = {"session_number", "faithfulness", "relevance", "informativeness"}
# A review row's columns that are not scores; the others name the rubric's criteria
# (whatever the store's rubric calls them), so a whole number in them becomes an int.
REVIEW_TEXT_FIELDS = {"session_id", "item_id", "reviewer", "comment", "rationale_version"}
_WHOLE = re.compile(r"-?[0-9]{1,18}")


def _typed(row: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """CSV cells are text: blank cells are absent, numeric fields become ints."""
    data: dict[str, Any] = {}
    review = "reviewer" in row
    for key, value in row.items():
        value = value.strip() if key != "text" else value
        if value == "":
            continue
        if key in INT_FIELDS:
            try:
                data[key] = int(value)
            except ValueError:
                return data, f"{key}: expected a whole number, found {show(value)}"
        elif review and key not in REVIEW_TEXT_FIELDS and _WHOLE.fullmatch(value):
            data[key] = int(value)  # another rubric's criterion: checked as a score later
        else:
            data[key] = value
    return data, None


def read_csv_records(
    path: Path, on_bytes: Callable[[int], None] | None = None
) -> Iterator[RawRecord]:
    """Rationale and review CSVs: one record per row."""
    for line, row, error in _csv_rows(path, on_bytes):
        if row is None:
            yield RawRecord(line, None, error)
            continue
        data, error = _typed(row)
        yield RawRecord(line, None if error else data, error)


def read_ratings_csv(
    path: Path,
) -> tuple[dict[str, dict[str, dict[str, Any]]], list[str], dict[str, int]]:
    """A wide ratings file: ``session_id, rater, <item columns>``; one row per rater.

    Returns the ratings, the error lines and the line each session first appears on.
    """
    ratings: dict[str, dict[str, dict[str, Any]]] = {}
    errors: list[str] = []
    first_lines: dict[str, int] = {}
    for line, row, error in _csv_rows(path, None):
        if row is None:
            errors.append(f"{path}:{line}: {error}")
            continue
        session_id = (row.pop("session_id", "") or "").strip()
        rater = (row.pop("rater", "") or "").strip()
        if not session_id:
            errors.append(f"{path}:{line}: session_id is missing")
            continue
        if rater not in RATER_ROLES:
            errors.append(
                f"{path}:{line}: rater must be 'client' or 'counselor', found {show(rater)}"
            )
            continue
        if rater in ratings.get(session_id, {}):
            errors.append(
                f"{path}:{line}: duplicate {rater} ratings for session {show(session_id)}"
            )
            continue
        values: dict[str, Any] = {}
        for item_id, cell in row.items():
            cell = cell.strip()
            if not cell:
                continue
            try:
                values[item_id] = int(cell)
            except ValueError:
                errors.append(
                    f"{path}:{line}: {item_id}: expected a whole number, found {show(cell)}"
                )
        ratings.setdefault(session_id, {})[rater] = values
        first_lines.setdefault(session_id, line)
    return ratings, errors, first_lines


METADATA_PREFIX = "metadata."  # a sessions CSV column "metadata.condition" -> metadata


def read_session_csv(
    path: Path,
    ratings: dict[str, dict[str, dict[str, Any]]],
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[RawRecord]:
    """A long turns file (one row per turn, rows of a session together) joined to ratings."""
    current: dict[str, Any] | None = None
    finished: set[str] = set()

    def complete(record: dict[str, Any]) -> dict[str, Any]:
        session_ratings = ratings.get(record["session_id"], {})
        if "client" in session_ratings:
            record["client_ratings"] = session_ratings["client"]
        if "counselor" in session_ratings:
            record["counselor_ratings"] = session_ratings["counselor"]
        return record

    for line, row, error in _csv_rows(path, on_bytes):
        if row is None:
            yield RawRecord(line, None, error)
            continue
        data, error = _typed(row)
        if error:
            yield RawRecord(line, None, error)
            continue
        session_id = data.get("session_id")
        if not isinstance(session_id, str):
            yield RawRecord(line, None, "session_id is missing")
            continue
        turn = {"speaker": data.pop("speaker", None), "text": data.pop("text", None)}
        if current is not None and current["session_id"] == session_id:
            current["turns"].append(turn)
            current["_turn_lines"].append(line)
            continue
        if current is not None:
            finished.add(current["session_id"])
            yield _session_record(complete(current))
        if session_id in finished:
            yield RawRecord(line, None, f"rows of session {show(session_id)} are not together")
            current = None
            continue
        metadata = {
            key.removeprefix(METADATA_PREFIX): data.pop(key)
            for key in [k for k in data if k.startswith(METADATA_PREFIX)]
        }  # blank cells are absent already
        if metadata:
            data["metadata"] = metadata
        current = {**data, "turns": [turn], "_line": line, "_turn_lines": [line]}
    if current is not None:
        yield _session_record(complete(current))


def _session_record(record: dict[str, Any]) -> RawRecord:
    line, turn_lines = record.pop("_line"), record.pop("_turn_lines")
    return RawRecord(line, record, turn_lines=turn_lines)


def missing_from_turns(
    ratings: dict[str, dict[str, dict[str, Any]]], seen_sessions: set[str]
) -> list[str]:
    return sorted(set(ratings) - seen_sessions)


def dumps(data: Any) -> str:
    """Canonical JSON (sorted keys, UTF-8 unescaped) used for content hashes."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
