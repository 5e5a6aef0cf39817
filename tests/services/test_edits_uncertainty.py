"""``annotate edits``: does the model's uncertainty predict the experts' edits? Checked
against scipy on pairs the test computes itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

from annotate.analysis.edits import MIN_PAIRS, uncertainty_and_edits
from annotate.ingest import import_file
from store.db import session_scope
from store.models import Annotator, Draft, DraftSample, Rationale, RationaleVersion
from tests.factories import session_record, write_jsonl
from tests.services.test_stats_edits import table_distance

pytestmark = pytest.mark.both_backends

# item -> (draft, final text, uncertainty of its current sample set)
WORK = {
    "goal_1": ("The client wants to sleep earlier.", "The client wants to sleep earlier.", 0.05),
    "goal_2": ("The client wants more rest.", "The client wants more rest at night.", 0.12),
    "goal_3": ("来访者希望早点睡觉。", "来访者希望每天早点睡觉。", 0.2),
    "goal_4": ("The goal is unclear.", "The client names no goal of her own yet.", 0.41),
    "task_1": ("来访者同意做练习。", "来访者怀疑练习是否有用，但愿意试一次。", 0.55),
    "task_2": ("The homework suits her.", "She found the homework too long to finish.", 0.3),
    "task_3": ("Tasks agreed.", "Tasks agreed.", 0.62),
    "task_4": ("咨询师解释了任务。", "来访者不明白为什么要写日记。", 0.8),
    "bond_1": ("She trusts the counselor.", "Trust is still forming in turn 6.", 0.71),
}
# Left out: bond_2 has no uncertainty, bond_3 a set where fewer than two had text,
# bond_4 was written without a draft.


def _draft(item_id: str, text: str) -> Draft:
    return Draft(session_id="a", item_id=item_id, status="ok", text=text, provider="openai",
                 model="m", prompt_version="1", prompt_hash="0" * 64)  # fmt: skip


def _accept(session, item_id: str, text: str, draft: Draft | None) -> None:  # type: ignore[no-untyped-def]
    rationale = Rationale(session_id="a", item_id=item_id, author_id="ana", status="accepted",
                          draft_id=draft.id if draft else None, lock_version=1,
                          current_version=1)  # fmt: skip
    session.add(rationale)
    session.flush()
    session.add(RationaleVersion(rationale_id=rationale.id, version=1, text=text, author_id="ana"))


def _samples(item_id: str, uncertainty: float | None) -> DraftSample:
    return DraftSample(session_id="a", item_id=item_id, samples=3, draft_ids=[],
                       method="1 - mean pairwise ROUGE-L F1", uncertainty=uncertainty)  # fmt: skip


@pytest.fixture
def store(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [session_record("a")]))
    with session_scope(engine) as session:
        session.add(Annotator(id="ana"))
        for item_id, (draft_text, final, _) in WORK.items():
            draft = _draft(item_id, draft_text)
            session.add(draft)
            session.flush()
            _accept(session, item_id, final, draft)
        for item_id in ("bond_2", "bond_3"):
            draft = _draft(item_id, "Some draft.")
            session.add(draft)
            session.flush()
            _accept(session, item_id, "Some final text.", draft)
        _accept(session, "bond_4", "Written from scratch.", None)
        # An older set of every item first: the newest set is the one that counts.
        session.add_all(_samples(item_id, 0.99) for item_id in [*WORK, "bond_3"])
        session.flush()
        session.add_all(_samples(item_id, doubt) for item_id, (_, _, doubt) in WORK.items())
        session.add_all([_samples("bond_3", None), _samples("bond_4", 0.5)])
    return engine


def _expected() -> tuple[list[float], list[float]]:
    doubts, distances = [], []
    for draft, final, doubt in WORK.values():
        doubts.append(doubt)
        distances.append(table_distance(draft, final) / max(len(draft), len(final)))
    return doubts, distances


def test_correlation_equals_scipy_on_the_same_pairs(store) -> None:  # type: ignore[no-untyped-def]
    doubts, distances = _expected()
    found = uncertainty_and_edits(store)
    spearman, pearson = stats.spearmanr(doubts, distances), stats.pearsonr(doubts, distances)
    assert found["n"] == len(WORK) == 9
    assert found["spearman_rho"] == pytest.approx(spearman.statistic, abs=1e-12)
    assert found["spearman_p"] == pytest.approx(spearman.pvalue, abs=1e-12)
    assert found["pearson_r"] == pytest.approx(pearson.statistic, abs=1e-12)
    assert found["pearson_p"] == pytest.approx(pearson.pvalue, abs=1e-12)
    assert spearman.statistic > 0.6 and spearman.pvalue < 0.05  # the planted relation
    assert found["sentence"].startswith("Where the model was less sure, experts changed more")
    assert f"ρ {spearman.statistic:.2f}" in found["sentence"] and "n 9" in found["sentence"]


def test_no_relation_and_too_few(store) -> None:  # type: ignore[no-untyped-def]
    with session_scope(store) as session:  # newest sets that do not follow the edits
        session.add_all(_samples(item_id, doubt) for item_id, doubt in zip(
            WORK, [0.5, 0.1, 0.6, 0.2, 0.3, 0.55, 0.15, 0.4, 0.35], strict=True))  # fmt: skip
    found = uncertainty_and_edits(store)
    doubts = [0.5, 0.1, 0.6, 0.2, 0.3, 0.55, 0.15, 0.4, 0.35]
    expected = stats.spearmanr(doubts, _expected()[1])
    assert found["spearman_rho"] == pytest.approx(expected.statistic, abs=1e-12)
    assert expected.pvalue >= 0.05
    assert found["sentence"].startswith("No relation found")
    with session_scope(store) as session:  # only four items measured now
        session.add_all(_samples(item_id, None) for item_id in list(WORK)[MIN_PAIRS - 1 :])
    few = uncertainty_and_edits(store)
    assert few["n"] == MIN_PAIRS - 1 and few["spearman_rho"] is None
    assert few["sentence"].startswith("Too few items")


def test_edits_command_prints_and_returns_the_figures(store, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from cli.app import app

    runner = CliRunner()
    shown = runner.invoke(app, ["--db", db_url, "edits"])
    assert shown.exit_code == 0, shown.output
    doubts, distances = _expected()
    rho, r = stats.spearmanr(doubts, distances).statistic, stats.pearsonr(doubts, distances)[0]
    assert f"experts changed more (Spearman ρ {rho:.2f}" in shown.stdout
    assert f"Pearson r {r:.2f}" in shown.stdout
    data = json.loads(runner.invoke(app, ["--db", db_url, "edits", "--json"]).stdout)
    assert data["uncertainty"]["n"] == 9
    assert data["uncertainty"]["pearson_r"] == pytest.approx(r, abs=1e-12)
    assert data["by_dimension"]  # the draft-to-final tables are still there


def test_the_report_says_it_under_draft_to_final(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from annotate.analysis.report import write_report

    html = write_report(store, tmp_path / "report.html", samples=0).read_text(encoding="utf-8")
    section = html.split("From draft to final text")[1]
    assert "Where the model was less sure, experts changed more (Spearman ρ" in section
