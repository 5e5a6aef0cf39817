"""The editor's alternative drafts (``draft --samples``): a key cycles them, never over typed text.

Rows are stored as ``draft --samples`` stores them (K ordinary drafts and a
draft_samples row naming them); the checks are on the rows a save writes.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session
from textual.widgets import Static

from annotate.core import workflow
from annotate.work.queue import QueueEntry, authoring_queue
from store.db import session_scope
from store.models import DraftSample, Rationale
from tests.tui.helpers import SIZE, screen_text, settle
from tests.workdata import current_text, draft_row
from tui.app import create_app
from tui.screens.annotate import AnnotateScreen

METHOD = "1 - mean pairwise ROUGE-L F1"
TEXTS = (
    "第一稿：来访者在第 2 轮说出了目标，咨询师在第 4 轮回应。",
    "Second sample: the client names the goal in turn 2 and the counselor agrees in turn 4.",
    "Third sample: turn 4 shows the shared task the client rated.",
)


def add_samples(
    engine: Engine, entry: QueueEntry, texts: tuple[str | None, ...] = TEXTS, value: float = 0.37
) -> list[int]:
    """K drafts of the entry's item (None: a failed one) and the draft_samples row."""
    with session_scope(engine) as session:
        drafts = []
        for text in texts:
            draft = draft_row(entry.session_id, entry.item_id, text or "")
            if text is None:
                draft.status, draft.text, draft.error = workflow.DRAFT_FAILED, None, "timeout"
            drafts.append(draft)
        session.add_all(drafts)
        session.flush()
        ids = [draft.id for draft in drafts if draft.id is not None]
        session.add(
            DraftSample(session_id=entry.session_id, item_id=entry.item_id, samples=len(ids),
                        draft_ids=ids, method=METHOD, uncertainty=value)
        )  # fmt: skip
    return ids


def pending(engine: Engine) -> list[QueueEntry]:
    return authoring_queue(engine, "ana", status=workflow.PENDING)


async def opened(pilot, rationale_ids: list[int]) -> AnnotateScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.push_screen(AnnotateScreen(rationale_ids))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AnnotateScreen)
    return screen


def stored(engine: Engine, rationale_id: int) -> tuple[int | None, str | None]:
    """The rationale's draft_id and current text, as a save left them."""
    with Session(engine) as session:
        rationale = session.get(Rationale, rationale_id)
        assert rationale is not None
        return rationale.draft_id, current_text(session, rationale)


def caption(screen: AnnotateScreen) -> str:
    return str(screen.query_one("#alternative-caption", Static).content)


def aside(screen: AnnotateScreen) -> str | None:
    """The alternative's text shown beside the editor's (None: hidden)."""
    shown = screen.query_one("#alternative-text")
    return str(shown.query_one("#scroll-text-body", Static).content) if shown.display else None


def notices(app) -> str:  # type: ignore[no-untyped-def]
    return " ".join(n.message for n in app._notifications)


async def test_cycling_an_untouched_draft_and_saving_records_that_alternative(
    work_engine: Engine,
) -> None:
    entry = pending(work_engine)[0]
    ids = add_samples(work_engine, entry)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, [entry.rationale_id])
        # The newest draft (the last sample) is pre-filled: it is draft 3 of 3.
        assert screen.editor.text == TEXTS[2]
        assert caption(screen) == f"draft 3 of 3 · uncertainty 0.37 ({METHOD}) · F6: next draft"
        assert "draft 3 of 3 · uncertainty 0.37" in screen_text(pilot)
        await pilot.press("f6")  # wraps round to the first
        assert screen.editor.text == TEXTS[0]
        assert caption(screen).startswith("draft 1 of 3 · ")
        await pilot.press("f6")
        assert screen.editor.text == TEXTS[1]
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert stored(work_engine, entry.rationale_id) == (ids[1], TEXTS[1])


async def test_cycling_after_typing_keeps_the_typed_text(work_engine: Engine) -> None:
    entry = pending(work_engine)[0]
    ids = add_samples(work_engine, entry)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, [entry.rationale_id])
        screen.editor.move_cursor(screen.editor.document.end)
        await pilot.press(*" 我的补充", "f6", *"!")
        typed = TEXTS[2] + " 我的补充!"
        assert screen.editor.text == typed  # the alternative did not replace it
        assert "Your text is kept; draft 1 of 3 is shown above it" in notices(app)
        assert aside(screen) == TEXTS[0]
        assert "Alternative, not in the editor" in screen_text(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert stored(work_engine, entry.rationale_id) == (ids[2], typed)  # began from draft 3
        await pilot.press("f6", "f6")  # still kept: draft 3 is shown beside the text
        assert screen.editor.text == typed
        assert aside(screen) == TEXTS[2]
        await pilot.press("ctrl+g")  # revert puts the shown alternative in the editor
        assert screen.editor.text == TEXTS[2]
        assert aside(screen) is None
        await pilot.press("f6")  # untouched again: cycling replaces it
        assert screen.editor.text == TEXTS[0]
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert stored(work_engine, entry.rationale_id) == (ids[0], TEXTS[0])
        await pilot.press("ctrl+z", "ctrl+z")  # the typed text is one undo away, never lost
        await pilot.pause()
        assert screen.editor.text == typed


async def test_an_item_without_two_sampled_drafts_has_no_alternatives(work_engine: Engine) -> None:
    first, second = pending(work_engine)[:2]
    add_samples(work_engine, second, (TEXTS[0], None, ""), value=0.0)  # one draft with text
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, [first.rationale_id, second.rationale_id])
        for _ in range(2):
            before = screen.editor.text
            await pilot.press("f6")
            await pilot.pause()
            assert screen.editor.text == before
            assert "uncertainty" not in screen_text(pilot)
            await pilot.press("ctrl+down")
            await settle(pilot)
        assert notices(app).count("This item has no alternative drafts.") == 2


async def test_the_key_is_rebindable_and_listed_in_help(
    work_engine: Engine, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys]\n"annotate.alternative" = "f10"\n', encoding="utf-8")
    monkeypatch.setenv("ANNOTATE_KEYMAP", str(keys))
    entry = pending(work_engine)[0]
    ids = add_samples(work_engine, entry, value=0.5)
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        screen = await opened(pilot, [entry.rationale_id])
        assert caption(screen).endswith(" · F10: next draft")
        await pilot.press("f6")  # no longer the key
        assert screen.editor.text == TEXTS[2]
        await pilot.press("f10")
        assert screen.editor.text == TEXTS[0]
        await pilot.press("ctrl+o")  # accept: the draft it began from is the first sample
        await settle(pilot)
        assert stored(work_engine, entry.rationale_id) == (ids[0], TEXTS[0])
        await pilot.press("f1")
        await settle(pilot)
        from tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        assert "| f10 | Next alternative draft | `annotate.alternative` |" in app.screen.text


async def test_help_lists_the_default_key(work_engine: Engine) -> None:
    entry = pending(work_engine)[0]
    app = create_app(work_engine, "ana")
    async with app.run_test(size=SIZE) as pilot:
        await opened(pilot, [entry.rationale_id])
        await pilot.press("f1")
        await settle(pilot)
        assert "| f6 | Next alternative draft | `annotate.alternative` |" in app.screen.text  # type: ignore[attr-defined]


def test_the_caption_names_the_method_without_its_details() -> None:
    """The stored method's parenthesised details stay out of the line above the editor."""
    from annotate.work.rationales.samples import Alternatives

    stored = "1 - mean pairwise ROUGE-L F1 (words; Chinese by jieba words)"
    shown = Alternatives((4, 5), stored, 0.25).caption(1)
    assert shown == "draft 2 of 2 · uncertainty 0.25 (1 - mean pairwise ROUGE-L F1)"
    assert Alternatives((4, 5), stored, None).caption(None).startswith("2 drafts · uncertainty not")
