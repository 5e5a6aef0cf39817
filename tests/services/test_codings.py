"""The coding lifecycle: every change a version, stale windows refused, reviews, imports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from annotate.core.errors import (
    ConfigError,
    ImportFailed,
    NotFoundError,
    PermissionDenied,
    StaleVersion,
)
from annotate.ingest.codings import import_codings_file
from annotate.work import codings
from annotate.work.codings import (
    ACCEPTED,
    IN_PROGRESS,
    REVISION_REQUESTED,
    SUBMITTED,
    assign_codings,
    coding_view,
    decide_suggestion,
    exported_codes,
    review_coding,
    submit_coding,
    toggle_code,
)
from store.db import session_scope
from store.models import MarkerDraft, MarkerSuggestion
from tests.factories import write_jsonl

pytestmark = pytest.mark.both_backends

# s11 (the demo): odd turns are the counselor's, even turns the client's.
CLIENT_TURN, COUNSELOR_TURN = 2, 3


def _rows(engine, sql: str, **params):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def _coding(engine, coder: str = "ana", session: str = "s11") -> int:  # type: ignore[no-untyped-def]
    assign_codings(engine, [coder], sessions=[session])
    (coding_id,) = _rows(
        engine, "SELECT id FROM codings WHERE session_id = :s AND coder_id = :c", s=session, c=coder
    )[0]
    return int(coding_id)


def test_each_change_is_a_version_with_author_and_the_whole_code_set(demo_engine) -> None:  # type: ignore[no-untyped-def]
    coding_id = _coding(demo_engine)
    state = toggle_code(demo_engine, coding_id, "ana", CLIENT_TURN, "shutdown", 0)
    assert (state.status, state.lock_version) == (IN_PROGRESS, 1)
    state = toggle_code(demo_engine, coding_id, "ana", CLIENT_TURN, "masking", 1)
    state = toggle_code(demo_engine, coding_id, "ana", COUNSELOR_TURN, "explore", 2)
    state = toggle_code(demo_engine, coding_id, "ana", CLIENT_TURN, "shutdown", 3)  # off again
    assert state.codes_on(CLIENT_TURN) == ["masking"]
    versions = _rows(
        demo_engine,
        "SELECT version, kind, author_id, codes FROM coding_versions WHERE coding_id = :c "
        "ORDER BY version",
        c=coding_id,
    )
    assert [(v, k, a) for v, k, a, _ in versions] == [
        (1, "add", "ana"), (2, "add", "ana"), (3, "add", "ana"), (4, "remove", "ana")
    ]  # fmt: skip
    stored = [json.loads(c) if isinstance(c, str) else c for *_, c in versions]
    assert stored[2] == [[2, "masking", "expert"], [2, "shutdown", "expert"],
                         [3, "explore", "expert"]]  # fmt: skip
    assert stored[3] == [[2, "masking", "expert"], [3, "explore", "expert"]]
    (current,) = _rows(demo_engine, "SELECT current_version FROM codings WHERE id = :c",
                       c=coding_id)[0]  # fmt: skip
    assert current == 4


def test_a_stale_window_changes_nothing(demo_engine) -> None:  # type: ignore[no-untyped-def]
    coding_id = _coding(demo_engine)
    toggle_code(demo_engine, coding_id, "ana", CLIENT_TURN, "shutdown", 0)
    with pytest.raises(StaleVersion):  # a second window still at version 0
        toggle_code(demo_engine, coding_id, "ana", 4, "shutdown", 0)
    assert _rows(demo_engine, "SELECT count(*) FROM coding_versions WHERE coding_id = :c",
                 c=coding_id)[0][0] == 1  # fmt: skip


def test_refusals_leave_the_coding_as_it_was(demo_engine) -> None:  # type: ignore[no-untyped-def]
    coding_id = _coding(demo_engine)
    with pytest.raises(PermissionDenied):
        toggle_code(demo_engine, coding_id, "ben", CLIENT_TURN, "shutdown", 0)
    with pytest.raises(ConfigError, match="goes on client turns; turn 3 is the counselor's"):
        toggle_code(demo_engine, coding_id, "ana", COUNSELOR_TURN, "shutdown", 0)
    with pytest.raises(ConfigError, match="unknown code"):
        toggle_code(demo_engine, coding_id, "ana", CLIENT_TURN, "sarcasm", 0)
    with pytest.raises(NotFoundError, match="no turn 99"):
        toggle_code(demo_engine, coding_id, "ana", 99, "shutdown", 0)
    assert _rows(demo_engine, "SELECT count(*) FROM coding_versions")[0][0] == 0


def _suggest(engine, session_id: str, proposals: list[tuple[int, str, bool]]) -> list[int]:  # type: ignore[no-untyped-def]
    """One model's proposal for the session: (turn, code, grounded) each; their ids."""
    with session_scope(engine) as session:
        draft = MarkerDraft(session_id=session_id, scheme_id="3rs", status="ok",
                            provider="openai", model="m", prompt_version="1.0.0",
                            prompt_hash="h", scheme_version="1.0.0")  # fmt: skip
        session.add(draft)
        session.flush()
        rows = [
            MarkerSuggestion(draft_id=draft.id, session_id=session_id, turn_number=turn,  # type: ignore[arg-type]
                             code=code, quote="fine", reason="r", grounded=grounded)
            for turn, code, grounded in proposals
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        return [int(row.id) for row in rows]  # type: ignore[arg-type]


def test_accepting_a_suggestion_adds_the_code_as_taken_rejecting_records_it(demo_engine) -> None:  # type: ignore[no-untyped-def]
    coding_id = _coding(demo_engine)
    taken, refused, hidden = _suggest(
        demo_engine, "s11",
        [(CLIENT_TURN, "shutdown", True), (4, "avoidance", True), (6, "shutdown", False)],
    )  # fmt: skip
    view = coding_view(demo_engine, coding_id, "ana")
    assert [s.id for s in view.suggestions] == [taken, refused]  # ungrounded: never offered
    state = decide_suggestion(demo_engine, coding_id, "ana", taken, True, 0)
    assert (CLIENT_TURN, "shutdown", codings.SUGGESTION) in state.marks
    state = decide_suggestion(demo_engine, coding_id, "ana", refused, False, 1)
    assert state.codes_on(4) == [] and state.lock_version == 1  # a reject changes no codes
    with pytest.raises(NotFoundError):
        decide_suggestion(demo_engine, coding_id, "ana", hidden, True, 1)
    decisions = dict(_rows(demo_engine, "SELECT suggestion_id, decision FROM suggestion_decisions"))
    assert decisions == {taken: "accepted", refused: "rejected"}
    # Changing one's mind: rejecting the accepted one takes its code away again.
    state = decide_suggestion(demo_engine, coding_id, "ana", taken, False, 1)
    assert state.codes_on(CLIENT_TURN) == []
    assert (
        dict(_rows(demo_engine, "SELECT suggestion_id, decision FROM suggestion_decisions"))[taken]
        == "rejected"
    )


def test_submit_review_pass_and_send_back(demo_engine) -> None:  # type: ignore[no-untyped-def]
    assign_codings(demo_engine, ["ana", "ben"], sessions=["s11"], reviewers=True)
    coding_id, coder = _rows(demo_engine, "SELECT id, coder_id FROM codings")[0]
    reviewer = "ben" if coder == "ana" else "ana"
    toggle_code(demo_engine, coding_id, coder, CLIENT_TURN, "shutdown", 0)
    with pytest.raises(PermissionDenied, match="not submitted"):
        review_coding(demo_engine, coding_id, reviewer, 1, True)
    state = submit_coding(demo_engine, coding_id, coder, 1)
    assert (state.status, state.lock_version) == (SUBMITTED, 2)
    with pytest.raises(PermissionDenied, match="your own"):
        review_coding(demo_engine, coding_id, coder, 2, True)
    with pytest.raises(PermissionDenied, match="not assigned"):
        review_coding(demo_engine, coding_id, "chen", 2, True)
    with pytest.raises(ConfigError, match="needs a comment"):
        review_coding(demo_engine, coding_id, reviewer, 2, False, "  ")
    with pytest.raises(StaleVersion):
        review_coding(demo_engine, coding_id, reviewer, 1, False, "turn 4 too")
    assert review_coding(demo_engine, coding_id, reviewer, 2, False, "turn 4 too") == (
        REVISION_REQUESTED
    )
    view = coding_view(demo_engine, coding_id, coder)
    assert view.comments == ("turn 4 too",) and view.state.status == REVISION_REQUESTED
    assert coding_view(demo_engine, coding_id, reviewer).suggestions == ()
    with pytest.raises(PermissionDenied, match="already reviewed"):
        review_coding(demo_engine, coding_id, reviewer, 2, True)
    # The coder changes and submits again; the export takes finished primary codings only.
    toggle_code(demo_engine, coding_id, coder, 4, "shutdown", 2)
    with session_scope(demo_engine) as session:
        assert exported_codes(session) == {}
    submit_coding(demo_engine, coding_id, coder, 3)
    with session_scope(demo_engine) as session:
        assert exported_codes(session) == {"s11": [(2, "shutdown"), (4, "shutdown")]}


def test_an_accepted_coding_is_final(demo_engine) -> None:  # type: ignore[no-untyped-def]
    assign_codings(demo_engine, ["ana", "ben"], sessions=["s11"], reviewers=True)
    coding_id, coder = _rows(demo_engine, "SELECT id, coder_id FROM codings")[0]
    reviewer = "ben" if coder == "ana" else "ana"
    submit_coding(demo_engine, coding_id, coder, 0)
    assert review_coding(demo_engine, coding_id, reviewer, 1, True) == ACCEPTED
    with pytest.raises(PermissionDenied, match="final"):
        toggle_code(demo_engine, coding_id, coder, CLIENT_TURN, "shutdown", 1)


def test_assignment_blind_second_coders_and_reviewers(demo_engine) -> None:  # type: ignore[no-untyped-def]
    result = assign_codings(demo_engine, ["ana", "ben", "chen"], second_fraction=0.5,
                            reviewers=True, seed=3)  # fmt: skip
    rows = _rows(demo_engine, "SELECT session_id, coder_id, role FROM codings")
    primaries = [(s, c) for s, c, role in rows if role == "primary"]
    assert len(primaries) == len({s for s, _ in primaries}) == 16 == result.primary
    seconds = [(s, c) for s, c, role in rows if role == "second"]
    assert len(seconds) == result.second and 0 < result.second < 16
    assert not set(seconds) & set(primaries)  # a second coder is never the primary one
    assert _rows(demo_engine, "SELECT count(*) FROM coding_reviews r JOIN codings c ON "
                 "c.id = r.coding_id WHERE c.coder_id = r.reviewer_id")[0][0] == 0  # fmt: skip
    again = assign_codings(demo_engine, ["ana", "ben", "chen"], second_fraction=0.5,
                           reviewers=True, seed=3)  # fmt: skip
    assert (again.primary, again.second, again.reviews, again.skipped) == (0, 0, 0, 16)
    with pytest.raises(ConfigError, match="at least two coders"):
        assign_codings(demo_engine, ["ana"], second_fraction=0.5)


def _codings_file(tmp_path: Path, records: list) -> Path:  # type: ignore[type-arg]
    return write_jsonl(tmp_path / "codings.jsonl", records)


def test_import_stores_versions_and_is_idempotent(demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _codings_file(tmp_path, [
        {"session_id": "s14", "coder": "chen", "codes": [{"turn": 8, "code": "avoidance"},
                                                          {"turn": 9, "code": "explore"}]},
        {"session_id": "s14", "coder": "ben", "role": "second",
         "codes": [{"turn": 8, "code": "avoidance"}]},
    ])  # fmt: skip
    first = import_codings_file(demo_engine, path)
    assert (first.records, first.created, first.updated, first.unchanged) == (2, 2, 0, 0)
    again = import_codings_file(demo_engine, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert _rows(demo_engine, "SELECT count(*) FROM coding_versions")[0][0] == 2
    with session_scope(demo_engine) as session:
        assert exported_codes(session) == {"s14": [(8, "avoidance"), (9, "explore")]}
    changed = _codings_file(tmp_path, [
        {"session_id": "s14", "coder": "chen", "codes": [{"turn": 8, "code": "avoidance"}]},
    ])  # fmt: skip
    assert import_codings_file(demo_engine, changed).updated == 1
    kinds = _rows(demo_engine, "SELECT kind, version FROM coding_versions v JOIN codings c ON "
                  "c.id = v.coding_id WHERE c.coder_id = 'chen' ORDER BY version")  # fmt: skip
    assert kinds == [("import", 1), ("import", 2)]


BAD_LINES = [
    ({"session_id": "nope", "coder": "a", "codes": []}, "unknown session 'nope'"),
    ({"session_id": "s11", "coder": "a", "codes": [{"turn": 21, "code": "shutdown"}]},
     "session 's11' has no turn 21 (it has 20)"),
    ({"session_id": "s11", "coder": "a", "codes": [{"turn": 2, "code": "sulking"}]},
     "codes[1]: unknown code 'sulking' in 3rs"),
    ({"session_id": "s11", "coder": "a", "codes": [{"turn": 0, "code": "shutdown"}]},
     "codes[1]: turn must be a turn number from 1"),
    ({"session_id": "s11", "coder": "a", "role": "third", "codes": []},
     "role must be 'primary' or 'second'"),
    ({"session_id": "s11", "coder": "a", "codes": "shutdown"}, "codes must be a list"),
    ({"session_id": "s11", "coder": "a", "codes": [], "colour": "red"}, "unknown field 'colour'"),
    ({"session_id": "s11", "codes": []}, "coder is missing"),
]  # fmt: skip


@pytest.mark.parametrize(("record", "message"), BAD_LINES)
def test_import_refuses_a_bad_line_with_its_line_and_writes_nothing(
    demo_engine, tmp_path: Path, record: dict, message: str
) -> None:  # type: ignore[no-untyped-def]
    good = {"session_id": "s03", "coder": "ben", "codes": [{"turn": 6, "code": "shutdown"}]}
    path = _codings_file(tmp_path, [good, record])
    with pytest.raises(ImportFailed) as caught:
        import_codings_file(demo_engine, path)
    assert f"{path}:2: {message}" in "\n".join(caught.value.errors)
    assert _rows(demo_engine, "SELECT count(*) FROM codings")[0][0] == 0


def test_import_refuses_duplicates_and_a_second_primary(demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    line = {"session_id": "s03", "coder": "ben", "codes": []}
    path = _codings_file(tmp_path, [line, line])
    with pytest.raises(ImportFailed) as caught:
        import_codings_file(demo_engine, path)
    assert caught.value.errors == [
        f"{path}:2: duplicate coding of session 's03' by 'ben' (first at line 1)"
    ]
    other = {"session_id": "s03", "coder": "chen", "codes": []}
    path = _codings_file(tmp_path, [line, other])
    with pytest.raises(ImportFailed) as caught:
        import_codings_file(demo_engine, path)
    assert caught.value.errors == [
        f"{path}:2: session 's03' already has another primary coder ('ben', in line 1)"
    ]
    assert _rows(demo_engine, "SELECT count(*) FROM codings")[0][0] == 0
    import_codings_file(demo_engine, _codings_file(tmp_path, [line]))
    path = _codings_file(tmp_path, [other, {**line, "role": "second"}])
    with pytest.raises(ImportFailed) as caught:
        import_codings_file(demo_engine, path)
    assert caught.value.errors == [
        f"{path}:1: session 's03' already has another primary coder ('ben', in the store)",
        f"{path}:2: 'ben' codes session 's03' as primary, not second",
    ]


def test_progress_counts_codings_per_coder(demo_engine) -> None:  # type: ignore[no-untyped-def]
    from annotate.work.progress import coding_detail, counts

    assert coding_detail(demo_engine) == {}
    assign_codings(demo_engine, ["ana", "ben"], sessions=["s03", "s11"], second_fraction=1.0,
                   reviewers=True)  # fmt: skip
    rows = _rows(demo_engine, "SELECT id, session_id, coder_id, role FROM codings")
    primary = {sid: (cid, coder) for cid, sid, coder, role in rows if role == "primary"}
    coding_id, coder = primary["s11"]
    submit_coding(demo_engine, coding_id, coder, 0)
    reviewer = _rows(demo_engine, "SELECT reviewer_id FROM coding_reviews WHERE coding_id = :c",
                     c=coding_id)[0][0]  # fmt: skip
    figures = coding_detail(demo_engine)
    for name in ("ana", "ben"):
        mine = [r for r in rows if r[2] == name]
        assert figures[name]["primary"] == sum(1 for r in mine if r[3] == "primary")
        assert figures[name]["second"] == sum(1 for r in mine if r[3] == "second")
        assert figures[name]["submitted"] == (1 if name == coder else 0)
        assert figures[name]["pending"] == len(mine) - figures[name]["submitted"]
        assert figures[name]["reviews_pending"] == (1 if name == reviewer else 0)
    review_coding(demo_engine, coding_id, reviewer, 1, True)
    figures = coding_detail(demo_engine)
    assert figures[reviewer]["reviews_given"] == 1 and figures[reviewer]["reviews_pending"] == 0
    assert figures[coder]["accepted"] == 1
    assert counts(demo_engine)["codings"] == len(rows) == 4
