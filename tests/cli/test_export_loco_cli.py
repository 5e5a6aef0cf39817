"""``export --folds loco``, ``--format markers`` and ``--prompt-metadata`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from annotate.core.database import initialise
from cli.app import app
from tests.coding_helpers import code_primaries, set_metadata
from tests.export_corpus import Corpus, build_corpus
from tests.factories import write_jsonl

runner = CliRunner()


def _store(tmp_path: Path, sessions_per_client: list[int]) -> tuple[str, Engine, Corpus]:
    db = str(tmp_path / "store.db")
    engine, _ = initialise(db)
    return db, engine, build_corpus(engine, sessions_per_client, seed=1)


def test_loco_with_dozens_of_clients_keeps_the_output_short(tmp_path: Path) -> None:
    db, engine, corpus = _store(tmp_path, [1 + n % 3 for n in range(30)])
    engine.dispose()
    out = tmp_path / "loco"
    result = runner.invoke(app, ["--db", db, "export", "--format", "openai", "--out", str(out),
                                 "--folds", "loco"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3, result.output  # counts, exclusions, one line for 30 folds
    assert lines[-1].startswith("30 folds, one per client (leave one client out): val 1-3 sess")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["fold_table"]) == 30
    predictions = [
        {"session_id": s, "item_id": i, "rating": min(5, v + n % 2)}
        for n, ((s, i), v) in enumerate(sorted(corpus.client_ratings.items()))
    ]
    path = write_jsonl(tmp_path / "p.jsonl", predictions)
    table = runner.invoke(app, ["--db", db, "evaluate", str(path), "--folds-from", str(out)])
    assert table.exit_code == 0, table.output
    lines = table.output.strip().splitlines()
    assert len(lines) == 6, table.output  # two header lines, two rows, two notes
    assert "mean±SD over 30 folds" in lines[4]
    assert lines[5].startswith("a cell's mean±SD is over the folds that give a figure (")
    assert "of 30): r and rho need two sessions" in lines[5]


def test_markers_and_prompt_metadata_on_the_command_line(tmp_path: Path) -> None:
    db, engine, corpus = _store(tmp_path, [2, 1, 1])
    sessions = sorted(corpus.client_of)
    code_primaries(engine, {s: [(2, "shutdown")] for s in sessions[:3]})
    set_metadata(engine, {s: {"condition": "悲伤"} for s in sessions})
    engine.dispose()
    out = tmp_path / "m"
    base = ["--db", db, "export", "--format", "markers", "--out", str(out)]
    result = runner.invoke(app, [*base, "--folds", "loco", "--prompt-metadata", "condition"])
    assert result.exit_code == 0, result.output
    assert "3 records from 3 sessions of 2 clients (markers, target codes)" in result.output
    assert "codes: 3 (withdrawal 3)" in result.output
    assert "left out: no_coding 1" in result.output
    record = json.loads((out / "fold_1" / "val.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert record["messages"][1]["content"].startswith("Session metadata: condition = 悲伤\n[T1] ")
    assert json.loads(record["messages"][2]["content"])["codes"] == [
        {"turn": "T2", "code": "shutdown", "family": "withdrawal"}
    ]


def test_bad_loco_and_metadata_options_are_one_line_errors(tmp_path: Path) -> None:
    db, engine, corpus = _store(tmp_path, [1, 1])
    set_metadata(engine, {s: {"condition": "grief"} for s in corpus.client_of})
    engine.dispose()
    out = tmp_path / "o"
    base = ["--db", db, "export", "--format", "openai", "--out", str(out)]
    for extra, message in (
        (["--folds", "x"], "--folds must be a number of folds or 'loco', got 'x'"),
        (["--folds", "1"], "--folds must be at least 2"),
        (["--prompt-metadata", "conditon"], "no exported session has 'conditon' (keys in this "
                                            "export: condition)"),
        (["--prompt-metadata", "condition,"], "'' is not a metadata key"),
        (["--format", "markers", "--target", "rating"], "markers targets the codes"),
    ):  # fmt: skip
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert not out.exists()


def test_files_below_openais_minimum_are_warned_in_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    engine, _ = initialise(db)
    build_corpus(engine, [1, 2, 4], items=["goal_1", "task_1"])  # 2, 4 and 8 records
    engine.dispose()
    out = tmp_path / "loco"
    args = ["--db", db, "export", "--format", "openai", "--out", str(out), "--folds", "loco"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    below = {w["file"]: w["records"] for w in manifest["warnings"]}
    # Every val file (2, 4, 8 records) and fold 3's train (6): train of folds 1-2 hold 12, 10.
    assert below == {"fold_1/val.jsonl": 2, "fold_2/val.jsonl": 4, "fold_3/val.jsonl": 8,
                     "fold_3/train.jsonl": 6}  # fmt: skip
    assert {w["warning"] for w in manifest["warnings"]} == {"below_openai_minimum"}
    for name, records in below.items():
        assert manifest["files"][name]["lines"] == records < 10
    (warning,) = result.stderr.strip().splitlines()
    assert warning == (
        "warning: 4 files hold fewer than OpenAI fine-tuning's minimum of 10 examples: "
        "fold_1/val.jsonl (2), fold_2/val.jsonl (4), fold_3/train.jsonl (6) and 1 more "
        "(manifest.json warnings)"
    )
    assert "warning" not in result.stdout
    # --json keeps stdout the manifest alone; the warning still goes to stderr.
    as_json = runner.invoke(app, [*args, "--force", "--json"])
    assert json.loads(as_json.stdout)["warnings"] == manifest["warnings"]
    assert as_json.stderr.strip() == warning
    # A file of 10 or more, or a format not meant for OpenAI, gives no warning.
    for fmt, folds in (("openai", []), ("alpaca", ["--folds", "loco"])):
        other = runner.invoke(app, ["--db", db, "export", "--format", fmt, "--out",
                                    str(tmp_path / fmt), *folds])  # fmt: skip
        assert other.exit_code == 0 and other.stderr == "", other.output
        manifest = json.loads((tmp_path / fmt / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["warnings"] == []
