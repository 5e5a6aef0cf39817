"""Import a file in one transaction: every error listed, nothing written unless all is well."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from annotate.core.catalog import ItemCatalog, read_catalog
from annotate.core.errors import AnnotateError, ConfigError, ImportFailed
from annotate.ingest import parsing, readers, validation
from annotate.ingest.fast import SessionRows, session_rows
from store.db import advisory_lock, insert_rows, stored_timestamp

if TYPE_CHECKING:
    from sqlmodel import Session

MAX_ERRORS = 50
TURN_COLUMNS = ["session_id", "number", "speaker", "text"]
RATING_COLUMNS = ["session_id", "item_id", "rater_role", "value"]
SESSION_COLUMNS = ["id", "client_id", "counselor_id", "session_number", "language", "meta",
                   "content_hash", "created_at"]  # fmt: skip
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
        for line in lines:
            if len(self.lines) < MAX_ERRORS:
                self.lines.append(line)
            else:
                self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.lines)


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
    with engine.connect() as connection:
        store = _Store(connection)
        transaction = connection.begin()
        try:
            # One import at a time (SQLite: BEGIN IMMEDIATE does it), so two imports of
            # overlapping files never race on the same new ids.
            advisory_lock(connection, "annotate.import")
            result, digest = _import(store, path, kind, ratings, on_bytes, errors, dry_run)
            if errors:
                raise ImportFailed(str(path), errors.lines, errors.dropped)
            if dry_run or not result.changed:
                store.close()
                transaction.rollback()
            else:
                store.flush()
                connection.execute(
                    text(
                        "INSERT INTO imports (file_name, sha256, kind, records, created,"
                        " unchanged, created_at) VALUES (:file_name, :sha256, :kind, :records,"
                        " :created, :unchanged, :created_at)"
                    ),
                    {
                        "file_name": path.name,
                        "sha256": digest or parsing.file_sha256(path),
                        "kind": result.kind,
                        "records": result.records,
                        "created": result.created + result.updated,
                        "unchanged": result.unchanged,
                        "created_at": stored_timestamp(connection, _utcnow()),
                    },
                )
                store.close()
                transaction.commit()
        except OSError as error:
            store.close()
            transaction.rollback()
            raise ConfigError(f"{error.filename or path}: cannot read: {error.strerror}") from None
        except BaseException:
            store.close()
            transaction.rollback()
            raise
    return result


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Store:
    """The import's one connection and transaction; an ORM session on it only for the
    importers that need one (rationales, reviews), so a sessions import loads no ORM."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            from sqlmodel import Session

            # Joins the connection's transaction; committing it stays with import_file.
            self._session = Session(bind=self.connection, expire_on_commit=False)
        return self._session

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _import(
    store: _Store,
    path: Path,
    kind: str | None,
    ratings_path: Path | None,
    on_bytes: Callable[[int], None] | None,
    errors: _Errors,
    dry_run: bool,
) -> tuple[ImportResult, str | None]:
    """The import's work; returns the result and the file's SHA-256 if the parser took it."""
    catalog = read_catalog(store.connection)
    if not catalog.item_instrument:
        raise ConfigError("the database has no instrument items: run 'annotate init' first")
    result = ImportResult(str(path), kind or "records", dry_run=dry_run)
    importer: _Importer | None = None
    digest: str | None = None
    stream = parsing.events(path, kind, ratings_path, catalog, on_bytes)
    try:
        for event in stream:
            tag = event[0]
            if tag == "record":
                assert importer is not None
                importer.add_checked(event[1], event[2], event[3], event[4])
            elif tag == "raw":
                assert importer is not None
                importer.add(event[1], event[2], event[3])
            elif tag == "error":
                errors.add(event[1], event[2])
            elif tag == "lines":
                errors.extend(event[1])
            elif tag == "kind":
                result.kind = event[1]
                importer = _IMPORTERS[event[1]](store, catalog, errors, result)
            elif tag == "sha256":
                digest = event[1]
    finally:
        stream.close()  # stops the parsing process when the import ends early
    if importer is not None:
        importer.flush()
    if importer is None and not errors:
        errors.add(1, "the file has no records")
    return result, digest


_TURN_PROBLEM = re.compile(r"^turn (\d+):")


def _line_of(problem: str, line: int, turn_lines: list[int] | None) -> int:
    """The line to report: a turn's own row of a sessions CSV, else the record's line."""
    if turn_lines:
        match = _TURN_PROBLEM.match(problem)
        if match and 0 < int(match[1]) <= len(turn_lines):
            return turn_lines[int(match[1]) - 1]
    return line


class _Importer:
    """Validates records, remembers ids seen in this file, writes in chunks.

    Records of the built-in kinds arrive checked (``add_checked``, from the parsing
    stage); an importer of another kind gets each parsed record through ``add``, which
    runs its ``check``. ``self.connection`` is the import's connection and
    ``self.session`` an ORM session on the same transaction, made on first use.
    """

    def __init__(
        self,
        store: _Store,
        catalog: ItemCatalog,
        errors: _Errors,
        result: ImportResult,
    ) -> None:
        self.store = store
        self.connection = store.connection
        self.catalog = catalog
        self.errors = errors
        self.result = result
        self.pending: list[tuple[int, Any]] = []
        self.first_line: dict[Any, int] = {}

    @property
    def session(self) -> Session:
        return self.store.session

    def check(self, data: dict[str, Any]) -> tuple[Any, list[str]]:
        raise NotImplementedError

    def key(self, record: Any) -> Any:
        raise NotImplementedError

    def describe(self, key: Any) -> str:
        raise NotImplementedError

    def write(self, chunk: list[tuple[int, Any]]) -> None:
        raise NotImplementedError

    def add(self, line: int, data: dict[str, Any], turn_lines: list[int] | None = None) -> None:
        record, problems = self.check(data)
        self.add_checked(line, record, problems, turn_lines)

    def add_checked(
        self, line: int, record: Any, problems: list[str], turn_lines: list[int] | None = None
    ) -> None:
        self.result.records += 1
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

    def ensure(self, table: str, ids: set[str], known: set[str]) -> None:
        """Insert the ids into ``table`` (clients, counselors, annotators) not yet stored."""
        wanted = ids - known
        if not wanted:
            return
        query = text(f"SELECT id FROM {table} WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        present = set(self.connection.execute(query, {"ids": sorted(wanted)}).scalars())
        new = wanted - present
        if new and not self.errors:
            now = stored_timestamp(self.connection, _utcnow())
            # Ignoring duplicates: an expert's save may add the same annotator meanwhile.
            self.connection.execute(
                text(
                    f"INSERT INTO {table} (id, created_at) VALUES (:id, :created_at)"
                    " ON CONFLICT DO NOTHING"
                ),
                [{"id": i, "created_at": now} for i in sorted(new)],
            )
        known.update(wanted)


class _SessionImporter(_Importer):
    """Sessions, their turns and ratings; records arrive as ``SessionRows``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.known_clients: set[str] = set()
        self.known_counselors: set[str] = set()

    def check(self, data: dict[str, Any]) -> tuple[Any, list[str]]:
        record, problems = validation.check_session(data, self.catalog)
        return (record if problems else session_rows(record)), problems

    def key(self, record: SessionRows) -> Any:
        return record.session_id

    def describe(self, key: Any) -> str:
        return f"session_id {key!r}"

    def write(self, chunk: list[tuple[int, SessionRows]]) -> None:
        query = text("SELECT id, content_hash FROM sessions WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        ids = [record.session_id for _, record in chunk]
        existing: dict[str, str] = {i: h for i, h in self.connection.execute(query, {"ids": ids})}
        new: list[SessionRows] = []
        for line, record in chunk:
            session_id = record.session_id
            if session_id not in existing:
                new.append(record)
            elif existing[session_id] == record.content_hash:
                self.result.unchanged += 1
            else:
                self.errors.add(
                    line, f"session {session_id!r} already exists with different content"
                )
        self.result.created += len(new)
        if not new or self.errors:
            return
        self.ensure("clients", {r.client_id for r in new}, self.known_clients)
        self.ensure("counselors", {r.counselor_id for r in new}, self.known_counselors)
        now = stored_timestamp(self.connection, _utcnow())
        # The JSON column's value as SQLAlchemy's JSON type writes it (None is JSON null).
        session_rows = [
            (r.session_id, r.client_id, r.counselor_id, r.session_number, r.language,
             "null" if r.metadata is None else json.dumps(r.metadata), r.content_hash, now)
            for r in new
        ]  # fmt: skip
        turn_rows = list(chain.from_iterable(record.turn_rows() for record in new))
        rating_rows = list(chain.from_iterable(record.rating_rows() for record in new))
        insert_rows(self.connection, "sessions", SESSION_COLUMNS, session_rows)
        insert_rows(self.connection, "turns", TURN_COLUMNS, turn_rows)
        insert_rows(self.connection, "ratings", RATING_COLUMNS, rating_rows)


def content_hash(record: dict[str, Any]) -> str:
    """A session's identity for re-imports: the SHA-256 of ``readers.dumps(record)``."""
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
        query = text("SELECT id FROM sessions WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        ids = sorted({record["session_id"] for _, record in chunk})
        return set(self.session.execute(query, {"ids": ids}).scalars())

    def _rationales(self, chunk: list[tuple[int, dict[str, Any]]]) -> dict[tuple[str, str], Any]:
        from annotate.work.rationales.versions import locked_rationales

        return locked_rationales(self.session, {record["session_id"] for _, record in chunk})

    def write(self, chunk: list[tuple[int, dict[str, Any]]]) -> None:
        present = self._sessions_present(chunk)
        rationales = self._rationales(chunk)
        from annotate.core.guidelines import load_manual
        from annotate.work.rationales.versions import current_texts, import_texts

        current = current_texts(self.session, [r.id for r in rationales.values()])
        self.ensure("annotators", {r["author"] for _, r in chunk}, self.known_annotators)

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
        return validation.check_review(data, self.catalog)

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
        from sqlalchemy import select

        from annotate.core.vocabulary import read_scores
        from annotate.work.reviews.write import (
            ImportedReview,
            import_reviews,
            scored_version,
            version_kinds,
        )
        from store.models import Review

        rubric = self.catalog.rubric
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
        stored_scores = read_scores(
            self.session.connection(), [review.id for review in existing.values()]
        )
        self.ensure("annotators", {r["reviewer"] for _, r in chunk}, self.known_annotators)
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
            scores = record["scores"]
            key = (rationale.id, reviewer, version)
            old = existing.get(key)
            if old is not None:
                same = stored_scores.get(old.id) == scores
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
