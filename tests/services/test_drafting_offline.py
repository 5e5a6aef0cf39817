"""The offline drafter, work selection and resumption, and ``draft_one``."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import Session, func, select

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.workflow import DRAFT_OK, latest_draft
from annotate.drafting import (
    DraftSettings,
    WorkSelection,
    draft_one,
    make_provider,
    run_batch,
    select_work,
)
from annotate.drafting.context import load_contexts
from annotate.drafting.offline import OfflineProvider, excerpt, load_offline_spec, offline_draft
from annotate.drafting.providers import OpenAIProvider, resolve_provider_name
from annotate.work.rationales.rules import scaffold_problem
from store.db import session_scope
from store.models import Draft

pytestmark = pytest.mark.both_backends


def _drafts(engine) -> list[Draft]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return list(session.exec(select(Draft).order_by(Draft.id)).all())


def test_offline_batch_drafts_every_item_grounded_and_marked_as_scaffold(demo_engine) -> None:  # type: ignore[no-untyped-def]
    summary = run_batch(demo_engine, OfflineProvider(), WorkSelection(include_accepted=True))
    assert summary.selected == 192 and summary.progress.ok == 192 and summary.accepted == 0
    drafts = _drafts(demo_engine)
    assert len(drafts) == 192 and {d.status for d in drafts} == {DRAFT_OK}
    spec, spec_hash = load_offline_spec()
    with session_scope(demo_engine) as session:
        for draft in drafts:
            context = load_contexts(session, [(draft.session_id, draft.item_id)])[0]
            # The label is not in the editable text, but its instructions are: never accepted.
            assert "Offline draft" not in draft.text and "离线草稿" not in draft.text
            assert scaffold_problem(draft.text) is not None
            assert f"{context.rating}" in draft.text and context.anchor in draft.text
            turns = {t.number: t.text for t in context.turns}
            assert draft.evidence and all(n in turns for n in draft.evidence)
            for quote in draft.quotes:  # exact substrings of the cited turn
                assert quote["text"] in " ".join(turns[quote["turn"]].split())
            assert any(turns and context.turns[n - 1].speaker == "client" for n in draft.evidence)
            assert draft.provider == "offline" and draft.model == spec.model
            assert draft.prompt_version == spec.version and draft.prompt_hash == spec_hash
            assert draft.base_url_host is None and draft.instrument_version == "1.1.0"
            assert draft.tokens_in == 0 and draft.latency_ms is not None
            assert draft.created_at is not None


def test_offline_evidence_matches_the_item_in_chinese(demo_engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(demo_engine) as session:
        task = load_contexts(session, [("s13", "task_3")])[0]
        bond = load_contexts(session, [("s13", "bond_1")])[0]
    spec, _ = load_offline_spec()
    task_draft = offline_draft(task, spec)
    cited = " ".join(task.turns[n - 1].text for n in task_draft.evidence)
    assert "怎么办" in cited or "试试" in cited  # what to do / I'll try
    assert task_draft.rationale.startswith("来访者对") and "离线草稿" not in task_draft.rationale
    bond_draft = offline_draft(bond, spec)
    cited = " ".join(bond.turns[n - 1].text for n in bond_draft.evidence)
    assert "在听" in cited or "谢谢" in cited  # felt listened to / thanks


def test_excerpt_is_an_exact_prefix_cut_at_a_boundary() -> None:
    text = "我也知道顶回去没用，可是不知道还能怎么办。然后我就走了，再也没有回去过那个地方。"
    short = excerpt(text, 15)
    assert text.startswith(short) and len(short) <= 15 and short.endswith("没用")
    assert excerpt("I really do not know what to do about it", 20) == "I really do not know"
    assert excerpt("short", 20) == "short"


def test_rerun_resumes_and_force_redrafts(demo_engine) -> None:  # type: ignore[no-untyped-def]
    provider = OfflineProvider()
    first = run_batch(demo_engine, provider, WorkSelection(sessions=["s02"], limit=5))
    assert first.progress.done == 5
    second = run_batch(demo_engine, provider, WorkSelection(sessions=["s02"]))
    assert second.skipped == 5 and second.progress.done == 7
    third = run_batch(demo_engine, provider, WorkSelection(sessions=["s02"]))
    assert third.selected == 0 and third.skipped == 12
    forced = run_batch(demo_engine, provider, WorkSelection(sessions=["s02"], force=True))
    assert forced.progress.done == 12
    pairs = [(d.session_id, d.item_id) for d in _drafts(demo_engine)]
    assert len(pairs) == 24 and len(set(pairs)) == 12


def test_selection_by_dimension_and_session(demo_engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(demo_engine) as session:
        pairs, skipped = select_work(
            session, OfflineProvider(), WorkSelection(sessions=["s02", "s14"], dimension="bond")
        )
        assert skipped == 0
        assert pairs == [(s, f"bond_{n}") for s in ("s02", "s14") for n in range(1, 5)]
        with pytest.raises(NotFoundError, match="nope"):
            select_work(session, OfflineProvider(), WorkSelection(sessions=["nope"]))
        with pytest.raises(ConfigError, match="unknown dimension"):
            select_work(session, OfflineProvider(), WorkSelection(dimension="trust"))


def test_a_different_model_or_prompt_version_is_not_already_drafted(demo_engine) -> None:  # type: ignore[no-untyped-def]
    run_batch(demo_engine, OfflineProvider(), WorkSelection(sessions=["s02"]))
    other = OfflineProvider()
    other.prompt_version = "2.0.0"
    with session_scope(demo_engine) as session:
        pairs, skipped = select_work(session, other, WorkSelection(sessions=["s02"]))
    assert len(pairs) == 12 and skipped == 0


def test_draft_one_with_engine_and_with_session(demo_engine) -> None:  # type: ignore[no-untyped-def]
    draft = draft_one(demo_engine, "s05", "goal_2")
    assert draft.id is not None and draft.status == DRAFT_OK and draft.provider == "offline"
    again = draft_one(demo_engine, "s05", "goal_2", provider="offline")
    assert again.id > draft.id
    with session_scope(demo_engine) as session:
        assert latest_draft(session, "s05", "goal_2").id == again.id
    with Session(demo_engine) as session:
        third = draft_one(session, "s05", "goal_2")
        assert third.id is not None  # flushed in the caller's transaction
        session.rollback()
    with session_scope(demo_engine) as session:
        count = session.exec(select(func.count()).select_from(Draft)).one()
    assert count == 2  # the rolled-back one is gone
    with pytest.raises(NotFoundError):
        draft_one(demo_engine, "s05", "nope_1")


def test_default_provider_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_provider_name(DraftSettings(), {}) == "offline"
    assert resolve_provider_name(DraftSettings(), {"OPENAI_API_KEY": "k"}) == "openai"
    assert resolve_provider_name(DraftSettings(), {"OPENAI_BASE_URL": "http://x/v1"}) == "openai"
    assert resolve_provider_name(DraftSettings(provider="offline"), {"OPENAI_API_KEY": "k"}) == (
        "offline"
    )
    with pytest.raises(ConfigError, match="unknown provider"):
        resolve_provider_name(DraftSettings(provider="claude"), {})
    assert isinstance(make_provider(), OfflineProvider)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANNOTATE_DRAFT_MODEL", "llama3")
    provider = make_provider()
    assert isinstance(provider, OpenAIProvider)
    assert provider.model == "llama3" and provider.base_url_host == "127.0.0.1:9"


def test_progress_callbacks_see_every_item(demo_engine) -> None:  # type: ignore[no-untyped-def]
    started: list[tuple[int, int]] = []
    seen: list[tuple[int, int, int]] = []
    summary = run_batch(
        demo_engine,
        OfflineProvider(),
        WorkSelection(sessions=["s09"]),
        concurrency=3,
        on_start=lambda total, skipped: started.append((total, skipped)),
        on_progress=lambda p: seen.append((p.total, p.done, p.ok)),
    )
    assert started == [(12, 0)]
    assert [done for _, done, _ in seen] == list(range(1, 13))
    assert all(total == 12 for total, _, _ in seen) and seen[-1][2] == 12
    assert summary.as_json()["done"] == 12 and summary.seconds > 0


def test_a_store_failure_stops_the_batch(demo_engine, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from annotate.drafting import batch

    def broken(self, rows):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(batch._DraftWriter, "_save", broken)
    asked: list[str] = []
    provider = OfflineProvider()
    original = provider.draft

    async def counting(context):  # type: ignore[no-untyped-def]
        asked.append(context.item_id)
        # A request takes time (the offline drafter alone is so fast that, on a busy
        # machine, all 192 could finish before the writer thread even runs).
        await asyncio.sleep(0.01)
        return await original(context)

    provider.draft = counting  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="disk full"):
        run_batch(demo_engine, provider, concurrency=2)
    assert len(asked) < 20  # not all 192 items were drafted for nothing
    assert _drafts(demo_engine) == []


def test_limit_picks_the_same_items_whatever_the_collation(pg_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """--limit takes the first items in code point order, also on an en-US database."""
    from annotate.core.database import initialise
    from annotate.ingest import import_file
    from tests.factories import session_record, write_jsonl

    path = write_jsonl(tmp_path / "s.jsonl", [session_record(s) for s in ("a", "s1", "B", "S2")])
    chosen = []
    for url in (str(tmp_path / "s.db"), pg_server.create_database(icu_locale="en-US")):
        store, _ = initialise(url)
        import_file(store, path)
        with Session(store) as session:
            pending, _ = select_work(session, OfflineProvider(), WorkSelection(limit=13))
        store.dispose()
        chosen.append(pending)
    assert [s for s, _ in chosen[0]] == ["B"] * 12 + ["S2"]
    assert chosen[1] == chosen[0]
