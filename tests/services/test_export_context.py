"""One context for SFT and DPO: an item's SFT record and its preference pair render to
the same prompt, token for token, in LlamaFactory (through ``dataset_info.json`` and its
``qwen`` template) and in TRL (Qwen2.5's chat template on the conversational pairs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotate.export.service import ExportOptions, export_dataset
from tests.chat_templates import (
    DEFAULT_SYSTEM,
    apply_chat_template,
    encode_elements,
    llamafactory_elements,
    llamafactory_example,
    train_tokenizer,
    trl_preference_texts,
)
from tests.export_corpus import add_draft, build_corpus, read_lines

ITEMS = ["goal_1", "task_2"]


def _records(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(session, item) -> record of an unfolded export."""
    index = read_lines(out / "train.index.jsonl")
    return {
        (entry["session_id"], entry["item_id"]): record
        for entry, record in zip(index, read_lines(out / "train.jsonl"), strict=True)
    }


def _export(engine, tmp_path: Path) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    corpus = build_corpus(engine, [1, 2], items=ITEMS)  # c000 speaks Chinese, c001 English
    for session_id, item_id in corpus.rationale_ids:
        add_draft(engine, session_id, item_id, "A model draft the expert rewrote.")
    outs = {}
    for name, fmt, conversational in (
        ("openai", "openai", False), ("sharegpt", "sharegpt", False), ("alpaca", "alpaca", False),
        ("dpo", "dpo", False), ("trl", "dpo", True),
    ):  # fmt: skip
        outs[name] = tmp_path / name
        options = ExportOptions(fmt, outs[name], target="rationale", conversational=conversational)
        export_dataset(engine, options)
    return outs


def test_llamafactory_renders_sft_and_dpo_prompts_alike(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outs = _export(engine, tmp_path)
    pairs = _records(outs["dpo"])
    (pair_entry,) = json.loads((outs["dpo"] / "dataset_info.json").read_text()).values()
    rendered = []
    examples = {}
    for key, pair in pairs.items():
        examples[key] = llamafactory_example(pair_entry, pair)
        rendered += llamafactory_elements(*examples[key])[0]
    assert len(pairs) == 2 * len(ITEMS) + len(ITEMS)  # 3 sessions
    tokenizer = train_tokenizer(rendered)
    for fmt in ("openai", "sharegpt", "alpaca"):
        (entry,) = json.loads((outs[fmt] / "dataset_info.json").read_text()).values()
        for key, record in _records(outs[fmt]).items():
            system, user, answer = llamafactory_example(entry, record)
            pair_system, pair_user, chosen = examples[key]
            assert system.startswith("You read the transcript of a counseling session")
            assert (system, user, answer) == (pair_system, pair_user, chosen), (fmt, key)
            sft_prompt, sft_answer = llamafactory_elements(system, user, answer)
            dpo_prompt, dpo_answer = llamafactory_elements(*examples[key])
            assert DEFAULT_SYSTEM not in "".join(dpo_prompt)  # not LlamaFactory's default
            assert encode_elements(tokenizer, sft_prompt) == encode_elements(tokenizer, dpo_prompt)
            assert encode_elements(tokenizer, sft_answer) == encode_elements(tokenizer, dpo_answer)


def test_trl_chat_template_renders_sft_and_dpo_prompts_alike(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    outs = _export(engine, tmp_path)
    sft = _records(outs["openai"])
    pairs = _records(outs["trl"])
    assert set(pairs) == set(sft)
    texts = [apply_chat_template(r["messages"], add_generation_prompt=False) for r in sft.values()]
    tokenizer = train_tokenizer(texts)
    for key, pair in pairs.items():
        messages = sft[key]["messages"]
        prompt, chosen = trl_preference_texts(pair)
        assert DEFAULT_SYSTEM not in prompt  # the export's system message, not Qwen's
        sft_prompt = apply_chat_template(messages[:2], add_generation_prompt=True)
        sft_full = apply_chat_template(messages, add_generation_prompt=False)
        assert prompt == sft_prompt and prompt + chosen == sft_full, key
        assert tokenizer.encode(prompt).ids == tokenizer.encode(sft_prompt).ids
        assert tokenizer.encode(prompt + chosen).ids == tokenizer.encode(sft_full).ids
