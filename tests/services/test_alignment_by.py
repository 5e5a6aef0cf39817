"""Alignment per group of sessions: a pandas groupby of plain SQL rows as the oracle,
scikit-learn for the binary item, and the bootstrap's seed, coverage and independence."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from sqlalchemy import text

from annotate.analysis.by_group import alignment_by, grouping
from annotate.core.errors import ConfigError
from annotate.ingest import import_file
from tests.factories import ITEMS, session_record, write_jsonl

pytestmark = pytest.mark.both_backends

CONDITIONS = ("家庭冲突", "bereavement", "suicidality")


def _records(count: int, seed: int = 5, prefix: str = "g", conditions=CONDITIONS) -> list[dict]:  # type: ignore[no-untyped-def]
    generator = random.Random(seed)
    records = []
    for index in range(count):
        condition = conditions[index % len(conditions)]
        lift = {"suicidality": 1, "bereavement": 0}.get(condition, 0.5)  # counselors higher
        client = {item: generator.randint(1, 5) for item in ITEMS}
        counselor = {item: min(5, max(1, round(v + lift + generator.choice((-1, 0, 0, 1)))))
                     for item, v in client.items()}  # fmt: skip
        client["rupture_1"] = generator.choice((1, 1, 2, 3))
        counselor["rupture_1"] = generator.choice((1, 2)) if client["rupture_1"] > 1 else 1
        if generator.random() < 0.3:
            counselor["rupture_1"] = 3
        metadata = {"condition": condition, "modality": "video"}
        if index % 9 == 4:
            metadata = {"modality": "in person"}  # no condition: left out of the groups
        if index % 11 == 3:
            del counselor["task_2"]  # an incomplete task set: no task (or total) pair
        records.append(
            session_record(f"{prefix}{index:02d}", client_id=f"c{index % 6}",
                           session_number=1 + index % 4, metadata=metadata,
                           client_ratings=client, counselor_ratings=counselor)
        )  # fmt: skip
    return records


@pytest.fixture
def grouped_engine(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", _records(48)))
    return engine


def _sql_rows(engine) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Ratings with their dimension and the session's condition, by hand-written SQL."""
    query = text(
        "SELECT r.session_id, i.instrument_id, i.dimension, r.item_id, r.rater_role, r.value,"
        " s.meta FROM ratings r JOIN items i ON i.id = r.item_id"
        " JOIN sessions s ON s.id = r.session_id"
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).fetchall(),
                             columns=["session_id", "instrument_id", "dimension", "item_id",
                                      "rater_role", "value", "meta"])  # fmt: skip
    meta = [json.loads(m) if isinstance(m, str) else (m or {}) for m in frame["meta"]]
    frame["condition"] = [m.get("condition") for m in meta]
    return frame.drop(columns="meta")


def _expected_dimensions(rows: pd.DataFrame) -> pd.DataFrame:
    wai = rows[rows["instrument_id"] == "wai-sr"]
    wai = pd.concat([wai, wai.assign(dimension="total")])
    needed = {"goal": 4, "task": 4, "bond": 4, "total": 12}
    scores = (
        wai.groupby(["condition", "session_id", "dimension", "rater_role"])["value"]
        .agg(["mean", "count"])
        .reset_index()
    )
    scores = scores[scores["count"] == scores["dimension"].map(needed)]
    wide = scores.pivot_table(
        index=["condition", "session_id", "dimension"], columns="rater_role", values="mean"
    ).dropna()
    out = []
    for (condition, dimension), pairs in wide.groupby(level=["condition", "dimension"]):
        client, counselor = pairs["client"].to_numpy(), pairs["counselor"].to_numpy()
        out.append({
            "group": condition, "dimension": dimension, "n": len(pairs),
            "pearson_r": stats.pearsonr(counselor, client).statistic,
            "pearson_p": stats.pearsonr(counselor, client).pvalue,
            "spearman_rho": stats.spearmanr(counselor, client).statistic,
            "mse": np.mean((counselor - client) ** 2),
            "counselor_higher": np.mean(counselor > client),
            "client_mean": client.mean(), "counselor_mean": counselor.mean(),
            "gap": np.mean(counselor - client),
        })  # fmt: skip
    return pd.DataFrame(out).set_index(["group", "dimension"])


def test_dimensions_equal_a_pandas_groupby_of_sql_rows(grouped_engine) -> None:  # type: ignore[no-untyped-def]
    result = alignment_by(grouped_engine, "condition", samples=200, seed=3)
    expected = _expected_dimensions(_sql_rows(grouped_engine))
    got = result.dimensions.set_index(["group", "dimension"])
    assert sorted(got.index) == sorted(expected.index)
    assert len(got) == len(CONDITIONS) * 4
    for key, row in expected.iterrows():
        for column, value in row.items():
            assert got.loc[key, column] == pytest.approx(value), (key, column)
    assert result.left_out == sum(1 for i in range(48) if i % 9 == 4)
    assert result.groups.set_index("group")["sessions"].sum() == 48 - result.left_out


def test_binary_per_group_matches_sklearn(grouped_engine) -> None:  # type: ignore[no-untyped-def]
    rows = _sql_rows(grouped_engine)
    rupture = (
        rows[rows["item_id"] == "rupture_1"]
        .pivot_table(index=["condition", "session_id"], columns="rater_role", values="value")
        .dropna()
    )
    got = alignment_by(grouped_engine, "condition", samples=100).binary.set_index("group")
    for condition, pairs in rupture.groupby(level="condition"):
        client, counselor = list(pairs["client"] > 1), list(pairs["counselor"] > 1)
        matrix = confusion_matrix(client, counselor, labels=[True, False])
        row = got.loc[condition]
        assert row["n"] == len(pairs)
        assert row["client_yes_counselor_no"] == matrix[0, 1]
        assert row["client_no_counselor_yes"] == matrix[1, 0]
        assert row["missed_by_counselor"] == pytest.approx(matrix[0, 1] / matrix[0].sum())
        assert row["kappa"] == pytest.approx(cohen_kappa_score(client, counselor))


def test_bootstrap_is_seeded_and_covers_the_estimate(grouped_engine) -> None:  # type: ignore[no-untyped-def]
    first = alignment_by(grouped_engine, "condition", samples=300, seed=9)
    again = alignment_by(grouped_engine, "condition", samples=300, seed=9)
    other = alignment_by(grouped_engine, "condition", samples=300, seed=10)
    pd.testing.assert_frame_equal(first.dimensions, again.dimensions)
    pd.testing.assert_frame_equal(first.binary, again.binary)
    assert not first.dimensions["gap_ci_low"].equals(other.dimensions["gap_ci_low"])
    for name in ("mse", "counselor_higher", "client_mean", "counselor_mean", "gap"):
        frame = first.dimensions
        assert (frame[f"{name}_ci_low"] <= frame[name]).all(), name
        assert (frame[name] <= frame[f"{name}_ci_high"]).all(), name
    for name in ("pearson_r", "spearman_rho"):
        defined = first.dimensions.dropna(subset=[name])
        assert (defined[f"{name}_ci_low"] >= -1).all() and (defined[f"{name}_ci_high"] <= 1).all()
        assert (defined[f"{name}_ci_low"] <= defined[f"{name}_ci_high"]).all()
    binary = first.binary
    for name in ("client_yes_share", "counselor_yes_share", "kappa"):
        defined = binary.dropna(subset=[name])
        assert (defined[f"{name}_ci_low"] <= defined[name]).all()
        assert (defined[name] <= defined[f"{name}_ci_high"]).all()
    none = alignment_by(grouped_engine, "condition", samples=0)
    assert none.dimensions["gap_ci_low"].isna().all() and none.dimensions["gap"].notna().all()


def test_gap_interval_is_a_percentile_bootstrap(grouped_engine) -> None:  # type: ignore[no-untyped-def]
    """An independent bootstrap (own generator) of the same sessions gives the same
    interval up to Monte Carlo error."""
    result = alignment_by(grouped_engine, "condition", samples=4000, seed=1)
    expected = _sql_rows(grouped_engine)
    wai = expected[(expected["instrument_id"] == "wai-sr") & (expected["dimension"] == "bond")]
    means = wai.groupby(["condition", "session_id", "rater_role"])["value"].mean().unstack()
    pairs = means.dropna().loc["suicidality"]
    gaps = (pairs["counselor"] - pairs["client"]).to_numpy()
    generator = np.random.default_rng(12345)
    resampled = gaps[generator.integers(0, len(gaps), size=(4000, len(gaps)))].mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    row = result.dimensions.set_index(["group", "dimension"]).loc[("suicidality", "bond")]
    assert row["gap"] == pytest.approx(gaps.mean())
    assert row["gap_ci_low"] == pytest.approx(low, abs=0.06)
    assert row["gap_ci_high"] == pytest.approx(high, abs=0.06)


def test_a_group_keeps_its_interval_when_another_grows(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "a.jsonl", _records(24)))
    before = alignment_by(engine, "condition", samples=200, seed=4).dimensions
    more = _records(6, seed=8, prefix="h", conditions=("bereavement",))
    import_file(engine, write_jsonl(tmp_path / "b.jsonl", more))
    after = alignment_by(engine, "condition", samples=200, seed=4).dimensions
    kept = before[before["group"] != "bereavement"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        kept, after[after["group"] != "bereavement"].reset_index(drop=True)
    )
    grown = after[after["group"] == "bereavement"]["n"].tolist()
    assert grown != before[before["group"] == "bereavement"]["n"].tolist()


def test_session_number_groups_are_numeric(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = [session_record(f"n{index}", session_number=number)
               for index, number in enumerate((10, 2, 1, 2))]  # fmt: skip
    records.append(session_record("none", session_number=None))
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    sessions = grouping(engine, "session_number")
    assert sessions.groups == [1, 2, 10] and sessions.left_out == 1
    result = alignment_by(engine, "session_number", samples=50)
    total = result.dimensions[result.dimensions["dimension"] == "total"]
    assert total["group"].tolist() == [1, 2, 10] and total["n"].tolist() == [1, 2, 1]
    # identical ratings in every session: the gap is 1 (counselor 5, client 4) everywhere
    assert total["gap"].tolist() == [1.0, 1.0, 1.0]
    assert total["pearson_r"].isna().all()  # fewer than 3 sessions, or a constant side


def test_unknown_key_names_the_known_ones(grouped_engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as caught:
        alignment_by(grouped_engine, "diagnosis")
    assert str(caught.value) == (
        "no session carries 'diagnosis': use --by with a key sessions carry: condition "
        "(43 sessions), modality (48 sessions) or session_number (48 sessions)"
    )


def test_chinese_group_values(grouped_engine) -> None:  # type: ignore[no-untyped-def]
    result = alignment_by(grouped_engine, "condition", samples=50)
    assert "家庭冲突" in result.groups["group"].tolist()
    chinese = result.dimensions[result.dimensions["group"] == "家庭冲突"]
    assert chinese["n"].min() > 0
