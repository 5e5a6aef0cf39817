"""The de-identification test corpus: its source form, its build, and where its entries lie.

The corpus (``tests/fixtures/deid/{dev,heldout}.jsonl``, and ``tune.jsonl``,
``tune2.jsonl``, ``tune3.jsonl`` and ``tune4.jsonl``, further splits written to be hard
that may be tuned on like dev) is written for this project:
fictional people, places and numbers. It is kept in a marked-up source form
(``*.src.txt`` beside it) from which the JSONL is built, so that every annotation is
an exact substring of its turn by construction:

    @ session_id client_id language [| names=First Last, Other Name]
    T: a counselor turn
    C: a client turn, with [Dana|n] an identifier of a category code and {hope} a keep

Category codes: n name, p place, d date, t phone, e email, u url (and handles),
i id number, a age over 89. Lines starting with ``#`` are comments; a session ends at
the next ``@``. Rebuild the JSONL after editing a source:

    python -m tests.deid.corpus
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.bench_deid import locate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deid"
SPLITS = ("dev", "heldout")
# Built too, but not held to dev's and held-out's counts in the tests.
EXTRA_SPLITS = ("tune", "tune2", "tune3", "tune4")
CATEGORIES = ("name", "place", "date", "phone", "email", "url", "id", "age")
CODES = {"n": "name", "p": "place", "d": "date", "t": "phone", "e": "email", "u": "url"}
CODES.update(i="id", a="age")
SPEAKERS = {"C": "client", "T": "counselor"}
MARK = re.compile(r"\[([^\[\]|]+)\|([a-z])\]|\{([^{}]+)\}")


def parse(source: str) -> list[dict]:
    """Session records from the marked-up source form."""
    records: list[dict] = []
    for number, line in enumerate(source.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            head, _, tail = line[1:].partition("|")
            session_id, client_id, language = head.split()
            record: dict = {"session_id": session_id, "client_id": client_id}
            record["language"] = language
            if tail.strip():
                key, _, value = tail.strip().partition("=")
                assert key == "names", f"line {number}: unknown header {key!r}"
                record["metadata"] = {"names": value.strip()}
            record.update(turns=[], identifiers=[], keep=[], _offsets=[])
            records.append(record)
            continue
        speaker, _, marked = line.partition(": ")
        record = records[-1]
        turn = len(record["turns"])
        text, cursor = [], 0
        for m in MARK.finditer(marked):
            text.append(marked[cursor : m.start()])
            start = sum(len(part) for part in text)
            if m.group(1) is not None:
                record["identifiers"].append(
                    {"turn": turn, "text": m.group(1), "category": CODES[m.group(2)]}
                )
                value = m.group(1)
            else:
                record["keep"].append({"turn": turn, "text": m.group(3)})
                value = m.group(3)
            record["_offsets"].append((m.group(1) is not None, turn, start, start + len(value)))
            text.append(value)
            cursor = m.end()
        text.append(marked[cursor:])
        record["turns"].append({"speaker": SPEAKERS[speaker], "text": "".join(text)})
    for record in records:
        offsets = record.pop("_offsets")
        turns = [t["text"] for t in record["turns"]]
        marked_ids = [(t, s, e) for is_id, t, s, e in offsets if is_id]
        marked_keep = [(t, s, e) for is_id, t, s, e in offsets if not is_id]
        # Listed in order of position so the k-th listing is the k-th occurrence.
        for key, places in (("identifiers", marked_ids), ("keep", marked_keep)):
            pairs = sorted(zip(places, record[key], strict=True), key=lambda p: p[0])
            record[key] = [entry for _, entry in pairs]
            if locate(turns, record[key]) != [p[0] for p in pairs]:
                raise ValueError(f"{record['session_id']}: {key} not where they were marked")
    return records


def build(split: str) -> list[dict]:
    return parse((FIXTURES / f"{split}.src.txt").read_text(encoding="utf-8"))


def load(split: str) -> list[dict]:
    path = FIXTURES / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def dump(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main() -> None:
    for split in (*SPLITS, *EXTRA_SPLITS):
        records = build(split)
        (FIXTURES / f"{split}.jsonl").write_text(dump(records), encoding="utf-8")
        print(f"{split}: {len(records)} sessions")


if __name__ == "__main__":
    main()
