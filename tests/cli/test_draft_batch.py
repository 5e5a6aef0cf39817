"""``annotate draft --batch-api``, ``--batch-file`` and ``--ingest`` against the test server.

The server implements the Batch API's files and batches endpoints and runs a batch in
the background with the same replies the online path gets, so the two paths can be
compared draft by draft.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli.app import app
from store.db import make_engine
from tests.llm_server import FakeLLM, ServerThread

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    path = str(tmp_path / "demo.db")
    assert runner.invoke(app, ["--db", path, "demo", "--no-ui"]).exit_code == 0
    return path


def _drafts(db: str, session_id: str) -> list[tuple]:
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT item_id, status, text, evidence, quotes, grounding_error, tokens_in "
                     "FROM drafts WHERE session_id = :s AND provider = 'openai' ORDER BY item_id"),
                {"s": session_id},
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def _scalar(db: str, sql: str) -> object:
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_batch_drafts_equal_the_online_ones(demo_db: str, tmp_path: Path) -> None:
    fake = FakeLLM()
    fake.faults["s13/task_1"] = "badquote"
    with ServerThread(fake):
        base = ["--db", demo_db, "draft", "--base-url", fake.base_url, "--session", "s13",
                "--include-accepted"]  # fmt: skip
        assert runner.invoke(app, [*base, "--json"]).exit_code == 0
        online = _drafts(demo_db, "s13")
        result = runner.invoke(app, [*base, "--force", "--batch-api", "--poll-seconds", "0.1",
                                     "--json"])  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["done"] == 12 and summary["resumed"] is False
        assert (summary["ok"], summary["ungrounded"]) == (11, 1)
    batch = _drafts(demo_db, "s13")
    assert (len(online), len(batch)) == (12, 24)  # the online drafts, then the batch's too
    by_item: dict[str, list[tuple]] = {}
    for row in batch:
        by_item.setdefault(row[0], []).append(row[1:])
    for item, (first, second) in by_item.items():
        assert first == second, item  # same status, text, evidence, quotes, grounding, tokens
    assert fake.stats()["batches"] == 1
    assert _scalar(demo_db, "SELECT count(*) FROM draft_batches WHERE ingested_at IS NOT NULL") == 1


def test_a_killed_batch_is_resumed_not_paid_twice(demo_db: str) -> None:
    fake = FakeLLM(batch_delay=3.0)
    with ServerThread(fake):
        command = [sys.executable, "-m", "annotate", "--db", demo_db, "draft", "--base-url",
                   fake.base_url, "--session", "s02", "--batch-api",
                   "--poll-seconds", "0.2"]  # fmt: skip
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        quiet = subprocess.DEVNULL
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=quiet, stderr=quiet)
        deadline = time.monotonic() + 30
        while _scalar(demo_db, "SELECT count(*) FROM draft_batches") != 1:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)  # while polling the batch
        process.wait(timeout=30)
        assert _scalar(demo_db, "SELECT count(*) FROM drafts WHERE provider = 'openai'") == 0
        again = runner.invoke(app, ["--db", demo_db, "draft", "--base-url", fake.base_url,
                                    "--session", "s02", "--batch-api", "--poll-seconds", "0.2",
                                    "--json"])  # fmt: skip
        assert again.exit_code == 0, again.output
        summary = json.loads(again.stdout)
        assert summary["resumed"] is True and summary["done"] == 12
        assert fake.stats()["batches"] == 1  # the same batch, polled again
    assert _scalar(demo_db, "SELECT count(*) FROM drafts WHERE provider = 'openai'") == 12
    assert _scalar(demo_db, "SELECT count(*) FROM draft_batches") == 1


def test_batch_file_and_ingest_for_an_offline_runner(demo_db: str, tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    base = ["--db", demo_db, "draft", "--base-url", "http://127.0.0.1:9/v1", "--session", "s13",
            "--include-accepted"]  # fmt: skip
    written = runner.invoke(app, [*base, "--batch-file", str(requests)])
    assert written.exit_code == 0 and "wrote 12 request(s)" in written.output
    lines = [json.loads(line) for line in requests.read_text(encoding="utf-8").splitlines()]
    tag = _scalar(demo_db, "SELECT batch_id FROM draft_batches WHERE status = 'written'")
    assert str(tag).startswith("file-")
    ids = [f"s13/goal_1#{str(tag)[5:]}", f"s13/goal_2#{str(tag)[5:]}"]
    assert [line["custom_id"] for line in lines][:2] == ids
    assert all(line["url"] == "/v1/chat/completions" and line["body"]["messages"] for line in lines)
    assert "来访者" in requests.read_text(encoding="utf-8") or "\\u" not in requests.read_text()
    # What vLLM's run_batch would write back (here: the test server's replies).
    fake = FakeLLM()
    outputs = []
    with ServerThread(fake):
        import urllib.request

        for line in lines:
            request = urllib.request.Request(
                f"{fake.base_url}/chat/completions",
                data=json.dumps(line["body"]).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request) as response:
                body = json.loads(response.read())
            outputs.append({"id": "x", "custom_id": line["custom_id"], "error": None,
                            "response": {"status_code": 200, "body": body}})  # fmt: skip
    outputs[3] = {"id": "x", "custom_id": lines[3]["custom_id"], "response": None,
                  "error": {"message": "model overloaded"}}  # fmt: skip
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in outputs),
                       encoding="utf-8")  # fmt: skip
    ingested = runner.invoke(app, [*base, "--ingest", str(results), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout) == {"ingested": 12, "ok": 11, "ungrounded": 0, "failed": 1,
                                           "already_ingested": 0}  # fmt: skip
    failed = _scalar(demo_db, "SELECT error FROM drafts WHERE status = 'failed' AND "
                              "provider = 'openai'")  # fmt: skip
    assert "model overloaded" in str(failed)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"custom_id": "s13/goal_1"}\nnot json\n', encoding="utf-8")
    refused = runner.invoke(app, [*base, "--ingest", str(broken)])
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert f"{broken}:1: neither a response nor an error (and 1 more problem(s))" in refused.stderr


def _post(fake: FakeLLM, body: dict) -> dict:
    """What an offline runner gets for one request line (here: the test server's reply)."""
    import urllib.request

    request = urllib.request.Request(f"{fake.base_url}/chat/completions",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


@pytest.mark.both_backends
def test_a_batch_file_is_written_and_ingested_as_online_drafting_would(
    demo_engine: Any, db_url: str, tmp_path: Path
) -> None:
    fake = FakeLLM(schema_refusal="llama-cpp")  # refuses json_schema, as on every line before
    with ServerThread(fake):
        online = ["--db", db_url, "draft", "--base-url", fake.base_url, "--model", "small",
                  "--include-accepted"]  # fmt: skip
        probed = runner.invoke(app, [*online, "--session", "s02", "--limit", "1"])
        assert probed.exit_code == 0, probed.output
        assert fake.stats()["refused_formats"] == {"json_schema": 1}
        wide, narrow = tmp_path / "wide.jsonl", tmp_path / "narrow.jsonl"
        written = runner.invoke(app, [*online, "--session", "s13", "--batch-file", str(wide)])
        assert "(response format json_object_schema)" in written.output, written.output
        window = ["--context-window", "1500", "--max-tokens", "300"]
        written = runner.invoke(app, [*online, "--session", "s13", "--batch-file", str(narrow),
                                      *window])  # fmt: skip
        assert written.exit_code == 0, written.output
        lines = [json.loads(line) for line in narrow.read_text(encoding="utf-8").splitlines()]
        wide_lines = [json.loads(line) for line in wide.read_text(encoding="utf-8").splitlines()]
        # The stored format, not json_schema; the window's budget, as online (shorter prompts).
        assert {line["body"]["response_format"]["type"] for line in lines} == {"json_object"}
        assert all("schema" in line["body"]["response_format"] for line in lines)
        assert all(line["body"]["max_tokens"] == 300 for line in lines)
        size = [len(json.dumps(line["body"]["messages"])) for line in lines]
        wide_size = [len(json.dumps(line["body"]["messages"])) for line in wide_lines]
        assert all(n < w for n, w in zip(size, wide_size, strict=True))
        assert "omitted to fit the context budget" in json.dumps(lines[0]["body"]["messages"])
        outputs = [{"id": f"r{n}", "custom_id": line["custom_id"], "error": None,
                    "response": {"status_code": 200, "body": _post(fake, line["body"])}}
                   for n, line in enumerate(lines)]  # fmt: skip
        assert fake.stats()["refused_formats"] == {"json_schema": 1}  # no line was refused
    with demo_engine.connect() as connection:
        recorded = connection.execute(
            text("SELECT batch_id, params, status, items FROM draft_batches ORDER BY id")
        ).all()
    assert [(row.status, row.items) for row in recorded] == [("written", 12), ("written", 12)]
    params = recorded[1].params if isinstance(recorded[1].params, dict) else json.loads(
        recorded[1].params)  # fmt: skip
    assert (params["response_format"], params["context_window"], params["max_tokens"]) == (
        "json_object_schema", 1500, 300)  # fmt: skip
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in outputs),
                       encoding="utf-8")  # fmt: skip
    # Ingest with another command line: the drafts carry what the file was written with.
    elsewhere = ["--db", db_url, "draft", "--base-url", "http://127.0.0.1:9/v1", "--model",
                 "other", "--max-tokens", "99"]  # fmt: skip
    ingested = runner.invoke(app, [*elsewhere, "--ingest", str(results), "--json"])
    assert ingested.exit_code == 0, ingested.output
    assert json.loads(ingested.stdout)["ingested"] == 12
    with demo_engine.connect() as connection:
        drafts = connection.execute(
            text("SELECT model, base_url_host, params FROM drafts WHERE session_id = 's13'")
        ).all()
        batch = connection.execute(
            text("SELECT status, ingested_at FROM draft_batches WHERE batch_id = :b"),
            {"b": recorded[1].batch_id},
        ).one()
    assert {row.model for row in drafts} == {"small"}
    assert {row.base_url_host for row in drafts} == {fake.base_url.split("/")[2]}
    for row in drafts:
        stored = row.params if isinstance(row.params, dict) else json.loads(row.params)
        assert (stored["max_tokens"], stored["context_window"]) == (300, 1500)
        assert stored["batch"] is True
    assert batch.status == "ingested" and batch.ingested_at is not None
    again = runner.invoke(app, [*elsewhere, "--ingest", str(results), "--json"])
    assert json.loads(again.stdout)["already_ingested"] == 12  # idempotent
    # A file this database did not write is refused in one line, nothing written.
    foreign = tmp_path / "foreign.jsonl"
    outputs[0]["custom_id"] = "s13/goal_1#0123456789abcdef"
    foreign.write_text(json.dumps(outputs[0]) + "\n", encoding="utf-8")
    refused = runner.invoke(app, [*elsewhere, "--ingest", str(foreign)])
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert f"{foreign}:1: custom_id names batch file 0123456789abcdef" in refused.stderr
