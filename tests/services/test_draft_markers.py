"""``draft --markers``: the real openai client against the test server, and the hinter."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from annotate.core.guidelines import default_markers
from annotate.drafting import DraftSettings
from annotate.drafting.markers import OFFLINE_MODEL, hint_offline, run_markers
from annotate.work.codings import assign_codings, coding_view
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    with ServerThread(server):
        yield server


def _settings(fake: FakeLLM) -> DraftSettings:
    return DraftSettings(provider="openai", model="test-model", base_url=fake.base_url,
                         timeout=2.0, max_retries=1)  # fmt: skip


def _rows(engine, sql: str):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(text(sql)).all()


def test_grounded_ungrounded_and_failed_proposals(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.faults.update({"s07/markers": "markers-ungrounded", "s03/markers": "500",
                        "s14/markers": "malformed"})  # fmt: skip
    sessions = ["s03", "s07", "s11", "s14"]
    run = run_markers(demo_engine, _settings(fake), sessions=sessions)
    assert (run.sessions, run.ok, run.ungrounded, run.failed) == (4, 1, 1, 2)
    drafts = {sid: (status, error, raw) for sid, status, error, raw in _rows(
        demo_engine, "SELECT session_id, status, error, raw_reply FROM marker_drafts")}  # fmt: skip
    assert drafts["s11"][0] == "ok" and drafts["s11"][2] is None
    assert drafts["s07"][0] == "ungrounded"
    assert drafts["s03"][0] == "failed" and "HTTP 500" in drafts["s03"][1]
    assert drafts["s14"][0] == "failed" and drafts["s14"][1].startswith("unusable reply")
    assert drafts["s14"][2].startswith('{"markers"')  # the raw reply kept to read
    errors = {(turn, code): error for turn, code, error in _rows(
        demo_engine, "SELECT turn_number, code, grounding_error FROM marker_suggestions "
        "WHERE session_id = 's07' AND NOT grounded")}  # fmt: skip
    assert "turn 999 does not exist" in errors[(999, "pushback")]
    assert "the quote is not in turn 2" in errors[(2, "complaint")]
    assert "does not fit a counselor turn" in errors[(1, "masking")]
    assert "unknown code 'sarcasm'" in errors[(1, "sarcasm")]
    grounded = _rows(
        demo_engine,
        "SELECT session_id, turn_number, code, quote FROM marker_suggestions WHERE grounded",
    )
    turns = dict(((sid, n), t) for sid, n, t in _rows(
        demo_engine, "SELECT session_id, number, text FROM turns"))  # fmt: skip
    assert grounded and all(quote.lower()[:3] in turns[(sid, n)].lower()
                            for sid, n, _, quote in grounded)  # fmt: skip
    assert {(sid, code) for sid, _, code, _ in grounded} >= {
        ("s11", "shutdown"),
        ("s07", "explore"),
    }
    # Only grounded proposals reach the coder, from the newest proposal of that model.
    assign_codings(demo_engine, ["ana"], sessions=["s07"])
    (coding_id,) = _rows(demo_engine, "SELECT id FROM codings")[0]
    offered = coding_view(demo_engine, coding_id, "ana").suggestions
    assert offered and all(s.turn != 999 and s.code != "sarcasm" for s in offered)
    assert {s.source for s in offered} == {"test-model"}
    # A rerun skips what was proposed, and asks again where it failed.
    asked = sum(fake.requests.values())
    fake.faults.clear()
    again = run_markers(demo_engine, _settings(fake), sessions=sessions)
    assert (again.skipped, again.sessions, again.ok) == (2, 2, 2)
    assert sum(fake.requests.values()) == asked + 2


def test_prompt_names_every_code_and_numbers_every_turn(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    run_markers(demo_engine, _settings(fake), sessions=["s14"])
    prompt = fake.prompts[-1]
    for code in default_markers().codes:
        assert f"`{code.id}`" in prompt
    assert "[16] client: 我知道你是担心我" in prompt  # Chinese, unescaped, numbered
    response_format = fake.last_request["response_format"]
    assert response_format["type"] == "json_schema"
    code = response_format["json_schema"]["schema"]["properties"]["markers"]["items"]["properties"][
        "code"
    ]
    assert code["enum"] == [c.id for c in default_markers().codes]  # only codes that exist
    stored = _rows(demo_engine, "SELECT quote FROM marker_suggestions WHERE session_id = 's14'")
    assert all("\\u" not in quote for (quote,) in stored)


def test_offline_hinter_proposes_from_cues_and_labels_itself(demo_engine) -> None:  # type: ignore[no-untyped-def]
    run = run_markers(demo_engine, None, sessions=["s11", "s14"])
    assert run.failed == 0 and run.grounded == run.proposals > 0
    rows = _rows(demo_engine, "SELECT d.provider, d.model, s.session_id, s.turn_number, s.code, "
                 "s.quote, s.reason FROM marker_suggestions s JOIN marker_drafts d ON "
                 "d.id = s.draft_id")  # fmt: skip
    assert {(p, m) for p, m, *_ in rows} == {("offline", OFFLINE_MODEL)}
    found = {(sid, turn, code, quote) for _, _, sid, turn, code, quote, _ in rows}
    assert ("s11", 8, "shutdown", "whatever") in found
    assert ("s14", 8, "avoidance", "不说这个了") in found  # Chinese cues, no word spaces
    assert all(reason.startswith("offline hinter") for *_, reason in rows)


def test_hinter_keeps_client_markers_off_counselor_turns() -> None:
    from annotate.drafting.context import TurnText
    from annotate.drafting.markers import SessionTurns

    turns = SessionTurns("x", "en", (TurnText(1, "counselor", "Whatever you prefer, anyway."),
                                     TurnText(2, "client", "Whatever.")))  # fmt: skip
    proposals = hint_offline(default_markers(), turns)
    assert [(p.turn, p.code) for p in proposals] == [(2, "shutdown")]


def test_a_long_session_is_coded_in_windows_covering_each_turn(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    from annotate.drafting.markers import SessionTurns, windows
    from annotate.drafting.prompt import estimate_tokens, turn_line

    settings = _settings(fake)
    settings.context_budget = 200  # the smallest --context-budget: s07 needs several windows
    run = run_markers(demo_engine, settings, sessions=["s07"])
    assert run.ok == 1
    asked = fake.requests["s07/markers"]
    assert asked > 1
    prompts = fake.prompts[-asked:]
    seen = [int(n) for prompt in prompts for n in re.findall(r"^\[(\d+)\] ", prompt, re.M)]
    turns = _rows(demo_engine, "SELECT number FROM turns WHERE session_id = 's07'")
    assert sorted(seen) == sorted(n for (n,) in turns)  # each turn in exactly one window
    (tokens,) = _rows(demo_engine, "SELECT tokens_in FROM marker_drafts")[0]
    assert tokens > 0
    from annotate.drafting.context import TurnText

    long = SessionTurns("x", "en", tuple(TurnText(n, "client", "word " * 50) for n in range(1, 30)))
    parts = windows(long, 200)
    assert [t.number for part in parts for t in part.turns] == list(range(1, 30))
    assert all(sum(estimate_tokens(turn_line(t)) for t in part.turns) <= 200 for part in parts)


def test_proposals_are_committed_off_the_event_loop(
    demo_engine, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The model's proposals go through the drafting engine's writer thread, as drafts do:
    the event loop never waits for the store."""
    import threading

    from annotate.drafting import markers

    threads: list[str] = []
    original = markers._MarkerWriter.write

    def recording(self, connection, results):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        original(self, connection, results)

    monkeypatch.setattr(markers._MarkerWriter, "write", recording)
    run = run_markers(demo_engine, _settings(fake), sessions=["s03", "s07", "s11"])
    assert run.ok + run.ungrounded == 3
    assert threads and all(name.startswith("draft-writer") for name in threads)
    assert _rows(demo_engine, "SELECT count(*) FROM marker_drafts")[0][0] == 3


def test_a_store_failure_stops_the_proposals(
    demo_engine, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from annotate.drafting import markers

    def broken(self, connection, results):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(markers._MarkerWriter, "write", broken)
    fake.latency = 0.02
    sessions = [f"s{n:02d}" for n in range(1, 17)]
    with pytest.raises(RuntimeError, match="disk full"):
        run_markers(demo_engine, _settings(fake), sessions=sessions, concurrency=1)
    assert sum(fake.requests.values()) < len(sessions)  # not every session asked for nothing
    assert _rows(demo_engine, "SELECT count(*) FROM marker_drafts")[0][0] == 0


def test_marker_proposals_take_the_model_and_endpoint_from_the_environment(
    demo_engine, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """As rationale drafts do: --markers without --model/--base-url used the OpenAI API's
    default model whatever ANNOTATE_DRAFT_MODEL and OPENAI_BASE_URL said."""
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANNOTATE_DRAFT_MODEL", "local-marker-model")
    run_markers(demo_engine, DraftSettings(provider="openai", timeout=2.0, max_retries=1),
                sessions=["s14"])  # fmt: skip
    assert fake.requests["s14/markers"] >= 1
    assert fake.last_request["model"] == "local-marker-model"
    stored = _rows(demo_engine, "SELECT model FROM marker_drafts")
    assert ("local-marker-model",) in stored
