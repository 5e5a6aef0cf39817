"""Honest accounting and useful retries after a cut, against servers as they report.

The test server counts every prompt, completion and cached token it generated; a run's
``tokens_in``, ``tokens_out`` and ``cached_tokens`` summed from the drafts table must
equal those counts, retries and refused probes included. Cached tokens are read from
each server's own report (vLLM's ``prompt_tokens_details``, llama.cpp's ``timings``);
llama-cpp-python's server reports none, so they are NULL and the summary says
"unknown", not 0. A reply cut at ``max_tokens`` by runaway repetition is asked again
with more room, another seed and a temperature nudge, and not at all when the context
has no room for more.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from annotate.drafting import DraftSettings
from annotate.drafting.providers import CUT_RETRY_TEMPERATURE, OpenAIProvider
from cli.app import app
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends
runner = CliRunner()


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    with ServerThread(server):
        yield server


def _draft(db_url: str, fake: FakeLLM, *extra: str, as_json: bool = True) -> Any:
    result = runner.invoke(app, ["--db", db_url, "draft", "--base-url", fake.base_url,
                                 "--model", "small", "--include-accepted",
                                 *(["--json"] if as_json else []), *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if as_json else result.stdout


def _rows(engine: Any, where: str = "provider = 'openai'") -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(
            "SELECT item_id, status, tokens_in, tokens_out, cached_tokens, params, finish_reason,"
            f" error, server_timings IS NULL FROM drafts WHERE {where} ORDER BY id"
        )).all())  # fmt: skip


def _params(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


@pytest.mark.parametrize("style", ["vllm", "llama-cpp", "llama-cpp-python"])
def test_the_run_adds_up_to_what_the_server_generated(
    demo_engine: Any, db_url: str, fake: FakeLLM, style: str
) -> None:
    fake.cache_report = style
    fake.schema_refusal = "llama-cpp"  # a refused probe generates nothing and costs nothing
    fake.faults.update({"s02/goal_1": "runaway", "s02/task_2": "runaway",
                        "s02/bond_3": "runaway-always"})  # fmt: skip
    summary = _draft(db_url, fake, "--session", "s02", "--concurrency", "1")
    rows = _rows(demo_engine)
    generated = fake.stats()["generated"]
    assert generated["answers"] == 12 + 3  # three retries after a cut
    assert sum(row.tokens_in for row in rows) == generated["prompt_tokens"]
    assert sum(row.tokens_out for row in rows) == generated["completion_tokens"]
    assert (summary["tokens_in"], summary["tokens_out"]) == (
        generated["prompt_tokens"], generated["completion_tokens"])  # fmt: skip
    if style == "llama-cpp-python":  # the server reused its cache but said nothing
        assert generated["cached_tokens"] > 0
        assert all(row.cached_tokens is None for row in rows)
        assert summary["tokens_cached"] is None
    else:
        assert sum(row.cached_tokens for row in rows) == generated["cached_tokens"] > 0
        assert summary["tokens_cached"] == generated["cached_tokens"]
    # Timings only where the server sent them; absent ones are SQL NULL, not JSON null.
    assert all(row[8] == (style != "llama-cpp") for row in rows)
    by_item = {row.item_id: row for row in rows}
    attempts = _params(by_item["goal_1"].params)["attempts"]  # the first item probed too
    assert [a.get("http_status") for a in attempts] == [500, None, None]
    assert [a.get("finish_reason") for a in attempts] == [None, "length", "stop"]
    assert by_item["goal_1"].status == "ok"
    assert sum(a.get("tokens_out") or 0 for a in attempts) == by_item["goal_1"].tokens_out
    still_cut = by_item["bond_3"]
    assert still_cut.status == "failed" and still_cut.finish_reason == "length"
    assert still_cut.error == "cut at max_tokens=1200: raise --max-tokens"


def test_the_summary_says_unknown_when_no_server_reported_its_cache(
    demo_engine: Any, db_url: str, fake: FakeLLM
) -> None:
    fake.cache_report = "llama-cpp-python"
    line = _draft(db_url, fake, "--session", "s02", as_json=False)
    assert "cached: unknown, the server did not report it" in line
    assert "0 from the server's cache" not in line


def test_a_retry_after_a_cut_changes_seed_temperature_and_room(
    demo_engine: Any, db_url: str, fake: FakeLLM
) -> None:
    fake.faults["s02/goal_1"] = "runaway"
    _draft(db_url, fake, "--session", "s02", "--dimension", "goal", "--max-tokens", "300")
    asked = [b for b in fake.bodies if "(session s02, item goal_1)" in json.dumps(b["messages"])]
    assert [(b["max_tokens"], b["temperature"], b["seed"]) for b in asked] == [
        (300, 0.0, 0), (600, CUT_RETRY_TEMPERATURE, 1)]  # fmt: skip
    assert asked[0]["messages"] == asked[1]["messages"]
    draft = next(row for row in _rows(demo_engine) if row.item_id == "goal_1")
    params = _params(draft.params)
    assert draft.status == "ok" and params["max_tokens"] == 600 and params["seed"] == 1
    assert params["temperature"] == CUT_RETRY_TEMPERATURE


def _prompt_tokens(body: dict[str, Any]) -> int:
    """The prompt's tokens as the test server counts them."""
    return len("\n".join(str(m.get("content", "")) for m in body["messages"])) // 4


@pytest.mark.parametrize("margin", [600, 650])  # the context leaves no more room, or some
def test_no_retry_after_a_cut_when_the_context_is_full(
    demo_engine: Any, db_url: str, fake: FakeLLM, margin: int
) -> None:
    fake.faults.update({"s02/goal_1": "runaway-always", "s02/goal_2": "runaway-always"})
    chosen = ["--session", "s02", "--dimension", "goal", "--limit", "2", "--concurrency", "1"]
    _draft(db_url, fake, *chosen)  # measure the prompts first
    first, second = _prompt_tokens(fake.bodies[0]), _prompt_tokens(fake.bodies[2])
    fake.bodies.clear()
    fake.generated.clear()
    # vLLM's 400 for prompt + max_tokens above the context: the retry with twice the room
    # is refused, and not shrunk and sent again; the cut reply is stored as cut, its
    # tokens counted. The context size the error told is kept for the run: the next
    # cut's retry asks only what is left, or nothing when nothing is.
    fake.context_total = max(first, second) + margin  # each first attempt fits
    _draft(db_url, fake, *chosen, "--force")
    left = fake.context_total - second
    assert [b["max_tokens"] for b in fake.bodies] == [600, 1200, 600] + (
        [left] if left > 600 else []
    )
    assert fake.stats()["generated"]["answers"] == len(fake.bodies) - 1  # one refused retry
    rows = _rows(demo_engine)[-2:]
    assert [(row.status, row.finish_reason) for row in rows] == [("failed", "length")] * 2
    assert rows[0].error == "cut at max_tokens=600: raise --max-tokens"
    assert sum(row.tokens_out for row in rows) == fake.stats()["generated"]["completion_tokens"]
    assert [a.get("http_status") for a in _params(rows[0].params)["attempts"]] == [None, 400]


def test_the_retry_room_is_what_the_context_leaves() -> None:
    provider = OpenAIProvider(DraftSettings(base_url="http://127.0.0.1:9/v1", max_tokens=600,
                                            context_window=2048))  # fmt: skip

    def cut(prompt_tokens: int) -> Any:
        return SimpleNamespace(usage=SimpleNamespace(prompt_tokens=prompt_tokens))

    assert provider._room_after_cut(cut(400), 600) == 1200  # twice the room fits
    assert provider._room_after_cut(cut(1000), 600) == 1048  # what the context leaves
    assert provider._room_after_cut(cut(1448), 600) is None  # the prompt fills the rest
    assert provider._room_after_cut(cut(1900), 600) is None
    provider.settings.context_window = None
    assert provider._room_after_cut(cut(1900), 3000) == 4096  # the cap
    assert provider._room_after_cut(cut(1900), 4096) is None
