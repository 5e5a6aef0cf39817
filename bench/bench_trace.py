"""Tracing benchmark: the turn-level alliance trace of 1,000 sessions of 30 turns.

Builds a temporary SQLite store of ``--sessions`` sessions (default 1,000) of ``--turns``
turns (default 30; every fourth session Chinese), then:

1. **Embeddings** against the project's test server (``tests/llm_server.py`` in its own
   process; ``/v1/embeddings`` answers deterministic vectors after ``--latency`` seconds
   per request, default 0.05: a small local embedding model on 30 short turns), with
   ``annotate.research.trace.run_trace`` and the real ``openai`` client at concurrency
   ``--concurrency`` (default 8, the command's), every score stored. Baseline, in the same
   run: the same requests (the items once, then each session's turns) sent with the bare
   ``openai`` client at the same concurrency, nothing read or stored. The ratio is
   annotate's rate over the baseline's.
2. **Offline** (lexical): ``run_trace`` with no model, every score stored. Baseline:
   scikit-learn's ``TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4))`` fitted on
   the same item texts, transforming every turn and taking the cosines, in memory.

Each is run ``--runs`` times (``--force``: every session traced again); the median is
reported. Run: python bench/bench_trace.py [--sessions 1000] [--turns 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate.core.database import initialise  # noqa: E402
from annotate.ingest import import_file  # noqa: E402
from annotate.research.forms import load_forms  # noqa: E402
from annotate.research.trace import TraceSettings, _load, run_trace  # noqa: E402
from tests.factories import ITEMS, session_record, write_jsonl  # noqa: E402
from tests.llm_server import start_process  # noqa: E402

EN = ("I tried the plan we agreed on this week but work took over again and I felt tired "
      "and not sure what we are doing here maybe the goal is wrong or I trust you less "
      "than I thought it helps to talk it through").split()  # fmt: skip
ZH = (
    "我这周试了我们说好的方法但是工作又很忙觉得很累不知道目标对不对"
    "也许我们应该换一种做法谈一谈会有帮助"
)


def corpus(path: Path, sessions: int, turns: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    records = []
    for n in range(sessions):
        chinese = n % 4 == 3
        transcript = []
        for t in range(turns):
            if chinese:
                text = "".join(rng.choices(ZH, k=rng.randint(12, 50)))
            else:
                text = " ".join(rng.choices(EN, k=rng.randint(6, 28)))
            transcript.append({"speaker": ("counselor", "client")[t % 2], "text": text})
        records.append(session_record(
            f"b{n:05d}", client_id=f"c{n % 60}", counselor_id=f"t{n % 12}", turns=transcript,
            language="zh" if chinese else "en",
            client_ratings={item: rng.randint(2, 5) for item in ITEMS}))  # fmt: skip
    return write_jsonl(path, records)


async def bare_client(base_url: str, batches: list[list[str]], concurrency: int) -> float:
    """Seconds to send every batch with the bare openai client (no store, no scores)."""
    from openai import AsyncOpenAI

    pending = iter(batches)
    async with AsyncOpenAI(api_key="no-key", base_url=base_url, max_retries=0) as client:
        started = time.perf_counter()

        async def worker() -> None:
            for texts in pending:
                reply = await client.embeddings.create(model="bench", input=texts,
                                                       encoding_format="float")  # fmt: skip
                assert len(reply.data) == len(texts)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def sklearn_seconds(engine: Any, session_ids: list[str]) -> float:
    """Seconds for scikit-learn to vectorise every turn and take its cosines (in memory)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    with engine.connect() as connection:
        forms = load_forms(connection)
        loaded = _load(connection, session_ids)
    started = time.perf_counter()
    vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(forms.texts())
    items = vectoriser.transform(forms.texts())
    for unit in loaded:
        turns = vectoriser.transform(unit.texts)
        np.asarray((turns @ items.T).todense())
    return time.perf_counter() - started


def timed(function: Any, runs: int) -> tuple[float, list[float]]:
    seconds = [function(run) for run in range(runs)]
    return statistics.median(seconds), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"sessions": args.sessions, "turns_per_session": args.turns,
                               "latency_s": args.latency,
                               "concurrency": args.concurrency}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine, _ = initialise(db)
        import_file(engine, corpus(Path(tmp) / "sessions.jsonl", args.sessions, args.turns))
        ids = [f"b{n:05d}" for n in range(args.sessions)]
        turns = args.sessions * args.turns
        server, port = start_process(args.latency)
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            with engine.connect() as connection:
                batches = [load_forms(connection).texts()]
                batches += [list(unit.texts) for unit in _load(connection, ids)]
            load_before = os.getloadavg()[0]
            bare, bare_runs = timed(lambda _: asyncio.run(
                bare_client(base_url, batches, args.concurrency)), args.runs)  # fmt: skip
            settings = TraceSettings(provider="openai", model="bench", base_url=base_url,
                                     max_retries=0)  # fmt: skip

            def embed(run: int) -> float:
                started = time.perf_counter()
                traced = run_trace(engine, settings, force=run > 0, concurrency=args.concurrency)
                assert traced.ok == args.sessions and traced.failed == 0, traced.errors[:3]
                return time.perf_counter() - started

            embedded, embedded_runs = timed(embed, args.runs)
            load_after = os.getloadavg()[0]
        finally:
            server.kill()

        def offline(run: int) -> float:
            started = time.perf_counter()
            traced = run_trace(engine, None, force=run > 0)
            assert traced.ok == args.sessions and traced.turns == turns
            return time.perf_counter() - started

        lexical, lexical_runs = timed(offline, args.runs)
        learn, learn_runs = timed(lambda _: sklearn_seconds(engine, ids), args.runs)
        engine.dispose()
    results.update(
        embedding_seconds=round(embedded, 2), embedding_runs=[round(s, 2) for s in embedded_runs],
        embedding_sessions_per_s=round(args.sessions / embedded, 1),
        embedding_turns_per_s=round(turns / embedded, 0),
        bare_client_seconds=round(bare, 2), bare_client_runs=[round(s, 2) for s in bare_runs],
        embedding_vs_bare_client=round(bare / embedded, 3),
        lexical_seconds=round(lexical, 2), lexical_runs=[round(s, 2) for s in lexical_runs],
        lexical_sessions_per_s=round(args.sessions / lexical, 1),
        lexical_turns_per_s=round(turns / lexical, 0),
        sklearn_seconds=round(learn, 2), sklearn_runs=[round(s, 2) for s in learn_runs],
        lexical_vs_sklearn_in_memory=round(learn / lexical, 3),
        load_average=[round(load_before, 2), round(load_after, 2)],
    )  # fmt: skip
    if args.json:
        print(json.dumps(results))
        return
    print(
        f"{args.sessions} sessions x {args.turns} turns ({turns:,} turns), median of "
        f"{args.runs} runs, load average {load_before:.2f} -> {load_after:.2f}"
    )
    print(
        f"embeddings, test server at {args.latency:g} s per request, c={args.concurrency}: "
        f"{embedded:.1f} s = {args.sessions / embedded:.1f} sessions/s, "
        f"{turns / embedded:,.0f} turns/s, scores stored; bare openai client, same requests, "
        f"nothing stored: {bare:.1f} s; ratio {bare / embedded:.3f}"
    )
    print(
        f"offline (lexical): {lexical:.1f} s = {args.sessions / lexical:.1f} sessions/s, "
        f"{turns / lexical:,.0f} turns/s, scores stored; scikit-learn in memory, nothing "
        f"stored: {learn:.1f} s; ratio {learn / lexical:.3f}"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
