"""UI benchmark: open-next-item latency on 1,000-turn sessions, and cold start to first screen.

Latency: five sessions of 1,000 turns (60 items, each with a draft citing turns), the
editor open on the first item; 50 times Ctrl+N, timed from the key press until the
screen has been redrawn with the new item (the screen's ``Shown`` message, posted after
the refresh). Aim: p95 under 100 ms.

Cold start: ``python -m annotate tui`` on a pseudo-terminal, timed until the queue's
rows are drawn. Aim: under 1.5 s. Run: ``python bench/bench_tui.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate.core.database import initialise  # noqa: E402
from annotate.ingest import import_file  # noqa: E402
from annotate.work.assignment import assign_authoring  # noqa: E402
from tests.factories import session_record, write_jsonl  # noqa: E402
from tests.tui.ptyrun import Terminal, wait_until  # noqa: E402
from tests.workdata import draft_all_pending  # noqa: E402

TURNS = 1000
SESSIONS = 5
SWITCHES = 50


def build(path: Path) -> None:
    turns = [
        {
            "speaker": "counselor" if n % 2 == 0 else "client",
            "text": f"Turn {n + 1}: " + "and so it went on, day after day, " * (1 + n % 4),
        }
        for n in range(TURNS)
    ]
    records = [session_record(f"long{i}", client_id=f"c{i}", turns=turns) for i in range(SESSIONS)]
    engine, _ = initialise(str(path))
    import_file(engine, write_jsonl(path.parent / "long.jsonl", records))
    draft_all_pending(engine)
    assign_authoring(engine, ["bench"])
    engine.dispose()


async def switch_latencies(path: Path) -> list[float]:
    from annotate.core.database import open_store
    from tests.tui.helpers import settle
    from tui.app import create_app
    from tui.screens.annotate import AnnotateScreen

    app = create_app(open_store(str(path)), "bench")
    timings: list[float] = []
    shown: list[float] = []

    def hook(message: object) -> None:
        if isinstance(message, AnnotateScreen.Shown):
            shown.append(time.perf_counter())

    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        for _ in range(SWITCHES):
            shown.clear()
            start = time.perf_counter()
            await pilot.press("ctrl+n")
            while not shown:
                await asyncio.sleep(0.001)
            timings.append(shown[0] - start)
            await settle(pilot)
        assert app.screen.index == SWITCHES  # type: ignore[attr-defined]
    return timings


def cold_starts(path: Path, runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        terminal = Terminal("--db", str(path), "tui", "--annotator", "bench")
        wait_until(lambda t=terminal: b"long0" in t.screen, "the queue rows")
        times.append(time.perf_counter() - start)
        terminal.close()
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        build(path)
        timings = sorted(asyncio.run(switch_latencies(path)))
        p50 = statistics.median(timings) * 1000
        p95 = timings[int(0.95 * len(timings)) - 1] * 1000
        print(f"open next item ({TURNS} turns, {SWITCHES} switches): p50 {p50:.0f} ms, ", end="")
        print(f"p95 {p95:.0f} ms, max {timings[-1] * 1000:.0f} ms")
        starts = cold_starts(path)
        print(
            f"cold start to first screen: median {statistics.median(starts):.2f} s "
            f"(min {min(starts):.2f}, max {max(starts):.2f}, {len(starts)} runs)"
        )


if __name__ == "__main__":
    main()
