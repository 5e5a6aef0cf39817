"""Blind human evaluation of model rationales: import, assignment with expert work, review,
the by-source table against an independent computation, and no prediction in any export."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from annotate.analysis.by_source import by_source
from annotate.core.errors import ImportFailed
from annotate.export.service import ExportOptions, export_dataset
from annotate.ingest.predictions import import_predictions
from annotate.work.assignment import assign_reviews
from annotate.work.reviews.predictions import assign_prediction_reviews
from annotate.work.reviews.queue import ReviewView, open_review, review_queue
from annotate.work.reviews.write import submit_review
from cli.app import app
from tests.factories import write_jsonl

pytestmark = pytest.mark.both_backends
MODELS = ("model-alpha", "model-beta")
REVIEWERS = ("ana", "ben", "chen")
CRITERIA = ("faithfulness", "relevance", "informativeness")


def _rows(engine, sql: str) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).all())


def _accepted_items(engine) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    return [
        (s, i, v)
        for s, i, v in _rows(
            engine,
            "SELECT r.session_id, r.item_id, g.value FROM rationales r JOIN ratings g "
            "ON g.session_id = r.session_id AND g.item_id = r.item_id "
            "AND g.rater_role = 'client' WHERE r.status = 'accepted' ORDER BY 1, 2",
        )
    ]


def _marker(model: str, session_id: str, item_id: str) -> str:
    return f"PRED-{model}-{session_id}-{item_id}"


def _prediction_file(engine, tmp_path: Path, model: str) -> Path:  # type: ignore[no-untyped-def]
    records = [
        {"session_id": s, "item_id": i, "rating": v,
         "rationale": f"In turn 3 the client agrees ({_marker(model, s, i)}); 来访者表示同意。"}
        for s, i, v in _accepted_items(engine)
    ]  # fmt: skip
    return write_jsonl(tmp_path / f"{model}.jsonl", records)


def _scores(reviewer: str, assignment_id: int) -> dict[str, int]:
    digest = hashlib.sha256(f"{reviewer}/{assignment_id}".encode()).digest()
    return {name: 1 + digest[k] % 5 for k, name in enumerate(CRITERIA)}


@pytest.fixture
def evaluated(demo_engine, tmp_path):  # type: ignore[no-untyped-def]
    """Two models' predictions and the experts' work, assigned to three reviewers twice over."""
    for model in MODELS:
        result = import_predictions(demo_engine, _prediction_file(demo_engine, tmp_path, model),
                                    model)  # fmt: skip
        assert result.created == len(_accepted_items(demo_engine))
        assign_prediction_reviews(demo_engine, model, fraction=1.0, overlap=2,
                                  overlap_fraction=1.0, reviewers=list(REVIEWERS))  # fmt: skip
    assign_reviews(demo_engine, fraction=1.0, overlap=2, overlap_fraction=1.0,
                   reviewers=list(REVIEWERS))  # fmt: skip
    return demo_engine


def test_reviewers_get_expert_and_model_texts_alike(evaluated) -> None:  # type: ignore[no-untyped-def]
    assert {f.name for f in dataclasses.fields(ReviewView)} == {
        "assignment_id", "rationale_id", "rationale_version", "context", "text",
    }  # fmt: skip
    for reviewer in REVIEWERS:
        tasks = review_queue(evaluated, reviewer)
        kinds = {task.rationale_id is None for task in tasks}
        assert kinds == {True, False}, reviewer  # both kinds in the same queue
        # Texts other reviewers also have (agreement) come first, then the rest; each part
        # session by session.
        shared = _shared_texts(evaluated)
        tiers = [
            (None, task.assignment_id) in shared
            if task.rationale_id is None
            else (task.rationale_id, task.session_id) in shared
            for task in tasks
        ]
        assert tiers == sorted(tiers, reverse=True), reviewer
        for tier in (True, False):
            sessions = [task.session_id for task, t in zip(tasks, tiers, strict=True) if t == tier]
            assert sessions == sorted(sessions, key=lambda s: [ord(c) for c in s])  # by session
        within = [t.rationale_id is None for t in tasks if t.session_id == tasks[0].session_id]
        assert within != sorted(within) or len(set(within)) == 1  # interleaved, not grouped
        for task in tasks[:6]:
            view = open_review(evaluated, task.assignment_id, reviewer)
            assert not any(model in repr(view.context) for model in MODELS)


def _shared_texts(engine) -> set[tuple[int | None, object]]:  # type: ignore[no-untyped-def]
    """Texts assigned to two or more reviewers: (rationale id, session id) of an expert's,
    (None, assignment id) of each assignment of a model's."""
    rationales = _rows(
        engine,
        "SELECT r.id, r.session_id FROM review_assignments a JOIN rationales r "
        "ON r.id = a.rationale_id GROUP BY r.id, r.session_id HAVING COUNT(*) >= 2",
    )
    predictions = _rows(
        engine,
        "SELECT a.id FROM review_assignments a WHERE a.prediction_id IN (SELECT prediction_id "
        "FROM review_assignments WHERE prediction_id IS NOT NULL GROUP BY prediction_id "
        "HAVING COUNT(*) >= 2)",
    )
    return {(rid, sid) for rid, sid in rationales} | {(None, aid) for (aid,) in predictions}


def _review_everything(engine) -> None:  # type: ignore[no-untyped-def]
    for reviewer in REVIEWERS:
        for task in review_queue(engine, reviewer):
            view = open_review(engine, task.assignment_id, reviewer)
            scores = _scores(reviewer, task.assignment_id)
            comment = "" if min(scores.values()) >= 3 else "turn 3 does not say this"
            submit_review(engine, task.assignment_id, reviewer, scores, comment,
                          shown_version=view.rationale_version)  # fmt: skip


def _score_columns(alias: str, table: str, key: str) -> str:
    """The three criteria's scores of a review, as SQL columns (scores are rows since 0008)."""
    return ", ".join(
        f"(SELECT score FROM {table} x WHERE x.{key} = {alias}.id AND x.criterion = '{name}')"
        for name in ("faithfulness", "relevance", "informativeness")
    )


def _expected_by_source(engine) -> dict[str, dict[str, dict[str, float | None]]]:  # type: ignore[no-untyped-def]
    """Means, SDs, pass shares and alpha computed from plain SQL rows with krippendorff."""
    rows = _rows(
        engine,
        "SELECT 'experts', 'r' || CAST(v.rationale_id AS VARCHAR(20)), v.reviewer_id, "
        f"{_score_columns('v', 'review_scores', 'review_id')} FROM reviews v "
        "JOIN rationales r ON r.id = v.rationale_id "
        "WHERE v.rationale_version = r.current_version "
        "UNION ALL SELECT p.source, 'p' || CAST(p.id AS VARCHAR(20)), w.reviewer_id, "
        f"{_score_columns('w', 'prediction_review_scores', 'prediction_review_id')} "
        "FROM prediction_reviews w "
        "JOIN predictions p ON p.id = w.prediction_id",
    )
    expected: dict[str, dict[str, dict[str, float | None]]] = {}
    for source in {row[0] for row in rows}:
        part = [row for row in rows if row[0] == source]
        units = sorted({row[1] for row in part})
        reviewers = sorted({row[2] for row in part})
        by_unit: dict[str, bool] = {}
        for row in part:
            by_unit[row[1]] = by_unit.get(row[1], True) and min(row[3:]) >= 3
        expected[source] = {}
        for index, criterion in enumerate(CRITERIA):
            values = np.array([row[3 + index] for row in part], dtype=float)
            matrix = np.full((len(reviewers), len(units)), np.nan)
            for row in part:
                matrix[reviewers.index(row[2]), units.index(row[1])] = row[3 + index]
            paired = matrix[:, (~np.isnan(matrix)).sum(axis=0) >= 2]
            expected[source][criterion] = {
                "mean": float(values.mean()),
                "sd": float(values.std(ddof=1)),
                "pass_share": sum(by_unit.values()) / len(by_unit),
                "alpha": float(
                    krippendorff.alpha(reliability_data=paired, level_of_measurement="ordinal")
                ),  # fmt: skip
                "units": paired.shape[1],
            }
    return expected


def test_by_source_scores_and_alpha_equal_an_independent_computation(evaluated) -> None:  # type: ignore[no-untyped-def]
    _review_everything(evaluated)
    table = by_source(evaluated, samples=20)
    assert list(dict.fromkeys(table["source"])) == ["experts", *MODELS]
    expected = _expected_by_source(evaluated)
    for row in table.to_dict("records"):
        want = expected[row["source"]][row["criterion"]]
        for key in ("mean", "sd", "pass_share", "alpha"):
            assert row[key] == pytest.approx(want[key], abs=1e-9), (row["source"], key)
        assert row["units"] == want["units"] > 0
    from annotate.work.progress import detail

    given = detail(evaluated)["by_annotator"]
    for reviewer in REVIEWERS:
        expected_given = sum(
            _rows(evaluated, f"SELECT count(*) FROM {name} WHERE reviewer_id = '{reviewer}'")[0][0]
            for name in ("reviews", "prediction_reviews")
        )
        assert given[reviewer]["reviews_given"] == expected_given
        assert given[reviewer]["reviews_pending"] == 0


def test_predictions_never_reach_an_export(evaluated, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _review_everything(evaluated)
    for fmt in ("openai", "alpaca", "sharegpt", "dpo"):
        out = tmp_path / fmt
        export_dataset(evaluated, ExportOptions(fmt, out, folds=2, include_unreviewed=True))
        written = "".join(
            path.read_text(encoding="utf-8") for path in out.rglob("*") if path.is_file()
        )
        assert "PRED-" not in written, fmt
    assert (
        _rows(
            evaluated,
            "SELECT count(*) FROM rationale_versions WHERE text LIKE '%(PRED-%'",
        )[0][0]
        == 0
    )


def test_a_failing_prediction_review_sends_nothing_back_and_cannot_be_repeated(evaluated) -> None:  # type: ignore[no-untyped-def]
    from annotate.core.errors import PermissionDenied

    before = _rows(evaluated, "SELECT id, status FROM rationales ORDER BY id")
    task = next(t for t in review_queue(evaluated, "ana") if t.rationale_id is None)
    submit_review(evaluated, task.assignment_id, "ana", dict.fromkeys(CRITERIA, 1), "wrong",
                  shown_version=1)  # fmt: skip
    assert _rows(evaluated, "SELECT id, status FROM rationales ORDER BY id") == before
    with pytest.raises(PermissionDenied):
        submit_review(evaluated, task.assignment_id, "ana", dict.fromkeys(CRITERIA, 4), "",
                      shown_version=1)  # fmt: skip
    assert task.assignment_id not in {t.assignment_id for t in review_queue(evaluated, "ana")}


def test_bad_prediction_files_are_refused_whole(demo_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    items = _accepted_items(demo_engine)
    (s, i, v), (s2, i2, v2) = items[0], items[1]
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"session_id": s, "item_id": i, "rating": v, "rationale": "fine"},
        {"session_id": s2, "item_id": i2, "rating": v2},
    ])  # fmt: skip
    with pytest.raises(ImportFailed) as failure:
        import_predictions(demo_engine, path, "m")
    assert failure.value.errors == [
        f"{path}:2: no rationale: predictions are imported to be reviewed"
    ]
    assert _rows(demo_engine, "SELECT count(*) FROM predictions")[0][0] == 0
    # A reviewed prediction cannot change under its reviews.
    good = write_jsonl(tmp_path / "good.jsonl", [{"session_id": s, "item_id": i, "rating": v,
                                                  "rationale": "first"}])  # fmt: skip
    import_predictions(demo_engine, good, "m")
    assign_prediction_reviews(demo_engine, "m", fraction=1.0, reviewers=["ana"])
    task = next(t for t in review_queue(demo_engine, "ana") if t.rationale_id is None)
    submit_review(demo_engine, task.assignment_id, "ana", dict.fromkeys(CRITERIA, 4), "",
                  shown_version=1)  # fmt: skip
    second = {"session_id": s, "item_id": i, "rating": v, "rationale": "second"}
    changed = write_jsonl(tmp_path / "changed.jsonl", [second])
    with pytest.raises(ImportFailed, match="1 error"):
        import_predictions(demo_engine, changed, "m")
    assert _rows(demo_engine, "SELECT text FROM predictions")[0][0] == "first"
    assert import_predictions(demo_engine, good, "m").unchanged == 1


def test_the_commands_import_assign_and_report_by_source(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from store.db import make_engine

    runner = CliRunner()
    db = tmp_path / "demo.db"
    assert runner.invoke(app, ["--db", str(db), "demo", "--no-ui"]).exit_code == 0
    engine = make_engine(str(db))
    try:
        path = _prediction_file(engine, tmp_path, "model-alpha")
    finally:
        engine.dispose()
    wrong = runner.invoke(app, ["--db", str(db), "import", str(path), "--kind", "predictions"])
    assert wrong.exit_code == 1 and "--source" in wrong.stderr
    imported = runner.invoke(app, ["--db", str(db), "import", str(path), "--kind",
                                   "predictions", "--source", "model-alpha", "--json"])  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["created"] > 0
    assigned = runner.invoke(app, ["--db", str(db), "review-assign", "--fraction", "1",
                                   "--include-predictions", "model-alpha", "--json"])  # fmt: skip
    assert assigned.exit_code == 0, assigned.output
    given = json.loads(assigned.output)["predictions"]["model-alpha"]["assigned"]
    assert sum(given.values()) > 0
    unknown = runner.invoke(app, ["--db", str(db), "review-assign", "--fraction", "1",
                                  "--include-predictions", "nobody"])  # fmt: skip
    assert unknown.exit_code == 1 and "imported: model-alpha" in unknown.stderr
    engine = make_engine(str(db))
    try:
        _review_everything(engine)
    finally:
        engine.dispose()
    report = json.loads(runner.invoke(app, ["--db", str(db), "agreement", "--samples", "10",
                                            "--json"]).output)  # fmt: skip
    assert {row["source"] for row in report["by_source"]} == {"experts", "model-alpha"}
    shown = runner.invoke(app, ["--db", str(db), "agreement", "--samples", "10"]).output
    assert "Human evaluation by source" in shown and "model-alpha" in shown
    html = tmp_path / "report.html"
    made = runner.invoke(app, ["--db", str(db), "report", "--html", str(html), "--samples", "10"])
    assert made.exit_code == 0, made.output
    page = html.read_text(encoding="utf-8")
    assert "<h2>Human evaluation by source</h2>" in page and "model-alpha" in page
    assert "Mean review score by source" in page  # the chart
