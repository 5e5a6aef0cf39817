"""Concurrent experts: W processes each save N rationale versions and N reviews at once.

Every worker is a separate process with its own engine, as when experts work over
SSH on one SQLite file or against one PostgreSQL server. They start together (a
barrier) and, for each of their N writes, read a rationale's version, save a new text
naming that version (the optimistic check: a stale one is kept as a ``conflict``
version) and record a review of another rationale. Afterwards every text and every
review must be in the database, version numbers must have no gaps or duplicates, and
no error of any kind (e.g. "database is locked") may have reached a worker.

Run: python bench/bench_concurrency.py                   (SQLite and PostgreSQL, 8 x 200)
     python bench/bench_concurrency.py --backend sqlite --workers 4 --writes 50
PostgreSQL uses --db URL, else a throw-away server (tests/pgserver.py; needs the
``postgresql`` server package).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from annotate.core.database import initialise  # noqa: E402
from annotate.core.errors import ConflictError  # noqa: E402
from annotate.core.guidelines import load_rubric  # noqa: E402
from annotate.ingest import import_file  # noqa: E402
from annotate.work.rationales import versions
from annotate.work.rationales.versions import import_texts, save_version  # noqa: E402
from annotate.work.reviews.write import record_review  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.models import Rationale, RationaleVersion, Review  # noqa: E402

ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]
AUTHOR = "lead"  # writes every rationale; the workers save as lead from many windows
SAVE_POOL = 16  # rationales every worker edits (few, so saves collide)
PASSING = {"faithfulness": 4, "relevance": 4, "informativeness": 3}
FAILING = {"faithfulness": 2, "relevance": 4, "informativeness": 4}


@dataclass
class Plan:
    url: str
    workers: int
    writes: int
    save_ids: list[int]
    review_targets: list[tuple[int, int]]  # (rationale id, version to review)


@dataclass
class Outcome:
    """What the workers did and what the database holds afterwards."""

    backend: str
    workers: int
    writes_per_worker: int
    saves: int = 0
    conflicts: int = 0
    reviews: int = 0
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def writes(self) -> int:
        return self.saves + self.reviews

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "workers": self.workers,
            "writes_per_worker": self.writes_per_worker,
            "saves": self.saves,
            "conflicts_kept": self.conflicts,
            "reviews": self.reviews,
            "writes_per_second": round(self.writes / self.seconds) if self.seconds else None,
            "seconds": round(self.seconds, 2),
            "errors": self.errors[:10],
            "missing_or_wrong": self.problems[:10],
        }


def _sessions_file(directory: Path, count: int) -> Path:
    path = directory / "bench_sessions.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            record = {
                "session_id": f"cc{n:03d}",
                "client_id": f"client{n % 7}",
                "counselor_id": f"counselor{n % 3}",
                "turns": [
                    {"speaker": "counselor", "text": "What would you like to work on today?"},
                    {"speaker": "client", "text": "睡眠，还有工作上的压力。Sleep, and work."},
                ],
                "client_ratings": {item: 1 + (n + i) % 5 for i, item in enumerate(ITEMS)},
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def prepare(url: str, workers: int, writes: int, workdir: Path) -> Plan:
    """A store with sessions, SAVE_POOL rationales to edit and ``writes`` to review."""
    engine, _ = initialise(url)
    units_needed = SAVE_POOL + writes
    sessions = -(-units_needed // len(ITEMS))
    import_file(engine, _sessions_file(workdir, sessions))
    units = [(f"cc{n:03d}", item) for n in range(sessions) for item in ITEMS][:units_needed]
    texts = [(sid, iid, AUTHOR, f"first text of {sid} {iid}") for sid, iid in units]
    versions.write(engine, lambda session: import_texts(session, texts, guideline_version="1"))
    with engine.connect() as connection:
        id_of = {
            (sid, iid): rid
            for rid, sid, iid in connection.execute(
                select(Rationale.id, Rationale.session_id, Rationale.item_id)
            )
        }
    ids = [id_of[unit] for unit in units]
    engine.dispose()
    return Plan(
        url=url,
        workers=workers,
        writes=writes,
        save_ids=ids[:SAVE_POOL],
        review_targets=[(rationale_id, 1) for rationale_id in ids[SAVE_POOL:]],
    )


def text_of(worker: int, write: int) -> str:
    return f"expert{worker} write {write}: the client named sleep as the goal (turn 2)"


def _worker(plan: Plan, index: int, barrier: Any, results: Any) -> None:
    """One process: saves as the author (one expert in many windows) and reviews as itself."""
    engine = make_engine(plan.url)
    name = f"expert{index}"
    rubric = load_rubric()
    saves = conflicts = reviews = 0
    errors: list[str] = []
    barrier.wait()
    for write in range(plan.writes):
        rationale_id = plan.save_ids[(write * 7 + index * 3) % len(plan.save_ids)]
        try:
            # Read the version the expert starts from; the review below happens while
            # "editing", so other experts' saves can land in between (a conflict).
            with engine.connect() as connection:
                current = connection.execute(
                    select(Rationale.lock_version).where(Rationale.id == rationale_id)
                ).scalar_one()
        except Exception as error:  # every failure is counted and reported, never hidden
            errors.append(f"{name} read {write}: {type(error).__name__}: {error}")
            continue
        reviewed_id, version = plan.review_targets[write]
        scores = FAILING if (write + index) % 5 == 0 else PASSING
        try:
            comment = f"{name} review {write}"
            _review(engine, reviewed_id, name, scores, version, comment, rubric)
            reviews += 1
        except Exception as error:
            errors.append(f"{name} review {write}: {type(error).__name__}: {error}")
        try:
            try:
                save_version(engine, rationale_id, text_of(index, write), AUTHOR, current)
            except ConflictError:
                conflicts += 1
            saves += 1
        except Exception as error:
            errors.append(f"{name} save {write}: {type(error).__name__}: {error}")
    engine.dispose()
    results.put({"saves": saves, "conflicts": conflicts, "reviews": reviews, "errors": errors})


def _review(engine: Any, rationale_id: int, reviewer: str, scores: dict[str, int],
            version: int, comment: str, rubric: Any) -> None:  # fmt: skip
    versions.write(
        engine,
        lambda session: record_review(
            session,
            rationale_id,
            reviewer,
            scores,
            version=version,
            comment=comment,
            rubric=rubric,
        ),  # fmt: skip
    )


def run(plan: Plan) -> Outcome:
    """Start the workers together, wait for them, then check the database."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    barrier = context.Barrier(plan.workers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(plan, index, barrier, results))
        for index in range(1, plan.workers + 1)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    reports = [results.get(timeout=600) for _ in processes]
    seconds = time.perf_counter() - started
    for process in processes:
        process.join(timeout=60)
    outcome = Outcome(
        backend=make_engine(plan.url).dialect.name,
        workers=plan.workers,
        writes_per_worker=plan.writes,
        seconds=seconds,
    )
    for report in reports:
        outcome.saves += report["saves"]
        outcome.conflicts += report["conflicts"]
        outcome.reviews += report["reviews"]
        outcome.errors.extend(report["errors"])
    outcome.errors.extend(f"worker exit code {p.exitcode}" for p in processes if p.exitcode != 0)
    outcome.problems = verify(plan)
    return outcome


def verify(plan: Plan) -> list[str]:
    """Every text and review written is stored once; versions run 1..lock_version."""
    problems: list[str] = []
    engine = make_engine(plan.url)
    with engine.connect() as connection:
        for index in range(1, plan.workers + 1):
            name = f"expert{index}"
            texts = connection.execute(
                select(RationaleVersion.text).where(
                    RationaleVersion.text.startswith(f"{name} write ")  # type: ignore[attr-defined]
                )
            ).scalars()
            expected = {text_of(index, write) for write in range(plan.writes)}
            stored = list(texts)
            if sorted(stored) != sorted(expected):
                problems.append(f"{name}: {len(stored)} texts stored, {len(expected)} written")
            review_count = connection.execute(
                select(func.count()).select_from(Review).where(Review.reviewer_id == name)
            ).scalar_one()
            if review_count != plan.writes:
                problems.append(f"{name}: {review_count} reviews stored, {plan.writes} written")
        for rationale_id in plan.save_ids:
            lock_version, current = connection.execute(
                select(Rationale.lock_version, Rationale.current_version).where(
                    Rationale.id == rationale_id
                )
            ).one()
            newest = connection.execute(
                select(func.max(RationaleVersion.version)).where(
                    RationaleVersion.rationale_id == rationale_id,
                    RationaleVersion.kind != "conflict",
                )
            ).scalar_one()
            if current != newest:
                problems.append(f"rationale {rationale_id}: current {current}, newest {newest}")
            numbers = connection.execute(
                select(RationaleVersion.version)
                .where(RationaleVersion.rationale_id == rationale_id)
                .order_by(RationaleVersion.version)
            ).scalars()
            if list(numbers) != list(range(1, lock_version + 1)):
                problems.append(f"rationale {rationale_id}: versions are not 1..{lock_version}")
    engine.dispose()
    return problems


def measure(url: str, workers: int, writes: int) -> Outcome:
    with tempfile.TemporaryDirectory() as workdir:
        plan = prepare(url, workers, writes, Path(workdir))
        return run(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--writes", type=int, default=200, help="saves and reviews per worker")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--db", help="a PostgreSQL URL to use (its database must be empty)")
    args = parser.parse_args()
    outcomes = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as directory:
            outcomes.append(measure(str(Path(directory) / "bench.db"), args.workers, args.writes))
    if args.backend in ("postgresql", "both"):
        if args.db:
            outcomes.append(measure(args.db, args.workers, args.writes))
        else:
            from tests.pgserver import PostgresServer

            server = PostgresServer.start()
            try:
                url = server.create_database()
                outcomes.append(measure(url, args.workers, args.writes))
            finally:
                server.stop()
    failed = False
    for outcome in outcomes:
        print(json.dumps(outcome.as_dict(), ensure_ascii=False))
        failed = failed or bool(outcome.errors or outcome.problems)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
