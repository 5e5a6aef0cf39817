"""The synthetic demo corpus shipped with annotate (written for this project)."""

from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parents[1] / "demo_data"
DEMO_SESSIONS = DEMO_DIR / "sessions.jsonl"
DEMO_RATIONALES = DEMO_DIR / "rationales.jsonl"
DEMO_REVIEWS = DEMO_DIR / "reviews.jsonl"
DEMO_CODINGS = DEMO_DIR / "codings.jsonl"  # 3RS codes of four rupture sessions, two coders each
DEMO_FILES = (DEMO_SESSIONS, DEMO_RATIONALES, DEMO_REVIEWS)
# 96 short sessions of eight more counselors, rated by client and counselor, for the
# monitoring views (a planted counselor effect and a drop the counselor missed); written by
# scripts/make_monitoring_demo.py. Not annotated: the experts' work is DEMO_SESSIONS.
DEMO_MONITORING = DEMO_DIR / "monitoring.jsonl"


def annotated_session_ids() -> list[str]:
    """The sessions the demo's experts annotate (those of DEMO_SESSIONS), in file order."""
    import json

    lines = DEMO_SESSIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["session_id"] for line in lines if line.strip()]
