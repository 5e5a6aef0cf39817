"""Judge benchmark: the rubric judge over many accepted rationales against a local
OpenAI-compatible server with 200 ms latency.

Builds a store of N sessions (default 40: 480 accepted rationales, one session in four in
Chinese) from the drafting benchmark's corpus and an imported rationale per item, starts
``tests/llm_server.py`` in its own process, and judges every rationale with
``annotate.judging.run_judge`` and the real ``openai`` client:

1. at concurrency 1 on the first 24 texts (the baseline: one request at a time);
2. at concurrency C (default 32) on the rest, reported as texts/s and as a share of the
   ideal C / latency;
3. a rerun with nothing changed (every text skipped: how long the check costs).

Run: python bench/bench_judge.py [--sessions 40] [--concurrency 32] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate.core.database import initialise  # noqa: E402
from annotate.drafting import DraftSettings  # noqa: E402
from annotate.ingest import import_file  # noqa: E402
from annotate.judging import run_judge  # noqa: E402
from bench.bench_drafting import corpus  # noqa: E402
from tests.factories import ITEMS, write_jsonl  # noqa: E402
from tests.llm_server import start_process  # noqa: E402

BASELINE_TEXTS = 24
WORDS = ("the client names a goal in turn 4 and the counselor follows it; they agree on "
         "the next step and the client says it helps, so the rating fits").split()  # fmt: skip


def rationales(path: Path, sessions: int, seed: int = 5) -> Path:
    """An accepted rationale per (session, item) of the corpus, written for this benchmark."""
    rng = random.Random(seed)
    records = [
        {"session_id": f"b{n:05d}", "item_id": item, "author": ("ana", "ben")[n % 2],
         "text": " ".join(rng.choices(WORDS, k=rng.randint(12, 40)))}
        for n in range(sessions) for item in ITEMS
    ]  # fmt: skip
    return write_jsonl(path, records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    server, port = start_process(args.latency)
    try:
        with tempfile.TemporaryDirectory() as directory:
            folder = Path(directory)
            engine, _ = initialise(f"sqlite:///{folder / 'bench.db'}")
            import_file(engine, corpus(folder / "sessions.jsonl", args.sessions))
            import_file(engine, rationales(folder / "rationales.jsonl", args.sessions))
            settings = DraftSettings(provider="openai", model="bench",
                                     base_url=f"http://127.0.0.1:{port}/v1")  # fmt: skip

            def judged(concurrency: int, limit: int | None = None) -> dict:
                started = time.perf_counter()
                run = run_judge(engine, settings, targets="rationales", limit=limit,
                                concurrency=concurrency)  # fmt: skip
                seconds = time.perf_counter() - started
                done = run.progress.done
                return {"texts": done, "ok": run.progress.ok, "skipped": run.skipped,
                        "seconds": round(seconds, 2),
                        "texts_per_second": round(done / seconds, 2)}  # fmt: skip

            baseline = judged(1, BASELINE_TEXTS)
            concurrent = judged(args.concurrency)
            rerun = judged(args.concurrency)
            ideal = args.concurrency / args.latency
            figures = {
                "latency_s": args.latency,
                "concurrency": args.concurrency,
                "sequential (baseline)": baseline,
                "concurrent": concurrent,
                "speed-up over sequential": round(
                    concurrent["texts_per_second"] / baseline["texts_per_second"], 1
                ),
                "share of ideal C/latency": round(concurrent["texts_per_second"] / ideal, 2),
                "rerun, nothing changed": rerun,
            }
            assert baseline["ok"] == BASELINE_TEXTS, baseline
            assert concurrent["ok"] == concurrent["texts"] > 0, concurrent
            assert rerun["texts"] == 0, rerun
            print(json.dumps(figures, indent=2, ensure_ascii=False))
            engine.dispose()
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
