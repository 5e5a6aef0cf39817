"""Export: eligibility, formats loadable by `datasets`, folds, manifest, determinism."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import pytest
from sqlmodel import select

from annotate.core import workflow
from annotate.core.errors import ConfigError
from annotate.export.service import ExportOptions, export_dataset
from store.db import session_scope
from store.models import Item, Rating, Rationale, Review, ReviewScore, TherapySession
from tests.export_corpus import CHINESE, add_draft, build_corpus
from tests.workdata import current_text

pytestmark = pytest.mark.both_backends


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(autouse=True)
def _offline_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`datasets` never goes online and caches under the test's own directory."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def _load(path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Load a JSONL file the way trainers do."""
    from datasets import load_dataset

    return load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf-cache")
    )


def _expected_demo(engine, threshold: int = 3, include_unreviewed: bool = False):  # type: ignore[no-untyped-def]
    """Independently: (session, item) -> final text of the rationales the rule admits."""
    expected = {}
    with session_scope(engine) as session:
        for rationale in session.exec(select(Rationale)).all():
            text = current_text(session, rationale)
            if rationale.status != workflow.ACCEPTED or text is None:
                continue
            version = rationale.current_version
            reviews = session.exec(
                select(Review).where(
                    Review.rationale_id == rationale.id, Review.rationale_version == version
                )
            ).all()
            scores = [
                tuple(
                    session.exec(
                        select(ReviewScore.score).where(ReviewScore.review_id == r.id)
                    ).all()
                )
                for r in reviews
            ]
            if any(min(s) < threshold for s in scores):
                continue
            if not scores and not include_unreviewed:
                continue
            expected[(rationale.session_id, rationale.item_id)] = text
    return expected


def test_default_export_keeps_only_passing_reviewed_rationales(demo_engine, tmp_path) -> None:
    out = tmp_path / "out"
    manifest = export_dataset(demo_engine, ExportOptions("openai", out, target="rationale"))
    expected = _expected_demo(demo_engine)
    index = _lines(out / "train.index.jsonl")
    records = _lines(out / "train.jsonl")
    assert {(e["session_id"], e["item_id"]) for e in index} == set(expected)
    for entry, record in zip(index, records, strict=True):
        assert list(record) == ["messages"]
        assert [m["role"] for m in record["messages"]] == ["system", "user", "assistant"]
        assert record["messages"][2]["content"] == expected[(entry["session_id"], entry["item_id"])]
        assert entry["item_id"] in record["messages"][0]["content"]
    counts = manifest["counts"]
    assert counts["records"] == len(expected) == counts["included"]["reviewed"]
    assert counts["rationales"] == 48
    assert counts["records"] + sum(counts["excluded"].values()) == 48
    assert counts["excluded"]["unreviewed"] > 0


def test_include_unreviewed_and_min_score_change_the_selection(demo_engine, tmp_path) -> None:
    wide = export_dataset(
        demo_engine, ExportOptions("alpaca", tmp_path / "wide", include_unreviewed=True)
    )
    assert wide["counts"]["records"] == len(_expected_demo(demo_engine, include_unreviewed=True))
    assert wide["counts"]["included"]["unreviewed"] > 0
    strict = export_dataset(demo_engine, ExportOptions("alpaca", tmp_path / "strict", min_score=5))
    assert strict["counts"]["records"] == len(_expected_demo(demo_engine, threshold=5))
    assert strict["counts"]["records"] < len(_expected_demo(demo_engine))
    assert strict["filters"]["review_threshold"] == 5
    with pytest.raises(ConfigError, match="cannot be combined"):
        export_dataset(
            demo_engine,
            ExportOptions("alpaca", tmp_path / "x", min_score=4, include_unreviewed=True),
        )


def _review(session, rid: int, version: int, reviewer: str, score: int, *, passed: bool) -> None:  # type: ignore[no-untyped-def]
    """A review of ``version`` scoring ``score`` on each of the three criteria."""
    review = Review(rationale_id=rid, rationale_version=version, reviewer_id=reviewer,
                    passed=passed, rubric_version="1.0.0")  # fmt: skip
    session.add(review)
    session.flush()
    for criterion in ("faithfulness", "relevance", "informativeness"):
        session.add(ReviewScore(review_id=review.id, criterion=criterion, score=score))


def test_only_reviews_of_the_final_version_count(engine, tmp_path) -> None:
    corpus = build_corpus(engine, [1], items=["goal_1", "goal_2"])
    rid = corpus.rationale_ids[("c000s00", "goal_1")]
    with session_scope(engine) as session:
        # A failed review of version 1, then a new final version 2 with a passing review.
        _review(session, rid, 1, "ana", 1, passed=False)
        from store.models import RationaleVersion

        session.add(RationaleVersion(rationale_id=rid, version=2, text="v2 text", author_id="ana"))
        rationale = session.get(Rationale, rid)
        rationale.lock_version = rationale.current_version = 2  # type: ignore[union-attr]
        session.add(rationale)
        _review(session, rid, 2, "ben", 3, passed=True)
    export_dataset(engine, ExportOptions("alpaca", tmp_path / "o", target="rationale"))
    rows = _lines(tmp_path / "o" / "train.jsonl")
    assert [r["output"] for r in rows][0] == "v2 text"
    assert len(rows) == 2


@pytest.mark.parametrize("fmt", ["openai", "alpaca", "sharegpt"])
def test_each_format_loads_with_datasets(engine, tmp_path, fmt) -> None:
    build_corpus(engine, [2, 1, 1, 2, 1, 1], seed=3)
    out = tmp_path / fmt
    manifest = export_dataset(engine, ExportOptions(fmt, out, folds=3, seed=1, target="both"))
    for entry in manifest["fold_table"]:
        for split in ("train", "val"):
            path = out / entry[split]["file"]
            dataset = _load(path, tmp_path)
            assert len(dataset) == entry[split]["records"] > 0
            row = dataset[0]
            if fmt == "openai":
                assert dataset.column_names == ["messages"]
                assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
                target = row["messages"][2]["content"]
            elif fmt == "alpaca":
                assert dataset.column_names == ["instruction", "input", "output"]
                target = row["output"]
            else:
                assert dataset.column_names == ["conversations"]
                assert [t["from"] for t in row["conversations"]] == ["system", "human", "gpt"]
                target = row["conversations"][2]["value"]
            assert target.splitlines()[-1].startswith("Rating: ")
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert sorted(info) == sorted(
        f"annotate_fold_{k}_{split}" for k in (1, 2, 3) for split in ("train", "val")
    )
    for entry in info.values():
        columns = _load(out / entry["file_name"], tmp_path).column_names
        assert set(entry["columns"].values()) <= set(columns)  # LlamaFactory finds them
        if "tags" in entry:  # the role names it looks for are the ones written
            first = _lines(out / entry["file_name"])[0][entry["columns"]["messages"]]
            tags = entry["tags"]
            roles = [turn[tags["role_tag"]] for turn in first]
            assert roles == [tags["system_tag"], tags["user_tag"], tags["assistant_tag"]]


def test_chinese_text_is_written_unescaped(engine, tmp_path) -> None:
    build_corpus(engine, [1, 1], items=["bond_1"])
    export_dataset(engine, ExportOptions("sharegpt", tmp_path / "o", target="rationale"))
    raw = (tmp_path / "o" / "train.jsonl").read_bytes()
    assert CHINESE.encode("utf-8") in raw and b"\\u" not in raw
    first = _lines(tmp_path / "o" / "train.jsonl")[0]
    assert first["conversations"][2]["value"] == f"bond_1 in c000s00: {CHINESE}"
    assert CHINESE in first["conversations"][1]["value"]


def test_folds_keep_clients_apart_and_manifest_matches_files(engine, tmp_path) -> None:
    corpus = build_corpus(engine, [3, 1, 2, 4, 1, 2, 3, 1, 2, 1], seed=5)
    out = tmp_path / "o"
    manifest = export_dataset(engine, ExportOptions("openai", out, folds=5, seed=2, parquet=True))
    every = set(corpus.rationale_ids)
    val_seen: set[tuple[str, str]] = set()
    for entry in manifest["fold_table"]:
        fold = entry["fold"]
        val = _lines(out / f"fold_{fold}" / "val.index.jsonl")
        train = _lines(out / f"fold_{fold}" / "train.index.jsonl")
        val_clients = {e["client_id"] for e in val}
        assert val_clients.isdisjoint({e["client_id"] for e in train})
        assert sorted(val_clients) == entry["val"]["client_ids"]
        assert sorted({e["session_id"] for e in val}) == entry["val"]["session_ids"]
        keys = {(e["session_id"], e["item_id"]) for e in val}
        assert keys | {(e["session_id"], e["item_id"]) for e in train} == every
        assert not keys & val_seen
        val_seen |= keys
        # The per-fold table: session-level Goal mean/SD of the validation clients.
        goal = [
            statistics.mean(corpus.client_ratings[(s, f"goal_{n}")] for n in range(1, 5))
            for s in entry["val"]["session_ids"]
        ]
        assert entry["val"]["scores"]["goal"]["mean"] == pytest.approx(
            statistics.mean(goal), abs=1e-4
        )
        if len(goal) > 1:
            assert entry["val"]["scores"]["goal"]["sd"] == pytest.approx(
                statistics.stdev(goal), abs=1e-4
            )
    assert val_seen == every
    for name, described in manifest["files"].items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == described["sha256"]
        assert len(data) == described["bytes"]
    import pyarrow.parquet as pq

    table = pq.read_table(out / "fold_1" / "val.parquet")
    assert table.to_pylist() == _lines(out / "fold_1" / "val.jsonl")
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_same_store_and_options_give_identical_bytes(engine, tmp_path) -> None:
    build_corpus(engine, [2, 2, 1, 3, 1, 1], seed=8)
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        export_dataset(engine, ExportOptions("openai", out, folds=3, seed=4, parquet=True))
    names = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert Path("manifest.json") in names and Path("fold_3/val.parquet") in names
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    other = tmp_path / "c"
    export_dataset(engine, ExportOptions("openai", other, folds=3, seed=99))
    assert json.loads((other / "manifest.json").read_text())["folds"]["seed"] == 99


def test_dpo_pairs_only_substantially_edited_drafts(engine, tmp_path) -> None:
    corpus = build_corpus(engine, [1, 1], items=["task_1", "task_2", "task_3"])
    final = "task_1 in c000s00: " + CHINESE
    add_draft(engine, "c000s00", "task_1", "The client seemed fine with the plan.")
    add_draft(engine, "c000s00", "task_2", "task_2 in c000s00: " + CHINESE + "。")  # tiny edit
    add_draft(engine, "c001s00", "task_1", None, status=workflow.DRAFT_FAILED)
    manifest = export_dataset(engine, ExportOptions("dpo", tmp_path / "d", target="rationale"))
    pairs = _lines(tmp_path / "d" / "train.jsonl")
    assert len(pairs) == 1 and list(pairs[0])[:3] == ["prompt", "chosen", "rejected"]
    assert pairs[0]["chosen"] == final
    assert pairs[0]["rejected"] == "The client seemed fine with the plan."
    assert "task_1" in pairs[0]["prompt"] and "[1] Counselor:" in pairs[0]["prompt"]
    assert manifest["counts"]["records"] == 1
    assert manifest["counts"]["dpo_excluded"] == {
        "edit_below_threshold": 1,
        "no_usable_draft": len(corpus.rationale_ids) - 2,
    }
    assert manifest["versions"]["draft_prompts"] == ["draft-1"]
    assert _load(tmp_path / "d" / "train.jsonl", tmp_path).column_names[:3] == [
        "prompt",
        "chosen",
        "rejected",
    ]
    with pytest.raises(ConfigError, match="dpo"):
        export_dataset(engine, ExportOptions("dpo", tmp_path / "e", target="rating"))


def test_rating_target_is_the_client_rating(engine, tmp_path) -> None:
    corpus = build_corpus(engine, [2], items=["goal_1", "bond_4"])
    export_dataset(engine, ExportOptions("alpaca", tmp_path / "o", target="rating"))
    rows = _lines(tmp_path / "o" / "train.jsonl")
    index = _lines(tmp_path / "o" / "train.index.jsonl")
    for row, entry in zip(rows, index, strict=True):
        assert row["output"] == str(corpus.client_ratings[(entry["session_id"], entry["item_id"])])
        assert "rated this item" not in row["instruction"]  # the answer is not in the prompt


def test_output_directory_is_protected(demo_engine, tmp_path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        export_dataset(demo_engine, ExportOptions("openai", keep))
    with pytest.raises(ConfigError, match="holds no export"):
        export_dataset(demo_engine, ExportOptions("openai", keep, force=True))
    assert (keep / "notes.txt").read_text() == "mine"
    # A web app or a thesis folder with a manifest.json of its own is not an export.
    app = tmp_path / "webapp"
    (app / "src").mkdir(parents=True)
    (app / "src" / "app.js").write_text("console.log(1)")
    (app / "manifest.json").write_text('{"name": "my web app", "start_url": "/"}')
    with pytest.raises(ConfigError, match="holds no export made by annotate"):
        export_dataset(demo_engine, ExportOptions("openai", app, force=True))
    assert (app / "src" / "app.js").read_text() == "console.log(1)"
    # A symbolic link at --out (to a directory, or dangling) is refused in one line.
    target = tmp_path / "real"
    target.mkdir()
    for name, points_to in (("link", target), ("dangling", tmp_path / "nowhere")):
        (tmp_path / name).symlink_to(points_to)
        with pytest.raises(ConfigError, match="is a symbolic link"):
            export_dataset(demo_engine, ExportOptions("openai", tmp_path / name, force=True))
        (tmp_path / name).unlink()
    out = tmp_path / "out"
    export_dataset(demo_engine, ExportOptions("openai", out, folds=2))
    export_dataset(demo_engine, ExportOptions("openai", out, force=True))
    assert not (out / "fold_1").exists() and (out / "train.jsonl").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(ConfigError, match="at least 9 clients"):
        export_dataset(demo_engine, ExportOptions("openai", tmp_path / "n", folds=9))
    assert not (tmp_path / "n").exists()


def test_a_running_exports_staging_is_kept_and_an_abandoned_one_removed(tmp_path) -> None:
    from annotate.export.writer import Staging

    out = tmp_path / "export"
    running = Staging(out, force=False)
    (running.root / "train.jsonl").write_text("{}\n")
    second = Staging(out, force=False)  # a concurrent export to the same place
    assert running.root.is_dir() and second.root.is_dir()
    second.abort()
    abandoned = tmp_path / ".export.partial-abandoned"
    (abandoned / "fold_1").mkdir(parents=True)
    (abandoned / "fold_1" / "train.jsonl").write_text("a transcript\n")
    keep = tmp_path / ".export.old"  # not a staging directory: never touched
    keep.mkdir()
    third = Staging(out, force=False)
    assert not abandoned.exists() and keep.is_dir() and running.root.is_dir()
    third.abort()
    running.commit()
    assert (out / "train.jsonl").read_text() == "{}\n"


def test_postgresql_with_a_language_collation_exports_the_same_bytes_as_sqlite(
    pg_server, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """Identifiers sort differently in en-US ('a' < 'B' < 's1' < 'S2') than by code point
    (SQLite, and 'B' < 'S2' < 'a' < 's1'); the files must not depend on it."""
    from annotate.core.database import initialise
    from annotate.ingest import import_file
    from tests.factories import ITEMS, session_record, write_jsonl

    sessions = [
        ("S2", "Cb"),
        ("s1", "ca"),
        ("a-b", "c-a"),
        ("ab", "Cb"),
        ("B", "ca"),
        ("中1", "cB"),
    ]
    records = [
        session_record(sid, client_id=client, language="zh" if sid == "中1" else "en")
        for sid, client in sessions
    ]
    rationales = [
        {"session_id": sid, "item_id": item, "author": "ana", "text": f"{item} of {sid}: 4."}
        for sid, _ in sessions
        for item in ITEMS
    ]
    files = [
        write_jsonl(tmp_path / "sessions.jsonl", records),
        write_jsonl(tmp_path / "rationales.jsonl", rationales),
    ]
    trees = []
    for name, url in (
        ("sqlite", str(tmp_path / "s.db")),
        ("postgresql", pg_server.create_database(icu_locale="en-US")),
    ):
        store, _ = initialise(url)
        for path in files:
            import_file(store, path)
        out = tmp_path / name
        options = ExportOptions("openai", out, folds=2, include_unreviewed=True)
        export_dataset(store, options)
        store.dispose()
        trees.append({str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*.json*")})
    index = [json.loads(line) for line in trees[0]["fold_1/train.index.jsonl"].splitlines()]
    sessions_in_order = list(dict.fromkeys(entry["session_id"] for entry in index))
    assert sessions_in_order == sorted(sessions_in_order)  # code point order
    assert trees[1] == trees[0]


def test_demo_client_ratings_in_manifest_match_the_store(demo_engine, tmp_path) -> None:
    manifest = export_dataset(
        demo_engine, ExportOptions("openai", tmp_path / "o", include_unreviewed=True)
    )
    with session_scope(demo_engine) as session:
        sessions = sorted({s for s, _ in _expected_demo(demo_engine, include_unreviewed=True)})
        bond = []
        for session_id in sessions:
            values = session.exec(
                select(Rating.value)
                .join(Item, Item.id == Rating.item_id)
                .where(
                    Rating.session_id == session_id,
                    Rating.rater_role == "client",
                    Item.dimension == "bond",
                )
            ).all()
            bond.append(statistics.mean(values))
        clients = {session.get(TherapySession, s).client_id for s in sessions}
    assert manifest["all"]["sessions"] == len(sessions)
    assert manifest["all"]["clients"] == len(clients)
    assert manifest["all"]["scores"]["bond"]["mean"] == pytest.approx(
        statistics.mean(bond), abs=1e-4
    )


def test_memory_does_not_grow_with_the_number_of_records(tmp_path, monkeypatch) -> None:
    """Streaming: 4x the records must not need more than a sliver of extra memory."""
    import gc
    import tracemalloc

    from annotate.core.database import initialise
    from annotate.export import records, service

    monkeypatch.setattr(service, "SESSIONS_PER_BATCH", 10)
    monkeypatch.setattr(records, "FETCH_ROWS", 100)
    peaks, sizes = [], []
    for clients in (20, 80):
        engine, _ = initialise(str(tmp_path / f"m{clients}.db"))
        build_corpus(engine, [3] * clients)
        out = tmp_path / f"m{clients}"
        gc.collect()
        tracemalloc.start()
        export_dataset(engine, ExportOptions("openai", out, target="both"))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        engine.dispose()
        sizes.append((out / "train.jsonl").stat().st_size)
    # Holding the records would cost at least the extra bytes written; allow 15 % of them
    # (session-level figures, kept for the manifest, grow with the number of sessions).
    assert peaks[1] - peaks[0] < 0.15 * (sizes[1] - sizes[0])


def _save_without_waiting(engine, rationale_id: int, text: str) -> None:  # type: ignore[no-untyped-def]
    """Store a new version from another connection, failing at once if it has to wait."""
    if engine.dialect.name == "sqlite":
        import sqlite3

        writer = sqlite3.connect(engine.url.database, timeout=0.5)
        placeholder = "?"
    else:
        import psycopg

        url = engine.url
        writer = psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database
        )
        writer.execute("SET lock_timeout = '500ms'")
        placeholder = "%s"
    try:
        writer.execute(
            "INSERT INTO rationale_versions (rationale_id, version, text, author_id, kind,"
            f" created_at) VALUES ({placeholder}, 2, {placeholder}, 'ana', 'save',"
            " CURRENT_TIMESTAMP)",
            (rationale_id, text),
        )
        writer.execute(
            f"UPDATE rationales SET lock_version = 2, current_version = 2 WHERE id = {placeholder}",
            (rationale_id,),
        )
        writer.commit()
    finally:
        writer.close()


def test_export_reads_a_snapshot_and_does_not_block_writers(engine, tmp_path, monkeypatch) -> None:
    """An expert saving during an export neither waits nor leaks into the files."""
    from annotate.export import service

    monkeypatch.setattr(service, "SESSIONS_PER_BATCH", 1)
    corpus = build_corpus(engine, [1, 1, 1], items=["goal_1"])
    last = corpus.rationale_ids[("c002s00", "goal_1")]
    saved = []

    def save_meanwhile(done: int, total: int) -> None:
        if done == 1:
            _save_without_waiting(engine, last, "saved during the export")
            saved.append(done)

    export_dataset(
        engine,
        ExportOptions("alpaca", tmp_path / "a", target="rationale", include_unreviewed=True),
        on_progress=save_meanwhile,
    )
    assert saved == [1]
    outputs = [row["output"] for row in _lines(tmp_path / "a" / "train.jsonl")]
    assert outputs[-1] == "goal_1 in c002s00: turn 2 shows it."
    export_dataset(
        engine,
        ExportOptions("alpaca", tmp_path / "b", target="rationale", include_unreviewed=True),
    )
    assert _lines(tmp_path / "b" / "train.jsonl")[-1]["output"] == "saved during the export"
