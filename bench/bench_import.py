"""Import benchmark: annotate's validated import against a raw executemany, in one run.

Generates 10,000 synthetic sessions (28 turns, 24 ratings each) and reports on the same
machine, in the same run:

- the in-process import into a new SQLite database (the import's work) against a raw
  ``sqlite3.executemany`` of the same prebuilt rows (target >= 0.6x);
- the whole command, ``annotate --db NEW.db import FILE`` (start-up and schema
  creation included) against the same baseline (target >= 0.5x);
- ``annotate import`` of 1,000 sessions into a new database, median of 7 (< 0.6 s);
- 10,008 rationales against the 10,000 sessions (at least as fast);
- on PostgreSQL (a throw-away server, when its binaries are installed): the import with
  ``COPY`` and with ``executemany``, and psycopg's raw ``COPY`` and ``executemany``.

Run: python bench/bench_import.py [--sessions N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate.core.database import initialise  # noqa: E402
from annotate.ingest import import_file  # noqa: E402

ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]
TURNS = 28
WORDS = ["sleep", "work", "week", "tried", "talked", "felt", "plan", "worry", "helpful",
         "again", "mother", "exam", "tired", "angry", "calm", "breathing", "list", "goal",
         "step", "friend"]  # fmt: skip


def generate(path: Path, sessions: int, seed: int = 7, turns: int = TURNS) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for n in range(sessions):
            record = {
                "session_id": f"s{n:06d}",
                "client_id": f"c{n // 8:05d}",
                "counselor_id": f"t{n % 40:03d}",
                "session_number": n % 8 + 1,
                "language": "en",
                "turns": [
                    {
                        "speaker": ("counselor", "client")[t % 2],
                        "text": " ".join(rng.choices(WORDS, k=rng.randint(8, 30))),
                    }
                    for t in range(turns)
                ],
                "client_ratings": {i: rng.randint(1, 5) for i in ITEMS},
                "counselor_ratings": {i: rng.randint(1, 5) for i in ITEMS},
            }
            handle.write(json.dumps(record) + "\n")


def prebuilt_rows(path: Path) -> tuple[list, list, list, set, set]:
    sessions, turns, ratings, clients, counselors = [], [], [], set(), set()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            clients.add(r["client_id"])
            counselors.add(r["counselor_id"])
            sessions.append((r["session_id"], r["client_id"], r["counselor_id"],
                             r["session_number"], r["language"], "h"))  # fmt: skip
            turns.extend(
                (r["session_id"], i, t["speaker"], t["text"]) for i, t in enumerate(r["turns"], 1)
            )
            for role in ("client", "counselor"):
                ratings.extend(
                    (r["session_id"], k, role, v) for k, v in r[f"{role}_ratings"].items()
                )
    return sessions, turns, ratings, clients, counselors


def raw_sqlite(path: Path, db: Path) -> float:
    """Rows prepared in memory first; only the executemany calls and commit are timed."""
    sessions, turns, ratings, clients, counselors = prebuilt_rows(path)
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


def command(args: list[str]) -> float:
    """Wall time of ``annotate ARGS`` as a user runs it (bytecode caching on)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "annotate", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip
    return time.perf_counter() - started


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def rationales_file(work: Path, engine) -> Path:  # type: ignore[no-untyped-def]
    """834 sessions x 12 items = 10,008 rationales, their sessions imported first."""
    sessions = work / "r-sessions.jsonl"
    generate(sessions, 834, seed=11)
    import_file(engine, sessions)
    path = work / "rationales.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for n in range(834):
            for item in ITEMS:
                text = f"来访者在第2轮提出睡眠目标；the client names sleep (s{n})."
                record = {"session_id": f"s{n:06d}", "item_id": item, "author": "ana",
                          "text": text}  # fmt: skip
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def postgres(data: Path, sessions: int) -> list[str]:
    import store.db
    from tests.pgserver import PostgresServer, Unavailable

    try:
        server = PostgresServer.start()
    except Unavailable as error:
        return [f"postgresql: skipped ({error})"]
    lines = []
    try:
        for copy in (True, False):
            store.db.POSTGRES_COPY = copy
            engine, _ = initialise(server.create_database())
            started = time.perf_counter()
            import_file(engine, data)
            seconds = time.perf_counter() - started
            engine.dispose()
            name = "COPY" if copy else "executemany"
            lines.append(f"postgresql annotate import ({name:11}): {seconds:6.2f} s "
                         f"{sessions / seconds:8.0f} sessions/s")  # fmt: skip
        store.db.POSTGRES_COPY = True
        for name, seconds in _raw_postgres(server.create_database(), data).items():
            lines.append(f"postgresql raw psycopg {name:11} (rows prebuilt): {seconds:6.2f} s "
                         f"{sessions / seconds:8.0f} sessions/s")  # fmt: skip
    finally:
        server.stop()
    return lines


def _raw_postgres(url: str, data: Path) -> dict[str, float]:
    import psycopg

    sessions, turns, ratings, clients, counselors = prebuilt_rows(data)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    results = {}
    with psycopg.connect(dsn) as connection:
        connection.execute("""
            CREATE TABLE clients (id TEXT PRIMARY KEY);
            CREATE TABLE counselors (id TEXT PRIMARY KEY);
            CREATE TABLE sessions (id TEXT PRIMARY KEY, client_id TEXT REFERENCES clients(id),
                counselor_id TEXT REFERENCES counselors(id), session_number INT,
                language TEXT, content_hash TEXT);
            CREATE TABLE turns (id SERIAL PRIMARY KEY, session_id TEXT REFERENCES sessions(id),
                number INT, speaker TEXT, text TEXT, UNIQUE (session_id, number));
            CREATE TABLE ratings (id SERIAL PRIMARY KEY,
                session_id TEXT REFERENCES sessions(id), item_id TEXT, rater_role TEXT,
                value INT, UNIQUE (session_id, item_id, rater_role));
        """)
        connection.commit()
        tables = (("clients", "id", [(c,) for c in clients]),
                  ("counselors", "id", [(c,) for c in counselors]),
                  ("sessions", "id, client_id, counselor_id, session_number, language, "
                   "content_hash", sessions),
                  ("turns", "session_id, number, speaker, text", turns),
                  ("ratings", "session_id, item_id, rater_role, value", ratings))  # fmt: skip
        for method in ("COPY", "executemany"):
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for table, columns, rows in tables:
                    if method == "COPY":
                        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
                    else:
                        marks = ", ".join(["%s"] * len(rows[0]))
                        cursor.executemany(
                            f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows
                        )
            connection.commit()
            results[method] = time.perf_counter() - started
            connection.execute("TRUNCATE clients, counselors, sessions, turns, ratings")
            connection.commit()
    return results


def _runs(seconds: list[float]) -> str:
    return "runs " + ", ".join(f"{s:.2f}" for s in seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=7, help="runs of the small command")
    parser.add_argument("--big-runs", type=int, default=3, help="runs of the large import")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, small = work / "sessions.jsonl", work / "small.jsonl"
        generate(data, args.sessions)
        generate(small, args.small, seed=3)
        size_mb = data.stat().st_size / 1e6
        command(["--db", str(fresh(work / "warm.db")), "import", str(small)])  # bytecode

        imports, raws = [], []
        for _ in range(args.big_runs):  # interleaved, so that load hits both alike
            engine, _ = initialise(str(fresh(work / "annotate.db")))
            started = time.perf_counter()
            result = import_file(engine, data)
            imports.append(time.perf_counter() - started)
            assert result.created == args.sessions
            engine.dispose()
            raws.append(raw_sqlite(data, fresh(work / "raw.db")))
        whole = [command(["--db", str(fresh(work / "cli.db")), "import", str(data)])
                 for _ in range(args.big_runs)]  # fmt: skip
        small_runs = [command(["--db", str(fresh(work / "small.db")), "import", str(small)])
                      for _ in range(args.runs)]  # fmt: skip

        engine, _ = initialise(str(fresh(work / "work.db")))
        rationales = rationales_file(work, engine)
        started = time.perf_counter()
        done = import_file(engine, rationales)
        rationale_s = time.perf_counter() - started
        engine.dispose()
        pg_lines = [] if args.no_postgres else postgres(data, args.sessions)

    n = args.sessions
    import_s, raw_s, whole_s = (statistics.median(runs) for runs in (imports, raws, whole))
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end")  # fmt: skip
    print(f"file: {n} sessions ({TURNS} turns, 24 ratings each), {size_mb:.1f} MB")
    print(f"medians of {args.big_runs} runs each (import and baseline interleaved)")
    print(f"raw sqlite3 executemany (rows prebuilt):  {raw_s:6.2f} s {n / raw_s:8.0f} "
          f"sessions/s  ({_runs(raws)})")  # fmt: skip
    print(f"annotate import, in process:              {import_s:6.2f} s {n / import_s:8.0f} "
          f"sessions/s  ratio {raw_s / import_s:.2f} (target 0.6; {_runs(imports)})")  # fmt: skip
    print(f"annotate import, whole command, new db:   {whole_s:6.2f} s {n / whole_s:8.0f} "
          f"sessions/s  ratio {raw_s / whole_s:.2f} (target 0.5; {_runs(whole)})")  # fmt: skip
    print(f"annotate import of {args.small} sessions, command, new db: median "
          f"{statistics.median(small_runs):.2f} s (target < 0.6; {_runs(small_runs)})")  # fmt: skip
    print(f"annotate import of {done.created} rationales, in process: {rationale_s:6.2f} s "
          f"({done.created / rationale_s:,.0f}/s; {n} sessions took {import_s:.2f} s)")  # fmt: skip
    for line in pg_lines:
        print(line)


if __name__ == "__main__":
    main()
