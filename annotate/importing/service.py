"""Import a file in one transaction: every error listed, nothing written unless all is well."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotate.errors import AnnotateError, ConfigError, ImportFailed
from annotate.guidelines import load_rubric
from annotate.importing import readers, validation
from annotate.instruments import item_catalog
from annotate.lifecycle.reviews import ImportedReview, import_reviews, scored_version, version_kinds
from annotate.lifecycle.versions import current_texts, import_texts, locked_rationales
from store.db import advisory_write_lock, bulk_insert, insert_ignoring_duplicates
from store.models import (
    Annotator,
    Client,
    Counselor,
    ImportRecord,
    Rating,
    Review,
    TherapySession,
    Turn,
    utcnow,
)

MAX_ERRORS = 50
TURN_COLUMNS = ["session_id", "number", "speaker", "text"]
RATING_COLUMNS = ["session_id", "item_id", "rater_role", "value"]
CHUNK = 500


@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do)."""

    path: str
    kind: str
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        if not self.changed:
            return (
                f"{self.path}: nothing changed: all {self.records} {self.kind} "
                "were already imported"
            )
        parts = [f"{self.created} new"]
        if self.updated:
            parts.append(f"{self.updated} updated")
        if self.unchanged:
            parts.append(f"{self.unchanged} already present")
        return f"{self.path}: {verb} {self.records} {self.kind} ({', '.join(parts)})"


class _Errors:
    """Collects ``FILE:LINE: message`` lines up to a cap, counting the rest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []
        self.dropped = 0

    def add(self, line: int, message: str) -> None:
        if len(self.lines) < MAX_ERRORS:
            self.lines.append(f"{self.path}:{line}: {message}")
        else:
            self.dropped += 1

    def extend(self, lines: list[str]) -> None:
        for text in lines:
            if len(self.lines) < MAX_ERRORS:
                self.lines.append(text)
            else:
                self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.lines)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _raw_records(
    path: Path,
    kind: str | None,
    ratings_path: Path | None,
    on_bytes: Callable[[int], None] | None,
    errors: _Errors,
) -> Iterator[readers.RawRecord]:
    fmt = readers.file_format(path)
    if fmt == "jsonl":
        yield from readers.read_jsonl(path, on_bytes)
        return
    if kind == "sessions" or ratings_path is not None:
        if ratings_path is None:
            raise ConfigError(f"{path}: a sessions CSV needs --ratings FILE with the ratings")
        ratings, rating_errors, rating_lines = readers.read_ratings_csv(ratings_path)
        errors.extend(rating_errors)
        seen: set[str] = set()
        for record in readers.read_session_csv(path, ratings, on_bytes):
            if record.data is not None:
                seen.add(record.data["session_id"])
            yield record
        for session_id in readers.missing_from_turns(ratings, seen):
            errors.extend(
                [
                    f"{ratings_path}:{rating_lines[session_id]}: ratings for session "
                    f"{readers.show(session_id)} have no turns in {path.name}"
                ]
            )
        return
    yield from readers.read_csv_records(path, on_bytes)


def import_file(
    engine: Engine,
    path: Path | str,
    *,
    kind: str | None = None,
    ratings_path: Path | str | None = None,
    dry_run: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate and import ``path``; raise ``ImportFailed`` (writing nothing) on any error."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; name the file to import")
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    if kind is not None and kind not in readers.KINDS:
        raise ConfigError(f"unknown kind {kind!r}: use one of {', '.join(readers.KINDS)}")
    try:
        readers.file_format(path)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    errors = _Errors(path)
    ratings = Path(ratings_path) if ratings_path is not None else None
    with Session(engine, expire_on_commit=False) as session:
        try:
            # One import at a time (SQLite: BEGIN IMMEDIATE does it), so two imports of
            # overlapping files never race on the same new ids.
            advisory_write_lock(session, "annotate.import")
            result = _import(session, path, kind, ratings, on_bytes, errors, dry_run)
            if errors:
                raise ImportFailed(str(path), errors.lines, errors.dropped)
            if dry_run or not result.changed:
                session.rollback()
            else:
                session.add(
                    ImportRecord(
                        file_name=path.name,
                        sha256=_sha256(path),
                        kind=result.kind,
                        records=result.records,
                        created=result.created + result.updated,
                        unchanged=result.unchanged,
                    )
                )
                session.commit()
        except OSError as error:
            session.rollback()
            raise ConfigError(f"{error.filename or path}: cannot read: {error.strerror}") from None
        except BaseException:
            session.rollback()
            raise
    return result


def _import(
    session: Session,
    path: Path,
    kind: str | None,
    ratings_path: Path | None,
    on_bytes: Callable[[int], None] | None,
    errors: _Errors,
    dry_run: bool,
) -> ImportResult:
    catalog = item_catalog(session)
    if not catalog.item_instrument:
        raise ConfigError("the database has no instrument items: run 'annotate init' first")
    result = ImportResult(str(path), kind or "records", dry_run=dry_run)
    importer: _Importer | None = None
    for raw in _raw_records(path, kind, ratings_path, on_bytes, errors):
        if raw.data is None:
            errors.add(raw.line, raw.error or "unreadable")
            continue
        if importer is None:
            detected = kind or readers.guess_kind(raw.data)
            if detected is None:
                errors.add(raw.line, "cannot tell the record kind: pass --kind")
                continue
            result.kind = detected
            importer = _IMPORTERS[detected](session, catalog, errors, result)
        importer.add(raw.line, raw.data, raw.turn_lines)
    if importer is not None:
        importer.flush()
    if importer is None and not errors:
        errors.add(1, "the file has no records")
    return result


_TURN_PROBLEM = re.compile(r"^turn (\d+):")


def _line_of(problem: str, line: int, turn_lines: list[int] | None) -> int:
    """The line to report: a turn's own row of a sessions CSV, else the record's line."""
    if turn_lines:
        match = _TURN_PROBLEM.match(problem)
        if match and 0 < int(match[1]) <= len(turn_lines):
            return turn_lines[int(match[1]) - 1]
    return line


class _Importer:
    """Validates records, remembers ids seen in this file, writes in chunks."""

    def __init__(
        self,
        session: Session,
        catalog: validation.ItemCatalog,
        errors: _Errors,
        result: ImportResult,
    ) -> None:
        self.session = session
        self.catalog = catalog
        self.errors = errors
        self.result = result
        self.pending: list[tuple[int, dict[str, Any]]] = []
        self.first_line: dict[Any, int] = {}

    def check(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        raise NotImplementedError

    def key(self, record: dict[str, Any]) -> Any:
        raise NotImplementedError

    def describe(self, key: Any) -> str:
        raise NotImplementedError

    def write(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        raise NotImplementedError

    def add(self, line: int, data: dict[str, Any], turn_lines: list[int] | None = None) -> None:
        self.result.records += 1
        record, problems = self.check(data)
        for problem in problems:
            self.errors.add(_line_of(problem, line, turn_lines), problem)
        if problems:
            return
        key = self.key(record)
        if key in self.first_line:
            self.errors.add(
                line, f"duplicate {self.describe(key)} (first at line {self.first_line[key]})"
            )
            return
        self.first_line[key] = line
        self.pending.append((line, record))
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.write(self.pending)
            self.pending = []

    def ensure(self, model: type, ids: set[str], known: set[str]) -> None:
        """Insert the ids of ``model`` (clients, counselors, annotators) not yet stored."""
        wanted = ids - known
        if not wanted:
            return
        table = model.__table__  # type: ignore[attr-defined]
        present = set(
            self.session.execute(select(table.c.id).where(table.c.id.in_(wanted))).scalars()
        )
        new = wanted - present
        if new and not self.errors:
            now = utcnow()
            # Ignoring duplicates: an expert's save may add the same annotator meanwhile.
            statement = insert_ignoring_duplicates(table, self.session.connection().dialect.name)
            self.session.execute(statement, [{"id": i, "created_at": now} for i in sorted(new)])
        known.update(wanted)


class _SessionImporter(_Importer):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.known_clients: set[str] = set()
        self.known_counselors: set[str] = set()

    def check(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return validation.check_session(data, self.catalog)

    def key(self, record: dict[str, Any]) -> Any:
        return record["session_id"]

    def describe(self, key: Any) -> str:
        return f"session_id {key!r}"

    def write(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        hashes = {record["session_id"]: content_hash(record) for _, record in chunk}
        sessions = TherapySession.__table__  # type: ignore[attr-defined]
        existing = dict(
            self.session.execute(
                select(sessions.c.id, sessions.c.content_hash).where(sessions.c.id.in_(hashes))
            ).all()
        )
        new: list[dict[str, Any]] = []
        for line, record in chunk:
            session_id = record["session_id"]
            if session_id not in existing:
                new.append(record)
            elif existing[session_id] == hashes[session_id]:
                self.result.unchanged += 1
            else:
                self.errors.add(
                    line, f"session {session_id!r} already exists with different content"
                )
        self.result.created += len(new)
        if not new or self.errors:
            return
        self.ensure(Client, {r["client_id"] for r in new}, self.known_clients)
        self.ensure(Counselor, {r["counselor_id"] for r in new}, self.known_counselors)
        now = utcnow()
        session_rows: list[dict[str, Any]] = []
        turn_rows: list[tuple[Any, ...]] = []
        rating_rows: list[tuple[Any, ...]] = []
        for record in new:
            session_id = record["session_id"]
            session_rows.append(
                {
                    "id": session_id,
                    "client_id": record["client_id"],
                    "counselor_id": record["counselor_id"],
                    "session_number": record["session_number"],
                    "language": record["language"],
                    "meta": record.get("metadata"),
                    "content_hash": hashes[session_id],
                    "created_at": now,
                }
            )
            turn_rows.extend(
                (session_id, n, t["speaker"], t["text"])
                for n, t in enumerate(record["turns"], start=1)
            )
            for role in ("client", "counselor"):
                rating_rows.extend(
                    (session_id, item, role, value)
                    for item, value in record[f"{role}_ratings"].items()
                )
        self.session.execute(insert(sessions), session_rows)
        connection = self.session.connection()
        bulk_insert(connection, Turn.__table__, TURN_COLUMNS, turn_rows)  # type: ignore[attr-defined]
        bulk_insert(connection, Rating.__table__, RATING_COLUMNS, rating_rows)  # type: ignore[attr-defined]


def content_hash(record: dict[str, Any]) -> str:
    """A session's identity for re-imports: the same record gives the same hash."""
    return hashlib.sha256(readers.dumps(record).encode("utf-8")).hexdigest()


class _RationaleImporter(_Importer):
    """Rationales migrated from earlier work: each text becomes a stored version."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.known_annotators: set[str] = set()
        self.rubric_version: str | None = None

    def check(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return validation.check_rationale(data, self.catalog)

    def key(self, record: dict[str, Any]) -> Any:
        return (record["session_id"], record["item_id"])

    def describe(self, key: Any) -> str:
        return f"rationale for session {key[0]!r} item {key[1]!r}"

    def _sessions_present(self, chunk: list[tuple[int, dict[str, Any]]]) -> set[str]:
        ids = {record["session_id"] for _, record in chunk}
        table = TherapySession.__table__  # type: ignore[attr-defined]
        return set(self.session.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())

    def _rationales(self, chunk: list[tuple[int, dict[str, Any]]]) -> dict[tuple[str, str], Any]:
        return locked_rationales(self.session, {record["session_id"] for _, record in chunk})

    def write(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        present = self._sessions_present(chunk)
        rationales = self._rationales(chunk)
        current = current_texts(self.session, [r.id for r in rationales.values()])
        self.ensure(Annotator, {r["author"] for _, r in chunk}, self.known_annotators)
        from annotate.guidelines import load_manual

        guideline_version = load_manual().version
        texts: list[tuple[str, str, str, str]] = []
        for line, record in chunk:
            session_id, item_id = record["session_id"], record["item_id"]
            if session_id not in present:
                self.errors.add(line, f"unknown session {session_id!r}")
                continue
            rationale = rationales.get((session_id, item_id))
            if rationale is not None and rationale.author_id not in (None, record["author"]):
                self.errors.add(
                    line,
                    f"rationale for session {session_id!r} item {item_id!r} already has "
                    "another author",
                )
                continue
            if rationale is not None and current.get(rationale.id) == record["text"]:
                self.result.unchanged += 1
                continue
            if rationale is None:
                self.result.created += 1
            else:
                self.result.updated += 1
            if self.errors:
                continue
            texts.append((session_id, item_id, record["author"], record["text"]))
        if not self.errors:
            import_texts(self.session, texts, guideline_version=guideline_version)


class _ReviewImporter(_RationaleImporter):
    """Cross-reviews of stored rationales, each bound to the version it scored."""

    def check(self, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        rubric = load_rubric()
        return validation.check_review(data, self.catalog, (rubric.scale_min, rubric.scale_max))

    def key(self, record: dict[str, Any]) -> Any:
        return (
            record["session_id"],
            record["item_id"],
            record["reviewer"],
            record["rationale_version"],
        )

    def describe(self, key: Any) -> str:
        of_version = "" if key[3] is None else f" version {key[3]}"
        return f"review by {key[2]!r} of session {key[0]!r} item {key[1]!r}{of_version}"

    def write(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        rubric = load_rubric()
        present = self._sessions_present(chunk)
        rationales = self._rationales(chunk)
        ids = [r.id for r in rationales.values()]
        versions = version_kinds(self.session, ids)
        existing = {
            (review.rationale_id, review.reviewer_id, review.rationale_version): review
            for review in self.session.execute(
                select(Review).where(Review.rationale_id.in_(ids))  # type: ignore[attr-defined]
            ).scalars()
        }
        self.ensure(Annotator, {r["reviewer"] for _, r in chunk}, self.known_annotators)
        accepted: dict[tuple[int, str, int], int] = {}  # -> line, within this chunk
        reviews: list[ImportedReview] = []
        for line, record in chunk:
            session_id, item_id, reviewer = (
                record["session_id"],
                record["item_id"],
                record["reviewer"],
            )
            if session_id not in present:
                self.errors.add(line, f"unknown session {session_id!r}")
                continue
            rationale = rationales.get((session_id, item_id))
            if rationale is None:
                self.errors.add(line, f"no rationale for session {session_id!r} item {item_id!r}")
                continue
            try:
                version = scored_version(
                    rationale, reviewer, record["rationale_version"], versions[rationale.id]
                )
            except AnnotateError as error:
                self.errors.add(line, f"session {session_id!r} item {item_id!r}: {error}")
                continue
            scores = {name: record[name] for name in validation.CRITERIA}
            key = (rationale.id, reviewer, version)
            old = existing.get(key)
            if old is not None:
                same = all(getattr(old, name) == value for name, value in scores.items())
                if same and old.comment == record["comment"]:
                    self.result.unchanged += 1
                else:
                    self.errors.add(
                        line,
                        f"{reviewer!r} already reviewed version {version} of this rationale "
                        "with other scores",
                    )
                continue
            if key in accepted:
                self.errors.add(
                    line,
                    f"{reviewer!r} reviews version {version} of this rationale twice "
                    f"(first at line {accepted[key]})",
                )
                continue
            accepted[key] = line
            self.result.created += 1
            reviews.append(ImportedReview(rationale, reviewer, version, scores, record["comment"]))
        if not self.errors:
            import_reviews(self.session, reviews, rubric)


_IMPORTERS: dict[str, type[_Importer]] = {
    "sessions": _SessionImporter,
    "rationales": _RationaleImporter,
    "reviews": _ReviewImporter,
}
