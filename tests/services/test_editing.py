"""The editing service: versions with author, optimistic concurrency, autosave, accept, flag."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from annotate.core import workflow
from annotate.core.errors import ConfigError, ConflictError, NotFoundError, PermissionDenied
from annotate.ingest import import_file
from annotate.work.assignment import assign_authoring
from annotate.work.queue import authoring_queue
from annotate.work.rationales import editor as editing
from store.models import Autosave, Rationale, RationaleVersion
from tests.factories import session_record, write_jsonl
from tests.workdata import current_text, make_draft

pytestmark = pytest.mark.both_backends


@pytest.fixture
def one_item(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A Chinese session assigned to 'ana'; returns (engine, rationale id) of goal_1."""
    record = session_record(
        "z1",
        language="zh",
        turns=[
            {"speaker": "counselor", "text": "今天想谈些什么？"},
            {"speaker": "client", "text": "我最近睡不好，也不知道该怎么办。"},
        ],
    )
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", [record]))
    assign_authoring(engine, ["ana"])
    entry = next(e for e in authoring_queue(engine, "ana") if e.item_id == "goal_1")
    return engine, entry.rationale_id


def stored(engine, rationale_id: int) -> list[tuple[int, str, str, str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows = session.exec(
            select(RationaleVersion)
            .where(RationaleVersion.rationale_id == rationale_id)
            .order_by(col(RationaleVersion.version))
        ).all()
        return [(v.version, v.kind, v.author_id, v.text) for v in rows]


def test_open_shows_context_and_draft(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    make_draft(engine, "z1", "goal_1", "来访者在第2轮说睡不好。", (2,))
    state = editing.open_rationale(engine, rid, "ana")
    assert state.initial_text == "来访者在第2轮说睡不好。"
    assert state.draft is not None and state.draft.evidence == (2,)
    context = state.context
    assert (context.client_rating, context.client_anchor) == (4, "Very often")
    assert (context.counselor_rating, context.counselor_anchor) == (5, "Always")
    assert [t.speaker for t in context.turns] == ["counselor", "client"]
    assert context.turns[1].text == "我最近睡不好，也不知道该怎么办。"


def test_every_save_is_a_version_with_author(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    first = editing.save(engine, rid, "ana", "第一版。", 0)
    second = editing.save(engine, rid, "ana", "第一版。", first.lock_version)
    assert (first.version, second.version) == (1, 2)
    assert stored(engine, rid) == [(1, "save", "ana", "第一版。"), (2, "save", "ana", "第一版。")]
    with Session(engine) as session:
        rationale = session.get(Rationale, rid)
        assert rationale is not None
        assert (rationale.status, rationale.lock_version) == (workflow.IN_PROGRESS, 2)


def test_a_stale_save_is_kept_as_a_conflict_and_refused(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    editing.save(engine, rid, "ana", "window A", 0)
    with pytest.raises(ConflictError, match="conflict version 2"):
        editing.save(engine, rid, "ana", "window B", 0)
    assert stored(engine, rid) == [
        (1, "save", "ana", "window A"),
        (2, "conflict", "ana", "window B"),
    ]
    state = editing.open_rationale(engine, rid, "ana")
    assert state.saved_text == "window A" and state.lock_version == 2
    assert state.current_version == 1  # the conflict version never becomes current
    editing.save(engine, rid, "ana", "merged", 2)  # from the current version it works again
    assert stored(engine, rid)[-1] == (3, "save", "ana", "merged")


def test_autosave_is_overwritten_and_cleared_by_save(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    editing.autosave(engine, rid, "ana", "半句", 0)
    editing.autosave(engine, rid, "ana", "半句话", 0)
    state = editing.open_rationale(engine, rid, "ana")
    assert state.autosave_text == "半句话" and state.initial_text == "半句话"
    assert stored(engine, rid) == []
    editing.save(engine, rid, "ana", "整句话。", 0)
    with Session(engine) as session:
        assert session.get(Autosave, (rid, "ana")) is None


def test_accept_and_reopen(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    with pytest.raises(PermissionDenied):
        editing.accept(engine, rid, "ana", "   ", 0)
    result = editing.accept(engine, rid, "ana", "Final.", 0)
    assert result.status == workflow.ACCEPTED
    with Session(engine) as session:
        rationale = session.get(Rationale, rid)
        assert rationale is not None and rationale.current_version == 1
        assert current_text(session, rationale) == "Final."
    assert editing.save(engine, rid, "ana", "Changed my mind.", 1).status == workflow.IN_PROGRESS


def test_only_the_author_may_edit(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    for action in (
        lambda: editing.open_rationale(engine, rid, "ben"),
        lambda: editing.save(engine, rid, "ben", "x", 0),
        lambda: editing.autosave(engine, rid, "ben", "x", 0),
        lambda: editing.flag(engine, rid, "ben", "x"),
    ):
        with pytest.raises(PermissionDenied):
            action()
    with pytest.raises(NotFoundError):
        editing.open_rationale(engine, 99999, "ana")


def test_flag_and_clear(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    editing.flag(engine, rid, "ana", "  评分可疑 ")
    state = editing.open_rationale(engine, rid, "ana")
    assert state.flagged and state.flag_note == "评分可疑"
    editing.flag(engine, rid, "ana", "")
    state = editing.open_rationale(engine, rid, "ana")
    assert not state.flagged and state.flag_note is None


def test_regenerate_offers_a_new_draft_and_a_save_links_the_draft_it_began_from(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    assert editing.open_rationale(engine, rid, "ana").draft is None
    old = make_draft(engine, "z1", "goal_1", "old draft")
    state = editing.open_rationale(engine, rid, "ana")
    assert state.initial_text == "old draft" and state.initial_draft_id == old.id

    def drafter(engine, session_id: str, item_id: str):  # type: ignore[no-untyped-def]
        return make_draft(engine, session_id, item_id, "new draft", (1, 2))

    view = editing.regenerate(engine, rid, "ana", drafter)
    assert view.text == "new draft" and view.evidence == (1, 2)
    assert editing.open_rationale(engine, rid, "ana").draft.id == view.id  # type: ignore[union-attr]
    with Session(engine) as session:  # nothing saved from it yet: no link
        assert session.get(Rationale, rid).draft_id is None  # type: ignore[union-attr]
    editing.save(engine, rid, "ana", "new draft, edited", 0, draft_id=view.id)
    state = editing.open_rationale(engine, rid, "ana")
    assert state.saved_draft_id == view.id and state.initial_draft_id == view.id
    # A later save from scratch drops the link; a draft of another item is refused.
    editing.save(engine, rid, "ana", "My own words.", state.lock_version)
    with Session(engine) as session:
        assert session.get(Rationale, rid).draft_id is None  # type: ignore[union-attr]
    other = make_draft(engine, "z1", "goal_2", "another item's draft")
    with pytest.raises(ConfigError, match="not a draft of rationale"):
        editing.save(engine, rid, "ana", "x", 2, draft_id=other.id)


def test_regenerate_with_the_drafting_engine(one_item) -> None:  # type: ignore[no-untyped-def]
    from annotate.drafting import draft_one

    engine, rid = one_item
    view = editing.regenerate(engine, rid, "ana", draft_one)
    assert view.text


def test_two_windows_autosaving_at_once_never_fail(one_item) -> None:  # type: ignore[no-untyped-def]
    """Autosave is an upsert: two windows of one expert racing on the same row both succeed."""
    import threading

    engine, rid = one_item
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def window(name: str) -> None:
        start.wait()
        for n in range(30):
            try:
                editing.autosave(engine, rid, "ana", f"{name} {n} 半句", 0)
            except BaseException as error:  # every failure is reported below
                errors.append(error)

    threads = [threading.Thread(target=window, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state = editing.open_rationale(engine, rid, "ana")
    assert state.autosave_text in ("A 29 半句", "B 29 半句")


def test_an_autosave_that_raced_its_own_save_is_not_offered_as_unsaved(one_item) -> None:  # type: ignore[no-untyped-def]
    engine, rid = one_item
    editing.save(engine, rid, "ana", "整句话。", 0)
    editing.autosave(engine, rid, "ana", "整句话。", 0)  # the autosave worker finished later
    state = editing.open_rationale(engine, rid, "ana")
    assert state.autosave_text is None and state.initial_text == "整句话。"


def test_an_autosave_of_the_saved_text_leaves_no_row(one_item) -> None:  # type: ignore[no-untyped-def]
    """Found walking the TUI: Ctrl+S then Escape at once wrote the autosave after the save,
    and the queue (which reads autosave rows) marked saved work "unsaved" for good."""
    engine, rid = one_item
    editing.autosave(engine, rid, "ana", "半句", 0)
    editing.save(engine, rid, "ana", "整句话。", 0)
    editing.autosave(engine, rid, "ana", "整句话。", 0)  # arrives after its own save
    with Session(engine) as session:
        assert session.get(Autosave, (rid, "ana")) is None
    editing.autosave(engine, rid, "ana", "整句话。再加一句", 1)  # real unsaved work is kept
    with Session(engine) as session:
        kept = session.get(Autosave, (rid, "ana"))
        assert kept is not None and kept.text == "整句话。再加一句"
