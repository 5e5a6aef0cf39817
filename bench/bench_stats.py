"""Statistics benchmark at the size of a published project (793 sessions x 12 items).

Builds a synthetic store (9,516 accepted rationales, 2,000 of them reviewed twice) and
times each statistic and the report; and compares the bit-parallel edit distance with
the textbook table on 155-character texts (the published mean rationale length).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotate.analysis.agreement import agreement  # noqa: E402
from annotate.analysis.alignment import alignment  # noqa: E402
from annotate.analysis.edits import edit_stats  # noqa: E402
from annotate.analysis.evaluate import evaluate  # noqa: E402
from annotate.analysis.lexicon import lexicon  # noqa: E402
from annotate.analysis.report import build_report  # noqa: E402
from annotate.analysis.textdistance import levenshtein  # noqa: E402
from annotate.core.database import initialise  # noqa: E402
from annotate.ingest import import_file  # noqa: E402

SESSIONS = 793
ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]
WORDS = [
    "client",
    "counselor",
    "goal",
    "task",
    "bond",
    "trust",
    "method",
    "plan",
    "support",
    "session",
    "felt",
    "agreed",
]
CHINESE_WORDS = ["来访者", "咨询师", "目标", "方法", "支持", "信任", "计划", "感到", "同意", "作业"]


def _write(path: Path, records: list[dict]) -> Path:
    lines = (json.dumps(r, ensure_ascii=False) for r in records)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def predictions(directory: Path, rationales: list[dict], sessions: list[dict]) -> Path:
    """A model's rating and rationale for every item: the expert text with words swapped."""
    rng = random.Random(3)
    ratings = {(s["session_id"], i): v for s in sessions for i, v in s["client_ratings"].items()}
    records = []
    for r in rationales:
        separator = "，" if "，" in r["text"] else " "
        words = r["text"].rstrip("。").split(separator)
        for _ in range(5):
            words[rng.randrange(len(words))] = rng.choice(words)
        key = (r["session_id"], r["item_id"])
        records.append({"session_id": key[0], "item_id": key[1], "rating": ratings[key],
                        "rationale": separator.join(words)})  # fmt: skip
    return _write(directory / "predictions.jsonl", records)


def build(directory: Path):  # type: ignore[no-untyped-def]
    rng = random.Random(1)
    engine, _ = initialise(f"sqlite:///{directory / 'bench.db'}")
    sessions, rationales, reviews = [], [], []
    for s in range(SESSIONS):
        client = {item: rng.randint(2, 5) for item in ITEMS}
        counselor = {i: min(5, v + rng.choice((-1, 0, 1))) for i, v in client.items()}
        chinese = s % 3 == 0  # a third of the sessions in Chinese, as a mixed team's corpus
        sessions.append(
            {"session_id": f"s{s}", "client_id": f"c{s % 82}", "counselor_id": f"t{s % 9}",
             "language": "zh" if chinese else "en",
             "turns": [{"speaker": "client", "text": "hello"}], "client_ratings": client,
             "counselor_ratings": counselor}
        )  # fmt: skip
        for item in ITEMS:
            if chinese:
                text = "，".join(rng.choice(CHINESE_WORDS) for _ in range(25)) + "。"
            else:
                text = " ".join(rng.choice(WORDS) for _ in range(25))
            rationales.append(
                {"session_id": f"s{s}", "item_id": item, "author": "a1", "text": text}
            )
    for r in rng.sample(rationales, 2000):
        base = rng.randint(3, 5)
        for reviewer in ("r1", "r2"):
            scores = {c: max(3, min(5, base + rng.choice((-1, 0, 0, 1))))
                      for c in ("faithfulness", "relevance", "informativeness")}  # fmt: skip
            reviews.append({"session_id": r["session_id"], "item_id": r["item_id"],
                            "reviewer": reviewer, "comment": "", **scores})  # fmt: skip
    for name, records in (("sessions", sessions), ("rationales", rationales), ("reviews", reviews)):
        import_file(engine, _write(directory / f"{name}.jsonl", records))
    return engine, predictions(directory, rationales, sessions)


def timed(label: str, function) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    function()
    print(f"{label:<52} {time.perf_counter() - start:7.2f} s")


def table_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        engine, predicted = build(Path(directory))
        timed("agreement, ordinal, 1000 resamples x 3", lambda: agreement(engine))
        timed("alignment", lambda: alignment(engine))
        timed("edits (per dimension)", lambda: edit_stats(engine))
        timed("lexicon (top 10 per dimension)", lambda: lexicon(engine))
        timed("whole HTML report", lambda: build_report(engine))
        timed("evaluate 9,516 ratings + rationales (BLEU, ROUGE)",
              lambda: evaluate(engine, predicted))  # fmt: skip
    rng = random.Random(2)
    pairs = []
    for _ in range(200):
        draft = "".join(rng.choice("abcdefgh 来访者目标") for _ in range(155))
        final = "".join(c if rng.random() > 0.2 else rng.choice("xyz") for c in draft)
        pairs.append((draft, final))
    start = time.perf_counter()
    fast = [levenshtein(a, b) for a, b in pairs]
    bit = time.perf_counter() - start
    start = time.perf_counter()
    slow = [table_distance(a, b) for a, b in pairs]
    table = time.perf_counter() - start
    assert fast == slow
    print(f"edit distance, 155 chars: {bit / len(pairs) * 1e6:.0f} us bit-parallel, "
          f"{table / len(pairs) * 1e6:.0f} us table ({table / bit:.0f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
