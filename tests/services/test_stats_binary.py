"""Binary items (the rupture question) against scikit-learn and a hand-worked table."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import (
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from annotate.analysis.binary import (
    binary_alignment,
    binary_figures,
    classification,
    majority_class,
)
from annotate.ingest import import_file
from tests.factories import session_record, write_jsonl

pytestmark = pytest.mark.both_backends


def _table(both_yes: int, client_only: int, counselor_only: int, both_no: int):  # type: ignore[no-untyped-def]
    client = [True] * (both_yes + client_only) + [False] * (counselor_only + both_no)
    counselor = [True] * both_yes + [False] * client_only + [True] * counselor_only
    counselor += [False] * both_no
    return client, counselor


def test_hand_worked_table() -> None:
    # 10 sessions: both yes 2, client only 3, counselor only 1, both no 4.
    # observed agreement (2 + 4) / 10 = 0.6; client yes 0.5, counselor yes 0.3;
    # chance agreement 0.5 * 0.3 + 0.5 * 0.7 = 0.5; kappa (0.6 - 0.5) / (1 - 0.5) = 0.2.
    figures = binary_figures(*_table(2, 3, 1, 4))
    assert figures["n"] == 10
    assert figures["client_yes_share"] == pytest.approx(0.5)
    assert figures["counselor_yes_share"] == pytest.approx(0.3)
    assert figures["missed_by_counselor"] == pytest.approx(3 / 5)
    assert figures["not_reported_by_client"] == pytest.approx(1 / 3)
    assert figures["kappa"] == pytest.approx(0.2)
    assert figures["note"] is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
def test_random_tables_match_sklearn() -> None:
    generator = random.Random(7)
    undefined = 0
    for _ in range(200):
        n = generator.randint(1, 40)
        client = [generator.random() < 0.3 for _ in range(n)]
        counselor = [c if generator.random() < 0.6 else generator.random() < 0.5 for c in client]
        figures = binary_figures(client, counselor)
        matrix = confusion_matrix(client, counselor, labels=[True, False])
        assert [
            [figures["client_yes_counselor_yes"], figures["client_yes_counselor_no"]],
            [figures["client_no_counselor_yes"], figures["client_no_counselor_no"]],
        ] == matrix.tolist()
        client_yes, counselor_yes = matrix[0].sum(), matrix[:, 0].sum()
        if client_yes:
            assert figures["missed_by_counselor"] == pytest.approx(matrix[0, 1] / client_yes)
        else:
            assert figures["missed_by_counselor"] is None
        if counselor_yes:
            assert figures["not_reported_by_client"] == pytest.approx(matrix[1, 0] / counselor_yes)
        else:
            assert figures["not_reported_by_client"] is None
        with np.errstate(all="ignore"):
            expected = cohen_kappa_score(client, counselor, labels=[False, True])
        if np.isnan(expected):
            assert figures["kappa"] is None and "kappa is undefined" in figures["note"]
            undefined += 1
        else:
            assert figures["kappa"] == pytest.approx(expected)
    assert 0 < undefined < 200  # the degenerate tables were exercised too


def test_undefined_figures_are_none_with_a_note() -> None:
    nothing = binary_figures([], [])
    assert nothing["n"] == 0 and nothing["kappa"] is None and nothing["client_yes_share"] is None
    assert "no session has both" in nothing["note"]
    no_rupture = binary_figures([False] * 4, [False, True, False, False])
    assert no_rupture["missed_by_counselor"] is None
    assert "the client never reported yes" in no_rupture["note"]
    assert no_rupture["kappa"] == pytest.approx(
        cohen_kappa_score([False] * 4, [False, True, False, False])
    )  # 0: a constant side agrees only by chance
    assert "kappa is 0 by construction" in no_rupture["note"]
    same = binary_figures([False] * 3, [False] * 3)
    assert same["kappa"] is None and same["not_reported_by_client"] is None
    assert "kappa is undefined" in same["note"]


def test_alignment_reads_the_store(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    generator = random.Random(11)
    records, client, counselor = [], [], []
    for index in range(30):
        theirs = generator.choice((1, 1, 1, 2, 3, 4))
        ours = generator.choice((1, 2, 2, 3)) if theirs > 1 else generator.choice((1, 1, 2))
        record = session_record(f"r{index}")
        record["client_ratings"]["rupture_1"] = theirs
        if index % 7:  # every seventh session has no counselor rating: not paired
            record["counselor_ratings"]["rupture_1"] = ours
            client.append(theirs > 1)
            counselor.append(ours > 1)
        records.append(record)
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    row = binary_alignment(engine).set_index("item_id").loc["rupture_1"]
    assert (row["instrument_id"], row["binary_above"], row["n"]) == ("rupture", 1, len(client))
    matrix = confusion_matrix(client, counselor, labels=[True, False])
    assert row["client_yes_counselor_no"] == matrix[0, 1]
    assert row["missed_by_counselor"] == pytest.approx(matrix[0, 1] / matrix[0].sum())
    assert row["not_reported_by_client"] == pytest.approx(matrix[1, 0] / matrix[:, 0].sum())
    assert row["kappa"] == pytest.approx(cohen_kappa_score(client, counselor))


def test_demo_has_the_rupture_item(demo_engine) -> None:  # type: ignore[no-untyped-def]
    table = binary_alignment(demo_engine)
    assert table["item_id"].tolist() == ["rupture_1"]
    assert table.iloc[0]["n"] == 14  # s06 and s10 have no counselor rupture rating


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@pytest.mark.parametrize("seed", range(40))
def test_classification_matches_sklearn(seed: int) -> None:
    generator = random.Random(seed)
    n = generator.randint(1, 30)
    truth = [generator.random() < 0.35 for _ in range(n)]
    predicted = [t if generator.random() < 0.7 else generator.random() < 0.4 for t in truth]
    result = classification(truth, predicted)
    with np.errstate(all="ignore"):
        precision, recall, f1, support = precision_recall_fscore_support(
            truth, predicted, labels=[False, True], zero_division=np.nan
        )
    for index, name in enumerate(("no", "yes")):
        for ours, theirs in ((result[name]["precision"], precision[index]),
                             (result[name]["recall"], recall[index]),
                             (result[name]["f1"], f1[index])):  # fmt: skip
            if np.isnan(theirs):
                assert ours is None
            else:
                assert ours == pytest.approx(theirs)
        assert result[name]["support"] == support[index]
    if len(set(truth) | set(predicted)) == 2:  # both classes occur: macro-F1 is defined
        expected = f1_score(truth, predicted, labels=[False, True], average="macro",
                            zero_division=0.0)  # fmt: skip
        assert result["macro_f1"] == pytest.approx(expected)
    else:
        assert result["macro_f1"] is None and "macro-F1 undefined" in result["note"]


@pytest.mark.parametrize("yes", [0, 3, 5, 6, 9])
def test_majority_baseline_matches_sklearn_dummy(yes: int) -> None:
    truth = [True] * yes + [False] * (10 - yes)
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((10, 1)), truth)
    predicted = [bool(v) for v in dummy.predict(np.zeros((10, 1)))]
    assert majority_class(truth) == ("yes" if predicted[0] else "no")  # a 5/5 tie: "no"
    result = classification(truth, predicted)
    if 0 < yes < 10:
        expected = f1_score(truth, predicted, average="macro", zero_division=0.0)
        assert result["macro_f1"] == pytest.approx(expected)
    never = "yes" if not predicted[0] else "no"
    assert result[never]["precision"] is None  # the baseline never predicts that class
