"""Evaluation of predicted ratings, checked against scipy and numpy on hand-made files."""

from __future__ import annotations

import random
import statistics

import numpy as np
import pytest
from scipy import stats
from sqlmodel import select

from annotate.analysis.evaluate import evaluate, pearson, spearman
from annotate.core.errors import ConfigError, ImportFailed
from annotate.export.service import ExportOptions, export_dataset
from store.db import session_scope
from store.models import Rating
from tests.factories import ITEMS, write_jsonl

pytestmark = pytest.mark.both_backends

DIMENSIONS = ("goal", "task", "bond")


def _ratings(engine, role: str) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.exec(select(Rating).where(Rating.rater_role == role)).all()
        return {(r.session_id, r.item_id): r.value for r in rows if r.item_id in ITEMS}


def _predictions(client: dict, seed: int = 3, drop: float = 0.0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for (session_id, item_id), value in sorted(client.items()):
        if rng.random() < drop:
            continue
        guess = min(5.0, max(1.0, value + rng.choice((-1.5, -1, 0, 0, 0.5, 1))))
        out.append({"session_id": session_id, "item_id": item_id, "rating": guess})
    return out


def _expected(estimates: dict, client: dict, sessions: list[str], dimension: str):  # type: ignore[no-untyped-def]
    """Independent dimension scores over the items both sides have."""
    xs, ys = [], []
    for session_id in sessions:
        items = [
            item
            for item in ITEMS
            if item.startswith(dimension)
            and (session_id, item) in estimates
            and (session_id, item) in client
        ]
        if items:
            xs.append(np.mean([estimates[(session_id, i)] for i in items]))
            ys.append(np.mean([client[(session_id, i)] for i in items]))
    return np.array(xs), np.array(ys)


def test_overall_metrics_match_scipy(demo_engine, tmp_path) -> None:
    client = _ratings(demo_engine, "client")
    counselor = _ratings(demo_engine, "counselor")
    predictions = _predictions(client, drop=0.15)
    path = write_jsonl(tmp_path / "p.jsonl", predictions)
    result = evaluate(demo_engine, path)
    model = {(p["session_id"], p["item_id"]): p["rating"] for p in predictions}
    sessions = sorted({s for s, _ in model})
    assert result["dimensions"] == list(DIMENSIONS)
    assert result["predictions"] == {
        "file": str(path),
        "records": len(predictions),
        "sessions": len(sessions),
        "with_rationale": 0,
    }
    assert result["rationales"] is None  # no rationales in the file: no section
    rows = {row["name"]: row for row in result["rows"]}
    for name, estimates in (("model", model), ("counselor", counselor)):
        for dimension in DIMENSIONS:
            xs, ys = _expected(estimates, client, sessions, dimension)
            got = rows[name]["overall"][dimension]
            assert got["n"] == len(xs)
            assert got["pearson"] == pytest.approx(stats.pearsonr(xs, ys).statistic, abs=1e-6)
            assert got["spearman"] == pytest.approx(stats.spearmanr(xs, ys).statistic, abs=1e-6)
            assert got["mse"] == pytest.approx(float(np.mean((xs - ys) ** 2)), abs=1e-6)
    assert rows["counselor"]["label"] == "Counselor (human baseline)"


def test_per_fold_mean_and_sd(demo_engine, tmp_path) -> None:
    export_dataset(
        demo_engine, ExportOptions("openai", tmp_path / "x", folds=2, include_unreviewed=True)
    )
    import json

    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    client = _ratings(demo_engine, "client")
    predictions = _predictions(client, seed=11)
    path = write_jsonl(tmp_path / "p.jsonl", predictions)
    result = evaluate(demo_engine, path, folds_dir=tmp_path / "x")
    model = {(p["session_id"], p["item_id"]): p["rating"] for p in predictions}
    assert result["folds"] == 2
    assert result["sessions_outside_folds"] == 16 - manifest["counts"]["sessions"]
    row = next(r for r in result["rows"] if r["name"] == "model")
    per_fold_mse = []
    for entry in manifest["fold_table"]:
        sessions = entry["val"]["session_ids"]
        xs, ys = _expected(model, client, sessions, "task")
        per_fold_mse.append(float(np.mean((xs - ys) ** 2)))
        got = next(f for f in row["folds"] if f["fold"] == entry["fold"])
        assert got["metrics"]["task"]["mse"] == pytest.approx(per_fold_mse[-1], abs=1e-6)
    summary = row["fold_summary"]["task"]["mse"]
    assert summary["mean"] == pytest.approx(statistics.mean(per_fold_mse), abs=1e-6)
    assert summary["sd"] == pytest.approx(statistics.stdev(per_fold_mse), abs=1e-6)


def test_tied_ranks_and_constant_sides() -> None:
    """Ties share their mean rank (as scipy ranks them); a constant side has no r."""
    xs = [3.0, 1.0, 3.0, 2.0, 5.0, 3.0, 1.0]
    ys = [2.0, 2.0, 4.0, 1.0, 5.0, 3.0, 2.0]
    expected = stats.pearsonr(stats.rankdata(xs), stats.rankdata(ys)).statistic
    assert spearman(xs, ys) == pytest.approx(expected, abs=1e-12)
    assert pearson(xs, [4.0] * len(xs)) is None and spearman([1.0] * 3, [1.0, 2.0, 3.0]) is None


def test_bad_lines_are_reported_with_file_and_line(demo_engine, tmp_path) -> None:
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"session_id": "s01", "item_id": "goal_1", "rating": 4},
            {"session_id": "nope", "item_id": "goal_1", "rating": 4},
            {"session_id": "s01", "item_id": "goal_9", "rating": 4},
            {"session_id": "s01", "item_id": "goal_2", "rating": 7},
            {"session_id": "s01", "item_id": "goal_3", "rating": True},
            '{"session_id": "s01", ',
            {"session_id": "s01", "item_id": "goal_1", "rating": 3},
            {"session_id": "s01", "item_id": "goal_4", "rating": 3, "score": 1},
            {"session_id": "s13", "item_id": "bond_1", "rating": 4, "rationale": "来访者很信任"},
        ],
    )
    with pytest.raises(ImportFailed) as caught:
        evaluate(demo_engine, path)
    error = caught.value
    assert error.errors[4].startswith(f"{path}:6: not valid JSON: ")
    assert error.errors[:4] + error.errors[5:] == [
        f"{path}:2: unknown session 'nope'",
        f"{path}:3: unknown item 'goal_9'",
        f"{path}:4: rating must be a number from 1 to 5, got 7",
        f"{path}:5: rating must be a number from 1 to 5, got True",
        f"{path}:7: duplicate of line 1 (s01, goal_1)",
        f"{path}:8: unknown field(s) 'score'",
    ]
    assert "nothing was evaluated" in str(error)
    # A prediction for an item the client did not rate cannot be scored.
    with session_scope(demo_engine) as session:
        gone = session.exec(
            select(Rating).where(Rating.session_id == "s02", Rating.rater_role == "client")
        ).first()
        item_id = gone.item_id
        session.delete(gone)
    unrated = write_jsonl(
        tmp_path / "unrated.jsonl",
        [
            {"session_id": "s01", "item_id": "goal_1", "rating": 4},
            {"session_id": "s02", "item_id": item_id, "rating": 4},
        ],
    )
    with pytest.raises(ImportFailed) as caught:
        evaluate(demo_engine, unrated)
    assert caught.value.errors == [
        f"{unrated}:2: no client rating of session 's02' item '{item_id}'"
    ]
    with pytest.raises(ConfigError, match="no predictions"):
        evaluate(demo_engine, write_jsonl(tmp_path / "empty.jsonl", []))
