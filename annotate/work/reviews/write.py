"""The one writer of reviews: each names the version it scored.

A review binds to a version that exists, is not a ``conflict`` text and was not written
by its reviewer. From the review screen it must be the version the reviewer was shown
and still current (else :class:`StaleVersion`, and the screen reloads); review import
may name an older version (``rationale_version``) or default to the current one. A
failing score sends the rationale back only if the version it scored is still current.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.core import workflow
from annotate.core.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    StaleVersion,
)
from annotate.core.guidelines import Rubric
from annotate.core.vocabulary import current_rubric, score_rows
from annotate.work.rationales.rules import encodable
from annotate.work.rationales.versions import (
    RATIONALES,
    VERSIONS,
    RationaleRow,
    ensure_annotator,
    locked_rationale,
    write,
)
from store.models import PredictionReview, Review, ReviewAssignment, utcnow
from store.tables import PREDICTION_REVIEW_SCORES, PREDICTION_REVIEWS, REVIEW_SCORES, REVIEWS
from store.tables import REVIEW_ASSIGNMENTS as ASSIGNMENTS


def check_scores(scores: Mapping[str, int], rubric: Rubric) -> None:
    if set(scores) != set(rubric.criteria):
        raise ConfigError(f"a review scores exactly: {', '.join(rubric.criteria)}")
    for name, value in scores.items():
        if type(value) is not int or not rubric.scale_min <= value <= rubric.scale_max:
            raise ConfigError(
                f"{name}: score {value!r} is outside the scale "
                f"{rubric.scale_min}..{rubric.scale_max}"
            )


def existing_review(
    session: Session, rationale_id: int, reviewer_id: str, version: int
) -> Review | None:
    return session.execute(
        select(Review).where(
            col(Review.rationale_id) == rationale_id,
            col(Review.reviewer_id) == reviewer_id,
            col(Review.rationale_version) == version,
        )
    ).scalar_one_or_none()


def scored_version(
    rationale: RationaleRow,
    reviewer_id: str,
    version: int | None,
    versions: Mapping[int, tuple[str, str]],
) -> int:
    """The version a review scores (``version``, or the current one when None), or the
    reason it cannot be scored. ``versions`` maps the rationale's version numbers to
    their (kind, author)."""
    if version is None:
        version = rationale.current_version
        if version is None:
            raise NotFoundError("this rationale has no saved text to review yet")
    if version < 1:
        raise NotFoundError(f"version {version} of this rationale holds no text")
    if version not in versions:
        raise NotFoundError(f"this rationale has no version {version}")
    kind, author = versions[version]
    if kind == workflow.VERSION_CONFLICT:
        raise PermissionDenied(
            f"version {version} of this rationale is a conflict text (a save that lost to "
            "another), not the rationale's text: it cannot be reviewed"
        )
    if reviewer_id in (rationale.author_id, author):
        raise PermissionDenied(f"{reviewer_id!r} may not review their own text")
    return version


def version_kinds(
    session: Session, rationale_ids: list[int]
) -> dict[int, dict[int, tuple[str, str]]]:
    """Per rationale: version number -> (kind, author), for :func:`scored_version`."""
    found: dict[int, dict[int, tuple[str, str]]] = {rid: {} for rid in rationale_ids}
    if rationale_ids:
        rows = session.execute(
            select(VERSIONS.c.rationale_id, VERSIONS.c.version, VERSIONS.c.kind,
                   VERSIONS.c.author_id).where(VERSIONS.c.rationale_id.in_(rationale_ids))
        )  # fmt: skip
        for rationale_id, number, kind, author in rows:
            found[rationale_id][number] = (kind, author)
    return found


def reviewable_version(
    session: Session, rationale_id: int, reviewer_id: str, version: int | None
) -> tuple[int, int | None]:
    """(the version to score, the current version), or the reason it cannot be scored.

    Locks the rationale's row, so the current version cannot move before the review
    is written in the same transaction.
    """
    rationale = locked_rationale(session, rationale_id)
    versions = version_kinds(session, [rationale_id])[rationale_id]
    return scored_version(rationale, reviewer_id, version, versions), rationale.current_version


@dataclass(frozen=True)
class ImportedReview:
    """One review of an import, already checked with :func:`scored_version`."""

    rationale: RationaleRow
    reviewer_id: str
    version: int
    scores: Mapping[str, int]
    comment: str | None


def import_reviews(session: Session, reviews: list[ImportedReview], rubric: Rubric) -> None:
    """Import's bulk form of :func:`record_review`: the same rows and effects (a failing
    review of the current version sends it back; assignments are done), a few statements
    for the whole batch. Rationales must have been read with ``locked_rationales``."""
    if not reviews:
        return
    now = utcnow()
    rows = []
    for review in reviews:
        check_scores(review.scores, rubric)
        rows.append(
            {"rationale_id": review.rationale.id, "rationale_version": review.version,
             "reviewer_id": review.reviewer_id, "comment": review.comment,
             "passed": rubric.passes(review.scores), "rubric_version": rubric.version,
             "created_at": now}
        )  # fmt: skip
    ids = session.execute(
        REVIEWS.insert().returning(REVIEWS.c.id, sort_by_parameter_order=True), rows
    ).scalars()
    session.execute(
        REVIEW_SCORES.insert(),
        [
            score
            for review_id, review in zip(ids, reviews, strict=True)
            for score in score_rows(review_id, rubric.ordered(review.scores))
        ],
    )
    sent_back = [
        {"target_id": review.rationale.id}
        for review, row in zip(reviews, rows, strict=True)
        if not row["passed"] and review.version == review.rationale.current_version
    ]
    if sent_back:
        session.execute(
            update(RATIONALES)
            .where(RATIONALES.c.id == bindparam("target_id"))
            .values(status=workflow.REVISION_REQUESTED, updated_at=now),
            sent_back,
        )
    session.execute(
        update(ASSIGNMENTS)
        .where(ASSIGNMENTS.c.rationale_id == bindparam("target_id"))
        .where(ASSIGNMENTS.c.reviewer_id == bindparam("reviewer"))
        .values(status=workflow.REVIEW_DONE),
        [{"target_id": r.rationale.id, "reviewer": r.reviewer_id} for r in reviews],
    )


def record_review(
    session: Session,
    rationale_id: int,
    reviewer_id: str,
    scores: Mapping[str, int],
    *,
    version: int | None,
    comment: str | None,
    rubric: Rubric,
    shown_version: int | None = None,
) -> Review:
    """Store one review in the caller's transaction (see the module's rules).

    ``shown_version`` is the version the review screen displayed: the review is refused
    with :class:`StaleVersion` unless it is still current.
    """
    check_scores(scores, rubric)
    if comment is not None and ("\x00" in comment or not encodable(comment)):
        raise ConfigError("the comment contains an invalid character")
    ensure_annotator(session, reviewer_id)
    scored, current = reviewable_version(session, rationale_id, reviewer_id, version)
    if shown_version is not None and shown_version != current:
        raise StaleVersion(
            f"the rationale changed since you opened it (version {shown_version}, now "
            f"{current}): nothing was stored; the new text is shown, score it again",
            rationale_id=rationale_id,
            lock_version=current,
        )
    if existing_review(session, rationale_id, reviewer_id, scored) is not None:
        raise ConflictError(
            f"{reviewer_id!r} already reviewed version {scored} of rationale {rationale_id}",
            rationale_id=rationale_id,
        )
    now = utcnow()
    passed = rubric.passes(scores)
    review = Review(
        rationale_id=rationale_id,
        rationale_version=scored,
        reviewer_id=reviewer_id,
        comment=comment or None,
        passed=passed,
        rubric_version=rubric.version,
        created_at=now,
    )
    session.add(review)
    session.flush()
    assert review.id is not None
    session.execute(REVIEW_SCORES.insert(), score_rows(review.id, rubric.ordered(scores)))
    if not passed and scored == current:
        session.execute(
            update(RATIONALES)
            .where(RATIONALES.c.id == rationale_id)
            .values(status=workflow.REVISION_REQUESTED, updated_at=now)
        )
    session.execute(
        update(ASSIGNMENTS)
        .where(ASSIGNMENTS.c.rationale_id == rationale_id)
        .where(ASSIGNMENTS.c.reviewer_id == reviewer_id)
        .values(status=workflow.REVIEW_DONE)
    )
    session.flush()
    return review


def assigned_review(session: Session, assignment_id: int, reviewer: str) -> ReviewAssignment:
    """REVIEWER's review assignment ASSIGNMENT_ID (another reviewer's is refused)."""
    assignment = session.get(ReviewAssignment, assignment_id)
    if assignment is None:
        raise NotFoundError(f"no review assignment {assignment_id}")
    if assignment.reviewer_id != reviewer:
        raise PermissionDenied(f"review {assignment_id} is assigned to another reviewer")
    return assignment


def record_prediction_review(
    session: Session,
    assignment: ReviewAssignment,
    scores: Mapping[str, int],
    comment: str | None,
    rubric: Rubric,
) -> PredictionReview:
    """Store a reviewer's scores of a model's prediction (it has no author to send it to)."""
    check_scores(scores, rubric)
    if comment is not None and ("\x00" in comment or not encodable(comment)):
        raise ConfigError("the comment contains an invalid character")
    assert assignment.prediction_id is not None
    already = session.execute(
        select(PREDICTION_REVIEWS.c.id).where(
            PREDICTION_REVIEWS.c.prediction_id == assignment.prediction_id,
            PREDICTION_REVIEWS.c.reviewer_id == assignment.reviewer_id,
        )
    ).first()
    if already is not None:
        raise PermissionDenied("you have already reviewed this version of the rationale")
    review = PredictionReview(
        prediction_id=assignment.prediction_id,
        reviewer_id=assignment.reviewer_id,
        comment=comment or None,
        passed=rubric.passes(scores),
        rubric_version=rubric.version,
        created_at=utcnow(),
    )
    session.add(review)
    session.flush()
    assert review.id is not None
    session.execute(
        PREDICTION_REVIEW_SCORES.insert(),
        score_rows(review.id, rubric.ordered(scores), predictions=True),
    )
    assignment.status = workflow.REVIEW_DONE
    session.flush()
    return review


def submit_review(
    engine: Engine,
    assignment_id: int,
    reviewer: str,
    scores: dict[str, int],
    comment: str = "",
    *,
    shown_version: int,
) -> Review | PredictionReview:
    """Store a reviewer's scores for the version the review screen showed them.

    A failing review needs a comment for the author. Refused if the version shown is
    no longer current, if it is the reviewer's own work, or if they reviewed it before.
    A model's prediction is scored the same way (the reviewer cannot tell the
    difference) and its scores are kept apart, in ``prediction_reviews``.
    """
    rubric = current_rubric(engine)
    complete = set(scores) == set(rubric.criteria)
    if complete and not rubric.passes(scores) and not comment.strip():
        raise ConfigError("a failing review needs a comment for the author")

    def work(session: Session) -> Review | PredictionReview:
        assignment = assigned_review(session, assignment_id, reviewer)
        if assignment.prediction_id is not None:
            return record_prediction_review(
                session, assignment, scores, comment.strip() or None, rubric
            )
        assert assignment.rationale_id is not None
        return record_review(
            session, assignment.rationale_id, reviewer, scores,
            version=shown_version, comment=comment.strip() or None,
            rubric=rubric, shown_version=shown_version,
        )  # fmt: skip

    try:
        return write(engine, work)
    except StaleVersion:
        raise
    except ConflictError as error:  # the same reviewer, the same version, twice
        raise PermissionDenied("you have already reviewed this version of the rationale") from error
