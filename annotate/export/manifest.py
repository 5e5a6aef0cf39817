"""``manifest.json`` and ``dataset_info.json``: what is in each file, and how it was made.

Nothing here depends on the clock or the output path, so the same store and options
give byte-identical files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotate import __version__
from annotate.export.folds import LOCO, FoldTable
from annotate.export.formats import (
    CHAT_LAYOUT,
    DPO_SEPARATOR,
    EXPORT_PROMPT_VERSION,
    dataset_info_entry,
)

TOOL_NAME = "annotate"  # manifest tool.name: what `export --force` may replace

FOLD_METHOD = (
    "clients sorted by mean client rating, cut into blocks of K; each block gives one "
    "client to each fold, the largest client to the smallest fold; seeded block order"
)
LOCO_METHOD = (
    "leave one client out: one fold per client, folds numbered in code point order of "
    "the client ids; fold k's val holds the k-th client's sessions, its train all others"
)


@dataclass(frozen=True)
class SplitContents:
    """What one split's data file holds: its records and whose they are."""

    records: int
    client_ids: list[str]  # code point order
    session_ids: list[str]  # code point order


SplitRecords = dict[str, SplitContents]  # stem -> contents


@dataclass
class Counts:
    """What the export considered, included and left out (and why)."""

    rationales: int = 0
    records: int = 0
    included: dict[str, int] = field(default_factory=lambda: {"reviewed": 0, "unreviewed": 0})
    excluded: dict[str, int] = field(default_factory=dict)
    dpo_excluded: dict[str, int] = field(default_factory=dict)
    pairs_by_model: dict[str, int] = field(default_factory=dict)  # "provider/model" -> pairs

    @staticmethod
    def bump(counter: dict[str, int], key: str) -> None:
        counter[key] = counter.get(key, 0) + 1


@dataclass
class Provenance:
    """Versions of everything the records were made under."""

    instrument_id: str
    instrument_version: str
    rubric_version: str
    guideline_versions: set[str] = field(default_factory=set)
    draft_prompt_versions: set[str] = field(default_factory=set)
    # The rubric's criteria, each of which every review of a final text must pass.
    criteria: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "instrument": {"id": self.instrument_id, "version": self.instrument_version},
            "export_prompt": EXPORT_PROMPT_VERSION,
            "rubric": self.rubric_version,
            "guidelines": sorted(self.guideline_versions),
            "draft_prompts": sorted(self.draft_prompt_versions),
        }


def _listed(names: tuple[str, ...]) -> str:
    """``a, b and c``."""
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def split_name(stem: str) -> str:
    """``fold_2/train`` -> ``annotate_fold_2_train`` (a LlamaFactory dataset name)."""
    return "annotate_" + stem.replace("/", "_")


# Why a split's file is left out (no file, no dataset_info.json entry): it has no record.
EMPTY_SPLIT = "no_records"
EMPTY_DPO_SPLIT = "no_pairs"  # none of its records has a model draft the expert changed enough


def dataset_info(fmt: str, contents: SplitRecords, parquet: bool) -> dict[str, Any]:
    """LlamaFactory's ``dataset_info.json``: one entry per data file that holds records
    (an empty file makes ``datasets`` and LlamaFactory fail), paths relative to DIR."""
    info: dict[str, Any] = {}
    for stem, content in contents.items():
        if not content.records:
            continue
        info[split_name(stem)] = dataset_info_entry(fmt, f"{stem}.jsonl")
        if parquet:
            info[split_name(stem) + "_parquet"] = dataset_info_entry(fmt, f"{stem}.parquet")
    return info


# OpenAI's documented minimum of examples in a fine-tuning file.
OPENAI_MIN_EXAMPLES = 10
BELOW_OPENAI_MINIMUM = "below_openai_minimum"


def warnings_section(fmt: str, files: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """``manifest.warnings``: each data file of an OpenAI-layout export (``openai``,
    ``markers``) holding fewer examples than OpenAI fine-tuning accepts."""
    if CHAT_LAYOUT.get(fmt, fmt) != "openai":
        return []
    return [
        {
            "file": name,
            "records": described["lines"],
            "warning": BELOW_OPENAI_MINIMUM,
            "minimum": OPENAI_MIN_EXAMPLES,
        }
        for name, described in sorted(files.items())
        if name.endswith(".jsonl")
        and not name.endswith(".index.jsonl")
        and described["lines"] < OPENAI_MIN_EXAMPLES
    ]


def folds_section(options: Any, fold_count: int) -> dict[str, Any] | None:
    """``manifest.folds``: how the folds were made (None without folds)."""
    if not options.folds:
        return None
    if options.folds == LOCO:
        return {"kind": LOCO, "k": fold_count, "seed": None, "method": LOCO_METHOD}
    return {"kind": "stratified", "k": options.folds, "seed": options.seed, "method": FOLD_METHOD}


def split_entry(stem: str, content: SplitContents, empty_reason: str) -> dict[str, Any]:
    """A split's file and records, or (no records) no file and the reason."""
    if not content.records:
        return {"file": None, "records": 0, "left_out": empty_reason}
    return {"file": f"{stem}.jsonl", "records": content.records}


def fold_table(
    fold_tables: dict[int, FoldTable], contents: SplitRecords, empty_reason: str = EMPTY_SPLIT
) -> list[dict[str, Any]]:
    """``manifest.fold_table``: per fold its files, records and validation table.

    ``client_ids`` and ``session_ids`` (and their counts) are those whose records are
    in the file; the scores are the fold's (its sessions the rationale rule admits).
    """
    folds = []
    for fold, table in sorted(fold_tables.items()):
        train_stem, val_stem = f"fold_{fold}/train", f"fold_{fold}/val"
        train, val = contents[train_stem], contents[val_stem]
        folds.append(
            {
                "fold": fold,
                "train": {
                    **split_entry(train_stem, train, empty_reason),
                    "client_ids": train.client_ids,
                },
                "val": {
                    **split_entry(val_stem, val, empty_reason),
                    **table.describe(),
                    "clients": len(val.client_ids),
                    "sessions": len(val.session_ids),
                    "client_ids": val.client_ids,
                    "session_ids": val.session_ids,
                },
            }
        )
    return folds


def all_section(options: Any, overall: FoldTable, records: int) -> dict[str, Any]:
    """``manifest.all``: the whole export (its file when there are no folds)."""
    summary = overall.describe()
    return {
        "file": None if options.folds else "train.jsonl",
        "records": records,
        "clients": summary["clients"],
        "sessions": summary["sessions"],
        "scores": summary["scores"],
        "metadata": summary["metadata"],
        **({"codes": summary["codes"]} if "codes" in summary else {}),
    }


def build_manifest(
    *,
    options: Any,
    threshold: int,
    counts: Counts,
    provenance: Provenance,
    overall: FoldTable,
    fold_tables: dict[int, FoldTable],
    split_records: SplitRecords,
    files: dict[str, dict[str, Any]],
    deidentification: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest document (see the README's "For data engineers" section);
    ``deidentification`` (method, version, mode) when every text was de-identified."""
    filters: dict[str, Any] = {
        "instrument": options.instrument_id,
        "review_threshold": threshold,
        "threshold_from": "--min-score" if options.min_score is not None else "rubric",
        "include_unreviewed": options.include_unreviewed,
        "rule": (
            "accepted, with a final text (the rationale's current version) that is not "
            "drafter scaffolding and a client rating; every review of the final version "
            f"scores at least review_threshold on {_listed(provenance.criteria)}; no review "
            "of the final version counts as unreviewed"
        ),
    }
    if options.fmt == "dpo":
        filters["dpo_min_edit_ratio"] = options.dpo_min_edit
        filters["dpo_rule"] = (
            "pair when the draft the final text began from (rationales.draft_id) has text, "
            "was written by a model (never the offline drafter: offline_draft), and its "
            "Levenshtein distance to the final text, over the longer length, exceeds "
            "dpo_min_edit_ratio; chosen is the expert's final text, rejected that model draft"
        )
    all_summary = overall.describe()
    return {
        "tool": {"name": TOOL_NAME, "version": __version__},
        "format": options.fmt,
        **(
            {
                "dpo_layout": "trl_conversational" if options.conversational else "prompt_string",
                "dpo_separator": None if options.conversational else DPO_SEPARATOR,
            }
            if options.fmt == "dpo"
            else {}
        ),  # fmt: skip
        "target": options.target,
        "prompt_metadata": list(options.prompt_metadata),
        "versions": provenance.describe(),
        **({"deidentification": deidentification} if deidentification else {}),
        "filters": filters,
        "folds": folds_section(options, len(fold_tables)),
        "counts": {
            "rationales": counts.rationales,
            "records": counts.records,
            "clients": all_summary["clients"],
            "sessions": all_summary["sessions"],
            "included": counts.included,
            "excluded": dict(sorted(counts.excluded.items())),
            **(
                {
                    "dpo_excluded": dict(sorted(counts.dpo_excluded.items())),
                    "pairs_by_model": dict(sorted(counts.pairs_by_model.items())),
                }
                if options.fmt == "dpo"
                else {}
            ),
        },
        "all": all_section(options, overall, counts.records),
        "fold_table": fold_table(
            fold_tables, split_records, EMPTY_DPO_SPLIT if options.fmt == "dpo" else EMPTY_SPLIT
        ),
        "warnings": warnings_section(options.fmt, files),
        "files": dict(sorted(files.items())),
    }
