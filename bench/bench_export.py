"""Export benchmark: ``annotate export`` against a plain sqlite3 + json.dumps loop.

Builds a store of N sessions x 12 items (default 10,000 x 12 = 120,000 accepted,
reviewed rationales; 12 turns per session) with ``store.db.bulk_insert``, then in
fresh child processes (so each peak RSS is its own) runs:

- ``export_dataset`` in the openai format without folds, and with ``--folds 5``
  (each record is then written K times: once to its fold's val, K-1 times to train);
- a baseline that reads the same rows with plain ``sqlite3`` (two ordered cursors)
  and writes the same records with ``json.dumps``. Its file must be byte-identical
  to the export's ``train.jsonl``: same records, same bytes.

Prints records/s, the ratio export / baseline and each child's peak RSS.
Run: python bench/bench_export.py [--sessions N]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from store.tables import ANNOTATORS, CLIENTS, COUNSELORS, table_of

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]
WORDS = "sleep work week tried talked felt plan worry helpful again mother exam tired calm"
WORDS = WORDS.split()
NOW = "2026-01-01 00:00:00.000000"


def build_store(db: Path, sessions: int, seed: int = 7) -> int:
    """A migrated store with every (session, item) an accepted, reviewed rationale."""
    from annotate.core.database import initialise
    from store.db import bulk_insert
    from store.models import (
        Rating,
        Rationale,
        RationaleVersion,
        Review,
        TherapySession,
        Turn,
    )

    rng = random.Random(seed)
    engine, _ = initialise(str(db))
    clients = sorted({f"c{n // 8:05d}" for n in range(sessions)})
    rows: dict[str, list[tuple]] = {k: [] for k in ("s", "t", "r", "a", "v", "w")}
    rid = 0
    for n in range(sessions):
        session_id, client_id = f"s{n:06d}", f"c{n // 8:05d}"
        rows["s"].append((session_id, client_id, "t1", n % 8 + 1, "en", "h", NOW))
        for number in range(1, 13):
            text = " ".join(rng.choices(WORDS, k=rng.randint(6, 18)))
            rows["t"].append((session_id, number, ("counselor", "client")[number % 2 == 0], text))
        for item in ITEMS:
            rid += 1
            value = rng.randint(1, 5)
            rows["r"].append((session_id, item, "client", value))
            rows["r"].append((session_id, item, "counselor", rng.randint(1, 5)))
            rows["a"].append((rid, session_id, item, "ana", "accepted", 0, 1, 1, NOW))
            text = f"Turn {rng.randint(1, 12)}: " + " ".join(rng.choices(WORDS, k=25))
            rows["v"].append((rid, 1, text, "ana", "import", "1.0.0", NOW))
            rows["w"].append((rid, 1, "ben", 4, 4, 4, "", 1, "1.0.0", NOW))
    columns = {
        "s": [
            "id",
            "client_id",
            "counselor_id",
            "session_number",
            "language",
            "content_hash",
            "created_at",
        ],
        "t": ["session_id", "number", "speaker", "text"],
        "r": ["session_id", "item_id", "rater_role", "value"],
        "a": [
            "id",
            "session_id",
            "item_id",
            "author_id",
            "status",
            "flagged",
            "lock_version",
            "current_version",
            "updated_at",
        ],
        "v": [
            "rationale_id",
            "version",
            "text",
            "author_id",
            "kind",
            "guideline_version",
            "created_at",
        ],
        "w": [
            "rationale_id",
            "rationale_version",
            "reviewer_id",
            "faithfulness",
            "relevance",
            "informativeness",
            "comment",
            "passed",
            "rubric_version",
            "created_at",
        ],
    }
    tables = {
        "s": TherapySession,
        "t": Turn,
        "r": Rating,
        "a": Rationale,
        "v": RationaleVersion,
        "w": Review,
    }
    with engine.begin() as connection:
        bulk_insert(connection, CLIENTS, ["id", "created_at"], [(c, NOW) for c in clients])
        bulk_insert(connection, COUNSELORS, ["id", "created_at"], [("t1", NOW)])
        bulk_insert(connection, ANNOTATORS, ["id", "created_at"], [("ana", NOW), ("ben", NOW)])
        for key in ("s", "t", "r", "a", "v", "w"):
            bulk_insert(connection, table_of(tables[key]), columns[key], rows[key])
    engine.dispose()
    return rid


def child_export(db: str, out: str, folds: int) -> dict:
    from annotate.export.service import ExportOptions, export_dataset
    from store.db import make_engine

    engine = make_engine(db)
    start = time.perf_counter()
    manifest = export_dataset(
        engine, ExportOptions("openai", Path(out), folds=folds or None, target="both")
    )
    return {"seconds": time.perf_counter() - start, "records": manifest["counts"]["records"]}


def child_baseline(db: str, out: str) -> dict:
    """Plain sqlite3 + json.dumps; prompts prebuilt (12 items x 5 ratings), then one loop."""
    from annotate.export.formats import PromptBuilder, transcript_text
    from annotate.export.records import load_instrument
    from store.db import make_engine

    engine = make_engine(db)
    with engine.connect() as connection:
        prompts = PromptBuilder(load_instrument(connection, "wai-sr"), "both")
        systems = {(item, r): prompts.system(item, r)[0] for item in ITEMS for r in range(1, 6)}
    engine.dispose()
    start = time.perf_counter()
    connection = sqlite3.connect(db.removeprefix("sqlite:///"))
    records = connection.execute(
        """SELECT r.session_id, r.item_id, v.text, g.value FROM rationales r
           JOIN items i ON i.id = r.item_id
           JOIN rationale_versions v ON v.rationale_id = r.id AND v.version = r.current_version
           JOIN ratings g ON g.session_id = r.session_id AND g.item_id = r.item_id
                AND g.rater_role = 'client'
           ORDER BY r.session_id, i.position"""
    )
    turns = connection.cursor().execute(
        "SELECT session_id, speaker, text FROM turns ORDER BY session_id, number"
    )
    pending = next(turns, None)
    current, transcript, count = None, "", 0
    with open(out, "w", encoding="utf-8") as handle:
        for session_id, item_id, text, rating in records:
            if session_id != current:
                current, lines = session_id, []
                while pending is not None and pending[0] == session_id:
                    lines.append((pending[1], pending[2]))
                    pending = next(turns, None)
                transcript = transcript_text(lines)
            record = {
                "messages": [
                    {"role": "system", "content": systems[(item_id, rating)]},
                    {"role": "user", "content": transcript},
                    {"role": "assistant", "content": f"{text}\nRating: {rating}"},
                ]
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return {"seconds": time.perf_counter() - start, "records": count}


def peak_rss_mb() -> float:
    """This process's peak resident set size. VmHWM starts afresh at exec; ru_maxrss
    (the fallback) would carry over the parent's peak from before the fork."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(*args: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = (
            child_export(rest[0], rest[1], int(rest[2]))
            if kind == "export"
            else child_baseline(rest[0], rest[1])
        )
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        start = time.perf_counter()
        total = build_store(db, args.sessions)
        print(
            f"store: {args.sessions} sessions, {total} rationales, "
            f"built in {time.perf_counter() - start:.1f} s"
        )
        url = f"sqlite:///{db}"
        plain = run_child("export", url, str(Path(tmp) / "plain"), "0")
        folded = run_child("export", url, str(Path(tmp) / "folded"), "5")
        base = run_child("baseline", url, str(Path(tmp) / "baseline.jsonl"))
        same = (Path(tmp) / "plain" / "train.jsonl").read_bytes() == (
            Path(tmp) / "baseline.jsonl"
        ).read_bytes()
        size_mb = (Path(tmp) / "baseline.jsonl").stat().st_size / 1e6
    assert plain["records"] == base["records"] == total, (plain, base)
    assert same, "the baseline must write the very same bytes as the export"
    rate = {
        name: r["records"] / r["seconds"]
        for name, r in (("plain", plain), ("folded", folded), ("base", base))
    }
    print(f"records: {total}, train.jsonl {size_mb:.0f} MB (byte-identical to the baseline)")
    print(
        f"annotate export (no folds):   {plain['seconds']:6.2f} s  {rate['plain']:8.0f} rec/s  "
        f"peak RSS {plain['peak_rss_mb']:.0f} MB"
    )
    print(
        f"annotate export (--folds 5):  {folded['seconds']:6.2f} s  {rate['folded']:8.0f} rec/s  "
        f"peak RSS {folded['peak_rss_mb']:.0f} MB  (each record written 5 times)"
    )
    print(
        f"sqlite3 + json.dumps loop:    {base['seconds']:6.2f} s  {rate['base']:8.0f} rec/s  "
        f"peak RSS {base['peak_rss_mb']:.0f} MB"
    )
    print(
        f"ratio export / baseline: {rate['plain'] / rate['base']:.2f} (no folds), "
        f"{rate['folded'] / rate['base']:.2f} (5 folds)"
    )


if __name__ == "__main__":
    main()
