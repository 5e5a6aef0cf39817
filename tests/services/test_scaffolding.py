"""The offline drafter's instructions are found by their content: accept, import and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlmodel import Session, select

from annotate.core import workflow
from annotate.core.errors import ImportFailed, PermissionDenied
from annotate.core.guidelines import OfflineText, load_manual
from annotate.drafting.context import load_contexts
from annotate.drafting.offline import load_offline_spec, offline_draft
from annotate.export.service import ExportOptions, export_dataset
from annotate.ingest import import_file
from annotate.work.assignment import assign_authoring
from annotate.work.queue import authoring_queue
from annotate.work.rationales import editor as editing
from annotate.work.rationales.scaffold import (
    declared_sentences,
    find_scaffolding,
    holds_scaffolding,
)
from annotate.work.rationales.versions import import_texts
from store.db import session_scope
from store.models import Draft, Rationale, RationaleVersion
from tests.factories import session_record, write_jsonl
from tests.workdata import draft_row

EN_INSTRUCTION = (
    "Check whether these turns, and the session as a whole, support a rating of 4; "
    "weigh what the client does as well as what they say."
)
ZH_INSTRUCTION = "请核对这些对话以及整次会谈是否支持 2 分；既要看来访者说了什么，也要看其行为。"
ADDED = {
    "en": " The client kept coming back to sleep and named it as the thing to change.",
    "zh": "来访者多次回到睡眠问题，并说这是想改变的事。",
}
OWN_WORDS = {
    "en": "The client named better sleep as what they want to change and agreed on it early.",
    "zh": "来访者明确说想改善睡眠，并很早就与咨询师对此达成一致。",
}


# -- the detector -----------------------------------------------------------------------


def test_every_declared_sentence_is_found_in_its_own_words() -> None:
    sentences = declared_sentences()
    assert len(sentences) >= 6  # label and two sentences, per language
    filled = [s.replace("{dimension}", "Goal").replace("{turns}", "8, 10, 14") for s in sentences]
    for sentence in (s.replace("{rating}", "4") for s in filled):
        (match,) = find_scaffolding(f"Mine. {sentence} Mine too.")
        assert match.found == sentence


@pytest.mark.parametrize(
    "variant",
    [
        EN_INSTRUCTION,
        EN_INSTRUCTION.replace(" ", "  ").replace(";", ",").upper(),  # spacing, punctuation, case
        EN_INSTRUCTION.replace("4", "2"),  # another rating
        "Check whether these turns, and the session as a whole, support a rating of 5.",  # half
        "weigh what the client does as well as what they say",
        "The turns most related to Goal are 8, 10, 14.",
        "the turns most related to bond are 3 and 7",
        "The turns most related to  Task are 12.",
        "[Offline draft: evidence picked by word overlap, not written by a model; rewrite",
        ZH_INSTRUCTION,
        ZH_INSTRUCTION.replace("；", ";").replace(" ", ""),  # half-width, no spaces
        "请核对这些对话以及整次会谈是否支持 5 分。",
        "与目标最相关的是第 8, 10, 14 轮。",
        "与 情感联结 最相关的是第3、5轮",
        "离线草稿：证据按字词重合挑选，并非模型撰写",
    ],
)
def test_near_verbatim_variants_are_found(variant: str) -> None:
    text = f"The client was quiet. {variant} 来访者很安静。"
    found = find_scaffolding(text)
    assert found and holds_scaffolding(text)
    assert all(text[m.start : m.end] == m.found for m in found)
    assert any(variant.strip(" .。[") in m.found or m.found in variant for m in found)


@pytest.mark.parametrize(
    "sentence",
    [
        "The client said they still did not know what to do; the counselor mostly reflected.",
        "The client rated this item 2 (Sometimes): they arrived late and left early.",
        "Turns 8, 10 and 14 show the client pushing back on the homework.",
        "The turns that matter most are 8 and 10, where she says the plan will not work.",
        "I checked whether the session supports a rating of 4 and it does.",
        "The client weighs what the counselor says against what she does at home.",
        "Offline, the client drafts a list of goals between sessions.",
        "来访者说仍然不知道该怎么做，咨询师多是复述，没有给出具体步骤。",
        "来访者在第 8 轮和第 10 轮说计划没有用，评分 2 分与此相符。",
        "与目标有关的对话集中在后半段。",
        "",
    ],
)
def test_ordinary_expert_sentences_are_not_scaffolding(sentence: str) -> None:
    assert find_scaffolding(sentence) == [] and not holds_scaffolding(sentence)


def test_every_declared_sentence_is_part_of_the_drafters_body() -> None:
    spec, _ = load_offline_spec()
    for words in spec.text.values():
        assert words.scaffolding and all(sentence in words.body for sentence in words.scaffolding)
    with pytest.raises(ValidationError, match="not part of the body"):
        OfflineText(label="[x]", body="A.", quote="{text}", joiner=";", scaffolding=["B."])


# -- accept, save, import and export on a store --------------------------------------------


@pytest.fixture
def offline_items(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An English and a Chinese session assigned to 'ana', each goal_1 with an offline draft:
    language -> (rationale id, draft id, draft text)."""
    records = [
        session_record("e1", client_id="c1"),
        session_record(
            "z1",
            client_id="c2",
            language="zh",
            turns=[
                {"speaker": "counselor", "text": "今天想谈些什么？"},
                {"speaker": "client", "text": "我最近睡不好，希望能改变这一点。"},
            ],
        ),
    ]
    import_file(engine, write_jsonl(tmp_path / "s.jsonl", records))
    assign_authoring(engine, ["ana"])
    queue = {(e.session_id, e.item_id): e.rationale_id for e in authoring_queue(engine, "ana")}
    spec, _ = load_offline_spec()
    found = {}
    with session_scope(engine) as session:
        for language, session_id in (("en", "e1"), ("zh", "z1")):
            context = load_contexts(session, [(session_id, "goal_1")])[0]
            text = offline_draft(context, spec).rationale
            draft = draft_row(session_id, "goal_1", text, (2,))
            draft.provider = "offline"
            session.add(draft)
            session.flush()
            found[language] = (queue[(session_id, "goal_1")], draft.id, text)
    return engine, found


def _versions(engine, rationale_id: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        rows = session.exec(
            select(RationaleVersion).where(RationaleVersion.rationale_id == rationale_id)
        ).all()
        return [(v.kind, v.text) for v in rows]


@pytest.mark.both_backends
@pytest.mark.parametrize("language", ["en", "zh"])
def test_accept_refuses_an_offline_draft_with_a_sentence_added(offline_items, language) -> None:  # type: ignore[no-untyped-def]
    engine, items = offline_items
    rationale_id, draft_id, draft_text = items[language]
    state = editing.open_rationale(engine, rationale_id, "ana")
    assert state.initial_text == draft_text and state.initial_draft_id == draft_id
    edited = draft_text + ADDED[language]
    with pytest.raises(PermissionDenied, match="rewrite the drafter's instruction") as refused:
        editing.accept(engine, rationale_id, "ana", edited, state.lock_version, draft_id)
    assert "\n" not in str(refused.value) and "Ctrl+S" in str(refused.value)
    assert _versions(engine, rationale_id) == []
    saved = editing.save(engine, rationale_id, "ana", edited, state.lock_version, draft_id)
    assert saved.status == workflow.IN_PROGRESS
    # The expert's own words, begun from the same draft, are accepted.
    accepted = editing.accept(
        engine, rationale_id, "ana", OWN_WORDS[language], saved.lock_version, draft_id
    )
    assert accepted.status == workflow.ACCEPTED


@pytest.mark.both_backends
@pytest.mark.parametrize("language", ["en", "zh"])
@pytest.mark.parametrize("added", [False, True], ids=["verbatim", "sentence-added"])
def test_import_refuses_offline_scaffolding_naming_the_line(  # type: ignore[no-untyped-def]
    offline_items, tmp_path, language, added
) -> None:
    engine, items = offline_items
    _, _, draft_text = items[language]
    session_id = "e1" if language == "en" else "z1"
    text = draft_text + ADDED[language] if added else draft_text
    records = [
        {"session_id": session_id, "item_id": "task_1", "author": "ana", "text": "Fine."},
        {"session_id": session_id, "item_id": "goal_1", "author": "ana", "text": text},
    ]
    path = write_jsonl(tmp_path / "r.jsonl", records)
    with pytest.raises(ImportFailed) as failed:
        import_file(engine, path)
    (error,) = failed.value.errors
    assert error.startswith(f"{path}:2: ") and "rewrite the drafter's instruction" in error
    with Session(engine) as session:  # nothing half-written
        assert session.exec(select(RationaleVersion)).all() == []


@pytest.mark.both_backends
def test_every_export_leaves_scaffolding_out_whatever_its_origin(offline_items, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Texts accepted before the rule (or written around it) never reach a training file."""
    engine, items = offline_items
    legacy = [
        ("e1", "goal_1", items["en"][2]),  # an offline draft verbatim, no draft link
        ("z1", "goal_1", items["zh"][2] + ADDED["zh"]),  # with a sentence added
        ("e1", "task_1", OWN_WORDS["en"] + " " + EN_INSTRUCTION),  # an instruction kept
        ("z1", "task_1", ZH_INSTRUCTION),
        ("e1", "bond_1", OWN_WORDS["en"]),  # the expert's own words
        ("z1", "bond_1", OWN_WORDS["zh"]),
    ]
    with session_scope(engine) as session:
        import_texts(
            session,
            [(sid, iid, "ana", text) for sid, iid, text in legacy],
            guideline_version=load_manual().version,
        )
    with Session(engine) as session:
        accepted = session.exec(select(Rationale).where(Rationale.status == "accepted")).all()
        assert len(accepted) == 6
        assert session.exec(select(Draft)).all()  # the drafts exist but are not linked
    for fmt in ("openai", "sharegpt", "alpaca"):
        out = tmp_path / fmt
        manifest = export_dataset(
            engine, ExportOptions(fmt, out, include_unreviewed=True, target="rationale")
        )
        assert manifest["counts"]["excluded"]["offline_scaffolding"] == 4
        assert manifest["counts"]["records"] == 2
        written = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.jsonl"))
        for record in (json.loads(line) for line in written.splitlines()):
            assert not holds_scaffolding(json.dumps(record, ensure_ascii=False))


@given(st.text(alphabet=st.characters(max_codepoint=127)) | st.text())
def test_the_quick_letters_equal_the_indexed_ones(text: str) -> None:
    """The export's fast form (ASCII) and the editor's indexed form agree on every text."""
    from annotate.work.rationales.scaffold import _letters, _letters_only

    assert _letters_only(text) == _letters(text)[0]
