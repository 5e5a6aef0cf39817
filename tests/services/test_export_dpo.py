"""Preference pairs: every file a trainer is pointed at holds rows, and the manifest
says what each fold's files hold (``--format dpo``)."""

from __future__ import annotations

import json

import pytest

from annotate.export.service import ExportOptions, export_dataset
from tests.export_corpus import CHINESE, add_draft, build_corpus, load_jsonl, read_lines

pytestmark = [pytest.mark.both_backends, pytest.mark.usefixtures("offline_datasets")]


@pytest.mark.parametrize("parquet", [False, True])
def test_loco_dpo_lists_only_files_with_pairs(engine, tmp_path, parquet) -> None:  # type: ignore[no-untyped-def]
    corpus = build_corpus(engine, [2, 1, 1, 2], items=["goal_1", "task_1"], seed=3)
    # Clients c000 and c002 have pairs; c001 has none, c003 only drafts kept unchanged.
    for session_id, item_id in corpus.rationale_ids:
        client = corpus.client_of[session_id]
        if client in ("c000", "c002"):
            add_draft(engine, session_id, item_id, "A model draft the expert rewrote.")
        elif client == "c003":
            add_draft(engine, session_id, item_id, f"{item_id} in {session_id}: {CHINESE}")
    out = tmp_path / "loco"
    manifest = export_dataset(
        engine, ExportOptions("dpo", out, folds="loco", target="rationale", parquet=parquet)
    )
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    suffixes = ("", "_parquet") if parquet else ("",)
    # Folds 2 and 4 (clients c001, c003) have no pair in val: their val is listed nowhere.
    assert sorted(info) == sorted(
        f"annotate_fold_{k}_{split}{suffix}"
        for k in (1, 2, 3, 4)
        for split in ("train", "val")
        if not (split == "val" and k in (2, 4))
        for suffix in suffixes
    )
    for entry in info.values():
        path = out / entry["file_name"]
        assert path.is_file()
        if path.suffix == ".jsonl":
            assert len(load_jsonl(path, tmp_path / "hf")) > 0
    for entry in manifest["fold_table"]:
        for split in ("train", "val"):
            described = entry[split]
            stem = f"fold_{entry['fold']}/{split}"
            if described["records"] == 0:
                assert described["file"] is None and described["left_out"] == "no_pairs"
                assert described["client_ids"] == []
                assert not (out / f"{stem}.jsonl").exists()
                assert not (out / f"{stem}.index.jsonl").exists()
                assert f"{stem}.jsonl" not in manifest["files"]
                continue
            assert described["file"] == f"{stem}.jsonl"
            index = read_lines(out / f"{stem}.index.jsonl")
            assert (
                len(index)
                == described["records"]
                == len(load_jsonl(out / described["file"], tmp_path / "hf"))
            )
            assert described["client_ids"] == sorted({e["client_id"] for e in index})
            if split == "val":
                assert described["session_ids"] == sorted({e["session_id"] for e in index})
                assert described["clients"] == len(described["client_ids"])
    by_fold = {e["fold"]: e for e in manifest["fold_table"]}
    assert by_fold[2]["val"]["left_out"] == by_fold[4]["val"]["left_out"] == "no_pairs"
    assert by_fold[1]["train"]["client_ids"] == ["c002"]  # not c001 or c003: no pair
    assert by_fold[1]["val"]["client_ids"] == ["c000"]


def test_rejected_texts_are_model_drafts_never_the_offline_drafters(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    corpus = build_corpus(engine, [1, 1], items=["goal_1", "task_1", "bond_1"])
    add_draft(engine, "c000s00", "goal_1", "A model's draft, rewritten.", model="qwen-7b")
    add_draft(engine, "c000s00", "task_1", "Another model's draft.", model="llama-8b")
    add_draft(engine, "c001s00", "goal_1", "A third draft by Qwen.", model="qwen-7b")
    offline = "The turns most related to Task are 1, 2. Check whether they support a rating of 4."
    add_draft(engine, "c000s00", "bond_1", offline, provider="offline", model="offline-overlap")
    add_draft(engine, "c001s00", "task_1", offline, provider="offline", model="offline-overlap")
    out = tmp_path / "d"
    manifest = export_dataset(engine, ExportOptions("dpo", out, target="rationale"))
    pairs, index = read_lines(out / "train.jsonl"), read_lines(out / "train.index.jsonl")
    assert sorted(p["rejected"] for p in pairs) == sorted(
        ["A model's draft, rewritten.", "Another model's draft.", "A third draft by Qwen."]
    )
    for pair, entry in zip(pairs, index, strict=True):
        assert pair["draft_provider"] == entry["draft_provider"] == "openai"
        assert pair["draft_model"] == entry["draft_model"]
        assert pair["draft_model"] == ("llama-8b" if entry["item_id"] == "task_1" else "qwen-7b")
        assert pair["draft_prompt_version"] == entry["draft_prompt_version"] == "draft-1"
    counts = manifest["counts"]
    assert counts["records"] == 3
    assert counts["pairs_by_model"] == {"openai/llama-8b": 1, "openai/qwen-7b": 2}
    assert counts["dpo_excluded"] == {
        "no_usable_draft": len(corpus.rationale_ids) - 5,
        "offline_draft": 2,
    }
    assert "never the offline drafter" in manifest["filters"]["dpo_rule"]
    conversational = export_dataset(
        engine, ExportOptions("dpo", tmp_path / "c", target="rationale", conversational=True)
    )
    assert conversational["counts"]["pairs_by_model"] == counts["pairs_by_model"]
    for pair in read_lines(tmp_path / "c" / "train.jsonl"):
        assert pair["rejected"][0]["content"] != offline and pair["draft_provider"] == "openai"


def test_an_unfolded_export_without_pairs_lists_no_file(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    build_corpus(engine, [1], items=["goal_1"])
    out = tmp_path / "d"
    manifest = export_dataset(engine, ExportOptions("dpo", out, target="rationale"))
    assert manifest["counts"]["records"] == 0
    assert json.loads((out / "dataset_info.json").read_text(encoding="utf-8")) == {}
    assert (out / "train.jsonl").read_bytes() == b""  # kept: the export's one file, empty
