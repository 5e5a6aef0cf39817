"""Import: every validation rule gives FILE:LINE and leaves the database unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from annotate.core.errors import ImportFailed
from annotate.ingest import import_file
from annotate.work.progress import counts
from store.models import Rating, Rationale, RationaleVersion, Review, TherapySession, Turn
from tests.factories import ITEMS, session_record, write_jsonl

pytestmark = pytest.mark.both_backends


def _fails(engine, path: Path, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    before = counts(engine)
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, path, **kwargs)
    assert counts(engine) == before, "a failed import must write nothing"
    return raised.value.errors


def test_valid_sessions_import_in_full(engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("a"), session_record("b")])
    result = import_file(engine, path)
    assert (result.kind, result.created, result.unchanged) == ("sessions", 2, 0)
    with Session(engine) as session:
        turns = session.exec(select(Turn).where(Turn.session_id == "a").order_by(Turn.number)).all()
        assert [(t.number, t.speaker) for t in turns] == [(1, "counselor"), (2, "client")]
        ratings = session.exec(select(Rating).where(Rating.session_id == "b")).all()
        assert len([r for r in ratings if r.rater_role == "client"]) == 12
        assert {r.value for r in ratings if r.rater_role == "counselor"} == {5}


def test_reimport_is_a_no_op_and_says_so(engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("a")])
    import_file(engine, path)
    before = counts(engine)
    again = import_file(engine, path)
    assert not again.changed and again.unchanged == 1
    assert "nothing changed" in again.summary()
    assert counts(engine) == before


def test_changed_session_content_is_refused(engine, tmp_path: Path) -> None:
    import_file(engine, write_jsonl(tmp_path / "a.jsonl", [session_record("a")]))
    changed = session_record("a", session_number=2)
    errors = _fails(engine, write_jsonl(tmp_path / "b.jsonl", [changed]))
    assert errors == [
        f"{tmp_path / 'b.jsonl'}:1: session 'a' already exists with different content"
    ]


BROKEN = [
    (
        "rating outside scale",
        {"client_ratings": {**{i: 4 for i in ITEMS}, "goal_2": 7}},
        "client_ratings.goal_2: rating 7 is outside the scale 1..5",
    ),
    (
        "rating not a number",
        {"client_ratings": {**{i: 4 for i in ITEMS}, "goal_2": "high"}},
        "client_ratings.goal_2: rating 'high' is outside the scale 1..5",
    ),
    (
        "missing item",
        {"client_ratings": {i: 4 for i in ITEMS if i != "task_3"}},
        "client_ratings: missing item(s) task_3",
    ),
    (
        "unknown item",
        {"counselor_ratings": {"goal_9": 3}},
        "counselor_ratings: unknown item 'goal_9'",
    ),
    (
        "unknown speaker",
        {"turns": [{"speaker": "therapist", "text": "Hello"}]},
        "turn 1: unknown speaker 'therapist' (use 'client' or 'counselor')",
    ),
    ("empty transcript", {"turns": []}, "turns must be a non-empty list (the transcript is empty)"),
    (
        "empty turn text",
        {"turns": [{"speaker": "client", "text": "  "}]},
        "turn 1: text must be a non-empty string",
    ),
    ("missing client ratings", {"client_ratings": None}, "client_ratings is missing"),
    ("unknown field", {"client_rating": {}}, "unknown field 'client_rating'"),
]


@pytest.mark.parametrize(("case", "change", "message"), BROKEN, ids=[c[0] for c in BROKEN])
def test_each_rule_reports_file_line_and_writes_nothing(
    engine, tmp_path: Path, case: str, change: dict, message: str
) -> None:
    good = session_record("ok")
    bad = session_record("bad", **change)
    path = write_jsonl(tmp_path / "in.jsonl", [good, bad])
    errors = _fails(engine, path)
    assert f"{path}:2: {message}" in errors, errors


def test_missing_session_id_and_invalid_json(engine, tmp_path: Path) -> None:
    record = session_record("x")
    del record["session_id"]
    path = write_jsonl(tmp_path / "in.jsonl", [session_record("a"), "{not json", record, "[1, 2]"])
    errors = _fails(engine, path)
    assert errors[0].startswith(f"{path}:2: not valid JSON:")
    assert f"{path}:3: session_id is missing" in errors
    assert f"{path}:4: expected a JSON object" in errors


def test_duplicate_id_names_the_first_line(engine, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "in.jsonl", [session_record("a"), session_record("b"), session_record("a")]
    )
    assert _fails(engine, path) == [f"{path}:3: duplicate session_id 'a' (first at line 1)"]


def test_all_errors_are_listed_up_to_a_cap(engine, tmp_path: Path) -> None:
    records = [session_record(f"s{n}", turns=[]) for n in range(80)]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, path)
    assert len(raised.value.errors) == 50 and raised.value.truncated == 30
    assert "80 error(s)" in str(raised.value)


def test_an_error_after_many_good_chunks_still_writes_nothing(engine, tmp_path: Path) -> None:
    records = [session_record(f"s{n}") for n in range(1200)] + ["oops"]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    assert _fails(engine, path) == [f"{path}:1201: not valid JSON: Expecting value (column 1)"]


def test_invalid_utf8_and_bom(engine, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    good = write_jsonl(tmp_path / "g.jsonl", [session_record("a")]).read_bytes()
    path.write_bytes(b"\xef\xbb\xbf" + good + b'{"session_id": "\xff"}\n')
    assert _fails(engine, path) == [f"{path}:2: not valid UTF-8 (byte 17)"]
    path.write_bytes(b"\xef\xbb\xbf" + good.replace(b"\n", b"\r\n"))
    assert import_file(engine, path).created == 1


def test_chinese_text_is_stored_exactly(engine, tmp_path: Path) -> None:
    turns = [
        {"speaker": "counselor", "text": "你今天想聊些什么？"},
        {"speaker": "client", "text": "最近睡不好，工作压力很大。"},
    ]
    path = write_jsonl(tmp_path / "zh.jsonl", [session_record("zh1", language="zh", turns=turns)])
    import_file(engine, path)
    with Session(engine) as session:
        texts = [t.text for t in session.exec(select(Turn).order_by(Turn.number)).all()]
    assert texts == ["你今天想聊些什么？", "最近睡不好，工作压力很大。"]


def test_dry_run_validates_without_writing(engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [session_record("a")])
    result = import_file(engine, path, dry_run=True)
    assert result.created == 1 and result.dry_run
    assert counts(engine)["sessions"] == 0


def _rationale(session_id="a", item_id="goal_1", author="ana", text="Because turn 2 ..."):  # type: ignore[no-untyped-def]
    return {"session_id": session_id, "item_id": item_id, "author": author, "text": text}


def _review(reviewer="ben", **scores):  # type: ignore[no-untyped-def]
    base = {
        "session_id": "a",
        "item_id": "goal_1",
        "reviewer": reviewer,
        "faithfulness": 4,
        "relevance": 4,
        "informativeness": 4,
        "comment": "",
    }
    return {**base, **scores}


@pytest.fixture
def with_session(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [session_record("a")]))
    return engine


def test_rationales_become_versions_and_reimport_is_idempotent(with_session, tmp_path) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [_rationale(), _rationale(item_id="bond_2")])
    assert import_file(with_session, path).created == 2
    assert not import_file(with_session, path).changed
    edited = write_jsonl(tmp_path / "r2.jsonl", [_rationale(text="Because turn 2, revised.")])
    assert import_file(with_session, edited).updated == 1
    with Session(with_session) as session:
        versions = session.exec(select(RationaleVersion).order_by(RationaleVersion.version)).all()
    texts = [(v.version, v.text) for v in versions if v.rationale_id == versions[0].rationale_id]
    assert texts == [(1, "Because turn 2 ..."), (2, "Because turn 2, revised.")]


def test_rationale_errors(with_session, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl",
        [
            _rationale(session_id="nope"),
            _rationale(item_id="goal_7"),
            _rationale(text=""),
            _rationale(item_id="task_1"),
            _rationale(item_id="task_1"),
        ],
    )
    errors = _fails(with_session, path)
    assert f"{path}:1: unknown session 'nope'" in errors
    assert f"{path}:2: unknown item 'goal_7'" in errors
    assert f"{path}:3: text must be a non-empty string" in errors
    assert (
        f"{path}:5: duplicate rationale for session 'a' item 'task_1' (first at line 4)" in errors
    )


def test_reviews_import_and_enforce_rules(with_session, tmp_path: Path) -> None:
    import_file(with_session, write_jsonl(tmp_path / "r.jsonl", [_rationale()]))
    errors = _fails(
        with_session,
        write_jsonl(
            tmp_path / "v.jsonl",
            [
                _review(reviewer="ana"),
                _review(item_id="bond_1"),
                _review(faithfulness=6),
                _review(session_id="zzz"),
            ],
        ),
    )
    path = tmp_path / "v.jsonl"
    assert f"{path}:1: session 'a' item 'goal_1': 'ana' may not review their own text" in errors
    assert f"{path}:2: no rationale for session 'a' item 'bond_1'" in errors
    assert f"{path}:3: faithfulness: score 6 is outside the scale 1..5" in errors
    assert f"{path}:4: unknown session 'zzz'" in errors
    good = write_jsonl(tmp_path / "ok.jsonl", [_review(relevance=2, comment="drifts to Bond")])
    assert import_file(with_session, good).created == 1
    assert not import_file(with_session, good).changed
    with Session(with_session) as session:
        review = session.exec(select(Review)).one()
        rationale = session.exec(select(Rationale)).one()
    assert (review.passed, review.rubric_version, rationale.status) == (
        False,
        "1.0.0",
        "revision_requested",
    )


def test_review_import_binds_to_a_version_and_refuses_texts_that_cannot_be_scored(
    with_session, tmp_path: Path
) -> None:
    from annotate.core.errors import ConflictError
    from annotate.work.rationales.versions import save_version

    import_file(with_session, write_jsonl(tmp_path / "r.jsonl", [_rationale()]))  # v1, by ana
    with Session(with_session) as session:
        rid = session.exec(select(Rationale.id)).one()
    save_version(with_session, rid, "ana's second text", "ana", 1)  # v2, current
    with pytest.raises(ConflictError):
        save_version(with_session, rid, "a stale window", "ana", 1)  # v3, conflict
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            _review(rationale_version=3),
            _review(rationale_version=0),
            _review(rationale_version=9),
            _review(rationale_version="2"),
        ],
    )
    errors = _fails(with_session, path)
    prefix = "session 'a' item 'goal_1': "
    assert errors == [
        f"{path}:4: rationale_version must be a whole number, found '2'",
        f"{path}:1: {prefix}version 3 of this rationale is a conflict text (a save that lost "
        "to another), not the rationale's text: it cannot be reviewed",
        f"{path}:2: {prefix}version 0 of this rationale holds no text",
        f"{path}:3: {prefix}this rationale has no version 9",
    ]
    # An older version may be named: stored for it, and it sends nothing back.
    old = write_jsonl(tmp_path / "old.jsonl", [_review(rationale_version=1, relevance=1)])
    assert import_file(with_session, old).created == 1
    # Without a version: the current one (2), never the newer conflict version 3.
    now = write_jsonl(tmp_path / "now.jsonl", [_review(reviewer="chen")])
    assert import_file(with_session, now).created == 1
    with Session(with_session) as session:
        scored = dict(session.exec(select(Review.reviewer_id, Review.rationale_version)).all())
        status = session.exec(select(Rationale.status)).one()
    assert scored == {"ben": 1, "chen": 2}
    assert status == "in_progress"  # ben's failing review scored an old text


def test_duplicate_json_keys_are_refused_with_the_key(engine, tmp_path: Path) -> None:
    good = json.dumps(session_record("d1"), ensure_ascii=False)
    twice_rated = good.replace('"goal_1": 4', '"goal_1": 9, "goal_1": 4', 1)
    twice_named = good.replace('"session_id": "d1"', '"session_id": "d1", "session_id": "d2"')
    path = write_jsonl(tmp_path / "dup.jsonl", [twice_rated, twice_named])
    with pytest.raises(ImportFailed) as raised:
        import_file(engine, path)
    assert raised.value.errors == [
        f'{path}:1: duplicate key "goal_1"',
        f'{path}:2: duplicate key "session_id"',
    ]
    assert counts(engine)["sessions"] == 0


def test_demo_corpus_imports(demo_engine) -> None:
    figures = counts(demo_engine)
    assert figures["sessions"] >= 12 and figures["clients"] >= 4 and figures["counselors"] >= 2
    assert figures["client_ratings"] == 12 * figures["sessions"]
    assert figures["counselor_ratings"] > figures["client_ratings"] / 2
    with Session(demo_engine) as session:
        languages = set(session.exec(select(TherapySession.language)).all())
    assert {"en", "zh"} <= languages
