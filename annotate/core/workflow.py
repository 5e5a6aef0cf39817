"""The shared vocabulary of the rationale workflow: statuses, kinds and the newest draft.

Every service (drafting, editing, review, statistics, export) uses these so that
"accepted", "sent back" and "latest draft" mean one thing everywhere. Which version
is a rationale's text is stored, not looked up: ``rationales.current_version``.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from store.models import Draft

# Rationale.status
PENDING = "pending"  # assigned or opened, nothing saved yet
IN_PROGRESS = "in_progress"  # at least one saved version, not yet accepted
ACCEPTED = "accepted"  # the author signed it off: this is the final text
REVISION_REQUESTED = "revision_requested"  # a review scored below threshold: back to author
RATIONALE_STATUSES = (PENDING, IN_PROGRESS, ACCEPTED, REVISION_REQUESTED)

# Draft.status
DRAFT_OK = "ok"  # grounded: every cited turn exists and every quote is in its turn
DRAFT_UNGROUNDED = "ungrounded"  # stored with grounding_error; shown to the expert as such
DRAFT_FAILED = "failed"  # no usable text (HTTP error, timeout, unparseable output)
DRAFT_STATUSES = (DRAFT_OK, DRAFT_UNGROUNDED, DRAFT_FAILED)

# ReviewAssignment.status
REVIEW_PENDING = "pending"
REVIEW_DONE = "done"

# RationaleVersion.kind
VERSION_SAVE = "save"
VERSION_ACCEPT = "accept"
VERSION_IMPORT = "import"
VERSION_CONFLICT = "conflict"  # a save that lost an optimistic version check, kept anyway


def latest_draft(session: Session, session_id: str, item_id: str) -> Draft | None:
    """The newest draft with text (grounded or not) for one (session, item)."""
    query = (
        select(Draft)
        .where(Draft.session_id == session_id, Draft.item_id == item_id)
        .where(col(Draft.status) != DRAFT_FAILED)
        .order_by(col(Draft.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


# Krippendorff's alpha needs at least this many units scored by two or more raters; with
# fewer, the statistics say so and progress counts how many more are needed.
MIN_AGREEMENT_UNITS = 2
