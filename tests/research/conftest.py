"""Stores holding sessions, ratings and hand-written turn_alliance rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.ingest import import_file
from store.tables import INSTRUMENTS, TURN_ALLIANCE
from tests.factories import write_jsonl

TurnRow = tuple[str, dict[str, float]]  # speaker, scores per dimension
AddTrace = Callable[..., None]


@pytest.fixture
def add_sessions(engine: Engine, tmp_path: Path) -> Callable[[list[dict]], None]:
    """Import session records (``tests.factories.session_record``) into the store."""
    counter = iter(range(1000))

    def add(records: list[dict]) -> None:
        import_file(engine, write_jsonl(tmp_path / f"sessions{next(counter)}.jsonl", records))

    return add


@pytest.fixture
def add_trace(engine: Engine) -> AddTrace:
    """Store a session's trace: one turn_alliance row per (speaker, scores), numbered from 1."""

    def add(
        session_id: str,
        turns: Sequence[TurnRow],
        *,
        method: str = "embedding",
        model: str = "test-embed",
        version: str | None = None,
        created_at: datetime | None = None,
    ) -> None:
        with engine.begin() as connection:
            stored = connection.execute(
                select(INSTRUMENTS.c.version).where(INSTRUMENTS.c.id == "wai-sr")
            ).scalar_one()
            connection.execute(
                TURN_ALLIANCE.insert(),
                [
                    {
                        "session_id": session_id,
                        "turn_number": number,
                        "speaker": speaker,
                        "method": method,
                        "model": model,
                        "instrument_id": "wai-sr",
                        "instrument_version": version or stored,
                        "scores": scores,
                        "params": {},
                        "created_at": created_at or datetime.now(UTC),
                    }
                    for number, (speaker, scores) in enumerate(turns, start=1)
                ],
            )

    return add
