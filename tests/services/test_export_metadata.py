"""Session metadata in exports: in the index and manifest always, in a prompt only as asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotate.core.errors import ConfigError
from annotate.export.formats import DPO_SEPARATOR
from annotate.export.service import ExportOptions, export_dataset
from tests.coding_helpers import code_primaries, set_metadata
from tests.export_corpus import add_draft, build_corpus

pytestmark = pytest.mark.both_backends

META = {
    "c000s00": {"condition": "丧亲之痛", "modality": "视频咨询"},
    "c000s01": {"condition": "丧亲之痛"},
    "c001s00": {"condition": "exam-anxiety-xq", "modality": "in-person-xq"},
    "c002s00": None,
}
VALUES = ["丧亲之痛", "视频咨询", "exam-anxiety-xq", "in-person-xq"]
# (format, conversational): every record layout there is
LAYOUTS = [("openai", False), ("alpaca", False), ("sharegpt", False), ("dpo", False),
           ("dpo", True), ("markers", False)]  # fmt: skip


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def corpus(engine):  # type: ignore[no-untyped-def]
    corpus = build_corpus(engine, [2, 1, 1], items=["goal_1", "bond_1"])
    for session_id, item_id in corpus.rationale_ids:
        add_draft(engine, session_id, item_id, "A draft the expert rewrote completely.")
    code_primaries(engine, {s: [(2, "shutdown")] for s in corpus.client_of})
    set_metadata(engine, META)
    return corpus


def _parts(record: dict, fmt: str, conversational: bool) -> tuple[str, str, str]:
    """(instruction, user message, target) of a record in any layout."""
    if fmt in ("openai", "markers"):
        system, user, target = (m["content"] for m in record["messages"])
        return system, user, target
    if fmt == "alpaca":
        return record["instruction"], record["input"], record["output"]
    if fmt == "sharegpt":
        system, user, target = (t["value"] for t in record["conversations"])
        return system, user, target
    if conversational:
        system, user = (m["content"] for m in record["prompt"])
        return system, user, record["chosen"][0]["content"]
    system, rest = record["prompt"].split("\n\n", 1)
    assert (record["system"], record["user"] + DPO_SEPARATOR) == (system, rest)  # LlamaFactory's
    return system, rest, record["chosen"]


@pytest.mark.parametrize(("fmt", "conversational"), LAYOUTS)
def test_metadata_is_in_the_index_and_manifest_never_in_records(
    engine, corpus, tmp_path, fmt, conversational
) -> None:
    out = tmp_path / "o"
    manifest = export_dataset(
        engine, ExportOptions(fmt, out, folds="loco", conversational=conversational)
    )
    assert manifest["prompt_metadata"] == []
    data_files = [p for p in out.rglob("*.jsonl") if not p.name.endswith(".index.jsonl")]
    assert data_files and manifest["counts"]["records"] > 0
    for path in data_files:
        raw = path.read_bytes()
        for value in [*VALUES, "Session metadata"]:
            assert value.encode("utf-8") not in raw, (path, value)
    for path in out.rglob("*.index.jsonl"):
        for entry in _lines(path):
            assert entry["metadata"] == (META[entry["session_id"]] or {})
    # The manifest counts sessions per value, over the export and per fold.
    assert manifest["all"]["metadata"] == {
        "condition": {"exam-anxiety-xq": 1, "丧亲之痛": 2},
        "modality": {"in-person-xq": 1, "视频咨询": 1},
    }
    table = manifest["fold_table"]
    folds = {entry["val"]["client_ids"][0]: entry["val"]["metadata"] for entry in table}
    assert folds == {
        "c000": {"condition": {"丧亲之痛": 2}, "modality": {"视频咨询": 1}},
        "c001": {"condition": {"exam-anxiety-xq": 1}, "modality": {"in-person-xq": 1}},
        "c002": {},
    }
    raw_manifest = (out / "manifest.json").read_bytes()
    assert "丧亲之痛".encode() in raw_manifest and b"\\u" not in raw_manifest


@pytest.mark.parametrize(("fmt", "conversational"), LAYOUTS)
def test_prompt_metadata_puts_exactly_the_named_keys_in_the_user_message(
    engine, corpus, tmp_path, fmt, conversational
) -> None:
    out = tmp_path / "o"
    options = ExportOptions(
        fmt, out, prompt_metadata=("modality", "condition"), conversational=conversational
    )
    manifest = export_dataset(engine, options)
    assert manifest["prompt_metadata"] == ["modality", "condition"]
    expected_header = {
        "c000s00": "Session metadata: modality = 视频咨询; condition = 丧亲之痛\n",
        "c000s01": "Session metadata: condition = 丧亲之痛\n",
        "c001s00": "Session metadata: modality = in-person-xq; condition = exam-anxiety-xq\n",
        "c002s00": "",  # no metadata: no header line
    }
    records = _lines(out / "train.jsonl")
    index = _lines(out / "train.index.jsonl")
    assert len(records) == len(index) > 0
    seen = set()
    for record, entry in zip(records, index, strict=True):
        seen.add(entry["session_id"])
        system, user, target = _parts(record, fmt, conversational)
        header = expected_header[entry["session_id"]]
        assert user.startswith(header + "[")  # then the transcript, as without the option
        rest = user[len(header) :]
        for value in VALUES:
            assert value not in system and value not in target and value not in rest
        assert "Session metadata" not in rest and "Session metadata" not in system
    assert seen == set(expected_header)
    # One key only: the other never appears.
    only = export_dataset(
        engine,
        ExportOptions(fmt, tmp_path / "one", prompt_metadata=("condition",),
                      conversational=conversational),
    )  # fmt: skip
    raw = (tmp_path / "one" / "train.jsonl").read_text(encoding="utf-8")
    assert "视频咨询" not in raw and "in-person-xq" not in raw
    copies = 2 if fmt == "dpo" and not conversational else 1  # prompt and user columns
    assert raw.count("Session metadata: condition = 丧亲之痛\\n") == copies * sum(
        1 for e in _lines(tmp_path / "one" / "train.index.jsonl") if e["client_id"] == "c000"
    )
    assert only["prompt_metadata"] == ["condition"]


def test_unknown_or_malformed_metadata_keys_are_one_line_errors(engine, corpus, tmp_path) -> None:
    out = tmp_path / "o"
    for keys, message in (
        (("conditon",), r"no exported session has 'conditon' \(keys in this export: "
                        r"condition, modality\)"),
        (("condition", "site"), "no exported session has 'site'"),
        (("",), "'' is not a metadata key"),
        (("1st",), "'1st' is not a metadata key"),
    ):  # fmt: skip
        with pytest.raises(ConfigError, match=message) as caught:
            export_dataset(engine, ExportOptions("openai", out, prompt_metadata=keys))
        assert "\n" not in str(caught.value)
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # A key only sessions outside the export carry is unknown to this export.
    set_metadata(engine, {"c002s00": {"site": "north"}})
    with pytest.raises(ConfigError, match="no exported session has 'site'"):
        export_dataset(engine, ExportOptions("openai", out, min_score=5, prompt_metadata=("site",)))
