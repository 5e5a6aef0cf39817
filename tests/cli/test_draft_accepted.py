"""``annotate draft`` leaves out items whose rationale is already accepted.

The issue's case: 240 imported (accepted) Chinese rationales were drafted again in a paid
batch, 5.5 % of it spent on work nobody reads. Here: the demo's sessions and its 48
accepted rationales (sessions s01, s05, s07, s13), nothing drafted yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from annotate.core.demo import DEMO_RATIONALES, DEMO_SESSIONS
from cli.app import app
from store.db import make_engine

runner = CliRunner()
ACCEPTED_SESSIONS = {"s01", "s05", "s07", "s13"}


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "store.db")
    for source in (DEMO_SESSIONS, DEMO_RATIONALES):
        result = runner.invoke(app, ["--db", path, "import", str(source)])
        assert result.exit_code == 0, result.output
    return path


def _drafted(db: str) -> set[tuple[str, str]]:
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT session_id, item_id FROM drafts")).all()
    finally:
        engine.dispose()
    return {(sid, iid) for sid, iid in rows}


def _accepted(db: str) -> set[tuple[str, str]]:
    engine = make_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT session_id, item_id FROM rationales WHERE status = 'accepted'")
            ).all()
    finally:
        engine.dispose()
    return {(sid, iid) for sid, iid in rows}


def test_draft_leaves_out_accepted_items_and_says_how_many(db: str) -> None:
    accepted = _accepted(db)
    assert len(accepted) == 48 and {sid for sid, _ in accepted} == ACCEPTED_SESSIONS
    result = runner.invoke(app, ["--db", db, "draft", "--provider", "offline"])
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("drafted 144 item(s) with offline/offline-lexical-1")
    assert "144 ok, 0 ungrounded, 0 failed; 0 already drafted; " in line
    assert "; 48 left out as already accepted (--include-accepted drafts them); " in line
    drafted = _drafted(db)
    assert len(drafted) == 144 and not drafted & accepted
    again = runner.invoke(app, ["--db", db, "draft", "--provider", "offline", "--json"])
    figures = json.loads(again.stdout)
    assert (figures["selected"], figures["skipped_already_drafted"]) == (0, 144)
    assert figures["skipped_accepted"] == 48


def test_include_accepted_drafts_them_anyway(db: str) -> None:
    runner.invoke(app, ["--db", db, "draft", "--provider", "offline"])
    result = runner.invoke(
        app, ["--db", db, "draft", "--provider", "offline", "--include-accepted", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert (figures["selected"], figures["ok"], figures["skipped_accepted"]) == (48, 48, 0)
    assert figures["skipped_already_drafted"] == 144
    assert _drafted(db) >= _accepted(db) and len(_drafted(db)) == 192
    text_run = runner.invoke(app, ["--db", db, "draft", "--provider", "offline",
                                   "--include-accepted"])  # fmt: skip
    assert "left out" not in text_run.output and "192 already drafted" in text_run.output


def test_dry_run_and_batch_file_say_it_too(db: str, tmp_path: Path) -> None:
    endpoint = ["--base-url", "http://127.0.0.1:9/v1", "--session", "s13", "--session", "s02"]
    shown = runner.invoke(app, ["--db", db, "draft", "--dry-run", *endpoint])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("would draft 12 item(s)")
    assert (
        "; 12 left out as already accepted (--include-accepted drafts them); nothing was sent"
        in shown.output
    )
    requests = tmp_path / "requests.jsonl"
    written = runner.invoke(app, ["--db", db, "draft", *endpoint, "--batch-file", str(requests)])
    assert written.exit_code == 0, written.output
    assert written.output == (
        f"wrote 12 request(s) to {requests} (response format json_schema); 12 left out as "
        "already accepted "
        "(--include-accepted drafts them); nothing was sent\n"
    )
    sessions = {
        json.loads(line)["custom_id"].split("/")[0] for line in requests.read_text().splitlines()
    }
    assert sessions == {"s02"}


def test_markers_refuse_include_accepted(db: str) -> None:
    result = runner.invoke(app, ["--db", db, "draft", "--markers", "--include-accepted"])
    assert result.exit_code == 1
    assert "--include-accepted" in result.output and len(result.output.splitlines()) == 1
