"""Per-annotator and per-dimension progress, checked against the demo files directly."""

from __future__ import annotations

import json
from collections import defaultdict
from statistics import mean

from annotate.core.demo import DEMO_RATIONALES, DEMO_REVIEWS, DEMO_SESSIONS
from annotate.work.progress import detail
from annotate.work.rationales import editor as editing
from tests.workdata import prepare_work

RUBRIC_THRESHOLD = 3


def _lines(path) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_demo_figures_match_an_independent_count(demo_engine) -> None:
    rationales = _lines(DEMO_RATIONALES)
    reviews = _lines(DEMO_REVIEWS)
    author = {(r["session_id"], r["item_id"]): r["author"] for r in rationales}
    figures = detail(demo_engine)["by_annotator"]
    for name in {r["author"] for r in rationales}:
        mine = [r for r in reviews if author[(r["session_id"], r["item_id"])] == name]
        units = {(r["session_id"], r["item_id"]) for r in mine}
        failing = {
            (r["session_id"], r["item_id"])
            for r in mine
            if min(r["faithfulness"], r["relevance"], r["informativeness"]) < RUBRIC_THRESHOLD
        }
        row = figures[name]
        assert row["assigned"] == row["edited"] == sum(1 for a in author.values() if a == name)
        assert row["reviewed"] == len(units) and row["sent_back"] == len(failing)
        assert row["accepted"] == row["assigned"] - len(failing)
        assert row["reviews"] == len(mine)
        for criterion in ("faithfulness", "relevance", "informativeness"):
            expected = round(mean(r[criterion] for r in mine), 2)
            assert row["score_means"][criterion] == expected
    for name in {r["reviewer"] for r in reviews}:
        assert figures[name]["reviews_given"] == sum(1 for r in reviews if r["reviewer"] == name)


def test_dimension_items_and_drafts(demo_engine) -> None:
    sessions = _lines(DEMO_SESSIONS)
    per_dimension: dict[str, int] = defaultdict(int)
    for record in sessions:
        for item in record["client_ratings"]:
            if item != "rupture_1":  # rated, never explained: no rationale work
                per_dimension[item.split("_")[0]] += 1
    prepare_work(demo_engine)  # drafts for every unit without imported text, all assigned
    figures = detail(demo_engine)["by_dimension"]
    assert {d: figures[d]["items"] for d in figures} == dict(per_dimension)
    for row in figures.values():
        assert row["assigned"] == row["items"]
        assert row["drafted"] == row["items"] - 16  # 4 sessions x 4 items had imported text


def test_edits_and_pending_reviews_are_counted(demo_engine) -> None:
    prepare_work(demo_engine)
    from annotate.work.queue import authoring_queue

    entry = authoring_queue(demo_engine, "chen")[0]
    before = detail(demo_engine)["by_annotator"]["chen"]
    editing.save(demo_engine, entry.rationale_id, "chen", "edited", 0)
    after = detail(demo_engine)["by_annotator"]["chen"]
    assert after["edited"] == before["edited"] + 1
    assert before["reviews_pending"] > 0
