"""Stream records out of JSONL and CSV files, each with the line it started on."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("sessions", "rationales", "reviews")
RATER_ROLES = ("client", "counselor")


@dataclass(slots=True)
class RawRecord:
    """A parsed record, or the reason the line could not be parsed."""

    line: int
    data: dict[str, Any] | None
    error: str | None = None


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


def read_jsonl(path: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[RawRecord]:
    """Yield one record per non-blank line; bad lines become records with an error."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if on_bytes is not None:
                on_bytes(len(raw))
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                yield RawRecord(number, None, f"not valid UTF-8 (byte {error.start + 1})")
                continue
            if not text.strip():
                continue
            if "\x00" in text:
                yield RawRecord(number, None, "contains a NUL byte")
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                yield RawRecord(number, None, f"not valid JSON: {error.msg} (column {error.colno})")
                continue
            except RecursionError:
                yield RawRecord(number, None, "not valid JSON: nested too deeply")
                continue
            if not isinstance(data, dict):
                yield RawRecord(number, None, "expected a JSON object")
                continue
            yield RawRecord(number, data)


def _csv_rows(
    path: Path, on_bytes: Callable[[int], None] | None
) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """Rows of a CSV file as dicts with the line each row starts on."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open("rb") as binary:
        try:
            text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
            reader = csv.reader(text, delimiter=delimiter, strict=True)
            header = next(reader, None)
            if header is None:
                return
            header = [column.strip() for column in header]
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
                yield start, dict(zip(header, row, strict=True)), None
        except UnicodeDecodeError as error:
            yield reader.line_num + 1, None, f"not valid UTF-8 (byte {error.start + 1})"
        except csv.Error as error:
            yield reader.line_num, None, f"not valid CSV: {error}"


INT_FIELDS = {"session_number", "faithfulness", "relevance", "informativeness"}


def _typed(row: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """CSV cells are text: blank cells are absent, numeric fields become ints."""
    data: dict[str, Any] = {}
    for key, value in row.items():
        value = value.strip() if key != "text" else value
        if value == "":
            continue
        if key in INT_FIELDS:
            try:
                data[key] = int(value)
            except ValueError:
                return data, f"{key}: expected a whole number, found {value!r}"
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


def read_ratings_csv(path: Path) -> tuple[dict[str, dict[str, dict[str, Any]]], list[str]]:
    """A wide ratings file: ``session_id, rater, <item columns>``; one row per rater."""
    ratings: dict[str, dict[str, dict[str, Any]]] = {}
    errors: list[str] = []
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
            errors.append(f"{path}:{line}: rater must be 'client' or 'counselor', found {rater!r}")
            continue
        if rater in ratings.get(session_id, {}):
            errors.append(f"{path}:{line}: duplicate {rater} ratings for session {session_id!r}")
            continue
        values: dict[str, Any] = {}
        for item_id, cell in row.items():
            cell = cell.strip()
            if not cell:
                continue
            try:
                values[item_id] = int(cell)
            except ValueError:
                errors.append(f"{path}:{line}: {item_id}: expected a whole number, found {cell!r}")
        ratings.setdefault(session_id, {})[rater] = values
    return ratings, errors


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
            continue
        if current is not None:
            finished.add(current["session_id"])
            yield RawRecord(current.pop("_line"), complete(current))
        if session_id in finished:
            yield RawRecord(line, None, f"rows of session {session_id!r} are not together")
            current = None
            continue
        current = {**data, "turns": [turn], "_line": line}
    if current is not None:
        yield RawRecord(current.pop("_line"), complete(current))


def missing_from_turns(
    ratings: dict[str, dict[str, dict[str, Any]]], seen_sessions: set[str]
) -> list[str]:
    return sorted(set(ratings) - seen_sessions)


def dumps(data: Any) -> str:
    """Canonical JSON (sorted keys, UTF-8 unescaped) used for content hashes."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
