"""Authoring and review assignment: complete, balanced, client-grouped, never self-review."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlmodel import Session, select

from annotate.core.errors import ConfigError
from annotate.ingest import import_file
from annotate.work.assignment import assign_authoring, assign_reviews
from annotate.work.queue import authoring_queue
from annotate.work.rationales import editor as editing
from store.models import Rationale, ReviewAssignment, TherapySession
from tests.factories import session_record, write_jsonl

pytestmark = pytest.mark.both_backends


@pytest.fixture
def twelve_sessions(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Six clients with two sessions each (24 rationales per client)."""
    records = [
        session_record(f"s{c}{n}", client_id=f"c{c}", session_number=n)
        for c in range(6)
        for n in range(2)
    ]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    return engine


def authors_by_client(engine) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows = session.exec(
            select(TherapySession.client_id, Rationale.author_id).join(
                Rationale, Rationale.session_id == TherapySession.id
            )
        ).all()
    owners: dict[str, set[str]] = defaultdict(set)
    for client, author in rows:
        owners[client].add(author)
    return owners


def test_authoring_covers_every_item_keeps_clients_together_and_balances(twelve_sessions) -> None:
    result = assign_authoring(twelve_sessions, ["ana", "ben", "chen"], seed=3)
    assert result.created == {"ana": 48, "ben": 48, "chen": 48}
    owners = authors_by_client(twelve_sessions)
    assert len(owners) == 6 and all(len(authors) == 1 for authors in owners.values())
    again = assign_authoring(twelve_sessions, ["ana", "ben", "chen"], seed=3)
    assert sum(again.created.values()) == 0  # nothing left to assign


def test_authoring_is_deterministic_for_a_seed(twelve_sessions, tmp_path: Path) -> None:
    assign_authoring(twelve_sessions, ["ana", "ben", "chen"], seed=7)
    first = authors_by_client(twelve_sessions)
    from annotate.core.database import initialise

    other, _ = initialise(str(tmp_path / "other.db"))
    records = [
        session_record(f"s{c}{n}", client_id=f"c{c}", session_number=n)
        for c in range(6)
        for n in range(2)
    ]
    import_file(other, write_jsonl(tmp_path / "o.jsonl", records))
    assign_authoring(other, ["ana", "ben", "chen"], seed=7)
    assert authors_by_client(other) == first


def test_by_session_splits_a_client(twelve_sessions) -> None:
    result = assign_authoring(twelve_sessions, ["ana", "ben", "chen", "dan", "eve"], by="session")
    assert sorted(result.created.values()) == [24, 24, 24, 36, 36]  # 12 sessions of 12 items


def test_demo_keeps_existing_authors_for_their_clients(demo_engine) -> None:
    before = authors_by_client(demo_engine)
    assign_authoring(demo_engine, ["ana", "ben", "chen"])
    after = authors_by_client(demo_engine)
    for client, authors in before.items():
        assert after[client] == authors  # imported work's author keeps the client


def test_bad_names_are_refused(twelve_sessions) -> None:
    with pytest.raises(ConfigError):
        assign_authoring(twelve_sessions, [" ", ""])
    with pytest.raises(ConfigError):
        assign_authoring(twelve_sessions, ["ana", "ana"])
    with pytest.raises(ConfigError):
        assign_authoring(twelve_sessions, ["ana"], by="counselor")


def accept_all(engine, names: list[str]) -> None:  # type: ignore[no-untyped-def]
    for name in names:
        for entry in authoring_queue(engine, name):
            editing.accept(engine, entry.rationale_id, name, f"text {entry.rationale_id}", 0)


def test_review_assignment_never_self_and_overlap(twelve_sessions) -> None:
    assign_authoring(twelve_sessions, ["ana", "ben", "chen"], seed=1)
    accept_all(twelve_sessions, ["ana", "ben", "chen"])
    result = assign_reviews(twelve_sessions, sessions=4, overlap=2, overlap_fraction=0.5, seed=2)
    assert len(result.sessions) == 4 and len(result.overlap_sessions) == 2
    with Session(twelve_sessions) as session:
        rows = session.exec(
            select(ReviewAssignment, Rationale).join(
                Rationale, Rationale.id == ReviewAssignment.rationale_id
            )
        ).all()
    assert rows and all(a.reviewer_id != r.author_id for a, r in rows)
    per_rationale = Counter(r.id for _, r in rows)
    per_session: dict[str, set[int]] = defaultdict(set)
    for _, rationale in rows:
        per_session[rationale.session_id].add(per_rationale[rationale.id])
    for session_id in result.sessions:
        expected = 2 if session_id in result.overlap_sessions else 1
        assert per_session[session_id] == {expected}
    assert sum(result.assigned.values()) == len(rows) == 12 * 2 + 12 * 2 * 2
    loads = result.assigned.values()
    assert max(loads) - min(loads) <= 12  # balanced within one session's work


def test_review_sample_by_fraction_and_no_repeat(twelve_sessions) -> None:
    assign_authoring(twelve_sessions, ["ana", "ben"], seed=1)
    accept_all(twelve_sessions, ["ana", "ben"])
    first = assign_reviews(twelve_sessions, fraction=0.5, seed=0)
    assert len(first.sessions) == 6
    second = assign_reviews(twelve_sessions, fraction=1.0, seed=0)
    assert not set(first.sessions) & set(second.sessions)  # already-assigned work is skipped
    assert len(second.sessions) == 6


def test_review_options_are_checked(twelve_sessions) -> None:
    for kwargs in (
        {},
        {"fraction": 0.5, "sessions": 2},
        {"fraction": 0.0},
        {"sessions": 0},
        {"sessions": 1, "overlap": 0},
    ):
        with pytest.raises(ConfigError):
            assign_reviews(twelve_sessions, **kwargs)  # type: ignore[arg-type]
