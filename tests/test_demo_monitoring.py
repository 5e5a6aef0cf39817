"""The demo's monitoring sessions carry what their generator says it planted.

The facts are computed here from the file with numpy, scipy and statsmodels, not with the
product's own alliance code: a counselor effect, counselors rating above their clients,
a drop the counselor's rating missed and one it registered.
"""

from __future__ import annotations

import json
import runpy
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from annotate.core.demo import DEMO_MONITORING, DEMO_SESSIONS
from annotate.deid.detect import detect_turns
from annotate.ingest import import_file

ROOT = Path(__file__).resolve().parents[1]
DIMENSIONS = ("goal", "task", "bond")
ITEMS = tuple(f"{d}_{i}" for d in DIMENSIONS for i in range(1, 5))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


MONITORING = _records(DEMO_MONITORING)
EVERY_SESSION = _records(DEMO_SESSIONS) + MONITORING  # what `annotate demo` loads


def _score(ratings: dict[str, int], dimension: str) -> float:
    return float(np.mean([ratings[f"{dimension}_{i}"] for i in range(1, 5)]))


def _cronbach_alpha(matrix: np.ndarray) -> float:
    k = matrix.shape[1]
    return k / (k - 1) * (1 - matrix.var(axis=0, ddof=1).sum() / matrix.sum(axis=1).var(ddof=1))


def _reliable_change(dimension: str) -> float:
    """Jacobson-Truax: 1.96 * sqrt(2) * SD * sqrt(1 - alpha), over every demo session."""
    items = [f"{dimension}_{i}" for i in range(1, 5)]
    matrix = np.array([[r["client_ratings"][i] for i in items] for r in EVERY_SESSION], float)
    scores = matrix.mean(axis=1)
    return 1.96 * np.sqrt(2) * scores.std(ddof=1) * np.sqrt(1 - _cronbach_alpha(matrix))


def _session(client: str, number: int) -> dict:
    [found] = [r for r in MONITORING if r["client_id"] == client and r["session_number"] == number]
    return found


def test_the_file_is_what_the_committed_script_writes() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "make_monitoring_demo.py"))
    assert script["build"]() == MONITORING


def test_shape_ratings_and_languages() -> None:
    assert len(MONITORING) == 96
    assert len({r["session_id"] for r in EVERY_SESSION}) == len(EVERY_SESSION)
    by_counselor: dict[str, set[str]] = defaultdict(set)
    for record in MONITORING:
        by_counselor[record["counselor_id"]].add(record["client_id"])
        assert 8 <= len(record["turns"]) <= 12
        speakers = [turn["speaker"] for turn in record["turns"]]
        assert speakers[::2] == ["counselor"] * len(speakers[::2])
        assert set(speakers[1::2]) == {"client"}
        for rater in ("client_ratings", "counselor_ratings"):
            assert set(record[rater]) == set(ITEMS)
            assert all(type(v) is int and 1 <= v <= 5 for v in record[rater].values())
    assert sorted(by_counselor) == [f"t{n:02d}" for n in range(3, 11)]
    assert all(len(clients) == 3 for clients in by_counselor.values())
    chinese = [r for r in MONITORING if r["language"] == "zh"]
    assert len(chinese) == 24
    assert all(
        any("\u4e00" <= ch <= "\u9fff" for ch in t["text"]) for r in chinese for t in r["turns"]
    )
    assert {r["metadata"]["condition"] for r in MONITORING} == {
        "anxiety", "depression", "work stress", "grief"
    }  # fmt: skip
    means = {d: np.mean([_score(r["client_ratings"], d) for r in MONITORING]) for d in DIMENSIONS}
    assert all(3.5 <= m <= 4.3 for m in means.values()), means


def test_scales_are_about_as_reliable_as_the_published_ones() -> None:
    for dimension in DIMENSIONS:
        items = [f"{dimension}_{i}" for i in range(1, 5)]
        matrix = np.array([[r["client_ratings"][i] for i in items] for r in EVERY_SESSION], float)
        assert 0.78 <= _cronbach_alpha(matrix) <= 0.92, dimension


def _frame() -> pd.DataFrame:
    rows = []
    for record in EVERY_SESSION:
        client, counselor = record["client_ratings"], record.get("counselor_ratings", {})
        rows.append(
            {
                "counselor": record["counselor_id"],
                "client": record["client_id"],
                "alliance": float(np.mean([client[i] for i in ITEMS])),
                "gap": float(np.mean([counselor[i] - client[i] for i in ITEMS]))
                if set(ITEMS) <= set(counselor)
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def test_a_counselor_effect_is_there_to_find() -> None:
    frame = _frame()[["counselor", "client", "alliance"]]
    model = smf.mixedlm(
        "alliance ~ 1",
        frame,
        groups="counselor",
        re_formula="1",  # clients nested in counselors: a variance component per client
        vc_formula={"client": "0 + C(client)"},
    ).fit(reml=True, method="lbfgs")
    assert model.converged
    between = float(model.cov_re.iloc[0, 0])
    icc = between / (between + float(model.vcomp[0]) + float(model.scale))
    assert 0.15 <= icc <= 0.45, icc
    # and without any model: clients' mean alliance differs by counselor (one-way ANOVA)
    by_client = frame.groupby(["counselor", "client"])["alliance"].mean().reset_index()
    groups = [g["alliance"].to_numpy() for _, g in by_client.groupby("counselor")]
    assert stats.f_oneway(*groups).pvalue < 0.05  # 0.013: ten counselors, 29 clients


def test_counselors_rate_above_their_clients_two_far_above() -> None:
    gaps = _frame().groupby("counselor")["gap"].mean()
    assert gaps.mean() > 0.2
    assert set(gaps.nlargest(2).index) == {"t07", "t09"}
    assert gaps.nlargest(2).min() > 2 * gaps.drop(["t07", "t09"]).max() - 0.1
    assert gaps.drop(["t07", "t09"]).max() < 0.5


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_the_missed_drop(dimension: str) -> None:
    """c13 falls at session 3 by well over the reliable change index; t05's rating does not."""
    before, after = _session("c13", 2), _session("c13", 3)
    fall = _score(before["client_ratings"], dimension) - _score(after["client_ratings"], dimension)
    assert fall > 1.5 * _reliable_change(dimension)
    counselor_change = _score(after["counselor_ratings"], dimension) - _score(
        before["counselor_ratings"], dimension
    )
    assert counselor_change >= 0
    assert _score(_session("c13", 1)["client_ratings"], dimension) - _score(
        after["client_ratings"], dimension
    ) > _reliable_change(dimension)  # below the first session too


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_the_noticed_drop(dimension: str) -> None:
    before, after = _session("c21", 3), _session("c21", 4)
    fall = _score(before["client_ratings"], dimension) - _score(after["client_ratings"], dimension)
    assert fall > _reliable_change(dimension)
    assert _score(after["counselor_ratings"], dimension) < _score(
        before["counselor_ratings"], dimension
    )


def test_the_missed_session_reads_withdrawn_not_hostile() -> None:
    """Short polite answers where the client used to say more: the expert can see it."""

    def client_words(record: dict) -> float:
        texts = [t["text"] for t in record["turns"] if t["speaker"] == "client"]
        return float(np.mean([len(text.split()) for text in texts]))

    missed = _session("c13", 3)
    assert client_words(missed) < 0.5 * client_words(_session("c13", 2))
    assert client_words(missed) <= 5


# Ordinary Chinese words the de-identification rules take for a name or place in these
# texts (false hits, not names): no detection may be anything else.
ORDINARY = {"但总", "合作", "安静", "太安静", "时候本", "谈工作", "都还没", "水里走路"}


def test_no_names_or_places() -> None:
    for record in MONITORING:
        found = detect_turns([t["text"] for t in record["turns"]], record["language"])
        texts = {span.text for spans in found for span in spans}
        if record["language"] == "en":
            assert texts == set(), record["session_id"]
        else:
            assert texts <= ORDINARY, (record["session_id"], texts - ORDINARY)


@pytest.mark.both_backends
def test_every_monitoring_session_imports(engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from store.models import Rating, TherapySession, Turn

    first = import_file(engine, DEMO_MONITORING)
    assert (first.records, first.created, first.errors) == (96, 96, [])
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(TherapySession)).scalar() == 96
        turns = connection.execute(select(func.count()).select_from(Turn)).scalar()
        ratings = connection.execute(select(func.count()).select_from(Rating)).scalar()
        meta = connection.execute(
            select(TherapySession.meta).where(TherapySession.id == "m031")
        ).scalar()
    assert turns == sum(len(r["turns"]) for r in MONITORING)
    assert ratings == 96 * 24
    assert meta == {"condition": "depression", "modality": "in person"}
    assert import_file(engine, DEMO_MONITORING).unchanged == 96


def test_the_demo_loads_traces_and_summarises_the_monitoring_views(tmp_path: Path) -> None:
    """`annotate demo` without a terminal: the monitoring sessions are in the store and
    traced, the summary names the counselor effects and c13 first among the clients not on
    track, and the experts get work on the annotated sessions only."""
    from sqlalchemy import text
    from typer.testing import CliRunner

    from annotate.core.demo import annotated_session_ids
    from cli.app import app
    from store.db import make_engine

    db = tmp_path / "demo.db"
    result = CliRunner().invoke(app, ["--db", str(db), "demo"])  # not a terminal: no UI
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "monitoring.jsonl: imported 96 sessions (96 new)" in result.output
    assert any(line.startswith("traced 112 sessions") for line in lines), result.output
    [effects] = [line for line in lines if line.startswith("counselor effects: ICC goal ")]
    assert "(10 counselors, 29 clients)" in effects and "(goal): t09 +" in effects
    [watch] = [line for line in lines if line.startswith("clients not on track: ")]
    assert watch.startswith("clients not on track: c13 (m031, missed by the counselor); ")
    assert "c21 (m064, the counselor's rating fell too)" in watch
    engine = make_engine(str(db))
    with engine.connect() as connection:
        authored = connection.execute(
            text("SELECT DISTINCT session_id FROM rationales WHERE author_id IS NOT NULL")
        ).scalars()
        traced = connection.execute(text("SELECT count(DISTINCT session_id) FROM turn_alliance"))
        drafted = connection.execute(text("SELECT DISTINCT session_id FROM drafts")).scalars()
        assert set(authored) == set(annotated_session_ids())
        assert traced.scalar() == 112
        assert set(drafted) == set(annotated_session_ids())
    engine.dispose()
