"""Krippendorff's alpha, its bootstrap interval and the review score summaries."""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter, defaultdict
from itertools import permutations

import numpy as np
import pytest

from annotate.analysis.agreement import (
    LEVELS,
    agreement,
    alpha_with_ci,
    criterion_scores,
    pass_rates,
)
from annotate.core.demo import DEMO_FILES
from annotate.core.errors import ConfigError

pytestmark = pytest.mark.both_backends

DOMAIN = [1.0, 2.0, 3.0, 4.0, 5.0]


def reference_alpha(units: list[list[float]], level: str) -> float:
    """Krippendorff's alpha from the coincidence matrix, written out from the definition
    (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"), without numpy."""
    pairable = [u for u in units if len(u) >= 2]
    coincidence: dict[tuple[float, float], float] = defaultdict(float)
    for unit in pairable:
        for i, j in permutations(range(len(unit)), 2):
            coincidence[(unit[i], unit[j])] += 1 / (len(unit) - 1)
    totals: Counter[float] = Counter()
    for (c, _), weight in coincidence.items():
        totals[c] += weight
    n = sum(totals.values())
    values = sorted(totals)

    def delta(c: float, k: float) -> float:
        if level == "nominal":
            return 0.0 if c == k else 1.0
        if level == "interval":
            return (c - k) ** 2
        if level == "ratio":
            return ((c - k) / (c + k)) ** 2
        low, high = min(c, k), max(c, k)
        between = sum(totals[g] for g in values if low <= g <= high)
        return (between - (totals[c] + totals[k]) / 2) ** 2

    observed = sum(weight * delta(c, k) for (c, k), weight in coincidence.items())
    expected = sum(totals[c] * totals[k] * delta(c, k) for c in values for k in values)
    return 1 - (n - 1) * observed / expected


# Worked by hand: units {1,2}, {3,3}, {1,1}; n1=3, n2=1, n3=2, n=6.
#   nominal:  1 - 5*2 / (2*(3+6+2))                          = 6/11
#   interval: 1 - 5*2 / (2*(3*1 + 6*4 + 2*1))                 = 24/29
#   ordinal:  d12=(4-2)^2=4, d13=(6-2.5)^2, d23=(3-1.5)^2;
#             1 - 5*(2*4) / (2*(3*4 + 6*12.25 + 2*2.25))      = 7/9
#   ratio:    d12=1/9, d13=1/4, d23=1/25;
#             1 - 5*(2/9) / (2*(3/9 + 6/4 + 2/25))            = 611/861
HAND_UNITS = [[1.0, 2.0], [3.0, 3.0], [1.0, 1.0]]
HAND = {"nominal": 6 / 11, "interval": 24 / 29, "ordinal": 7 / 9, "ratio": 611 / 861}

# Krippendorff (2011), the worked example with 4 coders, 12 units and missing values.
NAN = None
PUBLISHED_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


def _published_units() -> list[list[float]]:
    units = []
    for column in range(12):
        units.append([float(row[column]) for row in PUBLISHED_DATA if row[column] is not None])
    return units


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_hand_worked_example(level: str) -> None:
    result = alpha_with_ci(HAND_UNITS, DOMAIN, level, samples=0)  # type: ignore[arg-type]
    assert result.alpha == pytest.approx(HAND[level], abs=1e-12)
    assert reference_alpha(HAND_UNITS, level) == pytest.approx(HAND[level], abs=1e-12)
    assert (result.units, result.pairable_values) == (3, 6)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_matches_published_example_with_missing_values(level: str) -> None:
    units = _published_units()
    result = alpha_with_ci(units, DOMAIN, level, samples=0)  # type: ignore[arg-type]
    assert round(result.alpha, 3) == PUBLISHED[level]
    assert result.alpha == pytest.approx(reference_alpha(units, level), abs=1e-12)
    # unit 12 has a single value: not pairable, left out
    assert (result.units, result.pairable_values) == (11, 40)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_agrees_with_reference_on_random_data(level: str) -> None:
    generator = random.Random(7)
    for _ in range(40):
        units = [
            [float(generator.randint(1, 5)) for _ in range(generator.randint(1, 4))]
            for _ in range(generator.randint(2, 15))
        ]
        result = alpha_with_ci(units, DOMAIN, level, samples=0)  # type: ignore[arg-type]
        if result.alpha is None:
            continue
        assert result.alpha == pytest.approx(reference_alpha(units, level), abs=1e-9)


def test_single_value_units_do_not_change_alpha() -> None:
    with_missing = [*HAND_UNITS, [4.0], [5.0]]
    result = alpha_with_ci(with_missing, DOMAIN, "ordinal", samples=0)
    assert result.alpha == pytest.approx(7 / 9)
    assert (result.units, result.pairable_values) == (3, 6)


def test_constant_scores_give_no_alpha_and_say_why() -> None:
    result = alpha_with_ci([[4.0, 4.0], [4.0, 4.0, 4.0]], DOMAIN, "ordinal")
    assert result.alpha is None and result.ci_low is None
    assert "no variation" in (result.note or "")


def test_too_little_overlap_is_said_plainly() -> None:
    result = alpha_with_ci([[1.0, 5.0], [3.0]], DOMAIN, "interval")
    assert result.alpha is None and result.units == 1
    assert result.note is not None and result.note.startswith("too little overlap")


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown level"):
        alpha_with_ci(HAND_UNITS, DOMAIN, "cardinal", samples=0)  # type: ignore[arg-type]


def test_bootstrap_resamples_units_with_the_seed() -> None:
    units = _published_units()
    result = alpha_with_ci(units, DOMAIN, "interval", samples=300, seed=11)
    again = alpha_with_ci(units, DOMAIN, "interval", samples=300, seed=11)
    assert result == again
    # the same resamples, recomputed with the reference implementation
    paired = [u for u in units if len(u) >= 2]
    generator = np.random.default_rng(11)
    estimates = []
    for _ in range(300):
        picked = generator.integers(0, len(paired), size=len(paired))
        sample = [paired[i] for i in picked]
        if len({v for unit in sample for v in unit}) > 1:
            estimates.append(reference_alpha(sample, "interval"))
    low, high = np.percentile(estimates, [2.5, 97.5])
    assert result.bootstrap_used == len(estimates)
    assert (result.ci_low, result.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert result.ci_low < result.alpha < result.ci_high


def _demo_reviews() -> list[dict]:
    path = next(p for p in DEMO_FILES if p.name == "reviews.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_demo_agreement_matches_the_files(demo_engine) -> None:  # type: ignore[no-untyped-def]
    reviews = _demo_reviews()
    table = agreement(demo_engine, "ordinal", samples=50)
    for row in table.to_dict(orient="records"):
        units: dict[tuple[str, str], list[float]] = defaultdict(list)
        for review in reviews:
            units[(review["session_id"], review["item_id"])].append(review[row["criterion"]])
        expected = reference_alpha(list(units.values()), "ordinal")
        assert row["alpha"] == pytest.approx(expected)
        assert (row["units"], row["pairable_values"]) == (6, 12)
        assert row["ci_low"] <= row["ci_high"]


def test_criterion_scores_match_the_files(demo_engine) -> None:  # type: ignore[no-untyped-def]
    reviews = _demo_reviews()
    overall = criterion_scores(demo_engine).set_index("criterion")
    for name in ("faithfulness", "relevance", "informativeness"):
        values = [r[name] for r in reviews]
        assert overall.loc[name, "n"] == 22
        assert overall.loc[name, "mean"] == pytest.approx(statistics.mean(values))
        assert overall.loc[name, "sd"] == pytest.approx(statistics.stdev(values))
    by_reviewer = criterion_scores(demo_engine, "reviewer")
    chen = by_reviewer[
        (by_reviewer["reviewer"] == "chen") & (by_reviewer["criterion"] == "relevance")
    ]
    values = [r["relevance"] for r in reviews if r["reviewer"] == "chen"]
    assert chen["mean"].item() == pytest.approx(statistics.mean(values))
    by_dimension = criterion_scores(demo_engine, "dimension")
    assert list(dict.fromkeys(by_dimension["dimension"])) == ["goal", "task", "bond"]
    bond = by_dimension[(by_dimension["dimension"] == "bond")]
    values = [r["faithfulness"] for r in reviews if r["item_id"].startswith("bond")]
    assert bond.iloc[0]["mean"] == pytest.approx(statistics.mean(values))
    with pytest.raises(ConfigError):
        criterion_scores(demo_engine, "session")


def test_pass_rates_match_the_files(demo_engine) -> None:  # type: ignore[no-untyped-def]
    by_unit: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for review in _demo_reviews():
        by_unit[(review["session_id"], review["item_id"])].append(review)
    criteria = ("faithfulness", "relevance", "informativeness")
    every = sum(all(r[c] >= 3 for r in rs for c in criteria) for rs in by_unit.values())
    mean = sum(
        all(statistics.mean(r[c] for r in rs) >= 3 for c in criteria) for rs in by_unit.values()
    )
    table = pass_rates(demo_engine).set_index("rule")
    assert table.loc["every_review", "rationales"] == len(by_unit) == 16
    assert table.loc["every_review", "passed"] == every
    assert table.loc["mean", "passed"] == mean
    assert table.loc["mean", "share"] == pytest.approx(mean / 16)


def test_empty_store_has_notes_not_errors(engine) -> None:  # type: ignore[no-untyped-def]
    table = agreement(engine)
    assert table["alpha"].isna().all() and table["note"].str.startswith("too little").all()
    assert criterion_scores(engine).empty
    assert pass_rates(engine)["rationales"].tolist() == [0, 0]


def test_pass_rates_count_only_reviews_of_the_current_text(demo_engine) -> None:  # type: ignore[no-untyped-def]
    """An author's new text after a review leaves that review out (it scored an older text)."""
    from sqlmodel import Session, select

    from annotate.work.rationales.versions import save_version
    from store.models import Rationale, Review

    before = pass_rates(demo_engine).set_index("rule").loc["mean", "rationales"]
    with Session(demo_engine) as session:
        rationale = session.exec(
            select(Rationale).join(Review, Review.rationale_id == Rationale.id)  # type: ignore[arg-type]
        ).first()
        assert rationale is not None and rationale.author_id is not None
    save_version(demo_engine, rationale.id, "A new text, not yet reviewed.",  # type: ignore[arg-type]
                 rationale.author_id, rationale.lock_version)  # fmt: skip
    after = pass_rates(demo_engine).set_index("rule").loc["mean", "rationales"]
    assert after == before - 1
