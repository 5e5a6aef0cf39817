"""A team's own words: a rubric with other criteria and an instrument with other dimensions.

Nothing in the code may assume the WAI-SR's goal/task/bond or the packaged rubric's
faithfulness/relevance/informativeness. A fresh store gets an instrument of six items
in two dimensions ("trust", "direction") and a rubric of four criteria ("accuracy",
"focus", "specificity", "clarity"); then import (sessions rated on it, rationales,
reviews scored on those criteria), the review service and the review screen, the
statistics (alpha per criterion against ``krippendorff.alpha`` on the same matrix),
progress and the export (its records, manifest and review filter) all run on them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from annotate.analysis.agreement import agreement, criterion_scores, pass_rates
from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.core.guidelines import Rubric, load_instrument
from annotate.core.instruments import install_instrument
from annotate.core.vocabulary import current_rubric, install_rubric, rationale_dimensions
from annotate.export.service import ExportOptions, export_dataset
from annotate.ingest import import_file
from annotate.work.progress import detail
from annotate.work.reviews.write import record_review
from store.db import session_scope
from store.models import Annotator, Rationale, Review, ReviewAssignment, ReviewScore
from tests.factories import write_jsonl

pytestmark = pytest.mark.both_backends

CRITERIA = ("accuracy", "focus", "specificity", "clarity")
DIMENSIONS = ("trust", "direction")
ITEMS = [f"{d}_{n}" for d in DIMENSIONS for n in (1, 2, 3)]
SESSIONS = [("t1", "cl-a"), ("t2", "cl-a"), ("t3", "cl-b"), ("t4", "cl-b")]
AUTHOR = {"cl-a": "ana", "cl-b": "ben"}
REVIEWERS = ("cy", "dee")

INSTRUMENT = """
id = "tga"
name = "Trust and direction (test)"
version = "1.0.0"
scale_min = 1
scale_max = 5

[anchors]
1 = "Never"
2 = "Rarely"
3 = "Sometimes"
4 = "Often"
5 = "Always"

[dimensions.trust]
name = "Trust"
definition = "The client trusts the counselor with what matters to them."

[dimensions.direction]
name = "Direction"
definition = "Both know where the sessions are heading."
""" + "".join(
    f'\n[[items]]\nid = "{item}"\ndimension = "{item.split("_")[0]}"\n'
    f'text = "Item {item} of the test instrument."\n'
    for item in ITEMS
)

RUBRIC = Rubric.model_validate(
    {
        "version": "2.0.0-test",
        "threshold": 3,
        "scale_min": 1,
        "scale_max": 5,
        "criteria": {
            name: {
                "name": name.capitalize(),
                "question": f"Is the rationale good on {name}?",
                "scores": {str(v): f"{name} at {v}" for v in range(1, 6)},
            }
            for name in CRITERIA
        },
    }
)


def _scores(unit: int, reviewer: str) -> dict[str, int]:
    """Each reviewer's scores of a unit (0..23): varied, near each other, all passing
    but for unit 5, which cy scores 2 on clarity (the last, renamed criterion)."""
    shift = 0 if reviewer == "cy" else 1
    scores = {
        "accuracy": 3 + (unit + shift) % 3,
        "focus": 4 + (unit // 2 + shift * (unit % 3 == 0)) % 2,
        "specificity": 5 - (unit + shift * (unit % 4 == 0)) % 3,
        "clarity": 3 + (unit * 7 + shift) % 3,
    }
    if unit == 5 and reviewer == "cy":
        scores["clarity"] = 2
    return scores


def _store(engine, tmp_path: Path) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Instrument, rubric and the imported work; the units in order."""
    path = tmp_path / "tga.toml"
    path.write_text(INSTRUMENT, encoding="utf-8")
    with session_scope(engine) as session:
        install_instrument(session, load_instrument(path))
    with engine.begin() as connection:
        assert install_rubric(connection, RUBRIC)
        assert not install_rubric(connection, RUBRIC)  # the same content again: no change
        changed = RUBRIC.model_copy(update={"threshold": 4})
        with pytest.raises(ConfigError, match="other content"):
            install_rubric(connection, changed)
    sessions = [
        {
            "session_id": sid,
            "client_id": client,
            "counselor_id": "co1",
            "session_number": number,
            "language": "en",
            "turns": [
                {"speaker": "counselor", "text": "Where shall we start today?"},
                {"speaker": "client", "text": "With what we agreed last time, I think."},
            ],
            "client_ratings": {item: 1 + (number + index) % 5 for index, item in
                               enumerate(ITEMS)},
            "counselor_ratings": {item: 4 for item in ITEMS},
        }
        for number, (sid, client) in enumerate(SESSIONS, start=1)
    ]  # fmt: skip
    units = [(sid, item) for sid, _ in SESSIONS for item in ITEMS]
    author = {sid: AUTHOR[client] for sid, client in SESSIONS}
    rationales = [
        {"session_id": sid, "item_id": item, "author": author[sid],
         "text": f"In {sid} the client's words on {item} show why they rated it so."}
        for sid, item in units
    ]  # fmt: skip
    reviews = [
        {"session_id": sid, "item_id": item, "reviewer": reviewer,
         **_scores(unit, reviewer), "comment": "unclear" if unit == 5 else None}
        for unit, (sid, item) in enumerate(units)
        for reviewer in REVIEWERS
    ]  # fmt: skip
    import_file(engine, write_jsonl(tmp_path / "sessions.jsonl", sessions))
    import_file(engine, write_jsonl(tmp_path / "rationales.jsonl", rationales))
    # dee's reviews as JSONL, cy's as CSV (criteria as columns; cells are text there)
    import_file(engine, write_jsonl(tmp_path / "reviews.jsonl",
                                    [r for r in reviews if r["reviewer"] == "dee"]))  # fmt: skip
    csv_path = tmp_path / "reviews.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["session_id", "item_id", "reviewer", *CRITERIA, "comment"])
        writer.writeheader()
        writer.writerows(r for r in reviews if r["reviewer"] == "cy")
    import_file(engine, csv_path)
    return units


def test_another_rubric_and_instrument_from_import_to_export(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    units = _store(engine, tmp_path)
    rubric = current_rubric(engine)
    assert rubric.names == CRITERIA and rubric.version == RUBRIC.version

    # Import stored one row per criterion, and sent the failing rationale back.
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT DISTINCT criterion FROM review_scores ORDER BY criterion")
        ).scalars()
        assert list(stored) == sorted(CRITERIA)
        assert connection.execute(text("SELECT count(*) FROM review_scores")).scalar() == (
            len(units) * len(REVIEWERS) * len(CRITERIA)
        )
        versions = set(
            connection.execute(text("SELECT DISTINCT rubric_version FROM reviews")).scalars()
        )
        assert versions == {RUBRIC.version}
    with Session(engine) as session:
        sent_back = session.exec(
            select(Rationale).where(Rationale.status == workflow.REVISION_REQUESTED)
        ).all()
        assert [(r.session_id, r.item_id) for r in sent_back] == [units[5]]

    # The review service: the renamed criteria are what a review scores, no other.
    target = units[0]
    with session_scope(engine) as session:
        rationale = session.exec(
            select(Rationale).where(
                Rationale.session_id == target[0], Rationale.item_id == target[1]
            )
        ).one()
        rationale_id = rationale.id
        assert rationale_id is not None
        with pytest.raises(ConfigError, match="accuracy, focus, specificity, clarity"):
            record_review(session, rationale_id, "eve",
                          {"faithfulness": 4, "relevance": 4, "informativeness": 4},
                          version=None, comment=None, rubric=rubric)  # fmt: skip
    new_scores = {"accuracy": 5, "focus": 4, "specificity": 4, "clarity": 3}
    with session_scope(engine) as session:
        review = record_review(session, rationale_id, "eve", new_scores, version=None,
                               comment=None, rubric=rubric)  # fmt: skip
        review_id = review.id
    with Session(engine) as session:
        rows = session.exec(
            select(ReviewScore.criterion, ReviewScore.score).where(
                ReviewScore.review_id == review_id
            )
        ).all()
        stored_review = session.get(Review, review_id)
    assert dict(rows) == new_scores
    assert stored_review is not None and stored_review.passed
    assert stored_review.rubric_version == RUBRIC.version

    # Statistics: alpha per renamed criterion, as krippendorff computes it on the
    # reviewer x unit matrix of the same scores (eve scored unit 0 only).
    alpha = agreement(engine, samples=50)
    assert list(alpha["criterion"]) == list(CRITERIA)
    for criterion in CRITERIA:
        eve = [np.nan] * len(units)
        eve[0] = new_scores[criterion]
        matrix = np.array(
            [*([_scores(unit, reviewer)[criterion] for unit in range(len(units))]
               for reviewer in REVIEWERS), eve],
            dtype=float,
        )  # fmt: skip
        expected = krippendorff.alpha(
            reliability_data=matrix,
            level_of_measurement="ordinal",
            value_domain=[1, 2, 3, 4, 5],
        )
        row = alpha[alpha["criterion"] == criterion].iloc[0]
        assert row["alpha"] == pytest.approx(expected), criterion
        assert row["units"] == len(units)
    means = criterion_scores(engine, "dimension")
    assert set(means["criterion"]) == set(CRITERIA)
    assert list(dict.fromkeys(means["dimension"])) == list(DIMENSIONS)
    rates = pass_rates(engine)
    every = rates[rates["rule"] == "every_review"].iloc[0]
    assert (every["rationales"], every["passed"]) == (len(units), len(units) - 1)

    # Progress: the loaded dimensions and the renamed criteria's means.
    # (The WAI-SR's dimensions are there too, without work: the store was made with it.)
    figures = detail(engine)
    assert set(figures["by_dimension"]) == {*DIMENSIONS, "goal", "task", "bond"}
    for name, row in figures["by_dimension"].items():
        assert list(row["score_means"]) == list(CRITERIA)
        reviewed = name in DIMENSIONS
        assert all((value is not None) == reviewed for value in row["score_means"].values())
    for row in figures["by_annotator"].values():
        assert list(row["score_means"]) == list(CRITERIA)
    # The queue's dimension filter reads the instruments in the store.
    assert rationale_dimensions(engine) == ["trust", "direction", "goal", "task", "bond"]

    # Export: the failing rationale stays out as sent back; with --min-score 4 every
    # rationale whose reviews score 3 on any renamed criterion stays out too.
    out = tmp_path / "export"
    manifest = export_dataset(
        engine, ExportOptions("alpaca", out, target="rationale", instrument_id="tga")
    )
    assert "accuracy, focus, specificity and clarity" in manifest["filters"]["rule"]
    assert manifest["versions"]["rubric"] == RUBRIC.version
    exported = [json.loads(line) for line in (out / "train.index.jsonl").read_text().splitlines()]
    assert sorted((r["session_id"], r["item_id"]) for r in exported) == sorted(
        unit for unit in units if unit != units[5]
    )
    assert {r["item_id"].split("_")[0] for r in exported} == set(DIMENSIONS)
    text_of_manifest = json.dumps(manifest)
    assert all(f'"{dimension}"' in text_of_manifest for dimension in DIMENSIONS)

    strict = export_dataset(
        engine,
        ExportOptions("alpaca", tmp_path / "strict", target="rationale", instrument_id="tga",
                      min_score=4),
    )  # fmt: skip
    scores = {
        unit: [_scores(index, reviewer) for reviewer in REVIEWERS]
        for index, unit in enumerate(units)
    }
    scores[units[0]].append(new_scores)
    wanted = sorted(
        unit for unit in units
        if unit != units[5] and all(min(s.values()) >= 4 for s in scores[unit])
    )  # fmt: skip
    assert 0 < len(wanted) < len(units) - 1
    index = (tmp_path / "strict" / "train.index.jsonl").read_text().splitlines()
    assert sorted((r["session_id"], r["item_id"]) for r in map(json.loads, index)) == wanted
    assert strict["counts"]["records"] == len(wanted)


async def test_the_review_screen_scores_the_loaded_criteria(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.tui.helpers import SIZE, settle
    from tui.app import create_app
    from tui.screens.review import ReviewScreen

    units = _store(engine, tmp_path)
    with session_scope(engine) as session:
        rationale = session.exec(
            select(Rationale).where(
                Rationale.session_id == units[1][0], Rationale.item_id == units[1][1]
            )
        ).one()
        assert rationale.id is not None
        rationale_id = rationale.id
        session.add(Annotator(id="eve"))
        session.flush()
        session.add(ReviewAssignment(rationale_id=rationale_id, reviewer_id="eve"))
    app = create_app(engine, "eve")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("tab")  # from your rationales to the reviews table
        await pilot.press("enter")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ReviewScreen)
        fields = [node.id for node in screen.query("#scores Input")]
        assert fields == list(CRITERIA)
        await pilot.press("4", "tab", "5", "tab", "3", "tab", "4", "tab", *"fine")
        await pilot.press("ctrl+s")
        await settle(pilot)
    with Session(engine) as session:
        review = session.exec(
            select(Review).where(Review.rationale_id == rationale_id, Review.reviewer_id == "eve")
        ).one()
        rows = session.exec(
            select(ReviewScore.criterion, ReviewScore.score).where(
                ReviewScore.review_id == review.id
            )
        ).all()
    assert dict(rows) == {"accuracy": 4, "focus": 5, "specificity": 3, "clarity": 4}
    assert review.passed and review.comment == "fine"
    assert review.rubric_version == RUBRIC.version
