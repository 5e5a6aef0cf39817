"""Kill ``annotate import`` with SIGKILL at random moments, again and again, then check.

Each round starts a real import of a large file (default 5,000 sessions, 100,000
turns), waits until it is writing plus a random delay, kills it, and checks the store:
integrity, foreign keys, and not one row of the killed import. After all rounds the
same file imports completely. Prints one JSON line per backend.

Run: python bench/bench_crash.py [--rounds 20] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotate.core.database import initialise  # noqa: E402
from annotate.ingest import import_file  # noqa: E402
from annotate.work.progress import counts  # noqa: E402
from tests.crash import assert_consistent, kill_when, start, writing  # noqa: E402

DELAY = 0.3
ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]


def _big_file(path: Path, sessions: int) -> Path:
    sentence = "I said it was fine, but I skipped the plan again this week. "
    with path.open("w", encoding="utf-8") as handle:
        for n in range(sessions):
            record = {
                "session_id": f"k{n:05d}",
                "client_id": f"c{n % 40}",
                "counselor_id": f"t{n % 4}",
                "turns": [
                    {"speaker": ("counselor", "client")[t % 2], "text": f"{t} {sentence}"}
                    for t in range(20)
                ],
                "client_ratings": {item: 1 + (n + i) % 5 for i, item in enumerate(ITEMS)},
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def rounds(db_url: str, big: Path, sessions: int, count: int, seed: int = 11) -> dict[str, object]:
    rng = random.Random(seed)
    engine, _ = initialise(db_url)
    before = counts(engine)
    killed = inconsistent = committed = finished_first = 0
    seconds: list[float] = []
    for _ in range(count):
        delay = rng.uniform(0.0, DELAY)
        condition = writing(db_url)
        state = {"since": None}

        def later(condition=condition, state=state, delay=delay) -> bool:  # type: ignore[no-untyped-def]
            if state["since"] is None and condition():
                state["since"] = time.monotonic()
            return state["since"] is not None and time.monotonic() - state["since"] >= delay

        process = start("import", str(big), db_url=db_url)
        try:
            seconds.append(kill_when(process, later))
            killed += 1
        except AssertionError as error:
            if "finished" not in str(error):
                raise
            finished_first += 1
            break  # it committed: the remaining rounds would test nothing
        try:
            figures = assert_consistent(db_url)
        except AssertionError:
            inconsistent += 1
            continue
        if figures != before:
            # All of the file, or none of it: the kill landed after the commit.
            if figures["sessions"] != before["sessions"] + sessions or figures["turns"] != (
                before["turns"] + 20 * sessions
            ):
                inconsistent += 1
            committed += 1
            break
    result = import_file(engine, big)
    complete = result.created + result.unchanged == result.records
    engine.dispose()
    return {
        "backend": "sqlite" if db_url.startswith("sqlite") or "://" not in db_url else "postgresql",
        "kills": killed,
        "inconsistent_after_kill": inconsistent,
        "import_finished_before_kill": finished_first,
        "killed_just_after_commit": committed,
        "killed_after_seconds": [round(min(seconds), 2), round(max(seconds), 2)] if seconds else [],
        "final_import_complete": complete,
        "sessions_in_file": result.records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        big = _big_file(Path(directory) / "big.jsonl", args.sessions)
        reports = []
        if args.backend in ("sqlite", "both"):
            reports.append(
                rounds(f"sqlite:///{directory}/crash.db", big, args.sessions, args.rounds)
            )
        if args.backend in ("postgresql", "both"):
            from tests.pgserver import PostgresServer

            server = PostgresServer.start()
            try:
                reports.append(rounds(server.create_database(), big, args.sessions, args.rounds))
            finally:
                server.stop()
    for report in reports:
        print(json.dumps(report))
        failed = (
            failed or bool(report["inconsistent_after_kill"]) or not report["final_import_complete"]
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
