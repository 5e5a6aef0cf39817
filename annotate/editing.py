"""The author's side of a rationale: open it, autosave, save versions, accept, flag.

Every explicit save is a new ``RationaleVersion`` with its author and time, checked
against ``Rationale.lock_version`` (optimistic concurrency): a save that started from
an older version is still stored, as a ``conflict`` version, and then refused with
``ConflictError`` so that neither text is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate import workflow
from annotate.errors import AnnotateError, NotFoundError, PermissionDenied
from annotate.itemcontext import ItemContext, load_context
from annotate.versioning import save_rationale_version
from store.db import session_scope
from store.models import Annotator, Autosave, Draft, Rationale, Review, utcnow

Drafter = Callable[[Engine, str, str], Draft]
"""Drafts one (session, item) and stores the Draft row: e.g. ``annotate.drafting.draft_one``."""


@dataclass(frozen=True)
class DraftView:
    id: int
    text: str
    status: str  # workflow.DRAFT_OK | DRAFT_UNGROUNDED
    evidence: tuple[int, ...]
    grounding_error: str | None


@dataclass(frozen=True)
class EditorState:
    """Everything the editor needs for one rationale, read in one transaction."""

    rationale_id: int
    context: ItemContext
    status: str
    flagged: bool
    flag_note: str | None
    lock_version: int
    saved_text: str | None  # the latest stored version (not a conflict)
    draft: DraftView | None
    autosave_text: str | None  # unsaved text from an earlier sitting
    autosaved_at: datetime | None
    review_comments: tuple[str, ...]  # from failing reviews, for a rationale sent back

    @property
    def initial_text(self) -> str:
        """What the editor opens with: unsaved text, else the saved text, else the draft."""
        for text in (self.autosave_text, self.saved_text):
            if text is not None:
                return text
        return self.draft.text if self.draft else ""


@dataclass(frozen=True)
class SaveResult:
    version: int
    lock_version: int
    status: str


def ensure_annotator(session: Session, name: str) -> None:
    """Create the annotator row on first use (names are pseudonymous)."""
    if session.get(Annotator, name) is None:
        session.add(Annotator(id=name))
        session.flush()


def _rationale_for_author(session: Session, rationale_id: int, annotator: str) -> Rationale:
    rationale = session.get(Rationale, rationale_id)
    if rationale is None:
        raise NotFoundError(f"no rationale {rationale_id}")
    if rationale.author_id not in (None, annotator):
        raise PermissionDenied(f"rationale {rationale_id} is assigned to another annotator")
    return rationale


def draft_view(draft: Draft | None) -> DraftView | None:
    if draft is None or draft.id is None:
        return None
    return DraftView(
        id=draft.id,
        text=draft.text or "",
        status=draft.status,
        evidence=tuple(int(turn) for turn in draft.evidence or ()),
        grounding_error=draft.grounding_error,
    )


def failing_comments(session: Session, rationale_id: int) -> tuple[str, ...]:
    """Comments of the failing reviews of a rationale, oldest first."""
    rows = session.execute(
        select(col(Review.comment))
        .where(col(Review.rationale_id) == rationale_id, col(Review.passed).is_(False))
        .order_by(col(Review.id))
    ).scalars()
    return tuple(comment for comment in rows if comment)


def open_rationale(engine: Engine, rationale_id: int, annotator: str) -> EditorState:
    """The editor's view of one rationale; only its author (or anyone if unassigned) opens it."""
    with session_scope(engine) as session:
        rationale = _rationale_for_author(session, rationale_id, annotator)
        context = load_context(session, rationale.session_id, rationale.item_id)
        draft = session.get(Draft, rationale.draft_id) if rationale.draft_id else None
        if draft is None or draft.status == workflow.DRAFT_FAILED:
            draft = workflow.latest_draft(session, rationale.session_id, rationale.item_id)
        latest = workflow.latest_version(session, rationale_id)
        autosave = session.get(Autosave, (rationale_id, annotator))
        return EditorState(
            rationale_id=rationale_id,
            context=context,
            status=rationale.status,
            flagged=rationale.flagged,
            flag_note=rationale.flag_note,
            lock_version=rationale.lock_version,
            saved_text=latest.text if latest else None,
            draft=draft_view(draft),
            autosave_text=autosave.text if autosave else None,
            autosaved_at=autosave.saved_at if autosave else None,
            review_comments=failing_comments(session, rationale_id)
            if rationale.status == workflow.REVISION_REQUESTED
            else (),
        )


def autosave(
    engine: Engine, rationale_id: int, annotator: str, text: str, base_version: int
) -> None:
    """Keep unsaved editor text (one row per rationale and annotator, overwritten)."""
    with session_scope(engine) as session:
        _rationale_for_author(session, rationale_id, annotator)
        ensure_annotator(session, annotator)
        row = session.get(Autosave, (rationale_id, annotator))
        if row is None:
            row = Autosave(rationale_id=rationale_id, annotator_id=annotator, text=text)
        row.text, row.base_version, row.saved_at = text, base_version, utcnow()
        session.add(row)


def _store_version(
    engine: Engine, rationale_id: int, annotator: str, text: str, base_version: int, kind: str
) -> SaveResult:
    """Check the author, then let ``versioning`` do the atomic optimistic write."""
    with session_scope(engine) as session:
        rationale = _rationale_for_author(session, rationale_id, annotator)
        if kind == workflow.VERSION_ACCEPT:
            status = workflow.ACCEPTED
        elif rationale.status == workflow.REVISION_REQUESTED:
            status = workflow.REVISION_REQUESTED  # stays sent back until accepted again
        else:
            status = workflow.IN_PROGRESS
    version = save_rationale_version(
        engine, rationale_id, text, annotator, base_version, kind=kind, status=status
    )
    return SaveResult(version.version, version.version, status)


def save(
    engine: Engine, rationale_id: int, annotator: str, text: str, base_version: int
) -> SaveResult:
    """Store the editor text as a new version; raises ConflictError if ``base_version`` is stale."""
    return _store_version(
        engine, rationale_id, annotator, text, base_version, workflow.VERSION_SAVE
    )


def accept(
    engine: Engine, rationale_id: int, annotator: str, text: str, base_version: int
) -> SaveResult:
    """Sign the text off as final: an ``accept`` version and status ``accepted``."""
    if not text.strip():
        raise PermissionDenied("an empty rationale cannot be accepted")
    return _store_version(
        engine, rationale_id, annotator, text, base_version, workflow.VERSION_ACCEPT
    )


def flag(engine: Engine, rationale_id: int, annotator: str, note: str | None) -> None:
    """Flag a rationale with a note for the project lead; an empty note clears the flag."""
    with session_scope(engine) as session:
        rationale = _rationale_for_author(session, rationale_id, annotator)
        note = (note or "").strip()
        rationale.flagged = bool(note)
        rationale.flag_note = note or None
        rationale.updated_at = utcnow()
        session.add(rationale)


def draft_text(engine: Engine, rationale_id: int) -> str:
    """The text of the rationale's current draft, for "revert to draft"."""
    with session_scope(engine) as session:
        rationale = session.get(Rationale, rationale_id)
        if rationale is None:
            raise NotFoundError(f"no rationale {rationale_id}")
        draft = workflow.latest_draft(session, rationale.session_id, rationale.item_id)
        if draft is None or not draft.text:
            raise NotFoundError(f"rationale {rationale_id} has no draft")
        return draft.text


def regenerate(engine: Engine, rationale_id: int, annotator: str, drafter: Drafter) -> DraftView:
    """Draft the item again with ``drafter`` and make the new draft the rationale's draft."""
    with session_scope(engine) as session:
        rationale = _rationale_for_author(session, rationale_id, annotator)
        session_id, item_id = rationale.session_id, rationale.item_id
    draft = drafter(engine, session_id, item_id)
    if draft.status == workflow.DRAFT_FAILED or not draft.text:
        raise AnnotateError(f"drafting failed: {draft.error or 'no text returned'}")
    with session_scope(engine) as session:
        stored = session.get(Rationale, rationale_id)
        assert stored is not None
        stored.draft_id = draft.id
        session.add(stored)
    view = draft_view(draft)
    assert view is not None
    return view
