"""``assign --order uncertainty``: each author's not-yet-started work, most uncertain first."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from annotate.core.errors import ConfigError
from annotate.ingest import import_file
from annotate.work.assignment import assign_authoring, assign_reviews
from annotate.work.queue import authoring_queue
from annotate.work.rationales import editor as editing
from store.db import session_scope
from store.models import DraftSample, Item, Rationale
from tests.factories import session_record, write_jsonl
from tests.workdata import draft_row

pytestmark = pytest.mark.both_backends

# Session ids whose code-point order differs from a naive one ("会" sorts after "s").
SESSIONS = ("s2", "s10", "会话1", "s1")


@pytest.fixture
def four_sessions(engine: Engine, tmp_path: Path) -> Engine:
    records = [
        session_record(
            sid, client_id=f"c{n}", session_number=1, language="zh" if "会" in sid else "en"
        )
        for n, sid in enumerate(SESSIONS)
    ]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    return engine


def add_sample(
    engine: Engine, sid: str, iid: str, uncertainty: float | None, texts: int = 2
) -> None:
    """Drafts and a draft_samples row as ``draft --samples`` stores them."""
    with session_scope(engine) as session:
        drafts = [
            draft_row(sid, iid, f"样本 {n}：第 2 轮 sample {n} of {iid}") for n in range(texts)
        ]
        session.add_all(drafts)
        session.flush()
        session.add(
            DraftSample(
                session_id=sid,
                item_id=iid,
                samples=texts,
                draft_ids=[draft.id for draft in drafts],
                method="1 - mean pairwise ROUGE-L F1",
                uncertainty=uncertainty,
            )
        )


def expected_order(engine: Engine, author: str) -> tuple[list[int], int]:
    """The author's queue as the test computes it from the draft_samples rows: started
    work unranked at the end; pending work by the newest row's uncertainty, descending,
    unmeasured after; ties in session (code-point) and item order."""
    with Session(engine) as session:
        samples = session.execute(
            select(DraftSample.id, DraftSample.session_id, DraftSample.item_id,
                   DraftSample.uncertainty)
        ).all()  # fmt: skip
        newest: dict[tuple[str, str], tuple[int, float | None]] = {}
        for row_id, sid, iid, value in samples:
            if (sid, iid) not in newest or row_id > newest[(sid, iid)][0]:
                newest[(sid, iid)] = (row_id, value)
        rows = session.execute(
            select(Rationale.id, Rationale.session_id, Rationale.item_id, Rationale.status,
                   Rationale.current_version, Item.position)
            .join(Item, col(Item.id) == Rationale.item_id)
            .where(Rationale.author_id == author)
        ).all()  # fmt: skip

    def place(row) -> tuple[str, int]:  # type: ignore[no-untyped-def]
        return (row[1], row[5])  # Python compares str by code point

    fresh = [row for row in rows if row[3] == "pending" and row[4] is None]
    started = sorted((row for row in rows if row not in fresh), key=place)
    measured = [row for row in fresh if newest.get((row[1], row[2]), (0, None))[1] is not None]
    unmeasured = sorted((row for row in fresh if row not in measured), key=place)
    measured.sort(key=lambda row: (-newest[(row[1], row[2])][1], place(row)))  # type: ignore[operator]
    return [row[0] for row in [*measured, *unmeasured, *started]], len(unmeasured)


def test_queue_is_most_uncertain_first_unmeasured_after(four_sessions: Engine) -> None:
    engine = four_sessions
    assign_authoring(engine, ["ana", "ben"], seed=0, by="session")
    with Session(engine) as session:
        owned = session.execute(
            select(Rationale.id, Rationale.author_id, Rationale.session_id, Rationale.item_id)
        ).all()
    ana = [row for row in owned if row[1] == "ana"]
    started = ana[0][0]
    editing.save(engine, started, "ana", "我已经开始写了。", 0)  # started: never ranked
    values = [0.9, 0.1, 0.5, 0.5, None, 0.7, 0.0, 0.5]
    for row, value in zip(ana + [r for r in owned if r[1] == "ben"], values * 4, strict=False):
        add_sample(engine, row[2], row[3], value)
    add_sample(engine, ana[1][2], ana[1][3], 0.05)  # newer row: this one counts
    add_sample(engine, ana[0][2], ana[0][3], 0.99)  # the started one stays where it is
    result = assign_authoring(engine, ["ana", "ben"], order="uncertainty")
    for author in ("ana", "ben"):
        queue = [entry.rationale_id for entry in authoring_queue(engine, author)]
        expected, _ = expected_order(engine, author)
        assert queue == expected
    assert result.ordered == len(owned) - 1
    assert result.unmeasured == sum(expected_order(engine, a)[1] for a in ("ana", "ben"))
    ana_queue = authoring_queue(engine, "ana")
    assert ana_queue[-1].rationale_id == started  # in progress: unranked, after the ranked
    assert expected_order(engine, "ana")[1] > 0  # the test covers unmeasured items


def test_unmeasured_items_keep_session_order_and_session_order_clears(
    four_sessions: Engine,
) -> None:
    engine = four_sessions
    plain = assign_authoring(engine, ["ana"], order="uncertainty")  # no samples at all
    assert plain.ordered == plain.unmeasured == 48
    before = [entry.rationale_id for entry in authoring_queue(engine, "ana")]
    assert before == expected_order(engine, "ana")[0]
    (sid, iid) = ("会话1", "bond_4")
    add_sample(engine, sid, iid, 0.2)
    add_sample(engine, "s10", "goal_1", None)  # measured nothing: stays unmeasured
    again = assign_authoring(engine, ["ana"], order="uncertainty")
    assert (again.ordered, again.unmeasured) == (48, 47)
    first = authoring_queue(engine, "ana")[0]
    assert (first.session_id, first.item_id) == (sid, iid)
    assert [e.rationale_id for e in authoring_queue(engine, "ana")][1:] == [
        rid for rid in before if rid != first.rationale_id
    ]
    cleared = assign_authoring(engine, ["ana"])  # order session: ranks cleared
    assert (cleared.ordered, cleared.unmeasured) == (0, 0)
    with Session(engine) as session:
        ranks = session.execute(select(Rationale.queue_rank)).scalars().all()
    assert set(ranks) == {None}
    assert [e.rationale_id for e in authoring_queue(engine, "ana")] == before


def test_only_the_named_authors_are_reordered(four_sessions: Engine) -> None:
    engine = four_sessions
    assign_authoring(engine, ["ana", "ben"], by="session", seed=1)
    with Session(engine) as session:
        units = session.execute(select(Rationale.session_id, Rationale.item_id)).all()
    for sid, iid in units:
        add_sample(engine, sid, iid, (zlib.crc32(f"{sid}/{iid}".encode()) % 97) / 97)
    assign_authoring(engine, ["ana", "ben"], order="uncertainty")
    ben_before = [e.rationale_id for e in authoring_queue(engine, "ben")]
    assign_authoring(engine, ["ana"])  # clears ana's ranks only
    assert [e.rationale_id for e in authoring_queue(engine, "ben")] == ben_before
    assert [e.rationale_id for e in authoring_queue(engine, "ben")] == expected_order(
        engine, "ben"
    )[0]
    with Session(engine) as session:
        ana_ranks = session.execute(
            select(Rationale.queue_rank).where(Rationale.author_id == "ana")
        ).scalars()
        assert set(ana_ranks) == {None}


def test_unknown_order_is_refused(four_sessions: Engine) -> None:
    with pytest.raises(ConfigError, match="--order must be one of session, uncertainty"):
        assign_authoring(four_sessions, ["ana"], order="random")


# -- review-assign --by judge -----------------------------------------------------------


def accepted_store(engine: Engine) -> dict[str, list[int]]:
    """Every rationale accepted (ana and ben), by session."""
    assign_authoring(engine, ["ana", "ben"], by="session", seed=0)
    by_session: dict[str, list[int]] = {}
    for author in ("ana", "ben"):
        for entry in authoring_queue(engine, author):
            editing.accept(engine, entry.rationale_id, author, f"理由 {entry.item_id}。", 0)
            by_session.setdefault(entry.session_id, []).append(entry.rationale_id)
    return by_session


def scores(faithfulness: int, relevance: int, informativeness: int) -> dict[str, int]:
    return {"faithfulness": faithfulness, "relevance": relevance,
            "informativeness": informativeness}  # fmt: skip


def weakest_sessions(planted: dict[int, tuple[str, dict[str, int]]]) -> list[str]:
    """Sessions by their weakest counted judgement as the test computes it: failing first,
    then the lowest score, the lowest mean, the rationale id."""

    def weakness(rid: int) -> tuple[int, int, float, int]:
        given = planted[rid][1]
        values = list(given.values())
        return (0 if min(values) < 3 else 1, min(values), sum(values) / len(values), rid)

    best: dict[str, tuple[int, int, float, int]] = {}
    for rid, (sid, _) in planted.items():
        best[sid] = min(best.get(sid, weakness(rid)), weakness(rid))
    return sorted(best, key=lambda sid: best[sid])


def test_review_sample_by_judge_takes_the_weakest_sessions_first(four_sessions: Engine) -> None:
    from tests.judging_rows import add_judgement

    by_session = accepted_store(four_sessions)
    planted = {
        by_session["s10"][3]: ("s10", scores(2, 4, 4)),
        by_session["s10"][5]: ("s10", scores(5, 5, 5)),
        by_session["会话1"][0]: ("会话1", scores(1, 4, 4)),
        by_session["s2"][7]: ("s2", scores(3, 3, 4)),
        by_session["s2"][8]: ("s2", scores(4, 4, 4)),
    }
    for rid, (_, given) in planted.items():
        add_judgement(four_sessions, given, rationale_id=rid)
    # Never counted: an ungrounded judgement, and one of a version that is no longer current.
    add_judgement(four_sessions, scores(1, 1, 1), rationale_id=by_session["s1"][0],
                  status="ungrounded")  # fmt: skip
    stale = by_session["s1"][1]
    editing.accept(four_sessions, stale, _author(four_sessions, stale), "新的一版。", 1)
    add_judgement(four_sessions, scores(1, 1, 1), rationale_id=by_session["s1"][1],
                  rationale_version=1)  # fmt: skip
    expected = weakest_sessions(planted)
    assert expected == ["会话1", "s10", "s2"]
    two = assign_reviews(four_sessions, sessions=2, by="judge", seed=5)
    assert sorted(two.sessions) == sorted(expected[:2])
    assert (two.by_judge, two.unjudged) == (2, 0)
    rest = assign_reviews(four_sessions, sessions=2, by="judge", seed=5)
    assert rest.sessions == ["s1", "s2"]  # s2 judged first; s1 has nothing counted
    assert (rest.by_judge, rest.unjudged) == (1, 1)


def _author(engine: Engine, rationale_id: int) -> str:
    with Session(engine) as session:
        rationale = session.get(Rationale, rationale_id)
        assert rationale is not None and rationale.author_id is not None
        return rationale.author_id


def test_review_sample_by_judge_keeps_fraction_and_random_without_judgements(
    four_sessions: Engine,
) -> None:
    accepted_store(four_sessions)
    half = assign_reviews(four_sessions, fraction=0.5, by="judge", seed=3)
    assert len(half.sessions) == 2 and (half.by_judge, half.unjudged) == (0, 2)
    # Nothing judged: the same sessions as the random sample with the same seed.
    from annotate.work.assignment import sample_sessions

    expected, _ = sample_sessions(random.Random(3), list(SESSIONS), 0.5, None, 1, 0.25)
    assert half.sessions == expected
    with pytest.raises(ConfigError, match="--by must be one of random, judge"):
        assign_reviews(four_sessions, fraction=1.0, by="weakest")
