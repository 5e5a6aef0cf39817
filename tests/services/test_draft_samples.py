"""``draft --samples K``: K drafts per item, their disagreement checked against rouge-score."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from itertools import combinations

import pytest
from sqlmodel import select

from annotate.core.errors import ConfigError
from annotate.core.words import words
from annotate.drafting import DraftSettings, WorkSelection, make_provider
from annotate.drafting.estimate import estimate
from annotate.drafting.samples import METHOD, run_samples, uncertainty
from store.db import session_scope
from store.models import Draft, DraftSample
from tests.llm_server import FakeLLM, ServerThread

pytestmark = pytest.mark.both_backends

ENGLISH = [
    "The client names a clear goal: to sleep before midnight on work days.",
    "The client agrees on the goal of going to bed before midnight on weekdays.",
    "Turn 4 shows the client wants a steadier routine and fewer late nights at work.",
]
CHINESE = [
    "来访者明确提出目标：希望每天晚上十二点前睡觉。",
    "来访者同意把早点睡觉作为这次咨询的目标。",
    "第四轮中来访者说想和母亲好好沟通，目标并不清楚。",
]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with ServerThread(FakeLLM()) as server:
        yield server


def _provider(fake: FakeLLM, temperature: float = 0.8, seed: int | None = 7):  # type: ignore[no-untyped-def]
    return make_provider(DraftSettings(provider="openai", model="test-model",
                                       base_url=fake.base_url, temperature=temperature,
                                       seed=seed, timeout=5, max_retries=0))  # fmt: skip


def _draft(text: str, turn: int = 1) -> str:
    return json.dumps({"rationale": text, "evidence": [turn], "quotes": []}, ensure_ascii=False)


def _expected(texts: list[str | None]) -> float:
    """1 - mean pairwise ROUGE-L F1 by rouge-score, on the same words."""
    from rouge_score import rouge_scorer

    class Words:
        def tokenize(self, text: str) -> list[str]:
            return words(text)

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=Words())
    kept = [text for text in texts if text is not None]
    scores = [scorer.score(a, b)["rougeL"].fmeasure for a, b in combinations(kept, 2)]
    return 1 - sum(scores) / len(scores)


def _sets(engine) -> dict[tuple[str, str], DraftSample]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.exec(select(DraftSample).order_by(DraftSample.id)).all()
        return {(row.session_id, row.item_id): row for row in rows}


def _drafts(engine, ids: list[int]) -> list[Draft]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        found = {d.id: d for d in session.exec(select(Draft).where(Draft.id.in_(ids))).all()}  # type: ignore[union-attr]
        return [found[i] for i in ids]


def test_uncertainty_equals_rouge_score_in_english_and_chinese(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.scripted["s02/goal_1"] = [_draft(text) for text in ENGLISH]
    fake.scripted["s14/goal_1"] = [_draft(text) for text in CHINESE]
    chosen = WorkSelection(sessions=["s02", "s14"], dimension="goal")
    summary = run_samples(demo_engine, _provider(fake), chosen, 3, concurrency=4)

    sets = _sets(demo_engine)
    items = {(s, i) for s, i in sets}
    assert ("s02", "goal_1") in items and ("s14", "goal_1") in items
    assert summary.batch.progress.done == 3 * len(sets) == 3 * summary.batch.selected
    for key, texts in ((("s02", "goal_1"), ENGLISH), (("s14", "goal_1"), CHINESE)):
        row = sets[key]
        drafts = _drafts(demo_engine, row.draft_ids)
        assert sorted(d.text for d in drafts) == sorted(texts)  # the stored samples
        assert row.samples == 3 and row.method == METHOD
        assert row.uncertainty == pytest.approx(_expected([d.text for d in drafts]), abs=1e-12)
        assert 0.3 < row.uncertainty < 1
        assert [d.params["sample"] for d in drafts] == [0, 1, 2]
        assert {d.params["samples"] for d in drafts} == {3}
        assert [d.params["seed"] for d in drafts] == [7, 8, 9]
        assert all(d.params["temperature"] == 0.8 for d in drafts)
    # The server's default draft is the same whatever the seed: no disagreement.
    assert sets[("s02", "goal_2")].uncertainty == pytest.approx(0.0)
    # K requests per item, each with a temperature above 0 and its own seed.
    assert fake.requests["s02/goal_1"] == fake.requests["s14/goal_1"] == 3
    asked = [body for body in fake.bodies if "(session s14, item goal_1)" in json.dumps(
        body, ensure_ascii=False)]  # fmt: skip
    assert len(asked) == 3
    assert all(body["temperature"] == 0.8 for body in asked)
    assert sorted(body["seed"] for body in asked) == [7, 8, 9]
    by_item = {(i.session_id, i.item_id): i for i in summary.items}
    stored = sets[("s14", "goal_1")].uncertainty
    assert by_item[("s14", "goal_1")].uncertainty == pytest.approx(stored)


def test_failed_samples_have_no_text_fewer_than_two_none(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    fake.scripted["s02/goal_1"] = [_draft(ENGLISH[0]), "not json at all", _draft(ENGLISH[2])]
    fake.scripted["s02/goal_2"] = ["not json", "nor this", _draft(ENGLISH[1])]
    run_samples(demo_engine, _provider(fake), WorkSelection(sessions=["s02"], limit=2), 3)
    sets = _sets(demo_engine)
    first = sets[("s02", "goal_1")]
    texts = [d.text for d in _drafts(demo_engine, first.draft_ids)]
    assert texts.count(None) == 1
    assert first.uncertainty == pytest.approx(_expected(texts))
    assert sets[("s02", "goal_2")].uncertainty is None
    assert uncertainty([None, "one text"]) is None


def test_a_rerun_skips_finished_sets_and_finishes_the_rest(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    chosen = WorkSelection(sessions=["s02"], dimension="goal")
    fake.scripted["s02/goal_3"] = ["not json"]  # no text at all: asked again on a rerun
    first = run_samples(demo_engine, _provider(fake), chosen, 2)
    assert first.batch.selected == 4 and first.batch.skipped == 0
    before = sum(fake.requests.values())
    fake.scripted.pop("s02/goal_3")
    again = run_samples(demo_engine, _provider(fake), chosen, 2)
    assert (again.batch.selected, again.batch.skipped) == (1, 3)
    assert sum(fake.requests.values()) - before == 2
    assert _sets(demo_engine)[("s02", "goal_3")].uncertainty == pytest.approx(0.0)
    # Another K is another set; the dry run counts what is left.
    other = estimate(demo_engine, _provider(fake), chosen, samples=3)
    assert other.items == 4 and other.requests == 12
    done = estimate(demo_engine, _provider(fake), chosen, samples=2)
    assert done.items == 0 and done.skipped_already_drafted == 4


def test_dry_run_is_k_times_one_draft(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    chosen = WorkSelection(sessions=["s02", "s14"])
    one = estimate(demo_engine, _provider(fake), chosen, price_in=1.0, price_out=2.0)
    four = estimate(demo_engine, _provider(fake), chosen, price_in=1.0, price_out=2.0, samples=4)
    assert one.items == four.items > 0 and (one.samples, four.samples) == (1, 4)
    assert four.requests == 4 * one.requests == 4 * one.items
    assert four.input_tokens == 4 * one.input_tokens
    assert four.output_tokens_at_most == 4 * one.output_tokens_at_most
    assert four.cost_at_most == pytest.approx(4 * one.cost_at_most, abs=1e-3)
    assert fake.requests == {}  # nothing was sent


def test_refusals(demo_engine, fake: FakeLLM) -> None:  # type: ignore[no-untyped-def]
    chosen = WorkSelection(sessions=["s02"])
    with pytest.raises(ConfigError, match="temperature above 0"):
        run_samples(demo_engine, _provider(fake, temperature=0.0), chosen, 3)
    with pytest.raises(ConfigError, match="offline drafter is deterministic"):
        run_samples(demo_engine, make_provider(DraftSettings(provider="offline")), chosen, 3)
    for wrong in (1, 21):
        with pytest.raises(ConfigError, match="2..20"):
            run_samples(demo_engine, _provider(fake), chosen, wrong)
    assert fake.requests == {} and _sets(demo_engine) == {}


def test_samples_are_deidentified_as_single_drafts_are(engine, fake: FakeLLM, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from annotate.drafting import run_batch
    from annotate.ingest import import_file
    from tests.factories import session_record, write_jsonl

    turns = [{"speaker": "counselor", "text": "Hello Tobias, how was the week in Millbrook?"},
             {"speaker": "client", "text": "Tobias here: Anna called me on Monday."}]  # fmt: skip
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [session_record("d1", turns=turns)]))
    masked = _provider(fake)
    masked.settings.deidentify = True
    chosen = WorkSelection(sessions=["d1"], dimension="goal", limit=1)
    run_samples(engine, masked, chosen, 2)
    single = _provider(fake)
    single.settings.deidentify = True
    run_batch(engine, single, replace(chosen, force=True))
    sent = [json.dumps(body["messages"], ensure_ascii=False) for body in fake.bodies]
    assert len(sent) == 3 and sent[0] == sent[1] == sent[2]  # as a single draft sends it
    assert "Tobias" not in sent[0] and "Millbrook" not in sent[0]
    row = next(iter(_sets(engine).values()))
    assert all(d.params["deidentify"]["mode"] == "surrogate"
               for d in _drafts(engine, row.draft_ids))  # fmt: skip
