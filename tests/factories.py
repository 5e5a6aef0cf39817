"""Small builders of valid (and deliberately broken) input records."""

from __future__ import annotations

import json
from pathlib import Path


def write_jsonl(path: Path, records: list) -> Path:
    """Write records (dicts, or raw strings for malformed lines) one per line."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ITEMS = [f"{d}_{n}" for d in ("goal", "task", "bond") for n in range(1, 5)]


def session_record(session_id: str = "x1", **overrides) -> dict:  # type: ignore[no-untyped-def]
    """A valid session record; overrides replace fields."""
    record = {
        "session_id": session_id,
        "client_id": "cl1",
        "counselor_id": "co1",
        "session_number": 1,
        "language": "en",
        "turns": [
            {"speaker": "counselor", "text": "What would you like to focus on today?"},
            {"speaker": "client", "text": "Mostly my sleep, it has been bad since the move."},
        ],
        "client_ratings": {item: 4 for item in ITEMS},
        "counselor_ratings": {item: 5 for item in ITEMS},
    }
    record.update(overrides)
    return record
