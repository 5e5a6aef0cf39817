"""Import turn codings (3RS markers) made elsewhere: ``annotate import --kind codings``.

One JSON object per line::

    {"session_id": "s07", "coder": "ana", "role": "primary",
     "codes": [{"turn": 8, "code": "pushback"}, {"turn": 11, "code": "explore"}]}

``role`` is ``primary`` (default) or ``second`` (a blind second coding, for agreement);
``scheme`` defaults to ``3rs``. Every coding is stored as a version of kind ``import``
with status ``submitted``, through :func:`annotate.work.codings.import_codings`. The
whole file is checked first (FILE:LINE for every problem) and nothing is written unless
all is well; a line whose codes equal the coding's current codes changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.core.errors import ConfigError, ImportFailed
from annotate.core.markers import DEFAULT_SCHEME, misplaced, stored_scheme
from annotate.ingest import readers
from annotate.ingest.validation import MAX_INTEGER, Problems, _identifier, _unknown_fields
from annotate.work.codings import (
    ACCEPTED,
    PRIMARY,
    SECOND,
    ImportedCoding,
    import_codings,
)
from store.db import session_scope
from store.models import Coding, MarkerScheme, TherapySession, Turn

FIELDS = {"session_id", "coder", "role", "scheme", "codes"}
MAX_ERRORS = 50
MAX_MARKS = 10_000  # codes in one coding (a long session has a few hundred turns)


class _Mark(msgspec.Struct, forbid_unknown_fields=True):
    """One code on one turn, as a codings line gives it."""

    turn: Annotated[int, msgspec.Meta(ge=1, le=MAX_INTEGER)]
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


_Marks = Annotated[list[_Mark], msgspec.Meta(max_length=MAX_MARKS)]
_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<where>[^`]*)`)?$")


def _mark_problem(message: str) -> str:
    """msgspec's complaint about ``codes`` in the words of an error line."""
    match = _AT.match(message)
    what, where = (match["what"], match["where"] or "") if match else (message, "")
    if not where:
        if "length <=" in what:
            return f"codes: at most {MAX_MARKS:,} codes in one coding"
        if "Expected `array`" in what:
            return "codes must be a list of {turn, code} objects (may be empty)"
    where = re.sub(r"\[(\d+)\]", lambda m: f"[{int(m[1]) + 1}]", where, count=1)
    entry, _, field = where.partition(".")
    if field == "turn":
        return f"codes{entry}: turn must be a turn number from 1 ({what[:80]})"
    if field == "code":
        return f"codes{entry}: code must be a code id of 1 to 64 characters ({what[:80]})"
    return f"codes{where}: {what[:200]}"


@dataclass
class CodingImport:
    path: str
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def summary(self) -> str:
        return (
            f"{self.path}: imported {self.records} codings ({self.created} new, "
            f"{self.updated} updated, {self.unchanged} unchanged)"
        )


def _check(data: dict[str, Any], schemes: dict[str, set[str]]) -> tuple[dict[str, Any], list[str]]:
    problems = Problems()
    _unknown_fields(data, FIELDS, problems)
    session_id = _identifier(data, "session_id", problems)
    coder = _identifier(data, "coder", problems)
    role = data.get("role", PRIMARY)
    if role not in (PRIMARY, SECOND):
        problems.add(f"role must be 'primary' or 'second', found {readers.show(role)}")
    scheme = data.get("scheme", DEFAULT_SCHEME)
    if not isinstance(scheme, str) or scheme not in schemes:
        problems.add(
            f"unknown marker scheme {readers.show(scheme)}: load it with 'annotate codes load'"
        )
    marks: list[tuple[int, str]] = []
    try:
        entries = msgspec.convert(data.get("codes"), _Marks)
    except msgspec.ValidationError as error:
        problems.add(_mark_problem(str(error)))
        entries = []
    seen: set[tuple[int, str]] = set()
    for index, entry in enumerate(entries, start=1):
        if isinstance(scheme, str) and scheme in schemes and entry.code not in schemes[scheme]:
            problems.add(f"codes[{index}]: unknown code {readers.show(entry.code)} in {scheme}")
            continue
        if (entry.turn, entry.code) in seen:
            problems.add(f"codes[{index}]: turn {entry.turn} has {entry.code!r} twice")
            continue
        seen.add((entry.turn, entry.code))
        marks.append((entry.turn, entry.code))
    record = {"session_id": session_id, "coder": coder, "role": role, "scheme": scheme,
              "marks": sorted(marks)}  # fmt: skip
    return record, problems.messages


def import_codings_file(engine: Engine, path: Path | str, *, dry_run: bool = False) -> CodingImport:
    """Validate ``path`` and store its codings in one transaction (nothing on any error)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    if readers.file_format(path) != "jsonl":
        raise ConfigError(f"{path}: codings are imported from JSONL (one coding per line)")
    errors: list[str] = []
    result = CodingImport(str(path))
    with session_scope(engine) as session:
        schemes = {
            row.id: {code["id"] for code in row.codes}
            for row in session.execute(select(MarkerScheme)).scalars()
        }
        records: list[tuple[int, dict[str, Any]]] = []
        seen: dict[tuple[str, str, str], int] = {}
        for raw in readers.read_jsonl(path):
            if raw.data is None:
                errors.append(f"{path}:{raw.line}: {raw.error or 'unreadable'}")
                continue
            result.records += 1
            record, problems = _check(raw.data, schemes)
            errors.extend(f"{path}:{raw.line}: {problem}" for problem in problems)
            if problems:
                continue
            key = (record["session_id"], record["scheme"], record["coder"])
            if key in seen:
                errors.append(f"{path}:{raw.line}: duplicate coding of session "
                              f"{key[0]!r} by {key[2]!r} (first at line {seen[key]})")  # fmt: skip
                continue
            seen[key] = raw.line
            records.append((raw.line, record))
        if not records and not errors:
            errors.append(f"{path}:1: the file has no records")
        errors.extend(_check_sessions(session, path, records))
        errors.extend(_check_roles(session, path, records))
        if errors:
            raise ImportFailed(str(path), errors[:MAX_ERRORS], max(0, len(errors) - MAX_ERRORS))
        try:
            outcome = import_codings(
                session,
                [ImportedCoding(r["session_id"], r["scheme"], r["coder"], r["role"], r["marks"])
                 for _, r in records],
            )  # fmt: skip
        except ConfigError as error:  # a role clash found against the stored codings
            raise ImportFailed(str(path), [f"{path}: {error}"]) from None
        result.created, result.updated, result.unchanged = outcome
        if dry_run:
            session.rollback()
    return result


def _check_roles(
    session: Session, path: Path, records: list[tuple[int, dict[str, Any]]]
) -> list[str]:
    """One primary coder per session (in the file and in the store), no role changes, and
    no replacing a coding its reviewer accepted."""
    ids = {record["session_id"] for _, record in records}
    stored: dict[tuple[str, str, str], tuple[str, str]] = {}
    if ids:
        for sid, scheme, coder, role, status in session.execute(
            select(col(Coding.session_id), col(Coding.scheme_id), col(Coding.coder_id),
                   col(Coding.role), col(Coding.status)).where(col(Coding.session_id).in_(ids))
        ).all():  # fmt: skip
            stored[(sid, scheme, coder)] = (role, status)
    primary: dict[tuple[str, str], tuple[str, str]] = {
        (sid, scheme): (coder, "the store")
        for (sid, scheme, coder), (role, _) in stored.items()
        if role == PRIMARY
    }
    errors = []
    for line, record in records:
        key = (record["session_id"], record["scheme"], record["coder"])
        where = f"session {key[0]!r}"
        old = stored.get(key)
        if old is not None and old[0] != record["role"]:
            errors.append(f"{path}:{line}: {key[2]!r} codes {where} as {old[0]}, not "
                          f"{record['role']}")  # fmt: skip
            continue
        if old is not None and old[1] == ACCEPTED:
            errors.append(f"{path}:{line}: {key[2]!r}'s coding of {where} was accepted by its "
                          "reviewer: it cannot be replaced")  # fmt: skip
            continue
        if record["role"] == PRIMARY:
            holder = primary.get((key[0], key[1]))
            if holder is not None and holder[0] != key[2]:
                errors.append(f"{path}:{line}: {where} already has another primary coder "
                              f"({holder[0]!r}, in {holder[1]})")  # fmt: skip
                continue
            primary[(key[0], key[1])] = (key[2], f"line {line}")
    return errors


def _check_sessions(
    session: Session, path: Path, records: list[tuple[int, dict[str, Any]]]
) -> list[str]:
    """Every session exists, every coded turn is one of its turns, and every code is on
    a turn of the speaker its family goes with (:func:`annotate.core.markers.misplaced`, the
    rule the coding screen applies)."""
    ids = {record["session_id"] for _, record in records}
    speakers: dict[str, dict[int, str]] = {}
    if ids:
        present = set(
            session.execute(
                select(col(TherapySession.id)).where(col(TherapySession.id).in_(ids))
            ).scalars()
        )
        for session_id in present:
            speakers[session_id] = {}
        for session_id, number, speaker in session.execute(
            select(col(Turn.session_id), col(Turn.number), col(Turn.speaker)).where(
                col(Turn.session_id).in_(ids)
            )
        ).all():
            speakers[session_id][number] = speaker
    used = {record["scheme"] for _, record in records}
    schemes = {scheme_id: stored_scheme(session, scheme_id) for scheme_id in used}
    errors = []
    for line, record in records:
        session_id = record["session_id"]
        if session_id not in speakers:
            errors.append(f"{path}:{line}: unknown session {session_id!r}")
            continue
        turns = speakers[session_id]
        for turn, code in record["marks"]:
            speaker = turns.get(turn)
            if speaker is None:
                errors.append(f"{path}:{line}: session {session_id!r} has no turn {turn} "
                              f"(it has {max(turns, default=0)}); code {code!r}")  # fmt: skip
                continue
            problem = misplaced(schemes[record["scheme"]], code, turn, speaker)
            if problem is not None:
                errors.append(f"{path}:{line}: session {session_id!r}: {problem}")
    return errors
