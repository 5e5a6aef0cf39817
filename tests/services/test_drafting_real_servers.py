"""Drafting against servers that behave like the real ones teams run.

The test server imitates, one mode at a time: llama-cpp-python's HTTP 500 validation
error for ``json_schema``, vLLM's 400, a JSON-mode-only server, replies cut at
``max_tokens`` (``finish_reason: length``), a context-overflow 400, prefix-cache usage
(``prompt_tokens_details.cached_tokens``, llama-server's ``timings``) and a server that
answers one request at a time. Each test asserts what is stored, and how often the
server was asked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from annotate.core.workflow import DRAFT_FAILED, DRAFT_OK
from annotate.drafting import DraftSettings, WorkSelection, make_provider, run_batch
from store.db import session_scope
from store.models import Draft
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    with ServerThread(server):
        yield server


def _provider(fake: FakeLLM, **overrides):  # type: ignore[no-untyped-def]
    settings = DraftSettings(provider="openai", model="m", base_url=fake.base_url,
                             timeout=5.0, max_retries=4)  # fmt: skip
    for key, value in overrides.items():
        setattr(settings, key, value)
    return make_provider(settings)


def _drafts(engine, session_id: str) -> list[Draft]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return list(session.exec(select(Draft).where(Draft.session_id == session_id)).all())


@pytest.mark.parametrize("refusal", ["llama-cpp", "vllm"])
def test_a_schema_refusal_is_asked_once_and_the_batch_keeps_json_mode(
    demo_engine, fake: FakeLLM, refusal: str
) -> None:  # type: ignore[no-untyped-def]
    fake.schema_refusal = refusal
    summary = run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s02"]),
                        concurrency=1)  # fmt: skip
    assert summary.progress.ok == 12 and summary.progress.failed == 0
    drafts = _drafts(demo_engine, "s02")
    assert {d.params["response_format"] for d in drafts} == {"json_object_schema"}
    # One refused request (no retries of the 500), then every item once in JSON mode
    # carrying the schema.
    assert fake.formats_seen.count("json_schema") == 1
    assert fake.formats_seen.count("json_object_schema") == 12
    assert fake.stats()["total"] == 13


def test_a_json_mode_only_server_under_concurrency_refuses_each_wave_once(
    demo_engine, fake: FakeLLM
) -> None:  # type: ignore[no-untyped-def]
    fake.json_object_only = True
    summary = run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s02", "s03"]),
                        concurrency=4)  # fmt: skip
    assert summary.progress.ok == 24
    assert fake.formats_seen.count("json_schema") <= 4  # the first wave only
    assert fake.formats_seen.count("json_object_schema") <= 4  # refused too: a plain server
    assert fake.formats_seen.count("json_object") == 24


def test_a_forced_format_is_the_only_one_asked(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    run_batch(demo_engine, _provider(fake, response_format="text"),
              WorkSelection(sessions=["s02"]))  # fmt: skip
    assert set(fake.formats_seen) == {"text"}
    fake.formats_seen.clear()
    fake.schema_refusal = "vllm"
    summary = run_batch(demo_engine, _provider(fake, response_format="json_schema"),
                        WorkSelection(sessions=["s03"]))  # fmt: skip
    assert summary.progress.failed == 12  # forced: no stepping down
    assert set(fake.formats_seen) == {"json_schema"} and fake.stats()["total"] == 12 + 12
    assert all("HTTP 400" in d.error for d in _drafts(demo_engine, "s03"))


def test_a_cut_reply_is_asked_again_with_room_or_named(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.cut_below = 500  # a complete reply needs max_tokens >= 500
    summary = run_batch(demo_engine, _provider(fake, max_tokens=300),
                        WorkSelection(sessions=["s02"]))  # fmt: skip
    assert summary.progress.ok == 12  # 300 was cut; 600 was enough
    assert all(d.params["max_tokens"] == 600 for d in _drafts(demo_engine, "s02"))
    assert fake.stats()["total"] == 24
    fake.cut_below = 10_000  # more than the cap: named, with the raw reply kept
    summary = run_batch(demo_engine, _provider(fake, max_tokens=3000),
                        WorkSelection(sessions=["s03"]))  # fmt: skip
    assert summary.progress.failed == 12
    for draft in _drafts(demo_engine, "s03"):
        assert draft.status == DRAFT_FAILED and draft.finish_reason == "length"
        assert draft.error == "cut at max_tokens=4096: raise --max-tokens"
        assert draft.raw_reply and draft.raw_reply.startswith('{"rationale"')


def _prompt_tokens(engine, budget: int) -> int:  # type: ignore[no-untyped-def]
    """What the test server counts for s02/goal_1's prompt with this transcript budget."""
    from annotate.drafting import load_contexts
    from annotate.drafting.prompt import default_template

    with session_scope(engine) as session:
        context = load_contexts(session, [("s02", "goal_1")])[0]
    messages = default_template().messages(context, budget)
    return len("\n".join(str(m["content"]) for m in messages)) // 4


def test_a_context_overflow_shrinks_the_transcript_once(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    full, half = _prompt_tokens(demo_engine, 400), _prompt_tokens(demo_engine, 200)
    assert half < full  # the s02 transcript is longer than 200 estimated tokens
    fake.context_window = (full + half) // 2  # the whole prompt overflows, half fits
    summary = run_batch(demo_engine, _provider(fake, context_budget=400),
                        WorkSelection(sessions=["s02"], limit=1), concurrency=1)  # fmt: skip
    assert summary.progress.ok == 1
    (draft,) = _drafts(demo_engine, "s02")
    assert draft.status == DRAFT_OK and draft.params["context_budget"] == 200
    assert fake.requests["s02/goal_1"] == 2  # the overflow, then the shorter request
    fake.context_window = 10  # nothing fits: one line, after one shorter try
    run_batch(demo_engine, _provider(fake, context_budget=400), WorkSelection(sessions=["s03"]))
    drafts = _drafts(demo_engine, "s03")
    assert all(d.status == DRAFT_FAILED and "context size" in d.error for d in drafts)
    assert all(fake.requests[f"s03/{d.item_id}"] == 2 for d in drafts)
    # A transcript that already fits the smaller budget: halving changes nothing, so the
    # identical request is not sent again.
    run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s04"]))
    drafts = _drafts(demo_engine, "s04")
    assert all(d.status == DRAFT_FAILED and "context size" in d.error for d in drafts)
    assert all(fake.requests[f"s04/{d.item_id}"] == 1 for d in drafts)


def test_cached_tokens_and_timings_are_stored_and_summed(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.report_cache = True
    summary = run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s02"]),
                        concurrency=1)  # fmt: skip
    drafts = _drafts(demo_engine, "s02")
    assert all(d.cached_tokens is not None for d in drafts)
    assert summary.progress.tokens_cached == sum(d.cached_tokens or 0 for d in drafts) > 0
    assert all(set(d.server_timings or {}) >= {"cache_n", "prompt_n"} for d in drafts)
    assert summary.as_json()["tokens_cached"] == summary.progress.tokens_cached


def test_a_one_request_at_a_time_server_drafts_everything(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.serial, fake.latency = True, 0.02
    summary = run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s02"]),
                        concurrency=8)  # fmt: skip
    assert summary.progress.ok == 12 and fake.max_in_flight == 1
    assert all(d.status == DRAFT_OK for d in _drafts(demo_engine, "s02"))


def test_the_prefix_layout_lets_a_server_reuse_the_prompt(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    """Prompt tokens a prefix cache cannot serve, over a session's 12 items: v1 vs v2."""
    from annotate.drafting.prompt import PROMPTS_DIR, load_template
    from annotate.drafting.providers import OpenAIProvider

    fake.report_cache = True
    processed = {}
    layouts = {"v1": load_template(PROMPTS_DIR / "draft-v1.j2"), "v2": load_template()}
    for name, template in layouts.items():
        fake.prompts.clear()
        settings = DraftSettings(provider="openai", model="m", base_url=fake.base_url)
        provider = OpenAIProvider(settings, template)
        summary = run_batch(demo_engine, provider, WorkSelection(sessions=["s02"], force=True),
                            concurrency=1)  # fmt: skip
        assert summary.progress.ok == 12
        processed[name] = summary.progress.tokens_in - summary.progress.tokens_cached
    assert processed["v1"] >= 3 * processed["v2"], processed


@pytest.mark.parametrize("server_counts", [True, False])
def test_a_context_window_sizes_the_transcript_to_fit_at_once(
    demo_engine, fake: FakeLLM, server_counts: bool
) -> None:  # type: ignore[no-untyped-def]
    full = _prompt_tokens(demo_engine, 6000)
    window = full + 600 - 150  # the whole transcript and max_tokens do not fit
    fake.context_window, fake.tokenize = window - 600, server_counts
    provider = _provider(fake, context_window=window, max_tokens=600)
    summary = run_batch(demo_engine, provider, WorkSelection(sessions=["s02"]), concurrency=1)
    assert summary.progress.ok == 12
    assert all(count == 1 for count in fake.requests.values())  # no overflow, no retry
    assert all(d.params["context_window"] == window for d in _drafts(demo_engine, "s02"))
    assert all(len(p) // 4 <= window - 600 for p in fake.prompts)
    if server_counts:  # with the server's own count the transcript is cut only as needed
        assert max(len(p) // 4 for p in fake.prompts) > window - 600 - 200
