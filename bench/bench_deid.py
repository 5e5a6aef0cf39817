"""De-identification benchmark: recall per category and language, ordinary words kept, speed.

Runs ``annotate.deid.detect.detect_turns`` over every session of the test corpus
written for this project (``tests/fixtures/deid/{dev,heldout}.jsonl``: fictional
people, planted identifiers, ordinary words that look like them), with the session's
``metadata.names`` as ``Known(names=...)`` when it has them, and scores:

- an identifier is **found** when every non-whitespace character of its planted
  substring lies inside some detected span (one span or several adjacent ones; a span
  may be wider than the identifier, and the category the detector gave is not
  checked: a phone number masked as an id is still masked);
- an ordinary word (``keep``) **survives** when no detected span overlaps it.

Recall = found / planted, per language x category, per language and overall; keep
rate = survived / listed, per language. Speed: the mean milliseconds of
``detect_turns`` per session (the first call, which loads any lexicon, is reported
apart) against the time the offline drafter takes to draft the 12 items of one demo
session into a temporary SQLite store (median of ``--draft-runs``).

The held-out split is for measuring only: the detector's author tunes on ``dev`` and
``tune``, ``tune2``, ``tune3`` and ``tune4`` (further splits written to be hard), and ``--misses``
(which identifiers were missed and which ordinary words were hit) prints them for those
splits only.

Run: python bench/bench_deid.py [--split dev|heldout|tune|tune2|tune3|tune4|both] [--json]
     [--misses]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "tests" / "fixtures" / "deid"
SPLITS = ("dev", "heldout")  # "both"
TUNING_SPLITS = ("dev", "tune", "tune2", "tune3", "tune4")  # --misses lists their misses
LANGUAGES = ("en", "zh")
CATEGORIES = ("name", "place", "date", "phone", "email", "url", "id", "age")
NAME_SEPARATORS = re.compile(r"\s*[,;、，；]\s*")
DEMO_SESSION = "s01"

# detect_turns(texts, language, known) -> per text, spans with .start and .end
Detector = Callable[[Sequence[str], str, Any], list[list[Any]]]


def load_split(split: str) -> list[dict]:
    path = FIXTURES / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def occurrences(turn: str, text: str) -> list[int]:
    """Start offsets of TEXT in TURN; where its first or last character is an ASCII letter
    or digit, only as a whole word there ("Will" is not found in "Willow")."""
    start = r"(?<![A-Za-z0-9])" if text[:1].isascii() and text[:1].isalnum() else ""
    end = r"(?![A-Za-z0-9])" if text[-1:].isascii() and text[-1:].isalnum() else ""
    return [m.start() for m in re.finditer(start + re.escape(text) + end, turn)]


def locate(turns: Sequence[str], entries: Sequence[dict]) -> list[tuple[int, int, int]]:
    """(turn, start, end) of each entry: the k-th listing of a (turn, text) pair is the
    k-th occurrence of the text in that turn. ValueError for an entry not there."""
    seen: dict[tuple[int, str], int] = {}
    located = []
    for entry in entries:
        key = (entry["turn"], entry["text"])
        k = seen.get(key, 0)
        seen[key] = k + 1
        starts = occurrences(turns[entry["turn"]], entry["text"])
        if k >= len(starts):
            raise ValueError(f"{entry!r}: occurrence {k + 1} is not in turn {entry['turn']}")
        located.append((entry["turn"], starts[k], starts[k] + len(entry["text"])))
    return located


def known_names(record: dict) -> tuple[str, ...]:
    names = (record.get("metadata") or {}).get("names") or ""
    return tuple(n for n in NAME_SEPARATORS.split(names.strip()) if n)


def is_found(turn: str, start: int, end: int, spans: Sequence[Any]) -> bool:
    """Every non-whitespace character of turn[start:end] lies inside some span."""
    return all(
        turn[i].isspace() or any(s.start <= i < s.end for s in spans) for i in range(start, end)
    )


def is_kept(start: int, end: int, spans: Sequence[Any]) -> bool:
    """No span overlaps [start, end)."""
    return not any(s.start < end and start < s.end for s in spans)


def default_detector() -> tuple[Detector, Callable[[tuple[str, ...]], Any]]:
    from annotate.deid.detect import Known, detect_turns

    return detect_turns, lambda names: Known(names=names)


def score(
    records: Sequence[dict],
    detector: Detector | None = None,
    make_known: Callable[[tuple[str, ...]], Any] | None = None,
) -> dict:
    """Run the detector over every session and count what it found and what it kept."""
    if detector is None or make_known is None:
        detector, make_known = default_detector()
    planted = {(lang, c): 0 for lang in LANGUAGES for c in CATEGORIES}
    found = dict.fromkeys(planted, 0)
    listed = dict.fromkeys(LANGUAGES, 0)
    kept = dict.fromkeys(LANGUAGES, 0)
    misses: list[dict] = []
    false_hits: list[dict] = []
    seconds: list[float] = []
    for record in records:
        language = record["language"]
        turns = [t["text"] for t in record["turns"]]
        started = time.perf_counter()
        spans = detector(turns, language, make_known(known_names(record)))
        seconds.append(time.perf_counter() - started)
        for entry, (t, start, end) in zip(
            record["identifiers"], locate(turns, record["identifiers"]), strict=True
        ):
            key = (language, entry["category"])
            planted[key] += 1
            if is_found(turns[t], start, end, spans[t]):
                found[key] += 1
            else:
                misses.append({"session_id": record["session_id"], **entry})
        for entry, (t, start, end) in zip(
            record["keep"], locate(turns, record["keep"]), strict=True
        ):
            listed[language] += 1
            if is_kept(start, end, spans[t]):
                kept[language] += 1
            else:
                false_hits.append({"session_id": record["session_id"], **entry})
    return _summary(planted, found, listed, kept, misses, false_hits, seconds)


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _summary(
    planted: dict[tuple[str, str], int],
    found: dict[tuple[str, str], int],
    listed: dict[str, int],
    kept: dict[str, int],
    misses: list[dict],
    false_hits: list[dict],
    seconds: list[float],
) -> dict:
    recall: dict[str, dict] = {}
    for language in LANGUAGES:
        per: dict[str, dict] = {
            c: {"found": found[(language, c)], "planted": planted[(language, c)],
                "recall": _ratio(found[(language, c)], planted[(language, c)])}
            for c in CATEGORIES
        }  # fmt: skip
        total_found = sum(found[(language, c)] for c in CATEGORIES)
        total = sum(planted[(language, c)] for c in CATEGORIES)
        recall[language] = {
            "categories": per,
            "found": total_found,
            "planted": total,
            "recall": _ratio(total_found, total),
        }
    all_found = sum(found.values())
    all_planted = sum(planted.values())
    later = seconds[1:] or seconds
    return {
        "recall": recall,
        "overall": {"found": all_found, "planted": all_planted,
                    "recall": _ratio(all_found, all_planted)},
        "keep": {lang: {"kept": kept[lang], "listed": listed[lang],
                        "rate": _ratio(kept[lang], listed[lang])} for lang in LANGUAGES},
        "sessions": len(seconds),
        "first_call_ms": round(seconds[0] * 1000, 2) if seconds else None,
        "detect_ms_per_session": round(statistics.mean(later) * 1000, 3) if later else None,
        "misses": misses,
        "false_hits": false_hits,
    }  # fmt: skip


def drafting_ms(runs: int = 5) -> float:
    """Milliseconds for the offline drafter to draft the 12 items of one demo session
    (select, draft, ground and store), in a temporary SQLite store: median of RUNS."""
    from annotate.core.database import initialise
    from annotate.core.demo import DEMO_SESSIONS
    from annotate.drafting import WorkSelection, run_batch
    from annotate.drafting.offline import OfflineProvider
    from annotate.ingest import import_file

    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        engine, _ = initialise(f"sqlite:///{Path(tmp) / 'bench.db'}")
        import_file(engine, DEMO_SESSIONS)
        for run in range(runs + 1):  # the first run warms up (imports, prompt files)
            selection = WorkSelection(sessions=[DEMO_SESSION], force=True)
            started = time.perf_counter()
            summary = run_batch(engine, OfflineProvider(), selection, concurrency=1)
            elapsed = time.perf_counter() - started
            assert summary.progress.done == 12, summary.as_json()
            if run:
                timings.append(elapsed)
        engine.dispose()
    return statistics.median(timings) * 1000


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def print_table(split: str, result: dict) -> None:
    print(f"\n{split}: {result['sessions']} sessions")
    header = f"{'category':<10}" + "".join(f"{lang:>22}" for lang in LANGUAGES)
    print(header)
    for c in CATEGORIES:
        cells = []
        for lang in LANGUAGES:
            v = result["recall"][lang]["categories"][c]
            cells.append(f"{v['found']:>5}/{v['planted']:<5} {_fmt(v['recall']):>8}")
        print(f"{c:<10}" + "".join(f"{cell:>22}" for cell in cells))
    cells = []
    for lang in LANGUAGES:
        v = result["recall"][lang]
        cells.append(f"{v['found']:>5}/{v['planted']:<5} {_fmt(v['recall']):>8}")
    print(f"{'recall':<10}" + "".join(f"{cell:>22}" for cell in cells))
    cells = []
    for lang in LANGUAGES:
        v = result["keep"][lang]
        cells.append(f"{v['kept']:>5}/{v['listed']:<5} {_fmt(v['rate']):>8}")
    print(f"{'kept':<10}" + "".join(f"{cell:>22}" for cell in cells))
    o = result["overall"]
    print(f"overall recall: {o['found']}/{o['planted']} = {_fmt(o['recall'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--split", choices=(*SPLITS, "tune", "tune2", "tune3", "tune4", "both"), default="heldout"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument(
        "--misses", action="store_true", help="list misses (dev and the tune splits only)"
    )
    parser.add_argument("--draft-runs", type=int, default=5)
    args = parser.parse_args()
    splits = SPLITS if args.split == "both" else (args.split,)
    try:
        results = {split: score(load_split(split)) for split in splits}
    except (ImportError, NotImplementedError) as error:
        print(f"the detector is not available: {type(error).__name__}: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    draft_ms = drafting_ms(args.draft_runs)
    detect_ms = statistics.mean(r["detect_ms_per_session"] for r in results.values())
    out = {
        "splits": {
            split: {k: v for k, v in r.items() if k not in ("misses", "false_hits")}
            | {"missed": len(r["misses"]), "false_hit_count": len(r["false_hits"])}
            for split, r in results.items()
        },
        "detect_ms_per_session": round(detect_ms, 3),
        "offline_draft_ms_per_session": round(draft_ms, 2),
        "offline_draft_items": 12,
        "ratio_detect_to_offline_draft": round(detect_ms / draft_ms, 4),
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return
    for split, result in results.items():
        print_table(split, result)
        if args.misses and split in TUNING_SPLITS:
            for miss in result["misses"]:
                print(f"  missed {miss['session_id']} turn {miss['turn']} "
                      f"{miss['category']}: {miss['text']!r}")  # fmt: skip
            for hit in result["false_hits"]:
                print(
                    f"  hit ordinary word {hit['session_id']} turn {hit['turn']}: {hit['text']!r}"
                )
        elif args.misses:
            print(f"  ({split}: misses are not listed; tune on dev or a tune split)")
    print(
        f"\ndetection: {detect_ms:.2f} ms per session (mean; first call "
        + ", ".join(f"{s} {r['first_call_ms']} ms" for s, r in results.items())
        + ")"
    )
    print(
        f"offline drafter, 12 items of demo session {DEMO_SESSION} into SQLite: "
        f"{draft_ms:.1f} ms (median of {args.draft_runs}); detection / drafting = "
        f"{detect_ms / draft_ms:.3f}"
    )
    print(
        "a hosted model takes seconds per item (12 items a session): detection is a far "
        "smaller share of that than of the offline drafter's time above"
    )


if __name__ == "__main__":
    main()
