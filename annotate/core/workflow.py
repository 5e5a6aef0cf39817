"""The shared vocabulary of the rationale workflow: statuses, kinds and the newest draft.

Every service (drafting, editing, review, statistics, export) uses these so that
"accepted", "sent back" and "latest draft" mean one thing everywhere. Which version
is a rationale's text is stored, not looked up: ``rationales.current_version``.
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session, col, select

from store.models import Draft


class Status(StrEnum):
    """A stored status word (its value is the string in the database) with its one label.

    Rationales use pending, in_progress, accepted and revision_requested; codings add
    submitted; a review assignment is pending or done. Every screen, command and report
    shows a status as ``status.label`` (or :func:`status_label` for a stored string).
    """

    PENDING = "pending"  # assigned or opened, nothing saved yet
    IN_PROGRESS = "in_progress"  # at least one saved version, not yet accepted/submitted
    SUBMITTED = "submitted"  # a coding: the coder is done, waiting for review
    ACCEPTED = "accepted"  # the author signed it off (a coding: a reviewer passed it)
    REVISION_REQUESTED = "revision_requested"  # a review scored below threshold: back
    DONE = "done"  # a review assignment: the review is given

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS: dict[Status, str] = {
    Status.PENDING: "pending",
    Status.IN_PROGRESS: "in progress",
    Status.SUBMITTED: "submitted",
    Status.ACCEPTED: "accepted",
    Status.REVISION_REQUESTED: "sent back",
    Status.DONE: "done",
}


def status_label(status: str) -> str:
    """The label of a stored status string (an unknown string is shown as it is)."""
    try:
        return Status(status).label
    except ValueError:
        return status


# Rationale.status
PENDING = Status.PENDING
IN_PROGRESS = Status.IN_PROGRESS
ACCEPTED = Status.ACCEPTED
REVISION_REQUESTED = Status.REVISION_REQUESTED
RATIONALE_STATUSES = (PENDING, IN_PROGRESS, ACCEPTED, REVISION_REQUESTED)

# Coding.status (annotate.work.codings)
SUBMITTED = Status.SUBMITTED
CODING_STATUSES = (PENDING, IN_PROGRESS, SUBMITTED, ACCEPTED, REVISION_REQUESTED)

# ReviewAssignment.status
REVIEW_PENDING = Status.PENDING
REVIEW_DONE = Status.DONE
ASSIGNMENT_STATUSES = (REVIEW_PENDING, REVIEW_DONE)

# Draft.status
DRAFT_OK = "ok"  # grounded: every cited turn exists and every quote is in its turn
DRAFT_UNGROUNDED = "ungrounded"  # stored with grounding_error; shown to the expert as such
DRAFT_FAILED = "failed"  # no usable text (HTTP error, timeout, unparseable output)
DRAFT_STATUSES = (DRAFT_OK, DRAFT_UNGROUNDED, DRAFT_FAILED)

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
