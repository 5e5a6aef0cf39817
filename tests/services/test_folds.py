"""Fold assignment invariants (property-based), over the pure function and whole exports."""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotate.core.database import initialise
from annotate.export import formats
from annotate.export.folds import ClientStats, assign_folds
from annotate.export.service import ExportOptions, export_dataset
from store.db import make_engine
from tests import hypothesis_profiles
from tests.export_corpus import build_corpus

pytestmark = pytest.mark.both_backends

client_lists = st.lists(
    st.tuples(st.integers(1, 40), st.floats(1.0, 5.0, allow_nan=False)), min_size=2, max_size=60
)


def _clients(spec: list[tuple[int, float]]) -> list[ClientStats]:
    clients = []
    for number, (records, score) in enumerate(spec):
        stats = ClientStats(f"c{number}", records=records, score_sum=score)
        stats.sessions.append(f"s{number}")
        clients.append(stats)
    return clients


@given(spec=client_lists, k=st.integers(2, 6), seed=st.integers(0, 2**32))
@settings(max_examples=hypothesis_profiles.examples(200), deadline=None)
def test_assignment_is_a_balanced_deterministic_partition(spec, k, seed) -> None:
    clients = _clients(spec)
    if len(clients) < k:
        return
    folds = assign_folds(clients, k, seed)
    assert set(folds) == {c.client_id for c in clients}
    assert set(folds.values()) == set(range(1, k + 1))  # no empty fold
    assert assign_folds(list(reversed(clients)), k, seed) == folds  # input order is irrelevant
    # Sizes: folds differ by at most one client's record count.
    sizes = {fold: 0 for fold in range(1, k + 1)}
    for client in clients:
        sizes[folds[client.client_id]] += client.records
    assert max(sizes.values()) - min(sizes.values()) <= max(c.records for c in clients)
    # Scores: each block of k neighbours is spread over the folds, so fold means of the
    # client scores differ by at most 2 * range / (number of full blocks).
    scores = [c.mean_score for c in clients]
    spread = max(scores) - min(scores)
    blocks = len(clients) // k
    means = [
        statistics.mean(c.mean_score for c in clients if folds[c.client_id] == fold)
        for fold in range(1, k + 1)
    ]
    assert max(means) - min(means) <= 2 * spread / blocks + 1e-9


def test_stratification_beats_chance_on_skewed_scores() -> None:
    spec = [(5, 1.0 + 4.0 * (n / 99) ** 3) for n in range(100)]  # skewed, like client ratings
    folds = assign_folds(_clients(spec), 5, seed=0)
    means = [
        statistics.mean(score for n, (_, score) in enumerate(spec) if folds[f"c{n}"] == fold)
        for fold in range(1, 6)
    ]
    assert max(means) - min(means) < 0.2
    assert len(set(assign_folds(_clients(spec), 5, seed=1).items()) ^ set(folds.items())) > 0


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("template") / "empty.db"
    engine, _ = initialise(str(path))
    engine.dispose()
    return path


@given(
    sessions=st.lists(st.integers(1, 4), min_size=3, max_size=12),
    k=st.integers(2, 3),
    seed=st.integers(0, 1000),
)
@settings(
    max_examples=hypothesis_profiles.examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_no_client_crosses_folds_in_exported_files(template_db, sessions, k, seed) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        shutil.copy(template_db, db)
        engine = make_engine(str(db))
        build_corpus(engine, sessions, seed=seed, items=["goal_1", "task_1", "bond_1"])
        out = Path(tmp) / "out"
        manifest = export_dataset(engine, ExportOptions("alpaca", out, folds=k, seed=seed))
        engine.dispose()
        homes: dict[str, int] = {}
        for fold in range(1, k + 1):
            for line in (out / f"fold_{fold}" / "val.index.jsonl").read_text().splitlines():
                client = json.loads(line)["client_id"]
                assert homes.setdefault(client, fold) == fold
            train = (out / f"fold_{fold}" / "train.index.jsonl").read_text().splitlines()
            assert all(homes.get(json.loads(line)["client_id"]) != fold for line in train)
        assert len(homes) == len(sessions) == manifest["counts"]["clients"]
        assert sum(e["val"]["records"] for e in manifest["fold_table"]) == 3 * sum(sessions)


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(system=texts, transcript=texts, target=texts)
@settings(max_examples=hypothesis_profiles.examples(200), deadline=None)
def test_fast_lines_equal_json_dumps(system, transcript, target) -> None:
    """Lines assembled from pre-encoded parts are exactly json.dumps of the record."""
    encode = formats.json_string
    for fmt in ("openai", "alpaca", "sharegpt"):
        expected = json.dumps(formats.render(fmt, system, transcript, target), ensure_ascii=False)
        got = formats.line(fmt, encode(system), encode(transcript), encode(target))
        assert got == expected + "\n"
    draft = formats.DraftSource(target, system, transcript)
    expected = json.dumps(
        formats.render_dpo(system, transcript, target, system, draft), ensure_ascii=False
    )
    assert formats.dpo_line(system, encode(transcript), target, system, draft) == expected + "\n"
