"""The reply schema and the tolerant reader (issue 24): what a grammar-constrained small
model on a local server sends, imitated by the test server and read through the real
``openai`` client, in English and Chinese."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from annotate.core.guidelines import default_markers
from annotate.core.workflow import DRAFT_FAILED, DRAFT_OK, DRAFT_UNGROUNDED
from annotate.drafting import DraftSettings, WorkSelection, make_provider, run_batch
from annotate.drafting.batch import read_draft
from annotate.drafting.context import DraftContext, TurnText, load_contexts
from annotate.drafting.grounding import (
    ParsedDraft,
    Quote,
    ReplyFormatError,
    copied_from,
    grounding_error,
    parse_reply,
)
from annotate.drafting.markers import marker_schema, parse_markers, run_markers
from annotate.drafting.schema import (
    BOUNDS,
    EVIDENCE_MAX,
    QUOTES_MAX,
    draft_model,
    draft_schema,
    marker_model,
    plain_schema,
    problems,
)
from store.db import session_scope
from store.models import Draft
from tests import hypothesis_profiles
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    with ServerThread(server):
        yield server


def _provider(fake: FakeLLM):  # type: ignore[no-untyped-def]
    settings_ = DraftSettings(provider="openai", model="test-model", base_url=fake.base_url,
                              timeout=2.0, max_retries=0)  # fmt: skip
    return make_provider(settings_)


def _drafts(engine, session_ids: list[str]) -> dict[str, Draft]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.exec(select(Draft).where(Draft.session_id.in_(session_ids))).all()  # type: ignore[union-attr]
    return {f"{row.session_id}/{row.item_id}": row for row in rows}


def _context(engine, session_id: str, item_id: str) -> DraftContext:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return load_contexts(session, [(session_id, item_id)])[0]


# s01 is an English session, s13 a Chinese one.
FAULTS = {
    "s01/goal_1": "ctrl-chars", "s13/goal_1": "ctrl-chars",
    "s01/goal_2": "empty-rationale", "s13/goal_2": "empty-rationale",
    "s01/goal_3": "empty-evidence", "s13/goal_3": "empty-evidence",
    "s01/goal_4": "placeholder", "s13/goal_4": "placeholder",
    "s01/task_1": "item-quote", "s13/task_1": "item-quote",
    "s01/task_2": "trailing", "s13/task_2": "trailing",
    "s01/task_3": "ctrl-only", "s13/task_3": "ctrl-only",
    "s01/task_4": "malformed",
}  # fmt: skip


def test_each_engine_failure_is_read_or_named(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.faults.update(FAULTS)
    both = WorkSelection(sessions=["s01", "s13"], include_accepted=True)
    summary = run_batch(demo_engine, _provider(fake), both, concurrency=4)
    assert summary.progress.done == 24
    drafts = _drafts(demo_engine, ["s01", "s13"])
    for session_id in ("s01", "s13"):
        # JSON with raw control characters in a string, or with prose after it: read.
        readable = drafts[f"{session_id}/goal_1"]
        assert readable.status == DRAFT_OK, readable.error or readable.grounding_error
        assert "\n\t}" in readable.text
        assert drafts[f"{session_id}/task_2"].status == DRAFT_OK
        # An empty rationale: failed, saying so, the raw reply kept.
        empty = drafts[f"{session_id}/goal_2"]
        assert empty.status == DRAFT_FAILED and empty.text is None
        assert empty.error == "the reply has no 'rationale' text: it is empty ('')"
        assert empty.raw_reply and '"rationale": ""' in empty.raw_reply
        # No turn cited: ungrounded, never ok.
        nothing = drafts[f"{session_id}/goal_3"]
        assert nothing.status == DRAFT_UNGROUNDED and nothing.grounding_error == "cites no turn"
        # Copied prompt text is named as what it is.
        copied = drafts[f"{session_id}/goal_4"]
        assert copied.status == DRAFT_UNGROUNDED
        turn = copied.quotes[0]["turn"]
        assert (f"quote '<words copied verbatim>' is a placeholder, not words from turn {turn}"
                in copied.grounding_error)  # fmt: skip
        anchor = _context(demo_engine, session_id, "goal_4").anchor
        assert f"quote {anchor!r} is the rating's anchor label, not words from turn {turn}" in (
            copied.grounding_error
        )
        item = drafts[f"{session_id}/task_1"]
        assert item.status == DRAFT_UNGROUNDED and "is the item's text, not words from turn" in (
            item.grounding_error
        )
        # A grammar's padding ("}\n[1] "): too short to be a rationale.
        padding = drafts[f"{session_id}/task_3"]
        assert padding.status == DRAFT_UNGROUNDED
        assert "the rationale is 5 characters, fewer than the" in padding.grounding_error
    # What is not JSON stays failed, its characters escaped in the error, the reply kept.
    malformed = drafts["s01/task_4"]
    assert malformed.status == DRAFT_FAILED and "not the requested JSON" in malformed.error
    assert "'I think the client felt heard {rationale: because, evidence: [2'" in (malformed.error)
    assert malformed.raw_reply.startswith("I think the client")
    others = [key for key in drafts if key not in FAULTS]
    assert len(others) == 9 and all(drafts[key].status == DRAFT_OK for key in others)


@pytest.mark.parametrize(("session_id", "language"), [("s01", "en"), ("s13", "zh")])
def test_the_schema_sent_bounds_the_reply(demo_engine, fake: FakeLLM, session_id: str,
                                          language: str) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    run_batch(demo_engine, _provider(fake),
              WorkSelection(sessions=[session_id], include_accepted=True, limit=1))  # fmt: skip
    (key, request), = fake.request_by_key.items()  # fmt: skip
    context = _context(demo_engine, *key.split("/"))
    sent = request["response_format"]["json_schema"]
    assert sent["strict"] is True and sent["schema"] == draft_schema(context)
    properties = sent["schema"]["properties"]
    bounds = BOUNDS[language]
    assert properties["rationale"] == {"type": "string", "minLength": bounds.rationale_min,
                                       "maxLength": bounds.rationale_max}  # fmt: skip
    assert properties["evidence"] == {
        "type": "array", "minItems": 1, "maxItems": EVIDENCE_MAX,
        "items": {"type": "integer", "minimum": 1, "maximum": len(context.turns)},
    }  # fmt: skip
    quote = properties["quotes"]["items"]
    assert properties["quotes"]["maxItems"] == QUOTES_MAX
    assert quote["properties"]["text"]["maxLength"] == bounds.quote_max
    assert quote["required"] == ["turn", "text"] and quote["additionalProperties"] is False
    assert sent["schema"]["required"] == ["rationale", "evidence", "quotes"]
    text = json.dumps(sent["schema"])
    assert "$ref" not in text and "title" not in text  # plain keywords only


def test_openai_gets_the_schema_without_string_lengths(demo_engine) -> None:  # type: ignore[no-untyped-def]
    """OpenAI's strict mode refuses minLength/maxLength: they are checked locally only."""
    context = _context(demo_engine, "s01", "goal_1")
    schema = json.dumps(draft_schema(context, for_openai=True))
    assert "minLength" not in schema and "maxLength" not in schema
    assert '"maxItems": 6' in schema and '"minimum": 1' in schema


# --- the reader ----------------------------------------------------------------------------

RAW = '{"rationale": "The client says the plan helps.\n\tTurn 4 shows it.", "evidence": [4], "quotes": []}'  # noqa: E501


@pytest.mark.parametrize(
    "content",
    [
        RAW,  # raw newline and tab inside a string
        f"```json\n{RAW}\n```",
        f"Here is the JSON:\n{RAW}\nI hope {{this}} helps.",  # text around, braces after
        f"{{thinking}} {RAW}",  # a brace before that is not JSON
    ],
)
def test_json_with_control_characters_or_text_around_is_read(content: str) -> None:
    draft = parse_reply(content)
    assert draft.rationale == "The client says the plan helps.\n\tTurn 4 shows it."
    assert draft.evidence == [4]
    assert read_draft(content) == draft  # the batch interface reads it the same way


def test_an_unreadable_reply_shows_its_characters_escaped() -> None:
    with pytest.raises(ReplyFormatError) as caught:
        parse_reply('{"rationale": "a\x00b\n  c", "evidence": [1,, 2]}')
    message = str(caught.value)
    assert "Expecting value at character" in message
    assert "\\x00" in message and "\\n  c" in message  # not collapsed, not raw
    with pytest.raises(ReplyFormatError, match=r"it is empty \('  \\t'\)"):
        parse_reply('{"rationale": "  \t", "evidence": [1], "quotes": []}')


def test_marker_replies_are_read_as_leniently() -> None:
    content = 'Sure:\n{"markers": [{"turn": 2, "code": "shutdown", "reason": "short\nanswer", "quote": "fine"}]} ok'  # noqa: E501
    (proposal,) = parse_markers(content)
    assert (proposal.turn, proposal.code, proposal.reason) == (2, "shutdown", "short\nanswer")


# --- copied prompt text --------------------------------------------------------------------

TURNS = (
    TurnText(1, "counselor", "What would you like to work on?"),
    TurnText(2, "client", "I don't know, it feels pointless."),
    TurnText(3, "counselor", "你希望通过咨询带来什么改变呢？"),
    TurnText(4, "client", "我也知道顶回去没用。"),
)


def test_a_copied_quote_is_named(demo_engine) -> None:  # type: ignore[no-untyped-def]
    context = _context(demo_engine, "s01", "goal_1")
    rationale = "The client doubts that the work leads anywhere (turn 2)."
    draft = ParsedDraft(rationale, [2], [Quote(context.anchor, 2), Quote(context.item_text, 2),
                                         Quote("<words copied verbatim>")])  # fmt: skip
    error = grounding_error(draft, TURNS, context)
    assert f"quote {context.anchor!r} is the rating's anchor label, not words from turn 2" in error
    assert "is the item's text, not words from turn 2" in error
    assert ("quote '<words copied verbatim>' is a placeholder, not words from any cited turn"
            in error)  # fmt: skip
    assert copied_from("cite them by these numbers") == "words of the prompt"
    assert copied_from("I don't know") is None


@pytest.mark.parametrize(
    ("language", "rationale", "reason"),
    [
        ("en", "Too short.", "the rationale is 10 characters, fewer than the 30 a draft needs"),
        ("zh", "评分低。", "the rationale is 4 characters, fewer than the 10 a draft needs"),
        ("zh", "来访者" * 101, "the rationale is 303 characters, more than the 300"),
        ("en", "The client doubts the sessions help. " * 28, "more than the 1,000"),
    ],
)
def test_the_schema_bounds_are_checked_per_language(
    demo_engine, language: str, rationale: str, reason: str
) -> None:  # type: ignore[no-untyped-def]
    context = _context(demo_engine, "s13" if language == "zh" else "s01", "goal_1")
    draft = ParsedDraft(rationale, [2], [])
    assert reason in (grounding_error(draft, context.turns, context) or "")


def test_too_many_turns_and_quotes_are_reported() -> None:
    rationale = "The client doubts the sessions help, in several turns."
    draft = ParsedDraft(rationale, [1, 2, 3, 4, 1, 2, 3][:EVIDENCE_MAX + 1],
                        [Quote("pointless", 2)] * (QUOTES_MAX + 1))  # fmt: skip
    error = grounding_error(draft, TURNS) or ""
    assert f"gives {QUOTES_MAX + 1} quotes, more than {QUOTES_MAX}" in error
    assert f"cites {EVIDENCE_MAX + 1} turns, more than {EVIDENCE_MAX}" in error


# --- one definition: the JSON Schema accepts exactly what the model accepts ----------------


def _accepts(schema: dict[str, Any], value: Any) -> bool:
    """A JSON Schema check for the keywords ``plain_schema`` emits (no ``jsonschema``
    package here): the semantics every structured-output engine gives them."""
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict) or set(value) - set(schema["properties"]):
            return False
        if any(name not in value for name in schema["required"]):
            return False
        return all(_accepts(schema["properties"][k], v) for k, v in value.items())
    if kind == "array":
        return (isinstance(value, list)
                and schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10**9)
                and all(_accepts(schema["items"], v) for v in value))  # fmt: skip
    if kind == "integer":
        low, high = schema.get("minimum", -(10**18)), schema.get("maximum", 10**18)
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind == "string":
        return (isinstance(value, str)
                and schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
                and ("enum" not in schema or value in schema["enum"]))  # fmt: skip
    raise AssertionError(f"a keyword the engines may not read: {schema}")


_TEXT = st.text(alphabet=st.sampled_from("ab 来访者说\n\t}"), max_size=1100) | st.sampled_from(
    ["", " ", "x" * 29, "x" * 30, "x" * 1000, "x" * 1001, "来" * 9, "来" * 10, "来" * 300]
)
_NUMBER = st.integers(-2, 40) | st.booleans() | st.just("3") | st.just(2.0)
_QUOTE = (
    st.fixed_dictionaries({"turn": _NUMBER, "text": _TEXT})
    | st.fixed_dictionaries({"turn": _NUMBER})
    | st.fixed_dictionaries({"turn": _NUMBER, "text": _TEXT, "x": _TEXT})
)
_DRAFT = st.fixed_dictionaries(
    {"rationale": _TEXT, "evidence": st.lists(_NUMBER, max_size=8),
     "quotes": st.lists(_QUOTE | _TEXT, max_size=6)},
    optional={"extra": st.just(1)},
) | st.dictionaries(st.sampled_from(["rationale", "evidence"]), _TEXT)  # fmt: skip


@settings(max_examples=hypothesis_profiles.examples(300), deadline=None)
@given(data=_DRAFT, last=st.integers(1, 30), language=st.sampled_from(["en", "zh", None]))
def test_the_schema_accepts_exactly_what_the_model_accepts(
    data: Any, last: int, language: str | None
) -> None:
    model = draft_model(1, last, language)
    assert _accepts(plain_schema(model), data) is (problems(model, data) == [])


_PROPOSAL = st.fixed_dictionaries({"turn": _NUMBER, "code": st.sampled_from(
    ["shutdown", "explore", "nope", ""]), "reason": _TEXT, "quote": _TEXT})  # fmt: skip


@settings(max_examples=hypothesis_profiles.examples(200), deadline=None)
@given(markers=st.lists(_PROPOSAL, max_size=4), last=st.integers(1, 30))
def test_the_marker_schema_accepts_exactly_what_its_model_accepts(
    markers: list[dict[str, Any]], last: int
) -> None:
    model = marker_model(1, last, ("shutdown", "explore"))
    data = {"markers": markers}
    assert _accepts(plain_schema(model), data) is (problems(model, data) == [])


# --- markers through the server ------------------------------------------------------------


def test_marker_requests_carry_the_bounded_schema_and_replies_are_read(
    demo_engine, fake: FakeLLM
) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    scheme = default_markers()
    fake.faults.update({"s03/markers": "markers-ctrl", "s07/markers": "markers-placeholder"})
    settings_ = DraftSettings(provider="openai", model="test-model", base_url=fake.base_url,
                              timeout=2.0, max_retries=0)  # fmt: skip
    run = run_markers(demo_engine, settings_, sessions=["s03", "s07"])
    assert run.failed == 0, run.errors  # the raw newline inside a reason did not lose it
    sent = fake.request_by_key["s03/markers"]["response_format"]["json_schema"]["schema"]
    entry = sent["properties"]["markers"]["items"]["properties"]
    assert entry["code"] == {"type": "string", "enum": list(scheme.code_ids)}
    assert entry["turn"]["minimum"] == 1 and entry["turn"]["maximum"] > 1
    assert sent == marker_schema(scheme, _session_turns(demo_engine, "s03"))
    with demo_engine.connect() as connection:
        from sqlalchemy import text

        errors = [row[0] for row in connection.execute(text(
            "SELECT grounding_error FROM marker_suggestions WHERE session_id = 's07' "
            "AND NOT grounded"))]  # fmt: skip
    assert any("'<words copied verbatim>' is a placeholder, not words from turn" in e
               for e in errors), errors  # fmt: skip
    assert any("is the name of the code 'shutdown'" in e for e in errors), errors


def _session_turns(engine, session_id: str):  # type: ignore[no-untyped-def]
    from annotate.drafting.markers import _contexts

    with session_scope(engine) as session:
        return _contexts(session, [session_id])[0]


@pytest.mark.parametrize(("language", "letter", "scale"), [("en", "w", 1.0), ("zh", "来", 1.4)])
def test_the_longest_reply_the_schema_allows_fits_the_token_limit(
    language: str, letter: str, scale: float
) -> None:
    """The bounds stop a runaway before ``--max-tokens``: the longest usable English reply
    fits the default 600 tokens; the longest Chinese one, counted as a small English-centric
    tokenizer counts Chinese (1.4 tokens a character), fits the one retry's 1,200."""
    from annotate.drafting.prompt import estimate_tokens

    bounds = BOUNDS[language]
    longest = {
        "rationale": letter * bounds.rationale_max,
        "evidence": list(range(90, 90 + EVIDENCE_MAX)),
        "quotes": [{"turn": 99, "text": letter * bounds.quote_max}] * QUOTES_MAX,
    }
    assert problems(draft_model(1, 99, language), longest) == []
    tokens = estimate_tokens(json.dumps(longest, ensure_ascii=False)) * scale
    limit = DraftSettings().max_tokens * (1 if language == "en" else 2)
    assert tokens <= limit, (tokens, limit)


def test_an_object_inside_broken_json_is_not_taken_for_the_reply() -> None:
    cut = '{"rationale": "The client says it helps.", "evidence": [1], "quotes": [{"turn": 1, "text": "it helps"}, {"tu'  # noqa: E501
    with pytest.raises(ReplyFormatError, match="not the requested JSON object"):
        parse_reply(cut)
