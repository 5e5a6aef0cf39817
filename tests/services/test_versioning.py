"""Optimistic version check for rationale saves, and safe review writes, on both backends."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from annotate import workflow
from annotate.errors import ConfigError, ConflictError, NotFoundError, PermissionDenied
from annotate.versioning import rationale_id_for, save_rationale_version, save_review
from bench.bench_concurrency import measure
from store.models import (
    Autosave,
    Rationale,
    RationaleVersion,
    Review,
    ReviewAssignment,
    TherapySession,
)

pytestmark = pytest.mark.both_backends

PASS = {"faithfulness": 4, "relevance": 4, "informativeness": 4}
FAIL = {"faithfulness": 4, "relevance": 2, "informativeness": 4}


@pytest.fixture
def unit(demo_engine) -> int:  # type: ignore[no-untyped-def]
    """A rationale nobody has written yet (s02 has none in the demo corpus)."""
    return rationale_id_for(demo_engine, "s02", "goal_1")


def _versions(engine, rationale_id: int) -> list[tuple[int, str, str, str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows = session.exec(
            select(RationaleVersion)
            .where(RationaleVersion.rationale_id == rationale_id)
            .order_by(RationaleVersion.version)
        ).all()
    return [(v.version, v.author_id, v.kind, v.text) for v in rows]


def test_rationale_id_for_creates_once(demo_engine, unit: int) -> None:
    assert rationale_id_for(demo_engine, "s02", "goal_1") == unit
    with Session(demo_engine) as session:
        rationale = session.get(Rationale, unit)
    assert rationale is not None
    assert (rationale.status, rationale.lock_version, rationale.author_id) == ("pending", 0, None)
    with pytest.raises(NotFoundError):
        rationale_id_for(demo_engine, "nope", "goal_1")
    with pytest.raises(NotFoundError):
        rationale_id_for(demo_engine, "s02", "goal_9")


def test_saves_number_versions_and_claim_the_author(demo_engine, unit: int) -> None:
    first = save_rationale_version(demo_engine, unit, "The client names sleep (turn 2).", "ana", 0)
    second = save_rationale_version(demo_engine, unit, "来访者在第2轮提出睡眠目标。", "ana", 1)
    assert (first.version, second.version) == (1, 2)
    with Session(demo_engine) as session:
        rationale = session.get(Rationale, unit)
        assert rationale is not None
        assert (rationale.lock_version, rationale.author_id, rationale.status) == (
            2,
            "ana",
            workflow.IN_PROGRESS,
        )
        assert workflow.latest_version(session, unit).text == "来访者在第2轮提出睡眠目标。"  # type: ignore[union-attr]
    accepted = save_rationale_version(
        demo_engine, unit, "Final.", "ana", 2, kind=workflow.VERSION_ACCEPT
    )
    with Session(demo_engine) as session:
        rationale = session.get(Rationale, unit)
        assert rationale is not None and rationale.status == workflow.ACCEPTED
        assert workflow.final_text(session, rationale) == "Final."
    assert accepted.kind == workflow.VERSION_ACCEPT


def test_second_expert_on_a_stale_version_gets_a_conflict_and_keeps_both_texts(
    demo_engine, unit: int
) -> None:
    save_rationale_version(demo_engine, unit, "Draft kept by ana.", "ana", 0)
    # ana and ben both open version 1; ana saves first.
    save_rationale_version(demo_engine, unit, "ana's edit.", "ana", 1)
    with pytest.raises(ConflictError) as raised:
        save_rationale_version(demo_engine, unit, "ben's edit.", "ben", 1)
    assert (raised.value.kept_version, raised.value.lock_version) == (3, 3)
    assert "kept as conflict version 3" in str(raised.value)
    assert _versions(demo_engine, unit) == [
        (1, "ana", "save", "Draft kept by ana."),
        (2, "ana", "save", "ana's edit."),
        (3, "ben", "conflict", "ben's edit."),
    ]
    with Session(demo_engine) as session:
        current = workflow.latest_version(session, unit)
        assert current is not None and current.text == "ana's edit."
    # ben merges and saves naming the version the error gave him.
    merged = save_rationale_version(demo_engine, unit, "merged.", "ben", raised.value.lock_version)
    assert merged.version == 4 and merged.kind == "save"


def test_save_clears_the_authors_autosave_only(demo_engine, unit: int) -> None:
    save_rationale_version(demo_engine, unit, "v1", "ana", 0)
    with Session(demo_engine) as session:
        session.add(Autosave(rationale_id=unit, annotator_id="ana", text="typing…"))
        session.add(Autosave(rationale_id=unit, annotator_id="ben", text="ben typing"))
        session.commit()
    save_rationale_version(demo_engine, unit, "v2", "ana", 1)
    with Session(demo_engine) as session:
        left = session.exec(select(Autosave.annotator_id)).all()
    assert left == ["ben"]


def test_unknown_rationale_and_unstorable_text(demo_engine, unit: int) -> None:
    with pytest.raises(NotFoundError):
        save_rationale_version(demo_engine, 999_999, "text", "ana", 0)
    for bad in ("   ", "nul\x00here", "lone \ud800 surrogate"):
        with pytest.raises(ConfigError):
            save_rationale_version(demo_engine, unit, bad, "ana", 0)
    assert _versions(demo_engine, unit) == []


def test_review_rules(demo_engine, unit: int) -> None:
    save_rationale_version(demo_engine, unit, "ana's text", "ana", 0)
    with pytest.raises(PermissionDenied, match="may not review their own"):
        save_review(demo_engine, unit, "ana", PASS, rationale_version=1)
    with pytest.raises(NotFoundError):
        save_review(demo_engine, unit, "ben", PASS, rationale_version=7)
    with pytest.raises(ConfigError, match="outside the scale"):
        save_review(demo_engine, unit, "ben", {**PASS, "relevance": 6}, rationale_version=1)
    with pytest.raises(ConfigError, match="exactly"):
        save_review(demo_engine, unit, "ben", {"faithfulness": 4}, rationale_version=1)
    review = save_review(demo_engine, unit, "ben", PASS, rationale_version=1, comment="好")
    assert review.passed and review.rubric_version == "1.0.0"
    with pytest.raises(ConflictError, match="already reviewed"):
        save_review(demo_engine, unit, "ben", PASS, rationale_version=1)


def test_a_co_author_may_not_review_the_version_they_wrote(demo_engine, unit: int) -> None:
    save_rationale_version(demo_engine, unit, "ana's text", "ana", 0)
    save_rationale_version(demo_engine, unit, "chen edited it", "chen", 1)
    with pytest.raises(PermissionDenied):
        save_review(demo_engine, unit, "chen", PASS, rationale_version=2)
    assert save_review(demo_engine, unit, "chen", PASS, rationale_version=1).passed


def test_failing_review_sends_back_only_the_current_version(demo_engine, unit: int) -> None:
    save_rationale_version(demo_engine, unit, "v1", "ana", 0, kind=workflow.VERSION_ACCEPT)
    with Session(demo_engine) as session:
        session.add(ReviewAssignment(rationale_id=unit, reviewer_id="ana"))
        session.add(ReviewAssignment(rationale_id=unit, reviewer_id="ben"))
        session.commit()
    save_review(demo_engine, unit, "ben", FAIL, rationale_version=1)
    with Session(demo_engine) as session:
        rationale = session.get(Rationale, unit)
        assert rationale is not None and rationale.status == workflow.REVISION_REQUESTED
        query = select(ReviewAssignment.reviewer_id, ReviewAssignment.status)
        statuses = {reviewer: status for reviewer, status in session.exec(query).all()}
    assert statuses == {"ana": "pending", "ben": "done"}
    save_rationale_version(demo_engine, unit, "v2", "ana", 1, kind=workflow.VERSION_ACCEPT)
    # chen reviews the old version 1 after ana's new accepted version 2: recorded, no status change.
    save_review(demo_engine, unit, "chen", FAIL, rationale_version=1)
    with Session(demo_engine) as session:
        rationale = session.get(Rationale, unit)
        assert rationale is not None and rationale.status == workflow.ACCEPTED
        assert len(session.exec(select(Review).where(Review.rationale_id == unit)).all()) == 2


def test_import_path_refuses_self_review(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from annotate.errors import ImportFailed
    from annotate.importing import import_file
    from tests.factories import write_jsonl

    with Session(demo_engine) as session:
        rationale = session.exec(select(Rationale).where(Rationale.author_id == "ana")).first()
        assert rationale is not None
        reviews_before = len(session.exec(select(Review)).all())
    path = write_jsonl(
        tmp_path / "self.jsonl",
        [
            {
                "session_id": rationale.session_id,
                "item_id": rationale.item_id,
                "reviewer": "ana",
                "faithfulness": 5,
                "relevance": 5,
                "informativeness": 5,
                "comment": "",
            }
        ],
    )
    with pytest.raises(ImportFailed) as raised:
        import_file(demo_engine, path)
    assert raised.value.errors == [f"{path}:1: 'ana' may not review their own rationale"]
    with Session(demo_engine) as session:
        assert len(session.exec(select(Review)).all()) == reviews_before


def test_timestamps_are_utc_whatever_the_server_zone(demo_engine, unit: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from annotate.importing import import_file
    from tests.factories import session_record, write_jsonl

    before = datetime.now(UTC).replace(tzinfo=None)
    import_file(demo_engine, write_jsonl(tmp_path / "now.jsonl", [session_record("now")]))
    version = save_rationale_version(demo_engine, unit, "t", "ana", 0)
    with Session(demo_engine) as session:
        stored = session.get(RationaleVersion, version.id)
        assert stored is not None
        created = stored.created_at.replace(tzinfo=None)
        session_created = session.get(TherapySession, "now").created_at  # type: ignore[union-attr]
    after = datetime.now(UTC).replace(tzinfo=None)
    assert before.timestamp() - 1 <= created.timestamp() <= after.timestamp() + 1
    assert before.timestamp() - 1 <= session_created.replace(tzinfo=None).timestamp()
    assert session_created.replace(tzinfo=None).timestamp() <= after.timestamp() + 1


def test_eight_processes_saving_and_reviewing_at_once_lose_nothing(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The reduced load test (bench/bench_concurrency.py runs the full 8 x 200)."""
    outcome = measure(db_url, workers=8, writes=12)
    assert outcome.errors == []
    assert outcome.problems == []
    assert (outcome.saves, outcome.reviews) == (96, 96)
