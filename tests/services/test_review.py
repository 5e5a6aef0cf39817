"""Blind review rules, enforced by the service: no self-review, no author in the view."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlmodel import Session

from annotate.core import workflow
from annotate.core.errors import ConfigError, PermissionDenied
from annotate.ingest import import_file
from annotate.work.assignment import assign_authoring, assign_reviews
from annotate.work.queue import authoring_queue
from annotate.work.rationales import editor as editing
from annotate.work.reviews.queue import ReviewView, open_review, review_queue
from annotate.work.reviews.write import submit_review
from store.db import session_scope
from store.models import Rationale, ReviewAssignment
from tests.factories import session_record, write_jsonl

GOOD = {"faithfulness": 4, "relevance": 4, "informativeness": 3}
BAD = {"faithfulness": 4, "relevance": 2, "informativeness": 5}

pytestmark = pytest.mark.both_backends


@pytest.fixture
def reviewed(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [session_record("r1")]))
    assign_authoring(engine, ["ana"])
    for entry in authoring_queue(engine, "ana"):
        editing.accept(engine, entry.rationale_id, "ana", f"Why {entry.item_id}: 因为第2轮。", 0)
    with session_scope(engine) as session:
        editing.ensure_annotator(session, "ben")
    assign_reviews(engine, sessions=1)
    return engine


def test_view_has_no_author_field() -> None:
    fields = {field.name for field in dataclasses.fields(ReviewView)}
    assert not {name for name in fields if "author" in name}


def test_queue_and_view(reviewed) -> None:  # type: ignore[no-untyped-def]
    tasks = review_queue(reviewed, "ben")
    assert len(tasks) == 12 and review_queue(reviewed, "ana") == []
    view = open_review(reviewed, tasks[0].assignment_id, "ben")
    assert view.text == "Why goal_1: 因为第2轮。" and view.context.client_rating == 4
    with pytest.raises(PermissionDenied):
        open_review(reviewed, tasks[0].assignment_id, "ana")


def test_failing_review_sends_back_passing_does_not(reviewed) -> None:  # type: ignore[no-untyped-def]
    first, second = review_queue(reviewed, "ben")[:2]
    passed = submit_review(reviewed, first.assignment_id, "ben", GOOD, shown_version=1)
    assert passed.passed and passed.rubric_version == "1.0.0"
    with pytest.raises(ConfigError, match="comment"):
        submit_review(reviewed, second.assignment_id, "ben", BAD, shown_version=1)
    failed = submit_review(
        reviewed, second.assignment_id, "ben", BAD, "理由太笼统", shown_version=1
    )
    assert not failed.passed
    with Session(reviewed) as session:
        assert session.get(Rationale, first.rationale_id).status == workflow.ACCEPTED  # type: ignore[union-attr]
        assert session.get(Rationale, second.rationale_id).status == workflow.REVISION_REQUESTED  # type: ignore[union-attr]
    entry = next(
        e for e in authoring_queue(reviewed, "ana") if e.rationale_id == second.rationale_id
    )
    assert entry.comment == "F4 R2 I5 · 理由太笼统"  # the scores with the comment
    state = editing.open_rationale(reviewed, second.rationale_id, "ana")
    assert state.review_comments == ("faithfulness 4, relevance 2, informativeness 5: 理由太笼统",)
    assert len(review_queue(reviewed, "ben")) == 10  # done ones leave the queue
    with pytest.raises(PermissionDenied):  # the same version twice
        submit_review(reviewed, first.assignment_id, "ben", GOOD, shown_version=1)


def test_self_review_is_refused_even_when_assigned(reviewed) -> None:  # type: ignore[no-untyped-def]
    own = authoring_queue(reviewed, "ana")[0]
    with session_scope(reviewed) as session:
        assignment = ReviewAssignment(rationale_id=own.rationale_id, reviewer_id="ana")
        session.add(assignment)
        session.flush()
        assignment_id = assignment.id
    assert review_queue(reviewed, "ana") == []
    with pytest.raises(PermissionDenied):
        submit_review(reviewed, assignment_id, "ana", GOOD, shown_version=1)
    with pytest.raises(PermissionDenied):
        open_review(reviewed, assignment_id, "ana")


def test_scores_are_validated(reviewed) -> None:  # type: ignore[no-untyped-def]
    task = review_queue(reviewed, "ben")[0]
    with pytest.raises(ConfigError):
        submit_review(
            reviewed, task.assignment_id, "ben", {**GOOD, "faithfulness": 6}, shown_version=1
        )
    with pytest.raises(ConfigError):
        submit_review(reviewed, task.assignment_id, "ben", {"faithfulness": 4}, shown_version=1)
    with pytest.raises(PermissionDenied):  # assigned to ben, not chen
        submit_review(reviewed, task.assignment_id, "chen", GOOD, shown_version=1)
