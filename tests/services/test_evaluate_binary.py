"""``evaluate`` of a binary item (rupture) against the client's report, checked with
scikit-learn on the demo corpus: predictions, the counselor baseline, the majority class."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sqlmodel import select

from annotate.analysis.evaluate import evaluate
from annotate.export.service import ExportOptions, export_dataset
from store.db import session_scope
from store.models import Rating
from tests.factories import write_jsonl

pytestmark = [
    pytest.mark.both_backends,
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning"),
]


def _rupture(engine, role: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.exec(
            select(Rating).where(Rating.rater_role == role, Rating.item_id == "rupture_1")
        ).all()
        return {r.session_id: r.value for r in rows}


def _predictions(client: dict[str, int], seed: int) -> dict[str, int]:
    generator = random.Random(seed)
    return {
        s: v if generator.random() < 0.7 else generator.randint(1, 3) for s, v in client.items()
    }


def _check(metrics: dict, truth: list[bool], predicted: list[bool]) -> None:
    assert metrics["n"] == len(truth)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=[False, True], zero_division=np.nan
    )
    for index, name in enumerate(("no", "yes")):
        for figure, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            if np.isnan(values[index]):
                assert metrics[name][figure] is None
            else:
                assert metrics[name][figure] == pytest.approx(values[index], abs=1e-6)
        assert metrics[name]["support"] == support[index]
    if len(set(truth) | set(predicted)) == 2:
        expected = f1_score(truth, predicted, labels=[False, True], average="macro",
                            zero_division=0.0)  # fmt: skip
        assert metrics["macro_f1"] == pytest.approx(expected, abs=1e-6)
    else:
        assert metrics["macro_f1"] is None


def _majority(truth: list[bool]) -> list[bool]:
    features = np.zeros((len(truth), 1))
    dummy = DummyClassifier(strategy="most_frequent").fit(features, truth)
    return [bool(v) for v in dummy.predict(features)]


def test_binary_rows_match_sklearn(demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, counselor = _rupture(demo_engine, "client"), _rupture(demo_engine, "counselor")
    predicted = _predictions(client, seed=4)
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"session_id": s, "item_id": "rupture_1", "rating": v} for s, v in predicted.items()
    ])  # fmt: skip
    result = evaluate(demo_engine, path, instrument_id="rupture")
    assert result["dimensions"] == ["rupture"]
    [entry] = result["binary"]
    sessions = sorted(predicted)
    truth = [client[s] > 1 for s in sessions]
    assert (entry["item_id"], entry["binary_above"], entry["sessions"]) == ("rupture_1", 1, 16)
    assert entry["client_reports"] == {"no": truth.count(False), "yes": truth.count(True)}
    rows = {row["name"]: row for row in entry["rows"]}
    assert list(rows) == ["counselor", "model", "majority"]
    _check(rows["model"]["overall"], truth, [predicted[s] > 1 for s in sessions])
    rated = [s for s in sessions if s in counselor]
    assert len(rated) == 14  # s06 and s10: no counselor rupture rating
    _check(rows["counselor"]["overall"], [client[s] > 1 for s in rated],
           [counselor[s] > 1 for s in rated])  # fmt: skip
    baseline = _majority(truth)
    assert entry["majority_class"] == ("yes" if baseline[0] else "no")
    _check(rows["majority"]["overall"], truth, baseline)
    assert "folds" not in rows["model"]


def test_wai_sr_evaluation_has_no_binary_section(demo_engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_jsonl(tmp_path / "p.jsonl", [{"session_id": "s01", "item_id": "goal_1",
                                               "rating": 4}])  # fmt: skip
    assert evaluate(demo_engine, path)["binary"] is None


BY_CLIENT = [
    ["s01", "s02", "s03", "s04", "s05", "s06"],
    ["s07", "s08", "s09", "s10", "s11", "s12"],
    ["s13", "s14", "s15", "s16"],
]
# s03, s07 and s08 are the client's "yes": that fold's own majority is yes, the other
# fold's is no, and each fold's training side says the opposite.
SKEWED = [["s03", "s07", "s08"], [f"s{n:02d}" for n in range(1, 17) if n not in (3, 7, 8)]]


def _hand_folds(folds_dir: Path, clients: list[list[str]]) -> None:
    """A manifest with the given validation sessions per fold, as an export writes it."""
    folds_dir.mkdir()
    table = [{"fold": k, "val": {"session_ids": ids}} for k, ids in enumerate(clients, 1)]
    (folds_dir / "manifest.json").write_text(json.dumps({"fold_table": table}))  # fmt: skip


@pytest.mark.parametrize("folds", ["export", "by_client", "skewed"])
def test_binary_per_fold(demo_engine, tmp_path: Path, folds: str) -> None:  # type: ignore[no-untyped-def]
    if folds == "export":
        options = ExportOptions("openai", tmp_path / "x", folds=2, include_unreviewed=True)
        export_dataset(demo_engine, options)
    else:
        _hand_folds(tmp_path / "x", BY_CLIENT if folds == "by_client" else SKEWED)
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    client = _rupture(demo_engine, "client")
    predicted = _predictions(client, seed=9)
    path = write_jsonl(tmp_path / "p.jsonl", [
        {"session_id": s, "item_id": "rupture_1", "rating": v} for s, v in predicted.items()
    ])  # fmt: skip
    result = evaluate(demo_engine, path, folds_dir=tmp_path / "x", instrument_id="rupture")
    [entry] = result["binary"]
    rows = {row["name"]: row for row in entry["rows"]}
    macro = []
    for fold in manifest["fold_table"]:
        sessions = sorted(s for s in predicted if s in fold["val"]["session_ids"])
        truth = [client[s] > 1 for s in sessions]
        got = next(f for f in rows["model"]["folds"] if f["fold"] == fold["fold"])["metrics"]
        _check(got, truth, [predicted[s] > 1 for s in sessions])
        if got["macro_f1"] is not None:
            macro.append(got["macro_f1"])
        # the fold's baseline: the majority of the other folds' client reports (training side)
        training = [client[s] > 1 for other in manifest["fold_table"] if other is not fold
                    for s in other["val"]["session_ids"] if s in predicted]  # fmt: skip
        majority_yes = bool(_majority(training)[0]) if training else False
        info = next(f for f in entry["folds"] if f["fold"] == fold["fold"])
        assert info["majority_class"] == ("yes" if majority_yes else "no")
        majority = next(f for f in rows["majority"]["folds"] if f["fold"] == fold["fold"])
        _check(majority["metrics"], truth, [majority_yes] * len(truth))
    summary = rows["model"]["fold_summary"]["macro_f1"]
    if folds == "skewed":  # never the fold's own majority
        assert [f["majority_class"] for f in entry["folds"]] == ["no", "yes"]
    if folds == "by_client":
        assert len(macro) == 3  # every fold has both classes
    if macro:
        assert summary["mean"] == pytest.approx(statistics.mean(macro), abs=1e-6)
    if len(macro) > 1:
        assert summary["sd"] == pytest.approx(statistics.stdev(macro), abs=1e-6)
