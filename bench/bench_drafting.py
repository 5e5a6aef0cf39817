"""Drafting benchmark: 2,000 items against a local OpenAI-compatible server with 200 ms latency.

1. Starts ``tests/llm_server.py`` (an asyncio server) in its own process and measures it
   alone with a plain asyncio HTTP client at the same concurrency and request size,
   to show the server is not the bottleneck (and its raw capacity with no latency).
2. Drafts N items (default 2,000) with ``annotate.drafting.run_batch`` and the real
   ``openai`` client at concurrency C (default 32), storing every draft in SQLite, and
   reports items/s divided by the ideal C / latency.
   Repeated ``--runs`` times (the median is reported, every run listed): other
   processes on a 2-core machine take CPU from the client and move the figure.
3. Drafts a few items sequentially (concurrency 1) for the sequential rate beside it.

Run: python bench/bench_drafting.py [--items 2000] [--concurrency 32] [--latency 0.2]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate.core.database import initialise  # noqa: E402
from annotate.drafting import DraftSettings, WorkSelection, make_provider, run_batch  # noqa: E402
from annotate.drafting.context import load_contexts  # noqa: E402
from annotate.drafting.prompt import default_template  # noqa: E402
from annotate.ingest import import_file  # noqa: E402
from store.db import session_scope  # noqa: E402
from tests.factories import ITEMS, session_record, write_jsonl  # noqa: E402
from tests.llm_server import start_process  # noqa: E402

EN = [
    "I",
    "tried",
    "the",
    "breathing",
    "list",
    "this",
    "week",
    "but",
    "work",
    "took",
    "over",
    "again",
    "and",
    "I",
    "felt",
    "tired",
]
ZH = list("这周我试了呼吸练习但是工作又忙起来了我觉得很累不知道该怎么办才好")


def corpus(path: Path, sessions: int, seed: int = 3) -> Path:
    rng = random.Random(seed)
    records = []
    for n in range(sessions):
        chinese = n % 4 == 3
        turns = []
        for t in range(20):
            if chinese:
                text = "".join(rng.choices(ZH, k=rng.randint(15, 60)))
            else:
                text = " ".join(rng.choices(EN, k=rng.randint(8, 30)))
            turns.append({"speaker": ("counselor", "client")[t % 2], "text": text})
        ratings = {item: rng.randint(1, 5) for item in ITEMS}
        records.append(
            session_record(
                f"b{n:05d}",
                client_id=f"c{n % 40}",
                turns=turns,
                language="zh" if chinese else "en",
                client_ratings=ratings,
            )
        )
    return write_jsonl(path, records)


async def plain_client(port: int, body: bytes, requests: int, concurrency: int) -> float:
    """Requests per second with a minimal keep-alive asyncio HTTP client (no openai, no DB)."""
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    remaining = iter(range(requests))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in remaining:
            writer.write(head + body)
            headers = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


def draft_rate(
    db: str, port: int, items: int, concurrency: int, force: bool
) -> tuple[float, float]:
    """Items per second, and this process's CPU milliseconds per item (all threads)."""
    engine, _ = initialise(db)
    provider = make_provider(
        DraftSettings(provider="openai", model="bench", base_url=f"http://127.0.0.1:{port}/v1")
    )
    cpu = time.process_time()
    summary = run_batch(
        engine, provider, WorkSelection(limit=items, force=force), concurrency=concurrency
    )
    cpu_ms = (time.process_time() - cpu) * 1000 / items
    assert summary.progress.done == items and summary.progress.ok == items, summary.as_json()
    engine.dispose()
    return items / summary.seconds, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--sequential-items", type=int, default=25)
    parser.add_argument("--runs", type=int, default=3, help="batch runs; the median is reported")
    args = parser.parse_args()
    ideal = args.concurrency / args.latency
    results: dict[str, float | int] = {"items": args.items, "concurrency": args.concurrency}
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine, _ = initialise(db)
        sessions = -(-args.items // len(ITEMS))
        import_file(engine, corpus(Path(tmp) / "sessions.jsonl", sessions))
        with session_scope(engine) as session:
            context = load_contexts(session, [("b00000", "goal_1")])[0]
        messages = default_template().messages(context)
        body = json.dumps({"model": "bench", "messages": messages}, ensure_ascii=False).encode()
        engine.dispose()

        server, port = start_process(args.latency)
        fast_server, fast_port = start_process(0.0)
        try:
            plain = asyncio.run(plain_client(port, body, args.items, args.concurrency))
            capacity = asyncio.run(plain_client(fast_port, body, 5000, args.concurrency))
            load_before = os.getloadavg()[0]
            runs = [
                draft_rate(db, port, args.items, args.concurrency, force=run > 0)
                for run in range(args.runs)
            ]
            load_after = os.getloadavg()[0]
            rates = sorted(rate for rate, _ in runs)
            drafted = statistics.median(rates)
            cpu_ms = statistics.median(cpu for _, cpu in runs)
            sequential, _ = draft_rate(db, port, args.sequential_items, 1, force=True)
        finally:
            server.kill()
            fast_server.kill()
    results.update(
        ideal_items_per_s=round(ideal, 1),
        server_alone_plain_client_per_s=round(plain, 1),
        server_alone_ratio=round(plain / ideal, 3),
        server_capacity_no_latency_per_s=round(capacity, 1),
        drafted_items_per_s=round(drafted, 1),
        drafted_ratio=round(drafted / ideal, 3),
        drafted_ratio_runs=[round(rate / ideal, 3) for rate in rates],
        client_cpu_ms_per_item=round(cpu_ms, 2),
        load_average=[round(load_before, 2), round(load_after, 2)],
        sequential_items_per_s=round(sequential, 2),
        sequential_ratio=round(sequential / (1 / args.latency), 3),
    )
    print(f"prompt size: {len(body):,} bytes per request")
    print(
        f"server alone, plain asyncio client, c={args.concurrency}: {plain:.1f} req/s "
        f"({plain / ideal:.3f} of ideal {ideal:.0f}/s); with no latency: {capacity:.0f} req/s"
    )
    print(
        f"annotate draft, openai client + SQLite, {args.items} items, c={args.concurrency}, "
        f"median of {args.runs} runs: {drafted:.1f} items/s = {drafted / ideal:.3f} of ideal "
        f"(runs: {', '.join(f'{rate / ideal:.3f}' for rate in rates)}) "
        f"({cpu_ms:.2f} ms client CPU per item; load average {load_before:.2f} -> {load_after:.2f})"
    )
    print(
        f"sequential (c=1, {args.sequential_items} items): {sequential:.2f} items/s "
        f"({sequential * args.latency:.3f} of ideal {1 / args.latency:.0f}/s)"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
