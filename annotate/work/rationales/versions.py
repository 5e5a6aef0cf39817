"""Stored texts of a rationale: the one writer of versions, and the reads of the current one.

Several experts may save at once, on one SQLite file over SSH or on a shared
PostgreSQL. A save names the ``lock_version`` it started from; inside one transaction
the rationale's row is locked, and if nobody saved since, the text becomes the next
version and the rationale's ``current_version``, status and draft link change in the
same UPDATE. The text that loses is not dropped: it is stored as a version of kind
``conflict`` (never current) and ``ConflictError`` asks its author to merge. Each
write is one short transaction, retried when a lock wait runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from annotate.core import workflow
from annotate.core.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    StoreBusy,
)
from annotate.work.rationales.rules import check_text, refuse_scaffold
from store.db import insert_ignoring_duplicates, is_transient, run_transaction
from store.models import (
    Draft,
    Rationale,
    RationaleVersion,
    utcnow,
)
from store.tables import ANNOTATORS, AUTOSAVES, RATIONALES, is_current_text
from store.tables import RATIONALE_VERSIONS as VERSIONS

T = TypeVar("T")

WRITTEN_KINDS = (workflow.VERSION_SAVE, workflow.VERSION_ACCEPT, workflow.VERSION_IMPORT)


def write(engine: Engine, work: Callable[[Session], T]) -> T:
    """Run one write transaction, retried on lock waits; a store that stays busy is one line."""
    try:
        return run_transaction(engine, work)
    except DBAPIError as error:
        if is_transient(error):
            raise StoreBusy(
                "the database stayed busy (another command is writing): nothing was saved, "
                "try again in a moment"
            ) from None
        raise


def ensure_annotator(session: Session, annotator_id: str) -> None:
    """Create the annotator row on first use (names are pseudonymous)."""
    table = ANNOTATORS
    statement = insert_ignoring_duplicates(table, session.connection().dialect.name)
    session.execute(statement.values(id=annotator_id, created_at=utcnow()))


@dataclass(frozen=True)
class RationaleRow:
    """The rationale's state as read under its row lock."""

    id: int
    session_id: str
    item_id: str
    author_id: str | None
    status: str
    lock_version: int
    current_version: int | None
    draft_id: int | None


def locked_rationale(session: Session, rationale_id: int) -> RationaleRow:
    """Read one rationale and lock its row until the transaction ends (PostgreSQL; on
    SQLite the transaction's BEGIN IMMEDIATE already holds the write lock)."""
    columns = [RATIONALES.c[name] for name in RationaleRow.__dataclass_fields__]
    row = session.execute(
        select(*columns).where(RATIONALES.c.id == rationale_id).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError(f"rationale {rationale_id} does not exist")
    return RationaleRow(*row)


def check_author(rationale: RationaleRow | Rationale, annotator: str) -> None:
    """Only its author (or anyone, while it has none) may write or open a rationale."""
    if rationale.author_id not in (None, annotator):
        raise PermissionDenied(f"rationale {rationale.id} is assigned to another annotator")


def usable_draft(session: Session, rationale: RationaleRow, draft_id: int) -> Draft:
    """The draft a text says it began from: one with text, of the same (session, item)."""
    draft = session.get(Draft, draft_id)
    if (
        draft is None
        or (draft.session_id, draft.item_id) != (rationale.session_id, rationale.item_id)
        or draft.status == workflow.DRAFT_FAILED
        or not draft.text
    ):
        raise ConfigError(f"draft {draft_id} is not a draft of rationale {rationale.id}")
    return draft


@dataclass(frozen=True)
class StoredVersion:
    """What one write did: the version stored, and whether it became current."""

    rationale_id: int
    version: int
    kind: str
    status: str
    current: bool  # False: stored as a conflict version


def store_version(
    session: Session,
    rationale_id: int,
    text: str,
    author_id: str,
    *,
    kind: str,
    expected_version: int | None,
    draft_id: int | None = None,
    guideline_version: str | None = None,
) -> StoredVersion:
    """Store ``text`` as the next version, in the caller's transaction.

    With ``expected_version`` (the editor's save and accept) the text becomes current
    only if the rationale's ``lock_version`` still equals it, else it is kept as a
    ``conflict`` version; ``None`` (import) always wins. Winning sets, in one UPDATE,
    ``current_version``, the status (``accepted`` for accept and import; a save keeps
    a rationale sent back as sent back, else ``in_progress``), the author if there was
    none, and ``draft_id``: the draft the text began from. The author's autosave goes.
    """
    if kind not in WRITTEN_KINDS:
        raise ValueError(f"unknown version kind {kind!r}")
    check_text(text)
    if guideline_version is None:
        from annotate.core.guidelines import load_manual

        guideline_version = load_manual().version
    ensure_annotator(session, author_id)
    rationale = locked_rationale(session, rationale_id)
    check_author(rationale, author_id)
    if draft_id is not None:
        usable_draft(session, rationale, draft_id)
    if kind == workflow.VERSION_ACCEPT:
        refuse_scaffold(text)
    won = expected_version is None or rationale.lock_version == expected_version
    number = rationale.lock_version + 1
    now = utcnow()
    if kind in (workflow.VERSION_ACCEPT, workflow.VERSION_IMPORT):
        status: str = workflow.ACCEPTED
    elif rationale.status == workflow.REVISION_REQUESTED:
        status = workflow.REVISION_REQUESTED  # stays sent back until accepted again
    else:
        status = workflow.IN_PROGRESS
    changes: dict[str, object] = {"lock_version": number}
    if won:
        changes.update(
            current_version=number,
            status=status,
            author_id=rationale.author_id or author_id,
            draft_id=draft_id,
            updated_at=now,
        )
    else:
        status = rationale.status
    session.execute(update(RATIONALES).where(RATIONALES.c.id == rationale_id).values(**changes))
    session.execute(
        VERSIONS.insert().values(
            rationale_id=rationale_id,
            version=number,
            text=text,
            author_id=author_id,
            kind=kind if won else workflow.VERSION_CONFLICT,
            guideline_version=guideline_version,
            created_at=now,
        )
    )
    drop_autosave(session, rationale_id, author_id)
    return StoredVersion(rationale_id, number, kind if won else workflow.VERSION_CONFLICT,
                         status, won)  # fmt: skip


def drop_autosave(session: Session, rationale_id: int, annotator: str) -> None:
    """Remove ANNOTATOR's autosave of the rationale: its text is stored, nothing unsaved."""
    session.execute(
        delete(AUTOSAVES).where(
            AUTOSAVES.c.rationale_id == rationale_id, AUTOSAVES.c.annotator_id == annotator
        )
    )


def locked_rationales(
    session: Session, session_ids: set[str]
) -> dict[tuple[str, str], RationaleRow]:
    """The rationales of these sessions by (session, item), rows locked as in
    :func:`locked_rationale` (a concurrent save waits, then sees the new lock_version)."""
    if not session_ids:
        return {}
    columns = [RATIONALES.c[name] for name in RationaleRow.__dataclass_fields__]
    rows = session.execute(
        select(*columns).where(RATIONALES.c.session_id.in_(session_ids)).with_for_update()
    ).all()
    return {(row.session_id, row.item_id): RationaleRow(*row) for row in rows}


def import_texts(
    session: Session,
    texts: list[tuple[str, str, str, str]],
    *,
    guideline_version: str,
) -> None:
    """Import's bulk form of :func:`store_version` (kind ``import``, no expected version).

    ``texts`` holds (session id, item id, author, text), each (session, item) once; the
    caller has checked the sessions, the items and that no other author holds them.
    Missing rationales are created; every text becomes the next version and current,
    status ``accepted``, no draft link, its author's autosave gone: the same effects as
    one ``store_version`` each, in a few statements for the whole batch.
    """
    if not texts:
        return
    for _, _, _, text in texts:
        check_text(text)
    for author in sorted({author for _, _, author, _ in texts}):
        ensure_annotator(session, author)
    dialect = session.connection().dialect.name
    now = utcnow()
    session.execute(
        insert_ignoring_duplicates(RATIONALES, dialect),
        [
            {"session_id": sid, "item_id": iid, "status": workflow.PENDING, "flagged": False,
             "lock_version": 0, "updated_at": now}
            for sid, iid, _, _ in texts
        ],
    )  # fmt: skip
    rows = locked_rationales(session, {sid for sid, _, _, _ in texts})
    targets = [(rows[(sid, iid)], author, text) for sid, iid, author, text in texts]
    session.execute(
        update(RATIONALES)
        .where(RATIONALES.c.id == bindparam("target_id"))
        .values(
            lock_version=bindparam("number"),
            current_version=bindparam("number"),
            status=workflow.ACCEPTED,
            author_id=func.coalesce(RATIONALES.c.author_id, bindparam("author")),
            draft_id=None,
            updated_at=now,
        ),
        [
            {"target_id": row.id, "number": row.lock_version + 1, "author": author}
            for row, author, _ in targets
        ],
    )
    session.execute(
        VERSIONS.insert(),
        [
            {"rationale_id": row.id, "version": row.lock_version + 1, "text": text,
             "author_id": author, "kind": workflow.VERSION_IMPORT,
             "guideline_version": guideline_version, "created_at": now}
            for row, author, text in targets
        ],
    )  # fmt: skip
    session.execute(
        delete(AUTOSAVES).where(
            AUTOSAVES.c.rationale_id == bindparam("target_id"),
            AUTOSAVES.c.annotator_id == bindparam("author"),
        ),
        [{"target_id": row.id, "author": author} for row, author, _ in targets],
    )


def save_version(
    engine: Engine,
    rationale_id: int,
    text: str,
    author_id: str,
    expected_version: int,
    *,
    kind: str = workflow.VERSION_SAVE,
    draft_id: int | None = None,
) -> StoredVersion:
    """:func:`store_version` in its own transaction; a lost check raises ``ConflictError``
    after the commit, so the losing text is stored before its author is told."""
    stored = write(
        engine,
        lambda session: store_version(
            session,
            rationale_id,
            text,
            author_id,
            kind=kind,
            expected_version=expected_version,
            draft_id=draft_id,
        ),  # fmt: skip
    )
    if not stored.current:
        raise ConflictError(
            f"rationale {rationale_id} was saved elsewhere since version {expected_version}; "
            f"your text is kept as conflict version {stored.version}: the editor now shows "
            "the current text, compare the two, then save again",
            rationale_id=rationale_id,
            kept_version=stored.version,
            lock_version=stored.version,
        )
    return stored


def current_texts(session: Session, rationale_ids: list[int]) -> dict[int, str]:
    """The current text of each rationale that has one."""
    if not rationale_ids:
        return {}
    rows = session.execute(
        select(RATIONALES.c.id, VERSIONS.c.text)
        .join(VERSIONS, is_current_text(VERSIONS))
        .where(RATIONALES.c.id.in_(rationale_ids))
    ).all()
    return {rationale_id: text for rationale_id, text in rows}


def version_row(session: Session, rationale_id: int, version: int) -> RationaleVersion | None:
    return session.execute(
        select(RationaleVersion).where(
            RationaleVersion.rationale_id == rationale_id,  # type: ignore[arg-type]
            RationaleVersion.version == version,  # type: ignore[arg-type]
        )
    ).scalar_one_or_none()
