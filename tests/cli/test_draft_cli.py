"""``annotate draft`` and the demo's offline drafting, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.cli import app
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
    base = ["--db", demo_db, "draft", "--json", "--force"]
    data = _json([*base, "--session", "s01", "--session", "s13", "--dimension", "bond"])
    assert data["provider"] == "offline" and data["model"] == "offline-lexical-1"
    assert (data["selected"], data["done"], data["ok"], data["failed"]) == (8, 8, 8, 0)
    assert data["prompt_version"] == "1.0.0" and data["items_per_second"] > 0
    limited = _json([*base, "--limit", "5"])
    assert limited["done"] == 5
    resumed = _json(["--db", demo_db, "draft", "--json"])  # every item already drafted
    assert resumed["selected"] == 0 and resumed["skipped_already_drafted"] == 192
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
        )
        assert retry["done"] == 1 and fake.requests["s13/goal_1"] == 2
