"""``annotate judge`` through the command line: figures, the dry run and one-line errors."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.llm_server import FakeLLM, ServerThread

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("judge") / "demo.db"
    result = runner.invoke(app, ["--db", str(path), "demo", "--no-ui"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> str:
    copy = tmp_path / "demo.db"
    with sqlite3.connect(demo_template) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    return str(copy)


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    with ServerThread(server):
        yield server


def _dump(db: str) -> list[str]:
    with sqlite3.connect(db) as connection:
        return list(connection.iterdump())


def _judge(db: str, fake: FakeLLM, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--db", db, "judge", "--base-url", fake.base_url, "--model",
                               "judge-model", "--max-retries", "0", *args])  # fmt: skip


def _scalar(db: str, sql: str) -> object:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql).fetchone()[0]


def test_json_figures_agree_with_the_stored_judgements(demo_db: str, fake: FakeLLM) -> None:
    result = _judge(demo_db, fake, "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    judged = _scalar(demo_db, "SELECT count(*) FROM rationales WHERE status IN "
                     "('accepted', 'revision_requested')")  # fmt: skip
    assert judged == 48  # the demo's accepted rationales and those sent back after review
    assert (figures["done"], figures["ok"], figures["failed"]) == (judged, judged, 0)
    assert figures["skipped_unchanged"] == 0 and figures["rubric_version"] == "1.0.0"
    assert sum(fake.requests.values()) == judged
    standing = figures["standing"]
    assert standing["texts"] == standing["judged"] == judged
    for name, shown in standing["criteria"].items():
        mean = _scalar(
            demo_db, f"SELECT avg(score) FROM judgement_scores WHERE criterion = '{name}'"
        )
        below = _scalar(demo_db, "SELECT count(*) FROM judgement_scores WHERE criterion = "
                        f"'{name}' AND score < 3")  # fmt: skip
        assert shown["mean"] == pytest.approx(mean, abs=0.001) and shown["below_threshold"] == below
    failing = _scalar(demo_db, "SELECT count(*) FROM judgements WHERE passed = 0")
    assert standing["would_fail"] == failing
    again = _judge(demo_db, fake)
    assert again.exit_code == 0, again.output
    assert "judged 0 texts" in again.stdout and f"{judged} unchanged since judged" in again.stdout
    assert "faithfulness" in again.stdout and "below threshold" in again.stdout
    assert f"the judge would fail {failing} of them" in again.stdout
    assert sum(fake.requests.values()) == judged  # nothing asked again


def test_failures_are_listed(demo_db: str, fake: FakeLLM) -> None:
    fake.faults["s01/goal_1/judge"] = "judge-range"
    result = _judge(demo_db, fake, "--session", "s01", "--rationales-only")
    assert result.exit_code == 0, result.output
    assert "1 failed" in result.stdout
    assert "s01/goal_1: unusable reply: the score for 'faithfulness' is 7, outside 1..5" in (
        result.stdout)  # fmt: skip


def test_a_dry_run_sends_nothing_and_changes_nothing(demo_db: str, fake: FakeLLM) -> None:
    before = _dump(demo_db)
    result = _judge(demo_db, fake, "--dry-run", "--json", "--price-in", "1", "--price-out", "2")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["texts"] == 48 and figures["input_tokens"] > 48 * 500
    assert figures["output_tokens_at_most"] == 48 * 600
    expected = figures["input_tokens"] / 1e6 * 1 + figures["output_tokens_at_most"] / 1e6 * 2
    assert figures["cost_at_most"] == pytest.approx(expected, abs=1e-4)
    text = _judge(demo_db, fake, "--dry-run", "--predictions-only")
    assert "would judge 0 text(s)" in text.stdout and "nothing was sent" in text.stdout
    assert sum(fake.requests.values()) == 0 and fake.raw_bodies == []
    assert _dump(demo_db) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "offline"], "the judge needs a model: not --provider offline"),
        (["--targets", "some"], "--targets must be one of all, rationales, predictions"),
        (["--rationales-only", "--predictions-only"], "give one of --rationales-only"),
        (["--price-in", "1"], "--price-in and --price-out go with --dry-run"),
        (["--session", "nobody"], "no session 'nobody'"),
    ],
)
def test_bad_options_are_one_line_errors(
    demo_db: str, fake: FakeLLM, args: list[str], message: str
) -> None:
    before = _dump(demo_db)
    result = _judge(demo_db, fake, *args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert message in result.stderr and "Traceback" not in result.output
    assert sum(fake.requests.values()) == 0 and _dump(demo_db) == before


def test_no_endpoint_no_store_and_a_bad_limit(
    tmp_path: Path, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    missing = str(tmp_path / "none.db")
    no_model = runner.invoke(app, ["--db", missing, "judge"])
    assert no_model.exit_code == 1
    assert no_model.stderr.startswith("error: the judge needs a model: give --base-url")
    no_store = _judge(missing, fake)
    assert no_store.exit_code == 1 and "no database at" in no_store.stderr
    assert len(no_store.stderr.strip().splitlines()) == 1
    bad = _judge(missing, fake, "--limit", "-1")
    assert bad.exit_code == 2 and "--limit" in bad.output and "Traceback" not in bad.output
    assert not Path(missing).exists()


def test_batch_api_through_the_command_line(demo_db: str, fake: FakeLLM) -> None:
    args = ["--batch-api", "--poll-seconds", "0.05", "--session", "s01"]
    result = _judge(demo_db, fake, *args, "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    judged = _scalar(demo_db, "SELECT count(*) FROM judgements")
    assert figures["batch_id"] in fake.batches and figures["status"] == "completed"
    assert figures["ok"] == figures["done"] == judged == 12  # s01's accepted rationales
    text = _judge(demo_db, fake, *args)
    assert text.exit_code == 0, text.output
    assert "batch - (new, nothing to judge): judged 0 texts" in text.stdout
    assert "12 unchanged since judged" in text.stdout and len(fake.batches) == 1


def test_no_deidentify_for_a_remote_endpoint_warns_and_is_recorded(
    demo_db: str, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotate.deid import endpoint

    monkeypatch.setattr(endpoint, "is_local", lambda base_url, **_: False)
    result = _judge(demo_db, fake, "--no-deidentify", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: --no-deidentify: transcripts go to 127.0.0.1:")
    assert "NOT de-identified (--no-deidentify)" in result.stdout
    with sqlite3.connect(demo_db) as connection:
        rows = [json.loads(p) for (p,) in connection.execute("SELECT params FROM judgements")]
    assert len(rows) == 2 and all(p["deidentify"] == rows[0]["deidentify"] for p in rows)
    assert rows[0]["deidentify"] and "mode" not in rows[0]["deidentify"]  # off, on purpose
