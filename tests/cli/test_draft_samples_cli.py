"""``annotate draft --samples K`` through the command line: output, refusals, dry run, a kill."""

from __future__ import annotations

import json
import statistics

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from cli.app import app
from store.db import make_engine
from tests.cli import test_draft_cli
from tests.crash import committed_rows, kill_when, start
from tests.llm_server import FakeLLM, ServerThread

runner = CliRunner()
demo_db = test_draft_cli.demo_db  # the demo store, drafted offline

# Drafts that disagree more and more: goal_1 least, bond_1 most (three samples each).
SCRIPTED = {
    "s02/goal_1": ["The client wants to sleep earlier.", "The client wants to sleep earlier.",
                   "The client wants to sleep a little earlier."],
    "s02/goal_2": ["The client wants to sleep earlier.", "The client hopes to rest more.",
                   "The client wants to sleep earlier."],
    "s02/task_1": ["The plan suits the client.", "Homework was agreed on together.",
                   "The client doubts the exercise."],
    "s02/bond_1": ["咨询师让来访者感到被理解。", "来访者觉得咨询师很关心她。",
                   "信任感还没有建立。"],
}  # fmt: skip


def _reply(rationale: str) -> str:
    return json.dumps({"rationale": rationale, "evidence": [1], "quotes": []}, ensure_ascii=False)


def _stored(path: str) -> dict[tuple[str, str], float | None]:
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT session_id, item_id, uncertainty FROM draft_samples ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    return {(s, i): u for s, i, u in rows}


def test_samples_run_prints_the_uncertainty_and_the_most_uncertain(demo_db: str) -> None:
    fake = FakeLLM()
    fake.scripted.update({key: [_reply(t) for t in texts] for key, texts in SCRIPTED.items()})
    with ServerThread(fake):
        shown = runner.invoke(app, ["--db", demo_db, "draft", "--samples", "3", "--session",
                                    "s02", "--base-url", fake.base_url])  # fmt: skip
        assert shown.exit_code == 0, shown.output
        again = runner.invoke(app, ["--db", demo_db, "draft", "--samples", "3", "--session",
                                    "s02", "--base-url", fake.base_url, "--json"])  # fmt: skip
    stored = _stored(demo_db)
    assert len(stored) == 12 and sum(fake.requests.values()) == 36
    assert all(body["temperature"] == 0.8 for body in fake.bodies)
    assert "sampling at temperature 0.8" in shown.stderr
    assert "drafted 36 sample(s)" in shown.stdout and "12 set(s) stored" in shown.stdout
    values = list(stored.values())
    assert all(v is not None for v in values)
    figures = f"mean {statistics.fmean(values):.3f}, median {statistics.median(values):.3f}"
    assert figures in shown.stdout
    order = sorted(stored, key=lambda key: -(stored[key] or 0))[:5]
    assert [key[1] for key in order[:4]] == ["bond_1", "task_1", "goal_2", "goal_1"]
    table = shown.stdout.split("most uncertain")[1]
    positions = [table.index(item) for _, item in order[:4]]
    assert positions == sorted(positions)  # listed most uncertain first
    assert f"{stored[('s02', 'bond_1')]:.3f}" in table
    data = json.loads(again.stdout)
    assert data["skipped_already_sampled"] == 12 and data["done"] == 0 and data["items"] == []


def test_samples_json_has_each_items_uncertainty(demo_db: str) -> None:
    fake = FakeLLM()
    fake.scripted.update({key: [_reply(t) for t in texts] for key, texts in SCRIPTED.items()})
    with ServerThread(fake):
        result = runner.invoke(app, ["--db", demo_db, "draft", "--samples", "3", "--session",
                                     "s02", "--dimension", "goal", "--temperature", "0.5",
                                     "--base-url", fake.base_url, "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sampling at temperature" not in result.stderr
    assert {body["temperature"] for body in fake.bodies} == {0.5}
    data = json.loads(result.stdout)
    stored = _stored(demo_db)
    assert data["samples"] == 3 and data["method"].startswith("1 - mean pairwise ROUGE-L F1")
    assert data["done"] == 12 and data["items_sampled"] == 4
    assert {(i["session_id"], i["item_id"]): i["uncertainty"] for i in data["items"]} == {
        key: pytest.approx(value, abs=1e-6) for key, value in stored.items()
    }
    assert data["uncertainty_median"] == pytest.approx(statistics.median(stored.values()), 1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "1"], "error: --samples must be 2..20"),
        (["--samples", "21"], "error: --samples must be 2..20"),
        (["--samples", "3", "--temperature", "0"], "error: --samples needs --temperature above 0"),
        (["--samples", "3", "--provider", "offline"], "error: --samples needs a model endpoint"),
        (["--samples", "3"], "error: --samples needs a model endpoint"),  # no endpoint: offline
        (["--samples", "3", "--markers"], "error: --samples drafts rationales"),
        (["--samples", "3", "--batch-file", "x.jsonl"], "error: --samples drafts rationales"),
    ],
)
def test_refusals_are_one_line(demo_db: str, args: list[str], message: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = runner.invoke(app, ["--db", demo_db, "draft", *args])
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(message), result.stderr
    assert "Traceback" not in result.output and len(lines) <= 2
    assert _stored(demo_db) == {}


def test_dry_run_counts_k_requests_per_item(demo_db: str) -> None:
    fake = FakeLLM()
    with ServerThread(fake):
        base = ["--db", demo_db, "draft", "--dry-run", "--json", "--base-url", fake.base_url,
                "--session", "s02", "--session", "s14", "--price-in", "0.15",
                "--price-out", "0.6"]  # fmt: skip
        one = json.loads(runner.invoke(app, base).stdout)
        five = json.loads(runner.invoke(app, [*base, "--samples", "5"]).stdout)
        line = runner.invoke(app, ["--db", demo_db, "draft", "--dry-run", "--samples", "5",
                                   "--base-url", fake.base_url, "--session", "s02"])  # fmt: skip
    assert fake.stats()["total"] == 0
    assert (one["samples"], five["samples"]) == (1, 5) and one["items"] == five["items"] == 24
    assert five["requests"] == 5 * one["requests"] == 120
    assert five["input_tokens"] == 5 * one["input_tokens"]
    assert five["output_tokens_at_most"] == 5 * one["output_tokens_at_most"]
    assert five["cost_at_most"] == pytest.approx(5 * one["cost_at_most"], abs=1e-3)
    assert "would draft 12 item(s) x 5 samples = 60 requests" in line.stdout


@pytest.mark.slow
def test_a_killed_run_finishes_unfinished_sets_on_the_rerun(demo_db: str) -> None:
    fake = FakeLLM(latency=0.01)
    db_url = f"sqlite:///{demo_db}"
    with ServerThread(fake):
        args = ["draft", "--samples", "4", "--session", "s02", "--session", "s03",
                "--session", "s04", "--concurrency", "3", "--base-url", fake.base_url]  # fmt: skip
        process = start(*args, db_url=db_url)
        kill_when(process, committed_rows(db_url, "draft_samples", 3))
        finished = _stored(demo_db)
        assert 3 <= len(finished) < 36, "the kill did not land mid-run"
        asked_before = dict(fake.requests)
        rerun = start(*args, "--json", db_url=db_url)
        stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr.decode(errors="replace")
    summary = json.loads(stdout)
    assert summary["skipped_already_sampled"] == len(finished)
    assert summary["done"] == 4 * (36 - len(finished))
    for key in finished:  # a finished set is not asked again
        assert fake.requests[f"{key[0]}/{key[1]}"] == asked_before[f"{key[0]}/{key[1]}"] == 4
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            sets = connection.execute(text("SELECT session_id, item_id, draft_ids FROM "
                                           "draft_samples")).all()  # fmt: skip
            for session_id, item_id, draft_ids in sets:
                ids = json.loads(draft_ids) if isinstance(draft_ids, str) else draft_ids
                rows = connection.execute(
                    text(
                        f"SELECT session_id, item_id, params FROM drafts WHERE id IN "
                        f"({', '.join(map(str, ids))})"
                    )  # fmt: skip
                ).all()
                assert {(r[0], r[1]) for r in rows} == {(session_id, item_id)}
                samples = sorted(json.loads(r[2])["sample"] for r in rows)
                assert samples == [0, 1, 2, 3]
    finally:
        engine.dispose()
    assert len({(s, i) for s, i, _ in sets}) == len(sets) == 36  # one set per item


def test_samples_that_all_agree_say_so_instead_of_ranking(demo_db: str) -> None:
    fake = FakeLLM()  # its draft depends on the prompt only: every sample the same
    with ServerThread(fake):
        shown = runner.invoke(app, ["--db", demo_db, "draft", "--samples", "2", "--session",
                                    "s03", "--dimension", "goal", "--base-url",
                                    fake.base_url])  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "mean 0.000, median 0.000 over" in shown.stdout
    assert "every item's samples agreed word for word" in shown.stdout
    assert "most uncertain" not in shown.stdout
    assert set(_stored(demo_db).values()) == {0.0}
