"""The drafts sampled together for an item (``draft --samples K``) and how much they disagree.

The newest ``draft_samples`` row of a (session, item) is its current one: the editor
offers its drafts as alternatives, and ``assign --order uncertainty`` ranks an author's
work by its ``uncertainty``. Both read it here, so "current" means one thing.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session, col

from annotate.core import workflow
from store.models import Draft, DraftSample

ItemKey = tuple[str, str]  # (session id, item id)


def current_samples(
    session: Session, session_ids: Collection[str] | None = None
) -> dict[ItemKey, DraftSample]:
    """The newest draft_samples row of every (session, item) (of SESSION_IDS, if given)."""
    newest = select(func.max(col(DraftSample.id))).group_by(
        col(DraftSample.session_id), col(DraftSample.item_id)
    )
    if session_ids is not None:
        newest = newest.where(col(DraftSample.session_id).in_(session_ids))
    rows = session.execute(select(DraftSample).where(col(DraftSample.id).in_(newest))).scalars()
    return {(row.session_id, row.item_id): row for row in rows}


def current_uncertainty(
    session: Session, session_ids: Collection[str] | None = None
) -> dict[ItemKey, float]:
    """Each measured item's uncertainty from its current row (items without one, or whose
    current row could not measure it, are absent)."""
    return {
        key: float(row.uncertainty)
        for key, row in current_samples(session, session_ids).items()
        if row.uncertainty is not None and math.isfinite(row.uncertainty)
    }


@dataclass(frozen=True)
class Alternatives:
    """The drafts of an item's current sample that have text, in the order asked for."""

    draft_ids: tuple[int, ...]
    method: str
    uncertainty: float | None

    def position(self, draft_id: int | None) -> int | None:
        """Where DRAFT_ID stands among the alternatives (0-based), None if not among them."""
        return self.draft_ids.index(draft_id) if draft_id in self.draft_ids else None

    def which(self, index: int | None) -> str:
        """``draft 2 of 3`` (INDEX 1); ``3 drafts`` when none of them is the one shown."""
        count = len(self.draft_ids)
        return f"draft {index + 1} of {count}" if index is not None else f"{count} drafts"

    def caption(self, index: int | None) -> str:
        """``draft 2 of 3 · uncertainty 0.37 (METHOD)``, METHOD without its parenthesised
        details (the tokenisation), so the line fits one row of a 100-column terminal."""
        measured = f"{self.uncertainty:.2f}" if self.uncertainty is not None else "not measured"
        method = self.method.split(" (", 1)[0]
        return f"{self.which(index)} · uncertainty {measured} ({method})"


def item_alternatives(
    session: Session, session_id: str, item_id: str
) -> tuple[Alternatives, list[Draft]] | None:
    """The current sample's drafts with text, when there are two or more (else None)."""
    row = current_samples(session, [session_id]).get((session_id, item_id))
    if row is None:
        return None
    wanted = [int(draft_id) for draft_id in row.draft_ids or ()]
    found = {
        draft.id: draft
        for draft in session.execute(select(Draft).where(col(Draft.id).in_(wanted))).scalars()
        if draft.text and draft.status != workflow.DRAFT_FAILED
        and (draft.session_id, draft.item_id) == (session_id, item_id)
    }  # fmt: skip
    drafts = [found[draft_id] for draft_id in dict.fromkeys(wanted) if draft_id in found]
    if len(drafts) < 2:
        return None
    ids = tuple(draft.id for draft in drafts if draft.id is not None)
    return Alternatives(ids, row.method, row.uncertainty), drafts
