"""The writers of a rationale's life (versions, the current version, reviews), both backends."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from annotate.core import workflow
from annotate.core.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    StaleVersion,
)
from annotate.core.guidelines import load_rubric
from annotate.work.rationales.versions import import_texts, save_version, write
from annotate.work.reviews.write import record_review
from bench.bench_concurrency import measure
from store.models import (
    Autosave,
    Rationale,
    RationaleVersion,
    Review,
    ReviewAssignment,
    TherapySession,
)
from tests.workdata import current_text, pending_rationale

pytestmark = pytest.mark.both_backends

PASS = {"faithfulness": 4, "relevance": 4, "informativeness": 4}
FAIL = {"faithfulness": 4, "relevance": 2, "informativeness": 4}


def rationale_id_for(engine, session_id: str, item_id: str) -> int:  # type: ignore[no-untyped-def]
    return pending_rationale(engine, session_id, item_id)


def save_rationale_version(engine, rationale_id, text, author, expected, **options):  # type: ignore[no-untyped-def]
    return save_version(engine, rationale_id, text, author, expected, **options)


def save_review(  # type: ignore[no-untyped-def]
    engine, rationale_id, reviewer, scores, *, rationale_version, comment=None, shown=None
):
    return write(
        engine,
        lambda session: record_review(
            session,
            rationale_id,
            reviewer,
            scores,
            version=rationale_version,
            comment=comment,
            rubric=load_rubric(),
            shown_version=shown,
        ),  # fmt: skip
    )


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


def test_import_texts_has_the_effects_of_one_import_save_each(demo_engine, unit: int) -> None:
    """The importer's bulk path: new and existing rationales, one batch, same rules."""
    save_rationale_version(demo_engine, unit, "ana's own text", "ana", 0)
    with Session(demo_engine) as session:
        session.add(Autosave(rationale_id=unit, annotator_id="ana", text="typing…"))
        session.commit()
    texts = [("s02", "goal_1", "ana", "Imported over it."), ("s02", "goal_2", "ana", "新的。")]
    write(demo_engine, lambda session: import_texts(session, texts, guideline_version="9"))
    with Session(demo_engine) as session:
        rows = {
            r.item_id: r
            for r in session.exec(select(Rationale).where(Rationale.session_id == "s02")).all()
        }
        assert session.get(Autosave, (unit, "ana")) is None
    old, new = rows["goal_1"], rows["goal_2"]
    assert (old.lock_version, old.current_version, old.status, old.draft_id) == (
        2, 2, workflow.ACCEPTED, None
    )  # fmt: skip
    assert (new.lock_version, new.current_version, new.author_id) == (1, 1, "ana")
    assert _versions(demo_engine, unit)[-1] == (2, "ana", "import", "Imported over it.")
    with pytest.raises(ConfigError):
        write(demo_engine, lambda s: import_texts(s, [("s02", "goal_3", "ana", " ")],
                                                  guideline_version="9"))  # fmt: skip


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
        assert rationale.current_version == 2
        assert current_text(session, unit) == "来访者在第2轮提出睡眠目标。"
    accepted = save_rationale_version(
        demo_engine, unit, "Final.", "ana", 2, kind=workflow.VERSION_ACCEPT
    )
    with Session(demo_engine) as session:
        rationale = session.get(Rationale, unit)
        assert rationale is not None and rationale.status == workflow.ACCEPTED
        assert current_text(session, rationale) == "Final." and rationale.current_version == 3
    assert accepted.kind == workflow.VERSION_ACCEPT


def test_a_save_from_a_stale_window_is_kept_as_a_conflict_and_never_becomes_current(
    demo_engine, unit: int
) -> None:
    save_rationale_version(demo_engine, unit, "Draft kept by ana.", "ana", 0)
    # ana has the item open in two windows at version 1; window A saves first.
    save_rationale_version(demo_engine, unit, "window A's edit.", "ana", 1)
    with pytest.raises(ConflictError) as raised:
        save_rationale_version(demo_engine, unit, "window B's edit.", "ana", 1)
    assert (raised.value.kept_version, raised.value.lock_version) == (3, 3)
    assert "kept as conflict version 3" in str(raised.value)
    assert _versions(demo_engine, unit) == [
        (1, "ana", "save", "Draft kept by ana."),
        (2, "ana", "save", "window A's edit."),
        (3, "ana", "conflict", "window B's edit."),
    ]
    with Session(demo_engine) as session:
        rationale = session.get(Rationale, unit)
        assert rationale is not None and rationale.current_version == 2  # never the conflict
        assert rationale.lock_version == 3
        assert current_text(session, unit) == "window A's edit."
    # ana merges and saves naming the version the error gave her.
    merged = save_rationale_version(demo_engine, unit, "merged.", "ana", raised.value.lock_version)
    assert merged.version == 4 and merged.kind == "save"
    with Session(demo_engine) as session:
        assert session.get(Rationale, unit).current_version == 4  # type: ignore[union-attr]


def test_only_the_author_writes_a_rationale(demo_engine, unit: int) -> None:
    save_rationale_version(demo_engine, unit, "ana's text", "ana", 0)
    with pytest.raises(PermissionDenied, match="another annotator"):
        save_rationale_version(demo_engine, unit, "ben's text", "ben", 1)
    assert _versions(demo_engine, unit) == [(1, "ana", "save", "ana's text")]


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


def test_a_review_names_a_real_text_that_is_not_the_reviewers(demo_engine, unit: int) -> None:
    save_rationale_version(demo_engine, unit, "v1", "ana", 0)
    save_rationale_version(demo_engine, unit, "v2", "ana", 1)
    with pytest.raises(ConflictError):
        save_rationale_version(demo_engine, unit, "stale window", "ana", 1)  # conflict v3
    with pytest.raises(PermissionDenied, match="conflict text"):
        save_review(demo_engine, unit, "ben", PASS, rationale_version=3)
    with pytest.raises(NotFoundError, match="holds no text"):
        save_review(demo_engine, unit, "ben", PASS, rationale_version=0)
    # Without a version the review scores the current one (v2, not the newer conflict).
    review = save_review(demo_engine, unit, "ben", PASS, rationale_version=None)
    assert review.rationale_version == 2
    # The review screen names the version it showed: refused once it is not current.
    save_rationale_version(demo_engine, unit, "v4", "ana", 3)
    with pytest.raises(StaleVersion, match="changed since you opened it"):
        save_review(demo_engine, unit, "chen", PASS, rationale_version=2, shown=2)
    with Session(demo_engine) as session:
        reviewers = session.exec(select(Review.reviewer_id).where(Review.rationale_id == unit))
        assert list(reviewers) == ["ben"]


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
    from annotate.core.errors import ImportFailed
    from annotate.ingest import import_file
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
    assert raised.value.errors == [
        f"{path}:1: session {rationale.session_id!r} item {rationale.item_id!r}: "
        "'ana' may not review their own text"
    ]
    with Session(demo_engine) as session:
        assert len(session.exec(select(Review)).all()) == reviews_before


def test_timestamps_are_utc_whatever_the_server_zone(demo_engine, unit: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from annotate.ingest import import_file
    from tests.factories import session_record, write_jsonl

    before = datetime.now(UTC).replace(tzinfo=None)
    import_file(demo_engine, write_jsonl(tmp_path / "now.jsonl", [session_record("now")]))
    version = save_rationale_version(demo_engine, unit, "t", "ana", 0)
    with Session(demo_engine) as session:
        stored = session.exec(
            select(RationaleVersion).where(
                RationaleVersion.rationale_id == unit, RationaleVersion.version == version.version
            )
        ).one()
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
