"""``annotate alignment`` with binary items and ``--by``, and ``evaluate`` of a binary item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.ingest import import_file
from cli.app import app
from tests.factories import session_record, write_jsonl

pytestmark = pytest.mark.both_backends

runner = CliRunner()
BINARY_KEYS = {"item_id", "instrument_id", "binary_above", "n", "client_yes_counselor_yes",
               "client_yes_counselor_no", "client_no_counselor_yes", "client_no_counselor_no",
               "client_yes_share", "counselor_yes_share", "missed_by_counselor",
               "not_reported_by_client", "kappa", "note"}  # fmt: skip


def _run(db_url: str, *args: str):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--db", db_url, *args])
    assert result.exit_code == 0, result.output
    return result


def test_alignment_json_has_binary_items(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(_run(db_url, "alignment", "--json").stdout)
    assert set(data) == {"instrument", "dimensions", "binary"}
    [row] = data["binary"]
    assert set(row) == BINARY_KEYS
    assert (row["item_id"], row["binary_above"], row["n"]) == ("rupture_1", 1, 14)
    cells = [row[key] for key in sorted(BINARY_KEYS) if key.startswith("client_") and
             "counselor_" in key and not key.endswith("share")]  # fmt: skip
    assert sum(cells) == 14


def test_alignment_text_shows_the_table_and_shares(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    output = _run(db_url, "alignment").stdout
    assert "rupture_1 (rupture): client vs counselor" in output
    assert "missed by counselor" in output and "kappa" in output
    assert "Counselor vs client (sessions where both rated every item)" in output


def test_by_condition_json_and_text(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    args = ("alignment", "--by", "condition", "--samples", "100", "--seed", "3")
    data = json.loads(_run(db_url, *args, "--json").stdout)
    by = data["by"]
    assert (by["key"], by["bootstrap_samples"], by["seed"], by["sessions_left_out"]) == (
        "condition", 100, 3, 0)  # fmt: skip
    assert sum(group["sessions"] for group in by["groups"]) == 16
    groups = [group["group"] for group in by["groups"]]
    assert [row["group"] for row in by["dimensions"]] == [g for g in groups for _ in range(4)]
    assert {"gap", "gap_ci_low", "gap_ci_high", "pearson_r_ci_low"} <= set(by["dimensions"][0])
    assert [row["group"] for row in by["binary"]] == groups
    assert json.loads(_run(db_url, *args, "--json").stdout) == data  # seeded
    text = _run(db_url, *args).stdout
    assert "Counselor minus client (wai-sr, mean gap) by condition" in text
    assert "rupture_1 by condition" in text
    assert "0 session(s) without 'condition' left out" in text


def test_chinese_condition_is_unescaped(engine, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = []
    for index in range(6):
        record = session_record(f"z{index}", metadata={"condition": "家庭冲突"})
        record["client_ratings"]["rupture_1"] = 1 + index % 2
        record["counselor_ratings"]["rupture_1"] = 1
        records.append(record)
    records.append(session_record("z9"))  # no metadata: left out
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    result = _run(db_url, "alignment", "--by", "condition", "--samples", "20", "--json")
    assert '"group": "家庭冲突"' in result.stdout  # written as is, not \\u escapes
    data = json.loads(result.stdout)["by"]
    assert data["groups"] == [{"group": "家庭冲突", "sessions": 6}]
    assert data["sessions_left_out"] == 1
    [binary] = data["binary"]
    assert binary["missed_by_counselor"] == 1.0 and binary["client_yes_counselor_no"] == 3
    text = _run(db_url, "alignment", "--by", "condition", "--samples", "20").stdout
    assert "家庭冲突" in text and "1 session(s) without 'condition' left out" in text


def test_unknown_key_is_one_line(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["--db", db_url, "alignment", "--by", "diagnosis"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no session carries 'diagnosis': use --by with a key sessions carry: "
        "condition (16 sessions), modality (16 sessions) or session_number (16 sessions)\n"
    )
    assert result.stdout == ""


def test_by_session_number(demo_engine, db_url: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(_run(db_url, "alignment", "--by", "session_number", "--samples", "50",
                           "--json").stdout)["by"]  # fmt: skip
    assert [group["group"] for group in data["groups"]] == [1, 2, 3, 4]
    assert [group["sessions"] for group in data["groups"]] == [5, 5, 5, 1]


def test_evaluate_prints_the_binary_table(demo_engine, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"session_id": f"s{n:02d}", "item_id": "rupture_1", "rating": 1 + n % 2}
        for n in range(1, 17)
    ])  # fmt: skip
    output = _run(db_url, "evaluate", str(path), "--instrument", "rupture").stdout
    lines = output.splitlines()
    start = lines.index("rupture_1, against the client's report (yes: rating above 1)")
    assert lines[start + 1].split() == ["n", "no", "P", "no", "R", "no", "F1", "yes", "P", "yes",
                                        "R", "yes", "F1", "macro-F1"]  # fmt: skip
    assert lines[start + 2].startswith("Counselor (human baseline)  14")
    assert lines[start + 3].startswith("Predictions")
    assert lines[start + 4].startswith("Majority class (no)")
    data = json.loads(_run(db_url, "evaluate", str(path), "--instrument", "rupture",
                           "--json").stdout)  # fmt: skip
    assert [row["name"] for row in data["binary"][0]["rows"]] == ["counselor", "model",
                                                                   "majority"]  # fmt: skip
