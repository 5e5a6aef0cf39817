"""Leave-one-client-out (``--folds loco``): one fold per client in every format, and
``evaluate --folds-from`` on it, checked against independent computations."""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats
from sqlmodel import select

from annotate.analysis.evaluate import evaluate
from annotate.core.database import initialise
from annotate.core.errors import ConfigError
from annotate.export.folds import fold_spec
from annotate.export.service import ExportOptions, export_dataset
from store.db import make_engine, session_scope
from store.models import Rating
from tests import hypothesis_profiles
from tests.coding_helpers import code_primaries
from tests.export_corpus import add_draft, build_corpus
from tests.factories import ITEMS, write_jsonl

pytestmark = pytest.mark.both_backends

DIMENSIONS = ("goal", "task", "bond")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(autouse=True)
def _offline_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def test_each_client_is_in_exactly_one_validation_fold(engine, tmp_path) -> None:
    corpus = build_corpus(engine, [3, 1, 2, 4, 1, 2, 1], seed=4)
    out = tmp_path / "o"
    manifest = export_dataset(
        engine, ExportOptions("alpaca", out, folds="loco", seed=9, parquet=True)
    )
    clients = sorted(set(corpus.client_of.values()))
    assert manifest["folds"]["kind"] == "loco"
    assert manifest["folds"]["k"] == len(clients) == len(manifest["fold_table"])
    assert manifest["folds"]["seed"] is None  # nothing is random
    every = set(corpus.rationale_ids)
    homes: Counter[str] = Counter()
    for fold, client in enumerate(clients, start=1):
        entry = manifest["fold_table"][fold - 1]
        assert entry["fold"] == fold
        val = _lines(out / f"fold_{fold}" / "val.index.jsonl")
        train = _lines(out / f"fold_{fold}" / "train.index.jsonl")
        homes.update({e["client_id"] for e in val})
        assert {e["client_id"] for e in val} == {client}
        assert client not in {e["client_id"] for e in train}
        # Every session of the client, and nothing else, is in its validation file.
        own = sorted(s for s, c in corpus.client_of.items() if c == client)
        assert sorted({e["session_id"] for e in val}) == own == entry["val"]["session_ids"]
        val_keys = {(e["session_id"], e["item_id"]) for e in val}
        assert val_keys == {key for key in every if corpus.client_of[key[0]] == client}
        assert {(e["session_id"], e["item_id"]) for e in train} == every - val_keys
        assert entry["val"]["client_ids"] == [client] and entry["val"]["clients"] == 1
        assert entry["val"]["records"] == len(val) and entry["train"]["records"] == len(train)
        goal = [
            statistics.mean(corpus.client_ratings[(s, f"goal_{n}")] for n in range(1, 5))
            for s in own
        ]
        assert entry["val"]["scores"]["goal"]["mean"] == pytest.approx(
            statistics.mean(goal), abs=1e-4
        )
        if len(goal) > 1:
            assert entry["val"]["scores"]["goal"]["sd"] == pytest.approx(
                statistics.stdev(goal), abs=1e-4
            )
    assert homes == Counter(clients)  # each client in exactly one validation fold
    for name, described in manifest["files"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == described["sha256"], name
    import pyarrow.parquet as pq

    for stem in ("fold_2/val", "fold_2/train"):
        table = pq.read_table(out / f"{stem}.parquet")
        assert table.to_pylist() == _lines(out / f"{stem}.jsonl")


def test_fold_numbers_follow_the_code_point_order_of_client_ids(engine, tmp_path) -> None:
    from annotate.ingest import import_file
    from tests.factories import session_record

    clients = ["b", "B", "a", "中", "A1", "a-b"]
    records = [session_record(f"s-{n}", client_id=c) for n, c in enumerate(clients)]
    rationales = [
        {"session_id": r["session_id"], "item_id": "goal_1", "author": "ana", "text": "t"}
        for r in records
    ]
    import_file(engine, write_jsonl(tmp_path / "sessions.jsonl", records))
    import_file(engine, write_jsonl(tmp_path / "rationales.jsonl", rationales))
    manifest = export_dataset(
        engine, ExportOptions("openai", tmp_path / "o", folds="loco", include_unreviewed=True)
    )
    order = [entry["val"]["client_ids"][0] for entry in manifest["fold_table"]]
    assert order == ["A1", "B", "a", "a-b", "b", "中"]  # code points, whatever the collation


@pytest.mark.parametrize("fmt", ["openai", "alpaca", "sharegpt", "dpo", "markers"])
def test_every_format_writes_loco_folds_that_load(engine, tmp_path, fmt) -> None:
    corpus = build_corpus(engine, [2, 1, 3], items=["goal_1", "task_1"], seed=2)
    for session_id, item_id in corpus.rationale_ids:
        add_draft(engine, session_id, item_id, "An LLM draft that the expert rewrote.")
    code_primaries(engine, {s: [(2, "shutdown"), (1, "explore")] for s in corpus.client_of})
    whole = export_dataset(engine, ExportOptions(fmt, tmp_path / "whole"))
    out = tmp_path / "loco"
    manifest = export_dataset(engine, ExportOptions(fmt, out, folds="loco"))
    from datasets import load_dataset

    def load(path: Path):  # type: ignore[no-untyped-def]
        return load_dataset(
            "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf")
        )

    columns = load(tmp_path / "whole" / "train.jsonl").column_names
    assert len(manifest["fold_table"]) == 3
    val_lines: list[str] = []
    for entry in manifest["fold_table"]:
        for split in ("train", "val"):
            dataset = load(out / entry[split]["file"])
            assert len(dataset) == entry[split]["records"] > 0
            assert dataset.column_names == columns
        val_lines += (out / entry["val"]["file"]).read_text(encoding="utf-8").splitlines()
    # Together the validation files hold exactly the records of the unfolded export.
    whole_lines = (tmp_path / "whole" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(val_lines) == sorted(whole_lines)
    assert manifest["counts"]["records"] == whole["counts"]["records"] == len(whole_lines)
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert sorted(info) == sorted(
        f"annotate_fold_{k}_{split}" for k in (1, 2, 3) for split in ("train", "val")
    )


def test_loco_needs_two_clients_and_writes_nothing_otherwise(engine, tmp_path) -> None:
    build_corpus(engine, [3])
    with pytest.raises(
        ConfigError, match="--folds loco needs at least 2 clients; the export has 1"
    ):
        export_dataset(engine, ExportOptions("openai", tmp_path / "o", folds="loco"))
    assert not (tmp_path / "o").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_folds_option_is_a_number_or_loco() -> None:
    assert fold_spec(None) is None
    assert fold_spec("loco") == fold_spec(" LOCO ") == "loco"
    assert fold_spec("5") == fold_spec(5) == 5
    for bad, message in (("1", "at least 2"), (1, "at least 2"), ("five", "a number of folds"),
                         ("²", "a number of folds"), ("-3", "a number of folds")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            fold_spec(bad)


def _ratings(engine, role: str) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.exec(select(Rating).where(Rating.rater_role == role)).all()
        return {(r.session_id, r.item_id): r.value for r in rows if r.item_id in ITEMS}


def _pairs(estimates: dict, client: dict, sessions: list[str], dimension: str):  # type: ignore[no-untyped-def]
    xs, ys = [], []
    for session_id in sessions:
        items = [
            i
            for i in ITEMS
            if i.startswith(dimension)
            and (session_id, i) in estimates
            and (session_id, i) in client
        ]
        if items:
            xs.append(np.mean([estimates[(session_id, i)] for i in items]))
            ys.append(np.mean([client[(session_id, i)] for i in items]))
    return np.array(xs), np.array(ys)


def _pearson(xs, ys) -> float | None:  # type: ignore[no-untyped-def]
    if len(xs) < 2 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return None
    return float(stats.pearsonr(xs, ys).statistic)


def test_evaluate_per_fold_figures_equal_an_independent_computation(engine, tmp_path) -> None:
    corpus = build_corpus(engine, [3, 1, 2, 4, 1, 2, 3, 2, 5], seed=7)
    out = tmp_path / "loco"
    export_dataset(engine, ExportOptions("openai", out, folds="loco"))
    client = _ratings(engine, "client")
    counselor = {key: float(v) for key, v in _ratings(engine, "counselor").items()}
    rng = np.random.default_rng(5)
    predictions = [
        {
            "session_id": s,
            "item_id": i,
            "rating": float(np.clip(v + rng.choice([-1, 0, 0.5]), 1, 5)),
        }
        for (s, i), v in sorted(client.items())
    ]
    model = {(p["session_id"], p["item_id"]): p["rating"] for p in predictions}
    result = evaluate(engine, write_jsonl(tmp_path / "p.jsonl", predictions), folds_dir=out)
    clients = sorted(set(corpus.client_of.values()))
    assert result["folds"] == len(clients) and result["sessions_outside_folds"] == 0
    for name, estimates in (("model", model), ("counselor", counselor)):
        row = next(r for r in result["rows"] if r["name"] == name)
        assert [f["fold"] for f in row["folds"]] == list(range(1, len(clients) + 1))
        for dimension in DIMENSIONS:
            per_fold: dict[str, list[float]] = {"pearson": [], "mse": []}
            for fold, client_id in enumerate(clients, start=1):
                # The fold's sessions from the corpus itself, not from the manifest.
                sessions = sorted(s for s, c in corpus.client_of.items() if c == client_id)
                xs, ys = _pairs(estimates, client, sessions, dimension)
                got = row["folds"][fold - 1]["metrics"][dimension]
                assert got["n"] == len(sessions)
                expected_r = _pearson(xs, ys)
                if expected_r is None:
                    assert got["pearson"] is None
                else:
                    assert got["pearson"] == pytest.approx(expected_r, abs=1e-6)
                    per_fold["pearson"].append(expected_r)
                mse = float(np.mean((xs - ys) ** 2))
                assert got["mse"] == pytest.approx(mse, abs=1e-6)
                per_fold["mse"].append(mse)
            for metric, values in per_fold.items():
                summary = row["fold_summary"][dimension][metric]
                assert summary["folds"] == len(values)
                assert summary["mean"] == pytest.approx(statistics.mean(values), abs=1e-6)
                assert summary["sd"] == pytest.approx(statistics.stdev(values), abs=1e-6)
    # Folds of one session give no r: the summary says over how many folds it is.
    model_row = next(r for r in result["rows"] if r["name"] == "model")
    assert model_row["fold_summary"]["goal"]["pearson"]["folds"] < len(clients)
    assert model_row["fold_summary"]["goal"]["mse"]["folds"] == len(clients)


def test_evaluate_refuses_a_fold_table_that_is_not_one(demo_engine, tmp_path) -> None:
    plain = tmp_path / "plain"
    export_dataset(demo_engine, ExportOptions("openai", plain, include_unreviewed=True))
    path = write_jsonl(
        tmp_path / "p.jsonl", [{"session_id": "s01", "item_id": "goal_1", "rating": 3}]
    )
    with pytest.raises(ConfigError, match="the export has no folds"):
        evaluate(demo_engine, path, folds_dir=plain)
    broken = tmp_path / "broken"
    manifest = export_dataset(
        demo_engine, ExportOptions("openai", broken, folds="loco", include_unreviewed=True)
    )
    table = manifest["fold_table"]
    table[1]["val"]["session_ids"].append(table[0]["val"]["session_ids"][0])
    (broken / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ConfigError, match="is in the validation files of folds 1 and 2"):
        evaluate(demo_engine, path, folds_dir=broken)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("template") / "empty.db"
    engine, _ = initialise(str(path))
    engine.dispose()
    return path


@given(sessions=st.lists(st.integers(1, 4), min_size=2, max_size=10), seed=st.integers(0, 99))
@settings(
    max_examples=hypothesis_profiles.examples(10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_loco_partitions_clients_for_any_corpus(template_db, sessions, seed) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        shutil.copy(template_db, db)
        engine = make_engine(str(db))
        corpus = build_corpus(engine, sessions, seed=seed, items=["goal_1", "bond_1"])
        out = Path(tmp) / "out"
        manifest = export_dataset(engine, ExportOptions("sharegpt", out, folds="loco"))
        engine.dispose()
        assert manifest["folds"]["k"] == len(sessions)
        for fold, client in enumerate(sorted(set(corpus.client_of.values())), start=1):
            val = _lines(out / f"fold_{fold}" / "val.index.jsonl")
            train = _lines(out / f"fold_{fold}" / "train.index.jsonl")
            assert {e["client_id"] for e in val} == {client}
            assert len(val) == 2 * sessions[fold - 1]
            assert len(val) + len(train) == 2 * sum(sessions)
