"""Import benchmark: annotate's validated import against a raw sqlite3 executemany.

Generates N synthetic sessions (default 10,000; ~20 turns and 24 ratings each),
imports them with ``annotate.importing.import_file`` into a fresh database, then
inserts the same rows with plain ``sqlite3.executemany`` in one transaction on the
same machine, and prints both rates and their ratio. Run: python bench/bench_import.py
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotate.database import initialise  # noqa: E402
from annotate.importing import import_file  # noqa: E402

ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]
WORDS = [
    "sleep",
    "work",
    "week",
    "tried",
    "talked",
    "felt",
    "plan",
    "worry",
    "helpful",
    "again",
    "mother",
    "exam",
    "tired",
    "angry",
    "calm",
    "breathing",
    "list",
    "goal",
    "step",
    "friend",
]


def generate(path: Path, sessions: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for n in range(sessions):
            turns = [
                {
                    "speaker": ("counselor", "client")[t % 2],
                    "text": " ".join(rng.choices(WORDS, k=rng.randint(8, 30))),
                }
                for t in range(20)
            ]
            record = {
                "session_id": f"s{n:06d}",
                "client_id": f"c{n // 8:05d}",
                "counselor_id": f"t{n % 40:03d}",
                "session_number": n % 8 + 1,
                "language": "en",
                "turns": turns,
                "client_ratings": {i: rng.randint(1, 5) for i in ITEMS},
                "counselor_ratings": {i: rng.randint(1, 5) for i in ITEMS},
            }
            handle.write(json.dumps(record) + "\n")


def raw_baseline(path: Path, db: Path) -> float:
    """Rows prepared in memory first; only the executemany calls and commit are timed."""
    sessions, turns, ratings, clients, counselors = [], [], [], set(), set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            clients.add(r["client_id"])
            counselors.add(r["counselor_id"])
            sessions.append(
                (
                    r["session_id"],
                    r["client_id"],
                    r["counselor_id"],
                    r["session_number"],
                    r["language"],
                    "h",
                )
            )
            turns.extend(
                (r["session_id"], i, t["speaker"], t["text"]) for i, t in enumerate(r["turns"], 1)
            )
            for role in ("client", "counselor"):
                ratings.extend(
                    (r["session_id"], k, role, v) for k, v in r[f"{role}_ratings"].items()
                )
    connection = sqlite3.connect(db, isolation_level=None)
    connection.executescript("""
        PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
        CREATE TABLE clients (id TEXT PRIMARY KEY);
        CREATE TABLE counselors (id TEXT PRIMARY KEY);
        CREATE TABLE sessions (id TEXT PRIMARY KEY, client_id TEXT REFERENCES clients(id),
            counselor_id TEXT REFERENCES counselors(id), session_number INT, language TEXT,
            content_hash TEXT);
        CREATE TABLE turns (id INTEGER PRIMARY KEY, session_id TEXT REFERENCES sessions(id),
            number INT, speaker TEXT, text TEXT, UNIQUE (session_id, number));
        CREATE TABLE ratings (id INTEGER PRIMARY KEY, session_id TEXT REFERENCES sessions(id),
            item_id TEXT, rater_role TEXT, value INT, UNIQUE (session_id, item_id, rater_role));
    """)
    start = time.perf_counter()
    connection.execute("BEGIN")
    connection.executemany("INSERT INTO clients VALUES (?)", [(c,) for c in clients])
    connection.executemany("INSERT INTO counselors VALUES (?)", [(c,) for c in counselors])
    connection.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?)", sessions)
    connection.executemany(
        "INSERT INTO turns (session_id, number, speaker, text) VALUES (?,?,?,?)", turns
    )
    connection.executemany(
        "INSERT INTO ratings (session_id, item_id, rater_role, value) VALUES (?,?,?,?)", ratings
    )
    connection.execute("COMMIT")
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "sessions.jsonl"
        generate(data, args.sessions)
        size_mb = data.stat().st_size / 1e6
        engine, _ = initialise(str(Path(tmp) / "annotate.db"))
        start = time.perf_counter()
        result = import_file(engine, data)
        annotate_s = time.perf_counter() - start
        assert result.created == args.sessions
        raw_s = raw_baseline(data, Path(tmp) / "raw.db")
    annotate_rate, raw_rate = args.sessions / annotate_s, args.sessions / raw_s
    print(f"file: {args.sessions} sessions, {size_mb:.1f} MB")
    print(
        f"annotate import (parse + validate + insert): {annotate_s:6.2f} s  "
        f"{annotate_rate:8.0f} sessions/s"
    )
    print(
        f"raw sqlite3 executemany (rows prebuilt):     {raw_s:6.2f} s  {raw_rate:8.0f} sessions/s"
    )
    print(f"ratio annotate / raw: {annotate_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
