"""``annotate export`` and ``annotate evaluate`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from annotate.core.demo import DEMO_FILES
from cli.app import app
from tests.factories import write_jsonl

runner = CliRunner()


def _demo_db(tmp_path: Path) -> str:
    db = str(tmp_path / "demo.db")
    for path in DEMO_FILES:
        result = runner.invoke(app, ["--db", db, "import", str(path)])
        assert result.exit_code == 0, result.output
    return db


def test_export_then_evaluate(tmp_path: Path) -> None:
    db = _demo_db(tmp_path)
    out = tmp_path / "out"
    args = ["--db", db, "export", "--format", "openai", "--out", str(out), "--folds", "2"]
    result = runner.invoke(app, [*args, "--include-unreviewed", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest == json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["folds"]["seed"] == 3 and len(manifest["fold_table"]) == 2

    again = runner.invoke(app, [*args])
    assert again.exit_code == 1
    assert again.output.strip().splitlines()[-1].startswith("error: ")
    assert "--force" in again.output and "Traceback" not in again.output
    text = runner.invoke(app, [*args, "--force"])
    assert text.exit_code == 0, text.output
    assert "fold 1: val" in text.output and "left out:" in text.output

    val = [json.loads(line) for line in (out / "fold_1" / "val.index.jsonl").open()]
    predictions = [{**e, "rating": 3} for e in val]
    for entry in predictions:
        del entry["line"], entry["client_id"], entry["metadata"]
    path = write_jsonl(tmp_path / "p.jsonl", predictions)
    table = runner.invoke(app, ["--db", db, "evaluate", str(path), "--folds-from", str(out)])
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].split() == ["Goal", "Task", "Bond"]
    assert lines[1].split() == ["r", "rho", "MSE"] * 3
    assert lines[2].startswith("Counselor (human baseline)")
    assert lines[3].startswith("Predictions")
    as_json = runner.invoke(app, ["--db", db, "evaluate", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert [row["name"] for row in data["rows"]] == ["counselor", "model"]
    assert data["rows"][1]["overall"]["goal"]["pearson"] is None  # constant predictions


def test_evaluate_reports_file_and_line(tmp_path: Path) -> None:
    db = _demo_db(tmp_path)
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"session_id": "s01", "item_id": "goal_1", "rating": 4}, "{oops"]
    )
    result = runner.invoke(app, ["--db", db, "evaluate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2: not valid JSON" in result.output
    assert "nothing was evaluated" in result.output


def test_export_rejects_bad_options(tmp_path: Path) -> None:
    db = _demo_db(tmp_path)
    base = ["--db", db, "export", "--out", str(tmp_path / "o")]
    for extra, message in (
        (["--format", "csv"], "unknown format"),
        (["--format", "openai", "--target", "score"], "unknown target"),
        (["--format", "openai", "--folds", "1"], "at least 2"),
        (["--format", "openai", "--min-score", "4", "--include-unreviewed"], "combined"),
    ):
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 1, result.output
        assert message in result.output
    assert not (tmp_path / "o").exists()
