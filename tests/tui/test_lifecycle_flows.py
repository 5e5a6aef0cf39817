"""The lifecycle through the UI: keys pressed -> rows in the database -> what export writes.

Each test drives the flow an expert would (two windows on one item; a reviewer whose
text changes under them; a pre-filled draft edited and accepted; an untouched offline
draft) and checks the stored rows and the exported files, not only the screen.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from annotate.core import workflow
from annotate.export import ExportOptions, export_dataset
from annotate.work.rationales import editor as editing
from annotate.work.reviews.queue import review_queue
from store.models import Draft, Rationale, RationaleVersion, Review, TherapySession
from tests.tui.helpers import SIZE, screen_text, settle
from tests.workdata import current_text, make_draft
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen
from tui.screens.review import ReviewScreen


def _pending(engine, annotator: str = "ana"):  # type: ignore[no-untyped-def]
    from annotate.work.queue import authoring_queue

    return authoring_queue(engine, annotator, status=workflow.PENDING)


async def _open(pilot, rationale_id: int) -> AnnotateScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.push_screen(AnnotateScreen([rationale_id]))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AnnotateScreen)
    return screen


def _exported(engine, out: Path, fmt: str = "alpaca") -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def]
    export_dataset(engine, ExportOptions(fmt, out, target="rationale", include_unreviewed=True))
    records = {}
    index = [
        json.loads(line) for line in (out / "train.index.jsonl").read_text("utf-8").splitlines()
    ]
    lines = (out / "train.jsonl").read_text("utf-8").splitlines()
    for entry, line in zip(index, lines, strict=True):
        records[(entry["session_id"], entry["item_id"])] = json.loads(line)
    return records


def _rationale(engine, rationale_id: int) -> Rationale:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        row = session.get(Rationale, rationale_id)
        assert row is not None
        return row


def _store_offline_draft(engine, entry) -> str:  # type: ignore[no-untyped-def]
    """Store the offline drafter's draft of the entry's item as its newest; return its text."""
    from annotate.drafting.context import load_contexts
    from annotate.drafting.offline import OfflineProvider, offline_draft

    with Session(engine) as session:
        context = load_contexts(session, [(entry.session_id, entry.item_id)])[0]
    provider = OfflineProvider()
    scaffold = offline_draft(context, provider.spec).rationale
    with Session(engine) as session:
        session.add(
            Draft(
                session_id=entry.session_id, item_id=entry.item_id, status="ok", text=scaffold,
                evidence=[2], quotes=[], provider="offline", model=provider.model,
                prompt_version=provider.prompt_version, prompt_hash=provider.prompt_hash,
            )
        )  # fmt: skip
        session.commit()
    return scaffold


async def test_two_windows_on_one_item_export_the_accepted_text_not_the_stale_one(
    work_engine, tmp_path: Path
) -> None:
    entry = _pending(work_engine)[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        # Two editor windows on the same item, both opened before either saves: A below,
        # B on top (keys go to B; A is driven through its own actions).
        window_a = await _open(pilot, entry.rationale_id)
        window_b = await _open(pilot, entry.rationale_id)
        assert window_a is not window_b and window_a.lock_version == window_b.lock_version
        window_a.editor.load_text("Accepted in window A: the client names sleep as the goal.")
        await window_a.action_accept()
        await settle(pilot)
        await pilot.press(*"Stale ")
        stale = window_b.editor.text
        await pilot.press("ctrl+s")
        await settle(pilot)
        # B is told, and shows the text that won; its own text is kept as a conflict.
        assert window_b.editor.text.startswith("Accepted in window A")
        assert "saved elsewhere" in " ".join(n.message for n in app._notifications)
    rationale = _rationale(work_engine, entry.rationale_id)
    assert (rationale.status, rationale.current_version) == (workflow.ACCEPTED, 1)
    with Session(work_engine) as session:
        kinds = session.exec(
            select(RationaleVersion.version, RationaleVersion.kind, RationaleVersion.text).where(
                RationaleVersion.rationale_id == entry.rationale_id
            )
        ).all()
    assert sorted(kinds) == [
        (1, "accept", "Accepted in window A: the client names sleep as the goal."),
        (2, "conflict", stale),
    ]
    records = _exported(work_engine, tmp_path / "out")
    target = records[(entry.session_id, entry.item_id)]["output"]
    assert "Accepted in window A" in target and "Stale" not in target


async def test_double_save_is_never_a_conflict_with_oneself(work_engine) -> None:
    entry = _pending(work_engine)[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, entry.rationale_id)
        await pilot.press(*"Mine. ")
        await pilot.press("ctrl+s", "ctrl+s", "ctrl+o")  # faster than one save is written
        await settle(pilot)
        assert "saved elsewhere" not in " ".join(n.message for n in app._notifications)
        text = screen.editor.text
    with Session(work_engine) as session:
        kinds = session.exec(
            select(RationaleVersion.kind).where(RationaleVersion.rationale_id == entry.rationale_id)
        ).all()
    assert workflow.VERSION_CONFLICT not in kinds and kinds[-1] == workflow.VERSION_ACCEPT
    rationale = _rationale(work_engine, entry.rationale_id)
    assert rationale.status == workflow.ACCEPTED
    with Session(work_engine) as session:
        assert current_text(session, rationale) == text


async def test_reviewer_whose_text_changed_is_refused_and_shown_the_new_text(
    work_engine,
) -> None:
    task = review_queue(work_engine, "ben")[0]
    author = _rationale(work_engine, task.rationale_id)
    assert author.author_id is not None and author.current_version is not None
    app = create_app(work_engine, "ben")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(ReviewScreen([task.assignment_id]))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen) and screen.view is not None
        shown = screen.view.rationale_version
        # Meanwhile the author saves a new text and accepts it.
        base = author.lock_version
        saved = editing.save(work_engine, task.rationale_id, author.author_id, "Second text.", base)
        editing.accept(
            work_engine, task.rationale_id, author.author_id, "Third text, accepted.",
            saved.lock_version,
        )  # fmt: skip
        for key, value in (("faithfulness", "2"), ("relevance", "2"), ("informativeness", "2")):
            screen.query_one(f"#{key}").value = value  # type: ignore[attr-defined]
        screen.query_one("#comment").load_text("Too general.")  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "changed since you opened it" in " ".join(n.message for n in app._notifications)
        assert screen.view.rationale_version == shown + 2  # reloaded: the accepted version
        assert "Third text, accepted." in screen_text(pilot)
        with Session(work_engine) as session:
            assert (
                session.exec(
                    select(Review).where(
                        Review.reviewer_id == "ben", Review.rationale_id == task.rationale_id
                    )
                ).all()
                == []
            )
        for key in ("faithfulness", "relevance", "informativeness"):
            screen.query_one(f"#{key}").value = "4"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settle(pilot)
    with Session(work_engine) as session:
        review = session.exec(
            select(Review).where(
                Review.reviewer_id == "ben", Review.rationale_id == task.rationale_id
            )
        ).one()
    assert review.rationale_version == shown + 2 and review.passed
    assert _rationale(work_engine, task.rationale_id).status == workflow.ACCEPTED


async def test_a_prefilled_draft_edited_and_accepted_links_the_draft_and_makes_a_dpo_pair(
    work_engine, tmp_path: Path
) -> None:
    entry = _pending(work_engine)[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, entry.rationale_id)
        draft = screen.editor.text
        assert draft.startswith("Draft for")  # pre-filled with the item's draft
        await pilot.press("ctrl+a", "end")  # to the end of the text: append the expert's view
        await pilot.press(*" Yet the client arrived late and gave short answers after turn 6.")
        await pilot.press("ctrl+o")
        await settle(pilot)
        final = screen.editor.text
    rationale = _rationale(work_engine, entry.rationale_id)
    with Session(work_engine) as session:
        linked = session.get(Draft, rationale.draft_id)
    assert linked is not None and linked.text == draft
    out = tmp_path / "dpo"
    export_dataset(
        work_engine, ExportOptions("dpo", out, target="rationale", include_unreviewed=True)
    )
    pairs = [json.loads(line) for line in (out / "train.jsonl").read_text("utf-8").splitlines()]
    ours = [p for p in pairs if final in json.dumps(p, ensure_ascii=False)]
    assert len(ours) == 1
    assert draft in json.dumps(ours[0]["rejected"], ensure_ascii=False)


async def test_an_untouched_offline_draft_is_refused_at_accept_and_labelled_above_the_editor(
    work_engine, tmp_path: Path
) -> None:
    entry = _pending(work_engine)[1]
    scaffold = _store_offline_draft(work_engine, entry)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, entry.rationale_id)
        assert screen.editor.text == scaffold
        banner = screen.query_one("#scaffold")
        assert banner.display and "Offline draft" in screen_text(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        messages = " ".join(n.message for n in app._notifications)
        assert "cannot accept this text" in messages
        assert "rewrite the drafter's instruction" in messages
        assert _rationale(work_engine, entry.rationale_id).current_version is None
        screen.editor.load_text("")
        await pilot.press(*"The client rated it low and said the homework did not fit.")
        assert not banner.display  # the text is the expert's own now
        await pilot.press("ctrl+o")
        await settle(pilot)
    rationale = _rationale(work_engine, entry.rationale_id)
    assert rationale.status == workflow.ACCEPTED and rationale.draft_id is None
    records = _exported(work_engine, tmp_path / "out")
    assert "homework did not fit" in records[(entry.session_id, entry.item_id)]["output"]


def test_make_draft_fixture_is_not_a_scaffold(work_engine) -> None:
    """The UI fixtures stand for a model's drafts: accepting one unchanged is allowed."""
    entry = _pending(work_engine)[2]
    draft = make_draft(work_engine, entry.session_id, entry.item_id, "A model's draft.")
    result = editing.accept(
        work_engine, entry.rationale_id, "ana", "A model's draft.", 0, draft_id=draft.id
    )
    assert result.status == workflow.ACCEPTED


async def test_opening_a_review_leaves_the_editor_layout_as_it_was(work_engine) -> None:
    """Screens' styles are scoped: the review screen's #left must not resize the editor's."""
    entry = _pending(work_engine)[0]
    task = review_queue(work_engine, "ana")[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        editor_screen = await _open(pilot, entry.rationale_id)
        before = editor_screen.query_one("#transcript").region.width
        editor_screen.dismiss()
        await settle(pilot)
        app.push_screen(ReviewScreen([task.assignment_id]))
        await settle(pilot)
        review_width = app.screen.query_one("#transcript").region.width
        app.screen.dismiss()
        await settle(pilot)
        editor_screen = await _open(pilot, entry.rationale_id)
        after = editor_screen.query_one("#transcript").region.width
    assert before == after and before > review_width  # the editor's transcript is wider


async def test_accept_moves_to_the_next_unfinished_item_and_keys_find_the_rest(
    work_engine,
) -> None:
    from annotate.work.queue import authoring_queue

    queue = authoring_queue(work_engine, "ana")
    ids = [entry.rationale_id for entry in queue]
    status = {entry.rationale_id: entry.status for entry in queue}
    start = next(i for i, e in enumerate(queue) if e.status == workflow.PENDING)
    expected = next(i for i in range(start + 1, len(ids)) if status[ids[i]] != workflow.ACCEPTED)
    sent_back = [i for i, e in enumerate(queue) if e.status == workflow.REVISION_REQUESTED]
    assert sent_back, "the demo work has items sent back"
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(AnnotateScreen(ids, start))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen)
        screen.editor.load_text("The client set the goal in turn 2 and kept to it.")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert screen.index == expected and screen.state is not None
        assert screen.state.rationale_id == ids[expected]
        await pilot.press("f9")
        await settle(pilot)
        assert screen.index in sent_back
        assert screen.state.status == workflow.REVISION_REQUESTED
    assert _rationale(work_engine, ids[start]).status == workflow.ACCEPTED


async def test_accept_can_stay_on_the_item(work_engine) -> None:
    from annotate.work.queue import authoring_queue

    ids = [entry.rationale_id for entry in authoring_queue(work_engine, "ana")]
    start = next(i for i, rid in enumerate(ids) if _rationale(work_engine, rid).status == "pending")
    app = create_app(work_engine, "ana", advance_on_accept=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(AnnotateScreen(ids, start))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen)
        screen.editor.load_text("Stays here after accepting.")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert screen.index == start and screen.editor.text == "Stays here after accepting."


async def test_revert_to_the_draft_is_undoable(work_engine) -> None:
    entry = _pending(work_engine)[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, entry.rationale_id)
        draft = screen.editor.text
        screen.editor.load_text("")
        await pilot.press(*"My own careful words.")
        await pilot.press("ctrl+g")  # revert to the draft
        await pilot.pause()
        assert screen.editor.text == draft
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert screen.editor.text == "My own careful words."


async def test_a_user_keymap_rebinds_keys_and_help_shows_them(
    work_engine, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"annotate.revert" = "f10"\n"annotate.next" = "alt+down"\n')
    monkeypatch.setenv("ANNOTATE_KEYMAP", str(keys))
    entries = _pending(work_engine)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(AnnotateScreen([e.rationale_id for e in entries], 0))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AnnotateScreen)
        draft = screen.editor.text
        screen.editor.load_text("")
        await pilot.press(*"typed", "f10")  # f10 is now revert
        await pilot.pause()
        assert screen.editor.text == draft
        await pilot.press("alt+down")
        await settle(pilot)
        assert screen.index == 1
        await pilot.press("f1")
        await settle(pilot)
        from tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        assert "| f10 | Revert to draft | `annotate.revert` |" in app.screen.text


def test_a_bad_keymap_is_one_line(work_engine, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from annotate.core.errors import ConfigError

    keys = tmp_path / "keys.toml"
    monkeypatch.setenv("ANNOTATE_KEYMAP", str(keys))
    for text, message in (
        ('[keys]\n"annotate.nope" = "f6"\n', "unknown binding id 'annotate.nope'"),
        ("[keys\n", "keys.toml:1: not valid TOML"),
        ('revert = "f6"\n', "one table, [keys]"),
        # Issue 23: every binding on one key would make that key quit.
        ('[keys]\nquit = "f5"\n"annotate.revert" = "f5"\n', "f5 would be both"),
        ('[keys]\n"annotate.revert" = ""\n', "keys.toml:2: annotate.revert needs one to 4 keys"),
        ('[keys]\n"annotate.revert" = "\\u0000"\n', "keys.toml:2: .*NUL"),
        ('[keys]\n"annotate.revert" = "' + "a" * 100_000 + '"\n', "larger than 64 KiB"),
        ('[keys]\n"annotate.revert" = "' + "x" * 500 + '"\n', "is not a key"),
        ('[keys]\n"annotate.revert" = "F5"\n', "'F5' is not a key"),
        ("[keys]\na = " + "[" * 3000 + "]" * 3000 + "\n", "nested more than 16 levels"),
    ):
        keys.write_text(text)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as raised:
            create_app(work_engine, "ana")
        assert "\n" not in str(raised.value) and len(str(raised.value)) < 400
    keys.write_bytes(b'[keys]\n"annotate.revert" = "f\xff"\n')
    with pytest.raises(ConfigError, match="keys.toml:2: not valid UTF-8"):
        create_app(work_engine, "ana")
    keys.write_text('[keys]\n"annotate.revert" = "alt+?, ctrl+g"\n')  # a character or a name
    assert create_app(work_engine, "ana").user_keymap == {
        "annotate.revert": "alt+question_mark,ctrl+g"
    }


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_an_offline_draft_with_a_sentence_added_is_refused_and_its_instructions_listed(
    work_engine, tmp_path: Path, language: str
) -> None:
    """Typing around the drafter's instructions does not make them the expert's: the banner
    lists them as they stay, accept refuses, the row is unchanged; deleting them clears it."""
    with Session(work_engine) as session:
        languages = dict(session.exec(select(TherapySession.id, TherapySession.language)).all())
    author = "ben"  # his queue holds English and Chinese sessions
    entry = next(e for e in _pending(work_engine, author) if languages[e.session_id] == language)
    scaffold = _store_offline_draft(work_engine, entry)
    before = _rationale(work_engine, entry.rationale_id)
    added = " I add: she says it helps." if language == "en" else "补充她说这有帮助"
    instruction = "Check whether these turns" if language == "en" else "请核对这些对话"
    app = create_app(work_engine, author)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot, entry.rationale_id)
        assert screen.editor.text == scaffold
        screen.editor.move_cursor(screen.editor.document.end)
        await pilot.press(*added)
        await settle(pilot)
        assert screen.editor.text == scaffold + added
        banner = screen.query_one("#scaffold")
        assert banner.display and instruction in str(banner.render())
        await pilot.press("ctrl+o")
        await settle(pilot)
        messages = " ".join(n.message for n in app._notifications)
        assert "rewrite the drafter's instruction" in messages
        after = _rationale(work_engine, entry.rationale_id)
        assert (after.status, after.current_version, after.lock_version) == (
            before.status, before.current_version, before.lock_version
        )  # fmt: skip
        assert screen.editor.text == scaffold + added  # nothing typed is lost
        await pilot.press("ctrl+s")  # work in progress is still saved
        await settle(pilot)
        assert _rationale(work_engine, entry.rationale_id).status == workflow.IN_PROGRESS
        screen.editor.load_text(added.strip())  # only the expert's own sentence is left
        await settle(pilot)
        assert instruction not in str(banner.render())
    records = _exported(work_engine, tmp_path / "out")
    assert (entry.session_id, entry.item_id) not in records
