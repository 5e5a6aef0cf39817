"""``annotate draft`` and the demo's offline drafting, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.llm_server import FakeLLM, ServerThread

runner = CliRunner()


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    path = str(tmp_path / "demo.db")
    result = runner.invoke(app, ["--db", path, "demo", "--no-ui"])
    assert result.exit_code == 0, result.output
    return path


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_demo_drafts_every_item_offline(demo_db: str) -> None:
    result = runner.invoke(app, ["--db", demo_db, "progress", "--json"])
    assert json.loads(result.stdout)["drafts"] == 192
    again = runner.invoke(app, ["--db", demo_db, "demo", "--no-ui"])
    assert again.exit_code == 0, again.output
    assert "drafted 192 item(s) with offline/offline-lexical-1" in again.output
    assert "192 ok, 0 ungrounded, 0 failed" in again.output
    assert "demo ready" in again.output and "192 drafts" in again.output


def test_draft_json_selection_and_resume(demo_db: str) -> None:
    base = ["--db", demo_db, "draft", "--json", "--force", "--include-accepted"]
    data = _json([*base, "--session", "s01", "--session", "s13", "--dimension", "bond"])
    assert data["provider"] == "offline" and data["model"] == "offline-lexical-1"
    assert (data["selected"], data["done"], data["ok"], data["failed"]) == (8, 8, 8, 0)
    assert data["prompt_version"] == "1.0.0" and data["items_per_second"] > 0
    limited = _json([*base, "--limit", "5"])
    assert limited["done"] == 5
    resumed = _json(["--db", demo_db, "draft", "--json"])  # the annotated sessions' drafted
    # the demo drafts no monitoring session; --limit 5 drafted the first five (m001 sorts
    # before s01)
    assert resumed["skipped_already_drafted"] == 147 + 5
    assert resumed["selected"] == 96 * 12 - 5
    assert resumed["skipped_accepted"] == 45  # the demo's accepted rationales
    text = runner.invoke(app, ["--db", demo_db, "draft", "--session", "s02"])
    assert text.exit_code == 0, text.output
    assert "drafted 0 item(s) with offline/offline-lexical-1" in text.output
    assert "12 already drafted" in text.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dimension", "trust"], "error: unknown dimension 'trust'"),
        (["--session", "zz"], "error: no session 'zz'"),
        (["--provider", "openai"], "error: the openai provider needs OPENAI_API_KEY"),
        (["--provider", "claude"], "error: unknown provider 'claude'"),
    ],
)
def test_draft_errors_are_one_line(demo_db: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["--db", demo_db, "draft", *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_draft_against_an_openai_compatible_server(demo_db: str) -> None:
    fake = FakeLLM()
    fake.faults["s13/goal_1"] = "turn999"
    with ServerThread(fake):
        data = _json(
            [
                "--db",
                demo_db,
                "draft",
                "--json",
                "--base-url",
                fake.base_url,
                "--model",
                "qwen2.5-7b-instruct",
                "--session",
                "s13",
                "--include-accepted",
                "--concurrency",
                "4",
                "--max-retries",
                "0",
            ]
        )
        assert data["provider"] == "openai" and data["model"] == "qwen2.5-7b-instruct"
        assert (data["done"], data["ok"], data["ungrounded"]) == (12, 11, 1)
        assert data["tokens_in"] > 0 and fake.stats()["total"] == 12
        retry = _json(
            ["--db", demo_db, "draft", "--json", "--base-url", fake.base_url]
            + ["--model", "qwen2.5-7b-instruct", "--session", "s13", "--retry-ungrounded"]
            + ["--include-accepted"]
        )
        assert retry["done"] == 1 and fake.requests["s13/goal_1"] == 2


def test_dry_run_counts_the_requests_and_sends_nothing(demo_db: str) -> None:
    from annotate.drafting import load_contexts
    from annotate.drafting.prompt import default_template, estimate_tokens
    from store.db import make_engine, session_scope

    fake = FakeLLM()
    with ServerThread(fake):
        data = _json(["--db", demo_db, "draft", "--dry-run", "--json", "--base-url",
                      fake.base_url, "--session", "s13", "--session", "s01", "--price-in",
                      "0.15", "--price-out", "0.60", "--include-accepted"])  # fmt: skip
        assert fake.stats()["total"] == 0  # nothing was sent
    engine = make_engine(demo_db)
    try:
        with session_scope(engine) as session:
            items = [("s01", f"{d}_{n}") for d in ("goal", "task", "bond") for n in range(1, 5)]
            items += [("s13", item) for _, item in items]
            contexts = load_contexts(session, items)
    finally:
        engine.dispose()
    template = default_template()
    requests = [
        "\n".join(f"{m['role']}\n{m['content']}" for m in template.messages(context, 6000))
        for context in contexts
    ]
    assert data["items"] == 24 and data["input_tokens"] == sum(map(estimate_tokens, requests))
    assert data["output_tokens_at_most"] == 24 * 600
    assert data["cacheable_input_tokens"] > 0.7 * data["input_tokens"]  # the prefix layout
    expected = data["input_tokens"] / 1e6 * 0.15 + 24 * 600 / 1e6 * 0.60
    assert data["cost_at_most"] == pytest.approx(expected, abs=1e-4)
    # --context-window sizes the transcripts as online drafting and --batch-file do.
    fake = FakeLLM(tokenize=True)
    with ServerThread(fake):
        narrow = _json(["--db", demo_db, "draft", "--dry-run", "--json", "--base-url",
                        fake.base_url, "--session", "s13", "--session", "s01",
                        "--include-accepted", "--context-window", "1500"])  # fmt: skip
        assert fake.stats()["total"] == 0 and fake.tokenized == 0  # not even /tokenize
    assert 0 < narrow["input_tokens"] < data["input_tokens"]
    shown = runner.invoke(app, ["--db", demo_db, "draft", "--dry-run", "--base-url",
                                "http://127.0.0.1:9/v1", "--session", "s13"])  # fmt: skip
    assert shown.exit_code == 0 and "would draft 0 item(s)" in shown.output
    assert "12 left out as already accepted (--include-accepted drafts them)" in shown.output
    assert "nothing was sent" in shown.output
