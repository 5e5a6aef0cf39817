"""The author's side of a rationale: open it, autosave, save versions, accept, flag, redraft.

Opening only reads (on SQLite a DEFERRED transaction, so it never waits for a writer).
Every write is one transaction of :mod:`annotate.work.rationales.versions`. The editor says
which draft its text began from (the one it was pre-filled with, reverted to or
regenerated into); a save stores that link with the version, so the statistics and
the preference-pair export see the draft the expert actually started from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.core import workflow
from annotate.core.errors import AnnotateError, NotFoundError, PermissionDenied
from annotate.core.vocabulary import current_rubric, describe_review, read_scores
from annotate.work.rationales.itemcontext import ItemContext, load_context
from annotate.work.rationales.rules import is_scaffold_draft, offline_labels
from annotate.work.rationales.samples import Alternatives, item_alternatives
from annotate.work.rationales.versions import (
    AUTOSAVES,
    RATIONALES,
    StoredVersion,
    check_author,
    current_texts,
    drop_autosave,
    ensure_annotator,
    locked_rationale,
    save_version,
    usable_draft,
    version_row,
    write,
)
from store.db import reader, session_scope, upsert
from store.models import Autosave, Draft, Rationale, Review, TherapySession, utcnow

Drafter = Callable[[Engine, str, str], Draft]
"""Drafts one (session, item) and stores the Draft row: e.g. ``annotate.drafting.draft_one``."""


@dataclass(frozen=True)
class DraftView:
    id: int
    text: str
    status: str  # workflow.DRAFT_OK | DRAFT_UNGROUNDED
    evidence: tuple[int, ...]
    grounding_error: str | None
    scaffold_label: str | None  # for an offline draft: what it is, shown above the editor


@dataclass(frozen=True)
class EditorState:
    """Everything the editor needs for one rationale, read in one transaction."""

    rationale_id: int
    context: ItemContext
    status: str
    flagged: bool
    flag_note: str | None
    lock_version: int  # to name in the next save
    current_version: int | None
    saved_text: str | None  # the current version's text
    saved_draft_id: int | None  # the draft the current text began from
    draft: DraftView | None  # the newest usable draft of the item
    autosave_text: str | None  # unsaved text from an earlier sitting
    autosave_draft_id: int | None
    autosaved_at: datetime | None
    review_comments: tuple[str, ...]  # failing reviews' scores and comments, when sent back
    # The item's current draft sample (``draft --samples``) when 2+ of its drafts have
    # text: the editor offers them as alternatives, in the order they were asked for.
    alternatives: Alternatives | None = None
    alternative_drafts: tuple[DraftView, ...] = ()

    @property
    def initial_text(self) -> str:
        """What the editor opens with: unsaved text, else the saved text, else the draft."""
        for text in (self.autosave_text, self.saved_text):
            if text is not None:
                return text
        return self.draft.text if self.draft else ""

    @property
    def initial_draft_id(self) -> int | None:
        """The draft :attr:`initial_text` began from."""
        if self.autosave_text is not None:
            return self.autosave_draft_id
        if self.saved_text is not None:
            return self.saved_draft_id
        return self.draft.id if self.draft else None


@dataclass(frozen=True)
class SaveResult:
    version: int
    lock_version: int
    status: str


def draft_view(draft: Draft | None, language: str | None = None) -> DraftView | None:
    if draft is None or draft.id is None:
        return None
    label = None
    if is_scaffold_draft(draft.provider):
        labels = offline_labels()
        label = labels.get(language or "en") or labels["en"]
    return DraftView(
        id=draft.id,
        text=draft.text or "",
        status=draft.status,
        evidence=tuple(int(turn) for turn in draft.evidence or ()),
        grounding_error=draft.grounding_error,
        scaffold_label=label,
    )


def failing_reviews(session: Session, rationale_id: int) -> tuple[str, ...]:
    """The failing reviews of a rationale, oldest first: each one's scores and comment."""
    rows = session.execute(
        select(col(Review.id), col(Review.comment))
        .where(col(Review.rationale_id) == rationale_id, col(Review.passed).is_(False))
        .order_by(col(Review.id))
    ).all()
    if not rows:
        return ()
    connection = session.connection()
    scores, rubric = read_scores(connection, [row[0] for row in rows]), current_rubric(connection)
    return tuple(describe_review(rubric.ordered(scores[row[0]]), row[1]) for row in rows)


def _rationale_for_author(session: Session, rationale_id: int, annotator: str) -> Rationale:
    rationale = session.get(Rationale, rationale_id)
    if rationale is None:
        raise NotFoundError(f"no rationale {rationale_id}")
    check_author(rationale, annotator)
    return rationale


def open_rationale(engine: Engine, rationale_id: int, annotator: str) -> EditorState:
    """The editor's view of one rationale; only its author (or anyone if unassigned) opens it."""
    with session_scope(reader(engine)) as session:
        rationale = _rationale_for_author(session, rationale_id, annotator)
        context = load_context(session, rationale.session_id, rationale.item_id)
        draft = workflow.latest_draft(session, rationale.session_id, rationale.item_id)
        current = (
            version_row(session, rationale_id, rationale.current_version)
            if rationale.current_version
            else None
        )
        sampled = item_alternatives(session, rationale.session_id, rationale.item_id)
        alternatives, sample_drafts = sampled if sampled is not None else (None, [])
        autosave = session.get(Autosave, (rationale_id, annotator))
        if autosave is not None and current is not None and autosave.text == current.text:
            autosave = None  # an autosave that raced its own save holds nothing unsaved
        return EditorState(
            rationale_id=rationale_id,
            context=context,
            status=rationale.status,
            flagged=rationale.flagged,
            flag_note=rationale.flag_note,
            lock_version=rationale.lock_version,
            current_version=rationale.current_version,
            saved_text=current.text if current else None,
            saved_draft_id=rationale.draft_id if current else None,
            draft=draft_view(draft, context.language),
            autosave_text=autosave.text if autosave else None,
            autosave_draft_id=autosave.draft_id if autosave else None,
            autosaved_at=autosave.saved_at if autosave else None,
            review_comments=failing_reviews(session, rationale_id)
            if rationale.status == workflow.REVISION_REQUESTED
            else (),
            alternatives=alternatives,
            alternative_drafts=tuple(
                view for view in (draft_view(d, context.language) for d in sample_drafts) if view
            ),
        )


def autosave(
    engine: Engine,
    rationale_id: int,
    annotator: str,
    text: str,
    base_version: int,
    draft_id: int | None = None,
) -> None:
    """Keep unsaved editor text: one row per rationale and annotator, upserted.

    Text equal to the rationale's current version is not unsaved: any autosave is
    removed instead (an autosave that left the editor while its save was being written
    arrives after that save and would otherwise mark saved work "unsaved")."""

    def work(session: Session) -> None:
        rationale = locked_rationale(session, rationale_id)
        check_author(rationale, annotator)
        if (
            rationale.current_version
            and current_texts(session, [rationale_id]).get(rationale_id) == text
        ):
            drop_autosave(session, rationale_id, annotator)
            return
        if draft_id is not None:
            usable_draft(session, rationale, draft_id)
        ensure_annotator(session, annotator)
        values = {
            "rationale_id": rationale_id,
            "annotator_id": annotator,
            "text": text,
            "base_version": base_version,
            "draft_id": draft_id,
            "saved_at": utcnow(),
        }
        dialect = session.connection().dialect.name
        session.execute(upsert(AUTOSAVES, dialect, ["rationale_id", "annotator_id"], values))

    write(engine, work)


def _result(stored: StoredVersion) -> SaveResult:
    return SaveResult(stored.version, stored.version, stored.status)


def save(
    engine: Engine,
    rationale_id: int,
    annotator: str,
    text: str,
    base_version: int,
    draft_id: int | None = None,
) -> SaveResult:
    """Store the editor text as a new version; raises ConflictError if ``base_version`` is
    stale. ``draft_id`` is the draft the text began from (None: written from scratch)."""
    return _result(save_version(engine, rationale_id, text, annotator, base_version,
                                kind=workflow.VERSION_SAVE, draft_id=draft_id))  # fmt: skip


def accept(
    engine: Engine,
    rationale_id: int,
    annotator: str,
    text: str,
    base_version: int,
    draft_id: int | None = None,
) -> SaveResult:
    """Sign the text off as final: an ``accept`` version and status ``accepted``.

    Refused while the text holds any of the offline drafter's instructions (its content,
    whatever draft it began from).
    """
    if not text.strip():
        raise PermissionDenied("an empty rationale cannot be accepted")
    return _result(save_version(engine, rationale_id, text, annotator, base_version,
                                kind=workflow.VERSION_ACCEPT, draft_id=draft_id))  # fmt: skip


def flag(engine: Engine, rationale_id: int, annotator: str, note: str | None) -> None:
    """Flag a rationale with a note for the project lead; an empty note clears the flag."""
    cleaned = (note or "").strip()
    now = utcnow()

    def work(session: Session) -> None:
        check_author(locked_rationale(session, rationale_id), annotator)
        session.execute(
            update(RATIONALES)
            .where(RATIONALES.c.id == rationale_id)
            .values(
                flagged=bool(cleaned),
                flag_note=cleaned or None,
                flagged_at=now if cleaned else None,
                updated_at=now,
            )
        )

    write(engine, work)


def regenerate(engine: Engine, rationale_id: int, annotator: str, drafter: Drafter) -> DraftView:
    """Draft the item again with ``drafter``: the new draft becomes the item's newest.

    The rationale links it only once a text that began from it is saved.
    """
    with session_scope(reader(engine)) as session:
        rationale = _rationale_for_author(session, rationale_id, annotator)
        session_id, item_id = rationale.session_id, rationale.item_id
        therapy = session.get(TherapySession, session_id)
        language = therapy.language if therapy else None
    draft = drafter(engine, session_id, item_id)
    if draft.status == workflow.DRAFT_FAILED or not draft.text:
        raise AnnotateError(f"drafting failed: {draft.error or 'no text returned'}")
    view = draft_view(draft, language)
    assert view is not None
    return view
