"""The judge against the human reviewers: alpha, kappa and bias against independent
computations on the stored rows, beside the reviewers' own alpha."""

from __future__ import annotations

import json
from collections import defaultdict

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from sqlalchemy import text
from typer.testing import CliRunner

from annotate.analysis.agreement import agreement
from annotate.analysis.agreement_judge import (
    MIN_UNITS,
    CriterionAgreement,
    judge_agreement,
    sentences,
)
from annotate.core.errors import ConfigError
from cli.app import app
from store.db import session_scope
from store.models import Prediction, PredictionReview, PredictionReviewScore
from tests.judging_rows import add_judgement

pytestmark = pytest.mark.both_backends

CRITERIA = ("faithfulness", "relevance", "informativeness")
SAMPLES = 50


def reviewed_current(engine) -> dict[int, list[tuple[str, bool, dict[str, int]]]]:  # type: ignore[no-untyped-def]
    """Per rationale: (reviewer, passed, scores) of each review of its current version."""
    found: dict[int, list[tuple[str, bool, dict[str, int]]]] = defaultdict(list)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.id, v.reviewer_id, v.passed, s.criterion, s.score, v.id "
                "FROM reviews v JOIN rationales r ON r.id = v.rationale_id "
                "AND r.current_version = v.rationale_version "
                "JOIN review_scores s ON s.review_id = v.id ORDER BY v.id"
            )
        ).all()
    by_review: dict[int, tuple[int, str, bool, dict[str, int]]] = {}
    for rid, reviewer, passed, criterion, score, review_id in rows:
        by_review.setdefault(review_id, (rid, reviewer, bool(passed), {}))[3][criterion] = score
    for rid, reviewer, passed, scores in by_review.values():
        found[rid].append((reviewer, passed, scores))
    return dict(found)


def judge_scores_for(rid: int, humans: list[tuple[str, bool, dict[str, int]]]) -> dict[str, int]:
    """Deterministic judge scores: faithfulness copies the first reviewer, relevance is
    shifted by the rationale id, informativeness is harsh on every fourth."""
    first = humans[0][2]
    return {
        "faithfulness": first["faithfulness"],
        "relevance": 1 + (first["relevance"] + rid) % 5,
        "informativeness": 2 if rid % 4 == 0 else first["informativeness"],
    }


def seed_judgements(engine):  # type: ignore[no-untyped-def]
    """Judge every reviewed rationale and one reviewed prediction; decoys that must not
    count. Returns {unit: (judge scores, judge passed, [(reviewer, passed, scores)])}."""
    units = {}
    for rid, humans in sorted(reviewed_current(engine).items()):
        scores = judge_scores_for(rid, humans)
        add_judgement(engine, {k: 5 for k in CRITERIA}, rationale_id=rid, minutes=0)  # older
        add_judgement(engine, scores, rationale_id=rid, minutes=5, reason="依据第2轮。")
        add_judgement(engine, {k: 1 for k in CRITERIA}, rationale_id=rid, minutes=9,
                      status="ungrounded")  # fmt: skip
        add_judgement(engine, {k: 1 for k in CRITERIA}, rationale_id=rid, minutes=9,
                      model="other-model")  # fmt: skip
        units[f"r{rid}"] = (scores, all(v >= 3 for v in scores.values()), humans)
    with session_scope(engine) as session:
        rid = min(reviewed_current(engine))
        session_id, item_id = session.execute(
            text(f"SELECT session_id, item_id FROM rationales WHERE id = {rid}")
        ).one()
        prediction = Prediction(source="model-x", session_id=session_id, item_id=item_id,
                                text="The model's reason: turn 2 shows the goal.")  # fmt: skip
        session.add(prediction)
        session.flush()
        pid = prediction.id
        human = []
        for reviewer, scores, passed in (
            ("ana", {"faithfulness": 2, "relevance": 3, "informativeness": 2}, False),
            ("ben", {"faithfulness": 3, "relevance": 3, "informativeness": 2}, False),
        ):
            review = PredictionReview(prediction_id=pid, reviewer_id=reviewer, passed=passed,
                                      rubric_version="test")  # fmt: skip
            session.add(review)
            session.flush()
            for criterion, score in scores.items():
                session.add(PredictionReviewScore(prediction_review_id=review.id,
                                                  criterion=criterion, score=score))  # fmt: skip
            human.append((reviewer, passed, scores))
    assert pid is not None
    scores = {"faithfulness": 2, "relevance": 4, "informativeness": 2}
    add_judgement(engine, scores, prediction_id=pid, minutes=5)
    units[f"p{pid}"] = (scores, False, human)
    return units


def test_judge_figures_equal_independent_computations(demo_engine) -> None:
    units = seed_judgements(demo_engine)
    result = judge_agreement(demo_engine, samples=SAMPLES)
    assert result.model == "judge-model"
    assert result.models["judge-model"] == len(units)
    assert result.chosen == "the model with most counted judgements"
    assert result.rationale_units == len(units) - 1 and result.prediction_units == 1
    reviewers = sorted({r for _, _, humans in units.values() for r, _, _ in humans})
    order = sorted(units)
    human_alpha = agreement(demo_engine, samples=SAMPLES).set_index("criterion")
    for one in result.criteria:
        name = one.criterion
        matrix = np.full((len(reviewers) + 1, len(order)), np.nan)
        differences = []
        for column, unit in enumerate(order):
            judge, _, humans = units[unit]
            matrix[-1, column] = judge[name]
            for reviewer, _, scores in humans:
                matrix[reviewers.index(reviewer), column] = scores[name]
                differences.append(judge[name] - scores[name])
        expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal",
                                      value_domain=[1, 2, 3, 4, 5])  # fmt: skip
        assert one.alpha == pytest.approx(expected, abs=1e-9)
        assert one.units == len(order)
        assert one.ci_low is not None and one.ci_low <= one.alpha <= (one.ci_high or 0)
        assert one.bias == pytest.approx(float(np.mean(differences)))
        assert one.pairs == len(differences)
        assert one.human_alpha == pytest.approx(human_alpha.loc[name, "alpha"])
        assert one.human_units == human_alpha.loc[name, "units"]
        said = [s for s in result.sentences if s.startswith(f"On {name} ")]
        if one.alpha < one.human_alpha:
            assert said == [
                f"On {name} the judge agrees with the reviewers less than they agree with "
                f"each other (α {one.alpha:.2f} vs {one.human_alpha:.2f}): use it to choose "
                "what to review, not to replace review."
            ]
        else:
            assert said == []
    assert result.sentences, "relevance is shifted at random: the judge agrees less there"
    human_passed = [p for _, _, humans in units.values() for _, p, _ in humans]
    judge_passed = [j for _, j, humans in units.values() for _ in humans]
    assert result.kappa_pairs == len(human_passed)
    assert result.kappa == pytest.approx(cohen_kappa_score(human_passed, judge_passed))
    agreeing = np.mean(np.array(human_passed) == np.array(judge_passed))
    assert result.raw_agreement == pytest.approx(float(agreeing))
    assert "one observation" in result.kappa_note
    other = judge_agreement(demo_engine, "other-model", samples=0)
    assert other.chosen == "named" and other.criteria[0].units == len(units) - 1


def test_too_few_units_say_so_and_nothing_judged_is_an_error(demo_engine) -> None:
    with pytest.raises(ConfigError, match="no judged texts: run 'annotate judge' first"):
        judge_agreement(demo_engine, samples=0)
    rid, humans = sorted(reviewed_current(demo_engine).items())[0]
    add_judgement(demo_engine, judge_scores_for(rid, humans), rationale_id=rid)
    result = judge_agreement(demo_engine, samples=0)
    for one in result.criteria:
        assert one.units == 1 < MIN_UNITS and one.alpha is None
    assert result.sentences == [
        f"Too few texts to say how the judge agrees with the reviewers on {name}: 1 scored "
        f"by both, at least {MIN_UNITS} needed."
        for name in CRITERIA
    ]
    with pytest.raises(ConfigError, match="no counted judgement by model 'nope'"):
        judge_agreement(demo_engine, "nope", samples=0)


def _one(alpha: float | None, human: float | None, units: int = 5, human_units: int = 5):  # type: ignore[no-untyped-def]
    return CriterionAgreement("faithfulness", alpha, None, None, units, 0.0, units, human,
                              None, None, human_units, None)  # fmt: skip


def test_the_plain_sentence_appears_exactly_when_the_judge_agrees_less() -> None:
    assert sentences(_one(0.41, 0.63)) == [
        "On faithfulness the judge agrees with the reviewers less than they agree with each "
        "other (α 0.41 vs 0.63): use it to choose what to review, not to replace review."
    ]
    assert sentences(_one(0.63, 0.63)) == []
    assert sentences(_one(0.70, 0.63)) == []
    assert sentences(_one(0.5, None, human_units=1))[0].startswith("Too few texts reviewed twice")
    assert sentences(_one(None, 0.6, units=1))[0].startswith("Too few texts to say")


def test_cli_json_matches_the_domain_and_nothing_judged_is_one_line(
    demo_engine, db_url: str
) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["--db", db_url, "agreement", "--judge"])
    assert empty.exit_code != 0
    assert empty.output.strip().splitlines() == [
        "error: no judged texts: run 'annotate judge' first"
    ]
    seed_judgements(demo_engine)
    ran = runner.invoke(app, ["--db", db_url, "agreement", "--judge", "--samples", "20",
                              "--json"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    data = json.loads(ran.stdout)
    expected = judge_agreement(demo_engine, samples=20).as_json()
    assert data == json.loads(json.dumps(expected, default=str))
    assert data["model"] == "judge-model"
    shown = runner.invoke(app, ["--db", db_url, "agreement", "--judge", "--samples", "0"])
    assert shown.exit_code == 0, shown.output
    assert "Judge: judge-model (the model with most counted judgements" in shown.output
    assert "also judged by other-model" in shown.output
    assert "one observation" in shown.output
    for sentence in expected["sentences"]:
        assert sentence in " ".join(shown.output.split())
    bad = runner.invoke(app, ["--db", db_url, "agreement", "--judge", "--model", "nope"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1


def test_the_report_shows_the_judge_with_the_domain_figures_and_nothing_without(
    demo_engine,
) -> None:
    from annotate.analysis.report import build_report
    from annotate.analysis.report_judge import judge_sections
    from annotate.work.judged import judge_summary

    assert judge_sections(demo_engine, samples=0) == []
    assert "Rubric judge" not in build_report(demo_engine, samples=0)
    seed_judgements(demo_engine)
    html = build_report(demo_engine, samples=20)
    start = html.index("<h2>Rubric judge</h2>")
    section = html[start : html.index("<h2>", start + 5)]
    result = judge_agreement(demo_engine, samples=20)
    summary = judge_summary(demo_engine, weakest=10)
    for one in result.criteria:
        row = section.split(f'<td class="text">{one.criterion}</td>', 1)[1].split("</tr>")[0]
        cells = [c.split(">", 1)[1] for c in row.split("</td>") if ">" in c]
        assert cells[0] == f"{one.alpha:.3f}" and cells[3] == str(one.units)
        assert cells[4] == f"{one.human_alpha:.3f}" and cells[7] == str(one.human_units)
        assert cells[8] == f"{one.bias:.3f}" and cells[9] == str(one.pairs)
        # the chart's points: the judge's alpha and the reviewers' own
        assert f"judge vs reviewers, {one.criterion}: {one.alpha:.2f} [" in section
        assert f"reviewers with each other, {one.criterion}: {one.human_alpha:.2f}" in section
    assert f"Cohen&#x27;s kappa {result.kappa:.2f}" in section
    for sentence in result.sentences:
        assert sentence.replace("'", "&#x27;") in section
    assert (
        f"{summary.judged} of {summary.accepted} accepted rationales judged on their current "
        f"version ({summary.judged_older} only on an older version" in section
    )
    assert "Weakest by judge first" in section
    weakest_rows = section.split("Weakest by judge first", 1)[1].split("<tr>")[2:]
    assert len(weakest_rows) == len(summary.weakest) == 10
    for row, weak in zip(weakest_rows, summary.weakest, strict=True):
        assert f'<td class="text">{weak.session_id}</td><td class="text">{weak.item_id}' in row
        assert weak.reason is not None and weak.reason in row
