"""Counselor-client alignment against scipy and numpy on the same numbers."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from annotate.analysis.alignment import alignment, dimension_scores
from annotate.ingest import import_file
from tests.factories import ITEMS, session_record, write_jsonl

pytestmark = pytest.mark.both_backends

DIMENSIONS = ("goal", "task", "bond")


def _sessions(count: int, seed: int = 3) -> list[dict]:
    generator = random.Random(seed)
    records = []
    for index in range(count):
        client = {item: generator.randint(1, 5) for item in ITEMS}
        counselor = {item: min(5, max(1, client[item] + generator.choice((-1, 0, 1, 1))))
                     for item in ITEMS}  # fmt: skip
        records.append(
            session_record(f"s{index}", client_ratings=client, counselor_ratings=counselor)
        )
    return records


def _means(record: dict, role: str, dimension: str) -> float | None:
    ratings = record[f"{role}_ratings"]
    wanted = [i for i in ITEMS if dimension == "total" or i.startswith(dimension)]
    if not all(i in ratings for i in wanted):
        return None
    return float(np.mean([ratings[i] for i in wanted]))


def test_alignment_matches_scipy(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = _sessions(25)
    # partial counselor ratings: bond is incomplete in s0, everything missing in s1
    del records[0]["counselor_ratings"]["bond_3"]
    records[1]["counselor_ratings"] = {}
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    table = alignment(engine).set_index("dimension")
    assert list(table.index) == [*DIMENSIONS, "total"]
    for dimension in (*DIMENSIONS, "total"):
        pairs = [
            (_means(r, "client", dimension), _means(r, "counselor", dimension)) for r in records
        ]
        pairs = [(c, k) for c, k in pairs if c is not None and k is not None]
        client = np.array([c for c, _ in pairs])
        counselor = np.array([k for _, k in pairs])
        row = table.loc[dimension]
        assert row["n"] == len(pairs) == (23 if dimension in ("bond", "total") else 24)
        pearson = stats.pearsonr(counselor, client)
        spearman = stats.spearmanr(counselor, client)
        assert row["pearson_r"] == pytest.approx(pearson.statistic)
        assert row["pearson_p"] == pytest.approx(pearson.pvalue)
        assert row["spearman_rho"] == pytest.approx(spearman.statistic)
        assert row["spearman_p"] == pytest.approx(spearman.pvalue)
        assert row["mse"] == pytest.approx(np.mean((counselor - client) ** 2))
        assert row["counselor_higher"] == pytest.approx(np.mean(counselor > client))
        assert row["client_mean"] == pytest.approx(client.mean())


def test_incomplete_dimensions_are_left_out(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    record = session_record("a", counselor_ratings={"goal_1": 5, "goal_2": 5, "goal_3": 4,
                                                    "goal_4": 4, "task_1": 2})  # fmt: skip
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [record]))
    scores = dimension_scores(engine)
    counselor = scores[scores["rater_role"] == "counselor"]
    assert counselor[["dimension", "score"]].values.tolist() == [["goal", 4.5]]
    assert set(scores[scores["rater_role"] == "client"]["dimension"]) == {*DIMENSIONS, "total"}


def test_too_few_or_constant_pairs_give_no_correlation(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    records = [session_record(f"s{i}") for i in range(4)]  # client all 4, counselor all 5
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    row = alignment(engine).iloc[0]
    assert row["n"] == 4 and row["pearson_r"] is None and row["spearman_rho"] is None
    assert row["mse"] == pytest.approx(1.0) and row["counselor_higher"] == 1.0


def test_empty_store(engine) -> None:  # type: ignore[no-untyped-def]
    table = alignment(engine)
    assert table["n"].tolist() == [0, 0, 0, 0] and table["mse"].isna().all()


def test_demo_excludes_partial_counselor_sets(demo_engine) -> None:  # type: ignore[no-untyped-def]
    table = alignment(demo_engine).set_index("dimension")
    # 16 sessions; s06 and s10 have no counselor ratings; s15 lacks a task and a bond item
    assert table.loc["goal", "n"] == 14
    assert table.loc["task", "n"] == table.loc["bond", "n"] == 13
