"""Import of earlier expert work: 10,008 rationales, then 10,008 reviews of them (SQLite).

Both go through annotate.work.rationales's batch writers (``import_texts``, ``import_reviews``),
one transaction per file. The baseline, in the same run on the same machine, is a raw
``sqlite3.executemany`` of the same version and review rows into a copy of the store
(no validation, no lifecycle rules).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotate.core.database import initialise  # noqa: E402
from annotate.ingest import import_file  # noqa: E402

ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]
SESSIONS = 834  # x 12 items = 10,008 rationales


def _write(path: Path, records: list[dict]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def _raw_baseline(db: Path, rationales: list[dict], reviews: list[dict]) -> float:
    connection = sqlite3.connect(db)
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    ids = dict(
        (((s, i), rid) for rid, s, i in connection.execute(
            "SELECT id, session_id, item_id FROM rationales"))
    )  # fmt: skip
    connection.executemany(
        "INSERT INTO rationale_versions (rationale_id, version, text, author_id, kind,"
        " created_at) VALUES (?, 1, ?, ?, 'import', '2026-01-01 00:00:00')",
        [(ids[(r["session_id"], r["item_id"])], r["text"], r["author"]) for r in rationales],
    )
    connection.executemany(
        "INSERT INTO reviews (rationale_id, rationale_version, reviewer_id, faithfulness,"
        " relevance, informativeness, comment, passed, rubric_version, created_at)"
        " VALUES (?, 1, ?, ?, ?, ?, ?, 1, '1.0.0', '2026-01-01 00:00:00')",
        [
            (ids[(r["session_id"], r["item_id"])], r["reviewer"], r["faithfulness"],
             r["relevance"], r["informativeness"], r["comment"])
            for r in reviews
        ],
    )  # fmt: skip
    connection.execute("ROLLBACK")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        engine, _ = initialise(str(work / "work.db"))
        sessions = [
            {"session_id": f"s{n:04d}", "client_id": f"c{n // 8}", "counselor_id": "t1",
             "session_number": 1, "language": "zh" if n % 2 else "en",
             "turns": [{"speaker": "client", "text": "我最近睡不好。I sleep badly."},
                       {"speaker": "counselor", "text": "Tell me more."}],
             "client_ratings": {item: 1 + (n + k) % 5 for k, item in enumerate(ITEMS)}}
            for n in range(SESSIONS)
        ]  # fmt: skip
        rationales = [
            {"session_id": s["session_id"], "item_id": item, "author": "ana",
             "text": f"来访者在第2轮提出睡眠目标；the client names sleep ({s['session_id']})."}
            for s in sessions for item in ITEMS
        ]  # fmt: skip
        reviews = [
            {"session_id": r["session_id"], "item_id": r["item_id"], "reviewer": "ben",
             "faithfulness": 4, "relevance": 4 if n % 5 else 2, "informativeness": 3,
             "comment": "ok"}
            for n, r in enumerate(rationales)
        ]  # fmt: skip
        import_file(engine, _write(work / "sessions.jsonl", sessions))
        engine.dispose()
        shutil.copy(work / "work.db", work / "raw.db")  # checkpointed: the file is complete
        engine, _ = initialise(str(work / "work.db"))
        started = time.perf_counter()
        done = import_file(engine, _write(work / "rationales.jsonl", rationales))
        rationale_seconds = time.perf_counter() - started
        started = time.perf_counter()
        reviewed = import_file(engine, _write(work / "reviews.jsonl", reviews))
        review_seconds = time.perf_counter() - started
        engine.dispose()
        with sqlite3.connect(work / "raw.db") as connection:  # every rationale row present
            connection.executemany(
                "INSERT OR IGNORE INTO rationales (session_id, item_id, author_id, status,"
                " flagged, lock_version, updated_at) VALUES (?, ?, 'ana', 'pending', 0, 0,"
                " '2026-01-01')",
                [(r["session_id"], r["item_id"]) for r in rationales],
            )
        raw = _raw_baseline(work / "raw.db", rationales, reviews)
    total = rationale_seconds + review_seconds
    print(f"rationales: {done.created} in {rationale_seconds:.2f} s "
          f"({done.created / rationale_seconds:,.0f}/s)")  # fmt: skip
    print(f"reviews:    {reviewed.created} in {review_seconds:.2f} s "
          f"({reviewed.created / review_seconds:,.0f}/s)")  # fmt: skip
    print(f"raw sqlite3 executemany of the same rows: {raw:.2f} s; "
          f"ratio raw / annotate {raw / total:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
