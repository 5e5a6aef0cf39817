"""De-identification beside drafting: what ``draft --deidentify`` adds to a session's drafting.

Issue 26 asks that de-identifying a session cost well under the model's time for it.
Each scenario builds a temporary SQLite store of N sessions (default 40) made from the
de-identification corpus (``tests/fixtures/deid/{dev,tune,tune2}.jsonl``: fictional
people with planted names, places, dates, phones, emails, ids; English and Chinese),
each bench session ``--join`` corpus sessions of one client in a row (default 3: about
38 turns, 1,800 characters, the size of the demo sessions), rated on the 12 items.
It starts the project's test server (``tests/llm_server.py``, in its own process, with
its ``--latency`` per request) and drafts every item twice with
``annotate.drafting.run_batch`` and the real ``openai`` client, as ``annotate draft``
does (concurrency ``--concurrency``, default 8 as the command's): first as it is (the
server is on this machine, so nothing is de-identified), then with ``--deidentify``
(``DraftSettings(deidentify=True)``; the clients' maps are made in this run, as on a
first draft). The second pass times, inside the run:

- ``masks_for_sessions`` (read, detect, replace, store the new map entries), and within
  it ``detect_turns`` alone (the detection);
- every ``SessionMask.restore`` and ``SessionMask.mask`` (a reply's rationale, quotes and
  raw text mapped back; another text of the client masked).

Reported per session: drafting seconds without and with de-identification, the
de-identification overhead (masks + restore + mask), that overhead as a share of the
drafting time without it (the baseline, measured in the same run), the wall-clock
difference of the two passes (noisier), and detection alone. Two scenarios:

- ``--latency`` 1.5 s per item (a stated assumption: a small local model writing a
  ~150-token rationale), on ``--realistic-sessions`` sessions (default 6: 72 items, so
  that the run stays short; the overhead per session does not depend on the latency);
- 0 s per item (the server answers at once): the worst case for the share, since
  drafting is then only the client's and the store's own work.

What a process pays once is paid before the scenarios and reported apart: importing
``openai``, the first detection and replacement in each language (lexicons loaded,
patterns compiled, the surrogates' lists read), and one untimed run of both passes on one
session (the client, the store, the prompt template made ready), so that neither pass of
a scenario carries them; and in each scenario one item is drafted untimed first (a
store's first request to an endpoint learns its format: one more round of latency).

Beside the measured drafting time the share is also given against the model's time for
a session (items x latency, the model's sequential time for it).

Run: python bench/bench_deid_drafting.py [--sessions 40] [--latency 1.5] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotate.core.database import initialise  # noqa: E402
from annotate.drafting import DraftSettings, WorkSelection, make_provider, run_batch  # noqa: E402
from annotate.ingest import import_file  # noqa: E402
from tests.factories import ITEMS, session_record, write_jsonl  # noqa: E402
from tests.llm_server import start_process  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "deid"
CORPUS_SPLITS = ("dev", "tune", "tune2")  # held-out stays for measuring the detector


def corpus_sessions(sessions: int, join: int, seed: int = 5) -> list[dict]:
    """SESSIONS import records, each JOIN corpus sessions (of one language) in a row under
    the first one's client, with every listed name; every fourth one Chinese."""
    by_language: dict[str, list[dict]] = {"en": [], "zh": []}
    for split in CORPUS_SPLITS:
        for line in (FIXTURES / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            if line:
                record = json.loads(line)
                by_language[record["language"]].append(record)
    rng = random.Random(seed)
    records = []
    for n in range(sessions):
        language = "zh" if n % 4 == 3 else "en"  # a quarter Chinese
        pool = by_language[language]
        parts = [pool[(n * join + k) % len(pool)] for k in range(join)]
        names = [p["metadata"]["names"] for p in parts if p.get("metadata", {}).get("names")]
        separator = "、" if language == "zh" else ", "
        records.append(
            session_record(
                f"bd{n:03d}",
                client_id=parts[0]["client_id"],
                language=language,
                turns=[turn for part in parts for turn in part["turns"]],
                metadata={"names": separator.join(names)} if names else {},
                client_ratings={item: rng.randint(1, 5) for item in ITEMS},
            )
        )
    return records


class Timers:
    """Seconds spent in the wrapped functions (from any thread)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                with self._lock:
                    self.seconds[name] = self.seconds.get(name, 0.0) + spent
                    self.calls[name] = self.calls.get(name, 0) + 1

        return timed


@contextmanager
def timed_deid(timers: Timers) -> Iterator[None]:
    """Time masks_for_sessions, detect_turns (inside it), SessionMask.restore and .mask."""
    from annotate.deid import service

    saved = {
        "masks_for_sessions": service.masks_for_sessions,
        "detect_turns": service.detect_turns,
        "restore": service.SessionMask.restore,
        "mask": service.SessionMask.mask,
    }
    service.masks_for_sessions = timers.wrap("masks", saved["masks_for_sessions"])  # type: ignore[assignment]
    service.detect_turns = timers.wrap("detect", saved["detect_turns"])  # type: ignore[assignment]
    service.SessionMask.restore = timers.wrap("restore", saved["restore"])  # type: ignore[method-assign]
    service.SessionMask.mask = timers.wrap("mask", saved["mask"])  # type: ignore[method-assign]
    try:
        yield
    finally:
        service.masks_for_sessions = saved["masks_for_sessions"]  # type: ignore[assignment]
        service.detect_turns = saved["detect_turns"]  # type: ignore[assignment]
        service.SessionMask.restore = saved["restore"]  # type: ignore[method-assign]
        service.SessionMask.mask = saved["mask"]  # type: ignore[method-assign]


def warm_up() -> dict[str, float]:
    """Milliseconds of the first detection and replacement in each language: a process
    loads the lexicons, compiles the patterns and reads the surrogates' lists of names and
    places once; a drafting run pays it once, not per session."""
    from annotate.deid.detect import detect_turns
    from annotate.deid.surrogates import Surrogates

    started = time.perf_counter()
    import openai  # noqa: F401  (the first pass would pay for its import)

    spent = {"openai_import": round((time.perf_counter() - started) * 1000, 1)}
    for language, text in (("en", "Tobias drove to Millbrook on March 14."),
                           ("zh", "小明上周回成都了，他一直打我的手机13812345678。")):  # fmt: skip
        started = time.perf_counter()
        (spans,) = detect_turns([text], language)
        Surrogates("warm-up", date_shift_days=3).replace(text, spans)
        spent[language] = round((time.perf_counter() - started) * 1000, 1)
    return spent


def draft_pass(
    db: str, port: int, concurrency: int, deidentify: bool, limit: int | None = None
) -> dict[str, Any]:
    """Every item (or LIMIT) drafted once (force), as ``annotate draft`` does; seconds and
    outcomes."""
    engine, _ = initialise(db)
    settings = DraftSettings(provider="openai", model="bench", max_retries=0,
                             base_url=f"http://127.0.0.1:{port}/v1",
                             deidentify=True if deidentify else None)  # fmt: skip
    started = time.perf_counter()
    summary = run_batch(engine, make_provider(settings), WorkSelection(force=True, limit=limit),
                        concurrency=concurrency)  # fmt: skip
    seconds = time.perf_counter() - started
    engine.dispose()
    shown = summary.as_json()
    assert shown.get("deidentify") if deidentify else "deidentify" not in shown, shown
    return {"seconds": seconds, "done": summary.progress.done, "ok": summary.progress.ok}


def scenario(sessions: int, join: int, latency: float, concurrency: int) -> dict[str, Any]:
    """One store, one server: drafted as it is, then with --deidentify."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine, _ = initialise(db)
        records = corpus_sessions(sessions, join)
        import_file(engine, write_jsonl(Path(tmp) / "sessions.jsonl", records))
        engine.dispose()
        server, port = start_process(latency)
        try:
            # Untimed: a store's first request to an endpoint learns its format (one more
            # request, a round of latency), which the pass after it would not pay.
            draft_pass(db, port, concurrency, deidentify=False, limit=1)
            plain = draft_pass(db, port, concurrency, deidentify=False)
            timers = Timers()
            with timed_deid(timers):
                masked = draft_pass(db, port, concurrency, deidentify=True)
        finally:
            server.kill()
            server.wait()
    items = plain["done"]
    per = 1 / sessions
    overhead = sum(timers.seconds.get(k, 0.0) for k in ("masks", "restore", "mask"))
    plain_s, masked_s = plain["seconds"] * per, masked["seconds"] * per
    model_s = latency * items / sessions
    return {
        "latency_s_per_item": latency,
        "sessions": sessions,
        "items": items,
        "turns_per_session": round(sum(len(r["turns"]) for r in records) / sessions, 1),
        "chars_per_session": round(
            sum(len(t["text"]) for r in records for t in r["turns"]) / sessions
        ),
        "zh_sessions": sum(r["language"] == "zh" for r in records),
        "concurrency": concurrency,
        "ok_plain": plain["ok"],
        "ok_deidentified": masked["ok"],
        "draft_s_per_session": round(plain_s, 4),
        "draft_deid_s_per_session": round(masked_s, 4),
        "deid_overhead_ms_per_session": round(overhead * per * 1000, 2),
        "masks_ms_per_session": round(timers.seconds.get("masks", 0.0) * per * 1000, 2),
        "restore_ms_per_session": round(timers.seconds.get("restore", 0.0) * per * 1000, 2),
        "restore_calls": timers.calls.get("restore", 0),
        "mask_ms_per_session": round(timers.seconds.get("mask", 0.0) * per * 1000, 2),
        "mask_calls": timers.calls.get("mask", 0),
        "detect_ms_per_session": round(timers.seconds.get("detect", 0.0) * per * 1000, 2),
        "overhead_share_of_drafting": round(overhead * per / plain_s, 4),
        "wall_clock_difference_ms_per_session": round((masked_s - plain_s) * 1000, 1),
        "model_s_per_session": round(model_s, 2),
        "overhead_share_of_model_time": round(overhead * per / model_s, 5) if model_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=40, help="sessions at 0 s latency")
    parser.add_argument("--realistic-sessions", type=int, default=6,
                        help="sessions at --latency")  # fmt: skip
    parser.add_argument("--latency", type=float, default=1.5,
                        help="assumed seconds a small model takes per item")  # fmt: skip
    parser.add_argument("--join", type=int, default=3, help="corpus sessions per bench session")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    started = time.perf_counter()
    first = warm_up()  # loaded once per process: reported apart, not in a session's cost
    begun = time.perf_counter()
    scenario(1, args.join, 0.0, args.concurrency)  # untimed: the first run's own costs
    first["first_run_both_passes"] = round((time.perf_counter() - begun) * 1000, 1)
    results: dict[str, Any] = {
        "realistic": scenario(args.realistic_sessions, args.join, args.latency, args.concurrency),
        "worst_case": scenario(args.sessions, args.join, 0.0, args.concurrency),
    }
    results["once_per_process_ms"] = first
    results["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name in ("realistic", "worst_case"):
        r = results[name]
        print(
            f"{name}: {r['sessions']} sessions ({r['zh_sessions']} Chinese; "
            f"{r['turns_per_session']} turns, {r['chars_per_session']} characters each), "
            f"{r['items']} items, {r['latency_s_per_item']} s per item, c={r['concurrency']}"
        )
        print(
            f"  drafting {r['draft_s_per_session']:.3f} s/session as it is, "
            f"{r['draft_deid_s_per_session']:.3f} s/session with --deidentify "
            f"(ok {r['ok_plain']} / {r['ok_deidentified']} of {r['items']})"
        )
        model = r["overhead_share_of_model_time"]
        print(
            f"  de-identification {r['deid_overhead_ms_per_session']:.1f} ms/session "
            f"(masks {r['masks_ms_per_session']:.1f}, restore {r['restore_ms_per_session']:.1f}"
            f" in {r['restore_calls']} calls, mask {r['mask_ms_per_session']:.1f} in "
            f"{r['mask_calls']} calls; detection in masks alone "
            f"{r['detect_ms_per_session']:.1f}) = {r['overhead_share_of_drafting']:.2%} of "
            f"drafting time" + (f", {model:.3%} of the model's {r['model_s_per_session']} s"
                                if model is not None else "")
            + f"; wall-clock difference {r['wall_clock_difference_ms_per_session']:.0f} ms/session"
        )  # fmt: skip
    print(f"once per process, not counted above (ms): {first}; total {results['seconds']} s")


if __name__ == "__main__":
    main()
