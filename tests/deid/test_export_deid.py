"""``export --deidentify`` (issue 26): no planted identifier in any file of the export, the
same surrogate for a person in the transcript and in the rationale that explains it
(the masks drafting sends), the manifest names the method, and the map stays home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from annotate.core import workflow
from annotate.deid.detect import METHOD, VERSION
from annotate.deid.service import masks_for_sessions
from annotate.export.formats import DPO_SEPARATOR
from annotate.export.service import ExportOptions, export_dataset
from cli.app import app
from store.models import Annotator, Rationale, RationaleVersion, Review, ReviewScore, utcnow
from tests.coding_helpers import code_primaries
from tests.deid.planted import EN_ID, ZH_ID, import_planted, leaks, surrogate
from tests.export_corpus import add_draft

pytestmark = pytest.mark.both_backends
runner = CliRunner()
ITEMS = ("goal_1", "bond_1")
RATIONALES = {
    EN_ID: "Marisol says the trip with Tobias to Millbrook on March 14, 2025 ended in a "
    "fight, and she wants to stop fighting with Tobias.",
    ZH_ID: "王建国提到小明回了成都以后两人又吵架了，他想和小明好好谈谈。",
}
DRAFTS = {
    EN_ID: "Tobias and Marisol argued in Millbrook.",
    ZH_ID: "王建国和小明在成都吵架了。",
}
# The people and places a record's transcript and rationale both name, per session.
SHARED = {
    EN_ID: [("cl-deid-en", "name", "Tobias"), ("cl-deid-en", "place", "Millbrook")],
    ZH_ID: [("cl-deid-zh", "name", "小明"), ("cl-deid-zh", "place", "成都")],
}
LAYOUTS = [("openai", False), ("alpaca", False), ("sharegpt", False), ("dpo", False),
           ("dpo", True), ("markers", False)]  # fmt: skip


@pytest.fixture
def store(engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The planted sessions, each item of ITEMS with an accepted, reviewed rationale that
    names the client's people, begun from a model draft the expert rewrote; codings."""
    import_planted(engine, tmp_path)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(Annotator), [{"id": n, "created_at": now} for n in ("ana", "ben")]
        )
        next_id = 1
        for session_id, said in RATIONALES.items():
            for item in ITEMS:
                connection.execute(insert(Rationale).values(
                    id=next_id, session_id=session_id, item_id=item, author_id="ana",
                    status=workflow.ACCEPTED, flagged=False, lock_version=1, current_version=1,
                    updated_at=now))  # fmt: skip
                connection.execute(insert(RationaleVersion).values(
                    rationale_id=next_id, version=1, text=said, author_id="ana", created_at=now,
                    kind=workflow.VERSION_IMPORT, guideline_version="1.0.0"))  # fmt: skip
                review = connection.execute(insert(Review).values(
                    rationale_id=next_id, rationale_version=1, reviewer_id="ben", comment="",
                    passed=True, rubric_version="1.0.0", created_at=now))  # fmt: skip
                connection.execute(insert(ReviewScore), [
                    {"review_id": review.inserted_primary_key[0], "criterion": c, "score": 4}
                    for c in ("faithfulness", "relevance", "informativeness")])  # fmt: skip
                next_id += 1
    for session_id in RATIONALES:
        for item in ITEMS:
            add_draft(engine, session_id, item, DRAFTS[session_id])
    code_primaries(engine, {EN_ID: [(2, "shutdown")], ZH_ID: [(2, "shutdown")]})
    return engine


def _files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def _blobs(out: Path) -> list[bytes]:
    """Every file's bytes; a Parquet file's rows as JSON (its pages are compressed)."""
    found = []
    for path in _files(out):
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
            found.append(json.dumps(rows, ensure_ascii=False).encode("utf-8"))
        else:
            found.append(path.read_bytes())
    return found


def _parts(record: dict, fmt: str, conversational: bool) -> tuple[str, str]:
    """(user message, target) of a record in any layout; a DPO pair's target is its
    chosen and rejected texts."""
    if fmt in ("openai", "markers"):
        return record["messages"][1]["content"], record["messages"][2]["content"]
    if fmt == "alpaca":
        return record["input"], record["output"]
    if fmt == "sharegpt":
        return record["conversations"][1]["value"], record["conversations"][2]["value"]
    if conversational:
        user = record["prompt"][1]["content"]
        return user, record["chosen"][0]["content"] + "\n" + record["rejected"][0]["content"]
    return record["prompt"].split("\n\n", 1)[1].removesuffix(DPO_SEPARATOR), (
        record["chosen"] + "\n" + record["rejected"]
    )


def _records(out: Path) -> list[tuple[dict, dict]]:
    """(record, its index entry) of the export without folds."""
    data = (out / "train.jsonl").read_text(encoding="utf-8").splitlines()
    index = (out / "train.index.jsonl").read_text(encoding="utf-8").splitlines()
    return [(json.loads(a), json.loads(b)) for a, b in zip(data, index, strict=True)]


@pytest.mark.parametrize(("fmt", "conversational"), LAYOUTS)
def test_no_planted_identifier_and_one_surrogate_per_person(
    store, tmp_path: Path, fmt: str, conversational: bool
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    options = ExportOptions(fmt, out, conversational=conversational, deidentify=True,
                            parquet=not conversational and fmt == "openai")  # fmt: skip
    manifest = export_dataset(store, options)
    assert manifest["deidentification"] == {"method": METHOD, "version": VERSION,
                                            "mode": "surrogate"}  # fmt: skip
    records = _records(out)
    assert len(records) == (2 if fmt == "markers" else 4)
    assert leaks(_blobs(out)) == []
    masks = masks_for_sessions(store, [EN_ID, ZH_ID])
    for record, entry in records:
        session_id = entry["session_id"]
        assert "names" not in entry["metadata"] and entry["metadata"]["condition"]
        user, target = _parts(record, fmt, conversational)
        # The transcript is what a de-identified draft request carries.
        assert all(turn in user for turn in masks[session_id].turns)
        if fmt == "markers":
            continue
        for client, category, original in SHARED[session_id]:
            stand_in = surrogate(store, client, category, original)
            assert stand_in in user and stand_in in target, (original, stand_in)
    assert "names" not in manifest["all"]["metadata"]


def test_tag_mode_uses_the_same_tag_in_transcript_and_rationale(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    manifest = export_dataset(store, ExportOptions("openai", out, deidentify=True,
                                                   deidentify_mode="tag"))  # fmt: skip
    assert manifest["deidentification"]["mode"] == "tag"
    assert leaks(_blobs(out)) == []
    for record, entry in _records(out):
        user, target = _parts(record, "openai", False)
        for client, category, original in SHARED[entry["session_id"]]:
            tag = surrogate(store, client, category, original, mode="tag")
            assert tag.startswith("[") and tag in user and tag in target


def test_without_the_flag_the_export_is_as_stored(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The check can fail: the same export without --deidentify holds the identifiers."""
    out = tmp_path / "out"
    manifest = export_dataset(store, ExportOptions("openai", out))
    assert "deidentification" not in manifest
    found = {identifier for _, identifier in leaks(_blobs(out))}
    assert found >= {"Marisol", "Tobias", "Millbrook", "555-867-5309", "王建国", "小明", "成都"}


def test_the_command_line(store, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cli"
    base = ["--db", db_url, "export", "--format", "openai", "--out", str(out), "--deidentify"]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "de-identified, surrogate" in result.stdout
    assert leaks(_blobs(out)) == []
    names = runner.invoke(app, [*base, "--force", "--prompt-metadata", "names"])
    assert names.exit_code == 1 and "no exported session has 'names'" in names.output
    header = runner.invoke(app, [*base, "--force", "--prompt-metadata", "condition"])
    assert header.exit_code == 0, header.output
    assert leaks(_blobs(out)) == []
    bad = runner.invoke(app, [*base, "--force", "--deidentify-mode", "blank"])
    assert bad.exit_code == 1 and "--deidentify-mode must be one of" in bad.output
