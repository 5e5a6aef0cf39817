"""The openai provider: the real ``openai`` client against a local server that injects faults."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from annotate.core.workflow import DRAFT_FAILED, DRAFT_OK, DRAFT_UNGROUNDED, latest_draft
from annotate.drafting import DraftSettings, WorkSelection, draft_one, make_provider, run_batch
from annotate.drafting.prompt import default_template
from store.db import session_scope
from store.models import Draft
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM(slow_seconds=2.0)
    with ServerThread(server):
        yield server


def _provider(fake: FakeLLM, **overrides):  # type: ignore[no-untyped-def]
    settings = DraftSettings(
        provider="openai", model="test-model", base_url=fake.base_url, timeout=0.5, max_retries=1
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return make_provider(settings)


def _by_item(engine, session_id: str) -> dict[str, Draft]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.exec(select(Draft).where(Draft.session_id == session_id)).all()
    return {row.item_id: row for row in rows}


FAULTS = {
    "s01/goal_1": "429",
    "s01/goal_2": "500",
    "s01/goal_3": "slow",
    "s01/goal_4": "malformed",
    "s01/task_1": "turn999",
    "s01/task_2": "badquote",
    "s01/task_3": "fenced",
    "s01/task_4": "500-once",
    "s01/bond_4": "refusal",
    "s13/task_1": "badquote",
    "s13/task_2": "turn999",
}


def test_each_fault_is_stored_with_its_outcome(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.faults.update(FAULTS)
    # s01 and s13 hold the demo's accepted rationales: drafted only on request.
    both = WorkSelection(sessions=["s01", "s13"], include_accepted=True)
    summary = run_batch(demo_engine, _provider(fake), both, concurrency=6)
    assert summary.progress.done == 24  # no failure stopped the batch
    assert (summary.progress.ok, summary.progress.ungrounded, summary.progress.failed) == (
        16,
        4,
        4,
    )
    s01, s13 = _by_item(demo_engine, "s01"), _by_item(demo_engine, "s13")
    requests = fake.requests

    assert s01["goal_1"].status == DRAFT_OK and requests["s01/goal_1"] == 2
    assert s01["goal_1"].latency_ms >= 950  # waited for Retry-After: 1
    assert s01["goal_1"].request_id == "req_s01/goal_1_2"

    assert s01["goal_2"].status == DRAFT_FAILED and requests["s01/goal_2"] == 2
    assert s01["goal_2"].error.startswith("HTTP 500 from 127.0.0.1:")
    assert s01["goal_2"].text is None

    assert s01["goal_3"].status == DRAFT_FAILED and requests["s01/goal_3"] == 2
    assert s01["goal_3"].error == "timed out after 0.5 s (2 attempts)"

    malformed = s01["goal_4"]
    assert malformed.status == DRAFT_FAILED and requests["s01/goal_4"] == 1
    assert "not the requested JSON" in malformed.error and malformed.text is None
    assert malformed.tokens_out and malformed.request_id == "req_s01/goal_4_1"

    for draft, reason in (
        (s01["task_1"], "cites turn(s) 999 that do not exist"),
        (s13["task_2"], "cites turn(s) 999 that do not exist"),
        (s01["task_2"], "'I never said these words at all' is not in turn"),
        (s13["task_1"], "'I never said these words at all' is not in turn"),
    ):
        assert draft.status == DRAFT_UNGROUNDED and reason in draft.grounding_error
        assert draft.text and draft.evidence  # kept for the expert, marked as such

    assert s01["bond_4"].status == DRAFT_FAILED
    assert s01["bond_4"].error == "the model refused: I can't help with that."
    assert s01["task_3"].status == DRAFT_OK  # fenced JSON with prose parsed tolerantly
    assert s01["task_4"].status == DRAFT_OK and requests["s01/task_4"] == 2
    assert s13["goal_1"].status == DRAFT_OK and s13["goal_1"].quotes[0]["text"]
    assert all(ord(ch) < 0x3000 for ch in s01["bond_1"].quotes[0]["text"])
    assert any(ord(ch) > 0x3000 for ch in s13["bond_1"].quotes[0]["text"])  # Chinese quote
    others = [k for k in requests if k not in FAULTS]
    assert len(others) == 13 and all(requests[k] == 1 for k in others)


def test_provenance_on_every_draft(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s02"]))
    template = default_template()
    drafts = _by_item(demo_engine, "s02").values()
    assert len(drafts) == 12
    for draft in drafts:
        assert draft.status == DRAFT_OK
        assert (draft.provider, draft.model) == ("openai", "test-model")
        assert draft.base_url_host == f"127.0.0.1:{fake.port}"
        assert draft.prompt_version == template.version and draft.prompt_hash == template.hash
        assert draft.instrument_version == "1.1.0"
        assert draft.params["temperature"] == 0.0 and draft.params["seed"] == 0
        assert draft.params["response_format"] == "json_schema"
        assert draft.tokens_in > 100 and draft.tokens_out > 5 and draft.latency_ms > 0
        assert draft.request_id == f"req_s02/{draft.item_id}_1" and draft.created_at
    request = fake.last_request
    assert request["model"] == "test-model" and request["temperature"] == 0.0
    assert request["seed"] == 0 and request["max_tokens"] == 600
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True


def test_servers_without_structured_output_get_plain_requests(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.supports_json_schema = False
    summary = run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s03"]))
    assert summary.progress.ok == 12
    assert "response_format" not in fake.last_request
    assert {d.params["response_format"] for d in _by_item(demo_engine, "s03").values()} == {"text"}
    # Each of the three structured formats is refused at most once per request in flight
    # (8 workers) before the provider steps down, not once per item.
    assert fake.stats()["total"] <= 12 + 3 * 8


def test_the_api_key_is_never_stored(
    demo_engine, fake: FakeLLM, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    secret = "sk-test-DO-NOT-STORE-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fake.faults.update(
        {
            "s04/goal_1": "echo-auth",  # 401 quoting the header
            "s04/goal_2": "echo-body",  # 200 whose reply is not JSON and quotes the key
            "s04/goal_3": "echo-header",  # x-request-id echoes the key
            "s04/goal_4": "echo-text",  # the draft's own text quotes it
        }
    )
    run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s04"]))
    drafts = _by_item(demo_engine, "s04")
    failed = drafts["goal_1"]
    assert failed.status == DRAFT_FAILED and "HTTP 401" in failed.error
    assert "Bearer ***" in failed.error and secret not in failed.error
    assert drafts["goal_2"].status == DRAFT_FAILED and "key *** is not" in drafts["goal_2"].error
    assert drafts["goal_3"].status == DRAFT_OK and drafts["goal_3"].request_id == "req-***"
    assert drafts["goal_4"].text.endswith("(authorised with ***)")
    for draft in drafts.values():
        stored = " ".join(str(v) for v in (draft.text, draft.error, draft.request_id, draft.quotes))
        assert secret not in stored
    path = Path(db_url.removeprefix("sqlite:///"))
    for file in path.parent.glob(path.name + "*"):
        assert secret.encode() not in file.read_bytes()


def test_replies_no_store_keeps_are_failed_drafts(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.faults.update({"s05/goal_1": "nul-text", "s05/goal_2": "huge-text",
                        "s05/goal_3": "junk-usage", "s05/goal_4": "echo-raw"})  # fmt: skip
    every = WorkSelection(sessions=["s05"], include_accepted=True)
    summary = run_batch(demo_engine, _provider(fake), every)
    assert summary.progress.done == 12 and summary.progress.failed == 3
    drafts = _by_item(demo_engine, "s05")
    nul = drafts["goal_1"]
    assert nul.status == DRAFT_FAILED and nul.text is None
    assert nul.error == "the reply cannot be stored as a draft: the text contains a NUL character"
    assert "\x00" not in nul.raw_reply and nul.raw_reply.endswith("}]}\ufffd")
    huge = drafts["goal_2"]
    assert huge.status == DRAFT_FAILED and "longer than 20,000 characters" in huge.error
    assert len(huge.raw_reply) == 20_000
    junk = drafts["goal_3"]  # counts no store could sum are not believed
    assert junk.status == DRAFT_OK and junk.tokens_in is None and junk.tokens_out is None
    raw = drafts["goal_4"]  # a 200 that is not JSON at all: a failed draft, not a crash
    assert raw.status == DRAFT_FAILED and "not a chat completion" in raw.error


def test_a_key_no_http_header_can_carry_is_one_line(
    demo_engine, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from annotate.core.errors import ConfigError

    monkeypatch.setenv("OPENAI_API_KEY", "sk-clé-ünïcode")
    with pytest.raises(ConfigError, match="not plain ASCII") as raised:
        run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s04"]))
    assert "clé" not in str(raised.value) and fake.stats()["total"] == 0


def test_concurrency_is_bounded(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.latency = 0.05
    run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s06", "s08"]), concurrency=3)
    assert fake.stats()["total"] == 24 and fake.max_in_flight == 3


def test_rerun_retries_failures_and_on_request_ungrounded(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.faults.update({"s09/goal_1": "500", "s09/goal_2": "turn999"})
    run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s09"]))
    assert fake.stats()["total"] == 10 + 2 + 1  # the 500 was tried twice (one retry)
    fake.faults.clear()
    fake.requests.clear()
    again = run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s09"]))
    assert dict(fake.requests) == {"s09/goal_1": 1}  # only the failed one; nothing paid twice
    assert again.skipped == 11 and again.progress.ok == 1
    fake.requests.clear()
    run_batch(demo_engine, _provider(fake), WorkSelection(sessions=["s09"], retry_ungrounded=True))
    assert dict(fake.requests) == {"s09/goal_2": 1}
    with session_scope(demo_engine) as session:
        assert latest_draft(session, "s09", "goal_2").status == DRAFT_OK


def test_draft_one_from_a_worker_thread_uses_the_configured_endpoint(
    demo_engine, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANNOTATE_DRAFT_MODEL", "local-model")
    results: list[Draft] = []
    worker = threading.Thread(
        target=lambda: results.append(draft_one(demo_engine, "s14", "bond_2"))
    )
    worker.start()
    worker.join(timeout=30)
    (draft,) = results
    assert draft.provider == "openai" and draft.model == "local-model"
    assert draft.status == DRAFT_OK and fake.requests["s14/bond_2"] == 1
    with session_scope(demo_engine) as session:
        assert latest_draft(session, "s14", "bond_2").id == draft.id
