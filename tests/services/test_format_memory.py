"""The negotiated response format, remembered per endpoint and model in the store.

A server that refuses ``json_schema`` (llama-cpp-python's 500, vLLM's 400) is asked it
once: not once per run, per ``draft --markers`` or per request in flight. The test
server counts the refusals it answered; the real ``openai`` client and the real CLI
talk to it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli.app import app
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends
runner = CliRunner()


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    with ServerThread(server):
        yield server


def _draft(db_url: str, fake: FakeLLM, *extra: str) -> Any:
    result = runner.invoke(app, ["--db", db_url, "draft", "--base-url", fake.base_url,
                                 "--model", "small", "--include-accepted", "--json",
                                 *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _stored(engine: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT base_url_host, model, response_format FROM endpoint_formats")
        ).all()
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("refusal", ["llama-cpp", "vllm"])
def test_the_format_is_probed_once_across_slots_runs_and_markers(
    demo_engine: Any, db_url: str, fake: FakeLLM, refusal: str
) -> None:
    fake.schema_refusal = refusal
    fake.latency = 0.05  # every slot is in flight before the first reply comes back
    first = _draft(db_url, fake, "--session", "s02", "--concurrency", "8")
    assert first["ok"] == 12
    assert fake.stats()["refused_formats"] == {"json_schema": 1}  # not once per slot
    host = fake.base_url.split("//")[1].split("/")[0]
    assert _stored(demo_engine) == [(host, "small", "json_object_schema")]
    again = _draft(db_url, fake, "--session", "s03", "--concurrency", "8")  # a new run
    assert again["ok"] == 12
    markers = runner.invoke(app, ["--db", db_url, "draft", "--markers", "--base-url", fake.base_url,
                                  "--model", "small", "--session", "s02"])  # fmt: skip
    assert markers.exit_code == 0, markers.output
    assert fake.stats()["refused_formats"] == {"json_schema": 1}  # still the one refusal
    assert fake.formats_seen.count("json_schema") == 1
    assert fake.formats_seen.count("json_object_schema") == 12 + 12 + fake.requests["s02/markers"]
    # Another model on the same server is negotiated on its own.
    _draft(db_url, fake, "--session", "s04", "--model", "other", "--concurrency", "4")
    assert fake.stats()["refused_formats"] == {"json_schema": 2}
    assert sorted(_stored(demo_engine)) == [(host, "other", "json_object_schema"),
                                            (host, "small", "json_object_schema")]  # fmt: skip


def test_a_forced_format_overrides_the_stored_one_and_leaves_it(
    demo_engine: Any, db_url: str, fake: FakeLLM
) -> None:
    fake.schema_refusal = "llama-cpp"
    _draft(db_url, fake, "--session", "s02", "--concurrency", "1")
    seen = len(fake.formats_seen)
    _draft(db_url, fake, "--session", "s03", "--response-format", "json_object")
    assert set(fake.formats_seen[seen:]) == {"json_object"}
    assert [row[2] for row in _stored(demo_engine)] == ["json_object_schema"]


def test_a_stale_memory_steps_down_and_is_corrected(
    demo_engine: Any, db_url: str, fake: FakeLLM
) -> None:
    _draft(db_url, fake, "--session", "s02")  # this server answers json_schema
    assert [row[2] for row in _stored(demo_engine)] == ["json_schema"]
    fake.schema_refusal = "vllm"  # the same address now serves a stricter server
    summary = _draft(db_url, fake, "--session", "s03", "--concurrency", "4")
    assert summary["ok"] == 12 and summary["failed"] == 0
    assert [row[2] for row in _stored(demo_engine)] == ["json_object_schema"]


def test_regenerating_one_item_uses_the_remembered_format(
    demo_engine: Any, db_url: str, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor's regenerate (``draft_one``) starts with what the endpoint answered."""
    from annotate.drafting import draft_one

    fake.schema_refusal = "llama-cpp"
    _draft(db_url, fake, "--session", "s02", "--concurrency", "1")
    assert fake.stats()["refused_formats"] == {"json_schema": 1}
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANNOTATE_DRAFT_MODEL", "small")
    draft = draft_one(demo_engine, "s05", "goal_2")
    assert draft.status == "ok", draft.error or draft.grounding_error
    assert draft.params["response_format"] == "json_object_schema"
    assert fake.stats()["refused_formats"] == {"json_schema": 1}  # not probed again


def test_run_batch_remembers_the_format_for_a_provider_made_without_memory(
    demo_engine: Any, fake: FakeLLM
) -> None:
    """The library path (``run_batch``) uses the store's memory too, not only the CLI."""
    from annotate.drafting import DraftSettings, WorkSelection, run_batch
    from annotate.drafting.providers import OpenAIProvider

    fake.schema_refusal = "llama-cpp"
    for session_id in ("s02", "s03"):  # two runs, each with a provider of its own
        provider = OpenAIProvider(DraftSettings(provider="openai", model="small",
                                                base_url=fake.base_url))  # fmt: skip
        summary = run_batch(demo_engine, provider, WorkSelection(sessions=[session_id]),
                            concurrency=4)  # fmt: skip
        assert summary.progress.ok == 12
    assert fake.stats()["refused_formats"] == {"json_schema": 1}
