"""The dpo export's prompts tokenise as a prefix of prompt + answer, as TRL requires.

TRL's DPO preprocessing warns when the tokens of the prompt are not a prefix of the
tokens of prompt + answer. Qwen-style pre-tokenisation glues a leading punctuation mark
to the letters after it, so a prompt ending in "。" merged with a Chinese answer's first
character. The test trains a small byte-level BPE with that pre-tokeniser (the
``tokenizers`` package; no model, no torch) on the exported pairs and checks the rule
for every pair, and that without the separator the rule breaks.
"""

from __future__ import annotations

import json

from sqlalchemy import text

from annotate.export.formats import DPO_SEPARATOR
from annotate.export.service import ExportOptions, export_dataset
from tests.chat_templates import train_tokenizer
from tests.export_corpus import add_draft, build_corpus

FINALS = [
    "来访者在第2轮抱怨咨询没有用，任务上没有达成一致。",
    "咨询师解释了练习的方法，来访者同意试一试。",
]


def _is_prefix(tokenizer, prompt: str, answer: str) -> bool:  # type: ignore[no-untyped-def]
    alone = tokenizer.encode(prompt).ids
    joined = tokenizer.encode(prompt + answer).ids
    return joined[: len(alone)] == alone


def test_chinese_dpo_prompts_are_token_prefixes(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    build_corpus(engine, [1, 1, 1], items=["task_1", "task_2"])  # client c000 speaks Chinese
    with engine.begin() as connection:
        for item, final in zip(("task_1", "task_2"), FINALS, strict=True):
            connection.execute(
                text("UPDATE rationale_versions SET text = :final WHERE rationale_id IN (SELECT "
                     "id FROM rationales WHERE session_id = 'c000s00' AND item_id = :item)"),
                {"final": final, "item": item},
            )  # fmt: skip
    add_draft(engine, "c000s00", "task_1", "来访者觉得还可以。")
    add_draft(engine, "c000s00", "task_2", "咨询师布置了作业。")
    export_dataset(engine, ExportOptions("dpo", tmp_path / "d", target="rationale"))
    pairs = [json.loads(line) for line in (tmp_path / "d" / "train.jsonl").open(encoding="utf-8")]
    assert len(pairs) == 2
    assert all(pair["prompt"].endswith(DPO_SEPARATOR) for pair in pairs)
    assert all(pair["prompt"].removesuffix(DPO_SEPARATOR).endswith("。") for pair in pairs)
    # Trained on Chinese running text too, where "。" is followed by more Chinese.
    running = [p["prompt"].removesuffix(DPO_SEPARATOR) + a for p in pairs
               for a in (p["chosen"], p["rejected"])]  # fmt: skip
    tokenizer = train_tokenizer(running + [p["prompt"] + p["chosen"] for p in pairs])
    for pair in pairs:
        for answer in (pair["chosen"], pair["rejected"]):
            assert _is_prefix(tokenizer, pair["prompt"], answer), answer
    # Without the separator the prompt's "。" joins the answer: TRL's warning, reproduced.
    bare = [p["prompt"].removesuffix(DPO_SEPARATOR) for p in pairs]
    assert not all(_is_prefix(tokenizer, b, p["chosen"]) for b, p in zip(bare, pairs, strict=True))


def test_conversational_dpo_is_trls_message_format(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    build_corpus(engine, [1], items=["task_1"])
    add_draft(engine, "c000s00", "task_1", "The client seemed fine with the plan.")
    manifest = export_dataset(engine, ExportOptions("dpo", tmp_path / "c", target="rationale",
                                                    conversational=True))  # fmt: skip
    (pair,) = [json.loads(line) for line in (tmp_path / "c" / "train.jsonl").open(encoding="utf-8")]
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
    assert pair["prompt"][1]["content"].startswith("[1] Counselor:")
    assert pair["chosen"] == [{"role": "assistant", "content": pair["chosen"][0]["content"]}]
    assert pair["rejected"] == [{"role": "assistant",
                                 "content": "The client seemed fine with the plan."}]  # fmt: skip
    assert manifest["dpo_layout"] == "trl_conversational"
    assert json.loads((tmp_path / "c" / "dataset_info.json").read_text()) == {}
