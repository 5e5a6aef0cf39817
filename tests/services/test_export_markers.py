"""``--format markers``: turn-level records equal to the coders' stored codes, with the
turn ids of the transcript, the folds and a manifest that accounts for every session."""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, update

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.guidelines import DEFAULT_MARKERS, MarkerScheme, default_markers
from annotate.core.markers import install_markers
from annotate.export.service import ExportOptions, export_dataset
from annotate.work import codings
from store.db import session_scope
from store.models import Coding, CodingVersion, Turn
from tests.coding_helpers import code_primaries, code_session, primary_coding
from tests.export_corpus import build_corpus

pytestmark = pytest.mark.both_backends

# What the coders do, and so what the export must hold (the oracle).
PRIMARY = {
    "s03": [(6, "shutdown"), (8, "shutdown"), (10, "masking"), (12, "avoidance")],
    "s07": [(8, "pushback"), (12, "complaint"), (13, "explore"), (17, "change_task")],
    "s14": [(2, "shutdown"), (6, "complaint"), (9, "metacommunicate"), (11, "acknowledge")],
    "s16": [],  # coded, no marker found: a record with no codes
}
TOGGLED_OFF = {"s03": [(7, "redirect")], "s14": [(4, "masking")]}  # added, then removed
SECOND = {"s03": [(6, "complaint")], "s07": [(9, "explore")], "s14": [(4, "control")]}
UNFINISHED = "s05"  # assigned, coded, never submitted
TURN_LINE = re.compile(r"^\[T(\d+)\] (Client|Counselor): (.*)$", re.DOTALL)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _families() -> dict[str, str]:
    """code -> family, read from the scheme file itself (not from the store)."""
    data = tomllib.loads(DEFAULT_MARKERS.read_text(encoding="utf-8"))
    return {code["id"]: code["family"] for code in data["codes"]}


@pytest.fixture
def coded(demo_engine):  # type: ignore[no-untyped-def]
    """The demo store with primary and blind second codings, made through the lifecycle."""
    sessions = [*PRIMARY, UNFINISHED]
    codings.assign_codings(demo_engine, ["ana", "ben"], sessions=sessions, second_fraction=1.0)
    for session_id in PRIMARY:
        coding_id, coder = primary_coding(demo_engine, session_id)
        code_session(demo_engine, coding_id, coder, PRIMARY[session_id],
                     toggled_off=tuple(TOGGLED_OFF.get(session_id, ())))  # fmt: skip
    coding_id, coder = primary_coding(demo_engine, UNFINISHED)
    code_session(demo_engine, coding_id, coder, [(2, "shutdown")], submit=False)
    with session_scope(demo_engine) as session:
        seconds = {
            c.session_id: (c.id, c.coder_id)
            for c in session.execute(select(Coding).where(Coding.role == "second")).scalars()  # type: ignore[arg-type]
        }
    for session_id, marks in SECOND.items():
        code_session(demo_engine, *seconds[session_id], marks)
    return demo_engine


def _turns(engine, session_id: str) -> dict[int, tuple[str, str]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.execute(
            select(Turn.number, Turn.speaker, Turn.text).where(Turn.session_id == session_id)  # type: ignore[arg-type]
        ).all()
    return {number: (speaker, text) for number, speaker, text in rows}


def test_records_equal_the_primary_coders_codes_with_the_transcripts_turn_ids(
    coded, tmp_path
) -> None:
    out = tmp_path / "m"
    manifest = export_dataset(coded, ExportOptions("markers", out))
    records = _lines(out / "train.jsonl")
    index = _lines(out / "train.index.jsonl")
    families = _families()
    assert [e["session_id"] for e in index] == sorted(PRIMARY)  # code point order
    for record, entry in zip(records, index, strict=True):
        session_id = entry["session_id"]
        assert list(record) == ["messages"]
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        system, user, target = (m["content"] for m in record["messages"])
        expected = [
            {"turn": f"T{turn}", "code": code, "family": families[code]}
            for turn, code in sorted(PRIMARY[session_id])
        ]
        assert json.loads(target) == {"codes": expected}
        assert entry["codes"] == len(expected)
        # The transcript: one [Tn] line per stored turn, speaker and text as stored.
        stored = _turns(coded, session_id)
        lines = user.split("\n[T")
        parsed = {}
        for number, line in enumerate(lines):
            match = TURN_LINE.match(line if number == 0 else "[T" + line)
            assert match, line
            parsed[int(match[1])] = (match[2].lower(), match[3])
        assert parsed == stored
        for turn, code in PRIMARY[session_id]:
            speaker = stored[turn][0]
            assert speaker == ("counselor" if families[code] == "repair" else "client")
        for code_id in families:
            assert f"- {code_id} (" in system
    assert manifest["format"] == "markers" and manifest["target"] == "codes"
    assert manifest["versions"]["scheme"] == {"id": "3rs", "version": default_markers().version}


def test_manifest_accounts_for_every_session(coded, tmp_path) -> None:
    manifest = export_dataset(coded, ExportOptions("markers", tmp_path / "m"))
    counts = manifest["counts"]
    families = _families()
    codes = [code for marks in PRIMARY.values() for _, code in marks]
    assert counts["sessions_in_store"] == 16
    assert counts["records"] == counts["sessions"] == len(PRIMARY)
    assert counts["codings"] == len(PRIMARY)  # finished primary codings
    assert counts["records_without_codes"] == 1
    assert counts["excluded"] == {"coding_not_finished": 1, "no_coding": 16 - len(PRIMARY) - 1}
    assert counts["records"] + sum(counts["excluded"].values()) == counts["sessions_in_store"]
    assert counts["codes"] == len(codes)
    assert counts["codes_by_code"] == dict(sorted(Counter(codes).items()))
    assert counts["codes_by_family"] == dict(sorted(Counter(families[c] for c in codes).items()))
    assert manifest["all"]["codes"] == {
        family: counts["codes_by_family"].get(family, 0)
        for family in ("confrontation", "withdrawal", "repair")
    }
    assert manifest["all"]["clients"] == counts["clients"] == 3  # s03 c01, s07 c03, s14/s16 c05
    for name, described in manifest["files"].items():
        assert (tmp_path / "m" / name).stat().st_size == described["bytes"]


@pytest.mark.parametrize("folds", [2, "loco"])
def test_folds_keep_clients_apart_and_fold_tables_count_codes(coded, tmp_path, folds) -> None:
    out = tmp_path / "m"
    manifest = export_dataset(coded, ExportOptions("markers", out, folds=folds, parquet=True))
    families = _families()
    client_of = {"s03": "c01", "s07": "c03", "s14": "c05", "s16": "c05"}
    assert len(manifest["fold_table"]) == (3 if folds == "loco" else 2)
    seen: list[str] = []
    for entry in manifest["fold_table"]:
        fold = entry["fold"]
        val = _lines(out / f"fold_{fold}" / "val.index.jsonl")
        train = _lines(out / f"fold_{fold}" / "train.index.jsonl")
        val_clients = {e["client_id"] for e in val}
        assert val_clients.isdisjoint({e["client_id"] for e in train})
        assert sorted(val_clients) == entry["val"]["client_ids"]
        sessions = [e["session_id"] for e in val]
        assert sessions == entry["val"]["session_ids"]
        assert sorted(sessions + [e["session_id"] for e in train]) == sorted(PRIMARY)
        assert sorted(sessions) == sorted(s for s, c in client_of.items() if c in val_clients)
        family_counts = Counter(families[c] for s in sessions for _, c in PRIMARY[s])
        assert {k: v for k, v in entry["val"]["codes"].items() if v} == dict(family_counts)
        seen += sessions
        import pyarrow.parquet as pq

        assert pq.read_table(out / f"fold_{fold}" / "val.parquet").to_pylist() == _lines(
            out / f"fold_{fold}" / "val.jsonl"
        )
    assert sorted(seen) == sorted(PRIMARY)  # each session in exactly one validation fold
    if folds == "loco":
        assert [e["val"]["client_ids"] for e in manifest["fold_table"]] == [
            ["c01"], ["c03"], ["c05"],
        ]  # fmt: skip


def test_chinese_round_trip_and_loading(coded, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    out = tmp_path / "m"
    export_dataset(coded, ExportOptions("markers", out))
    raw = (out / "train.jsonl").read_bytes()
    assert b"\\u" not in raw
    stored = _turns(coded, "s14")
    for number, (_, text) in stored.items():
        assert f"[T{number}] ".encode() in raw and text.encode("utf-8") in raw
    line = raw.decode("utf-8").splitlines()[[*sorted(PRIMARY)].index("s14")]
    user = json.loads(line)["messages"][1]["content"]
    assert user.splitlines()[1] == f"[T2] Client: {stored[2][1]}"
    from datasets import load_dataset

    dataset = load_dataset(
        "json", data_files=str(out / "train.jsonl"), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert dataset.column_names == ["messages"] and len(dataset) == len(PRIMARY)
    assert dataset[[*sorted(PRIMARY)].index("s14")]["messages"][1]["content"] == user
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["annotate_train"]["columns"] == {"messages": "messages"}
    assert info["annotate_train"]["tags"]["assistant_tag"] == "assistant"


def test_same_store_gives_identical_bytes(coded, tmp_path) -> None:
    for name in ("a", "b"):
        export_dataset(coded, ExportOptions("markers", tmp_path / name, folds="loco"))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json*"))
    assert Path("manifest.json") in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_codes_the_scheme_or_the_transcript_no_longer_has_are_left_out(engine, tmp_path) -> None:
    corpus = build_corpus(engine, [1, 1, 1], items=["goal_1"])
    sessions = sorted(corpus.client_of)
    code_primaries(
        engine, {sessions[0]: [(2, "shutdown")], sessions[1]: [(2, "masking")],
                 sessions[2]: [(1, "explore")]},
    )  # fmt: skip
    # The team reloads the scheme without "masking" (a new version) ...
    spec = default_markers().model_dump()
    spec["version"] = "2.0.0"
    spec["codes"] = [code for code in spec["codes"] if code["id"] != "masking"]
    spec["cues"] = {lang: {k: v for k, v in table.items() if k != "masking"}
                    for lang, table in spec["cues"].items()}  # fmt: skip
    with session_scope(engine) as session:
        install_markers(session, MarkerScheme.model_validate(spec))
    # ... and a coding names a turn the session does not have.
    coding_id, _ = primary_coding(engine, sessions[2])
    with session_scope(engine) as session:
        session.execute(
            update(CodingVersion)
            .where(CodingVersion.coding_id == coding_id)  # type: ignore[arg-type]
            .values(codes=[[1, "explore", "expert"], [9, "shutdown", "expert"]])
        )
    manifest = export_dataset(engine, ExportOptions("markers", tmp_path / "m"))
    assert manifest["counts"]["excluded"] == {"code_not_in_scheme": 1, "code_on_missing_turn": 1}
    assert [e["session_id"] for e in _lines(tmp_path / "m" / "train.index.jsonl")] == [sessions[0]]


def test_options_that_do_not_apply_to_markers_are_refused(coded, tmp_path) -> None:
    out = tmp_path / "m"
    for options, error, message in (
        (ExportOptions("markers", out, target="rating"), ConfigError, "markers targets the codes"),
        (ExportOptions("markers", out, min_score=4), ConfigError, "filter rationales"),
        (ExportOptions("markers", out, include_unreviewed=True), ConfigError, "filter rationales"),
        (ExportOptions("markers", out, scheme_id="nope"), NotFoundError, "no marker scheme 'nope'"),
        (ExportOptions("markers", out, folds=9), ConfigError, "needs at least 9 clients"),
    ):
        with pytest.raises(error, match=message):
            export_dataset(coded, options)
        assert not out.exists()
