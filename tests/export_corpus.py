"""Synthetic corpora for export tests, written straight to the tables (fast, no import)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, literal, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core import workflow
from store.models import (
    Annotator,
    Client,
    Counselor,
    Draft,
    Rating,
    Rationale,
    RationaleVersion,
    Review,
    ReviewScore,
    TherapySession,
    Turn,
)
from tests.factories import ITEMS

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHINESE = "来访者说她还是不知道该怎么做，觉得这次咨询不值这个钱。"


@dataclass
class Corpus:
    """What was written, for independent checks."""

    client_of: dict[str, str]  # session -> client
    client_ratings: dict[tuple[str, str], int]
    rationale_ids: dict[tuple[str, str], int]


def build_corpus(
    engine: Engine,
    sessions_per_client: list[int],
    seed: int = 0,
    items: list[str] | None = None,
    reviewed: bool = True,
) -> Corpus:
    """Clients with the given numbers of sessions; every item an accepted, reviewed rationale."""
    rng = random.Random(seed)
    items = items or ITEMS
    clients, sessions, turns, ratings, rationales, versions, reviews = [], [], [], [], [], [], []
    client_of: dict[str, str] = {}
    client_ratings: dict[tuple[str, str], int] = {}
    rationale_ids: dict[tuple[str, str], int] = {}
    next_id = 1
    for c, count in enumerate(sessions_per_client):
        client_id = f"c{c:03d}"
        clients.append({"id": client_id, "created_at": NOW})
        level = rng.randint(1, 5)  # clients differ, so stratification has work to do
        for n in range(count):
            session_id = f"{client_id}s{n:02d}"
            client_of[session_id] = client_id
            sessions.append(
                {
                    "id": session_id,
                    "client_id": client_id,
                    "counselor_id": "t1",
                    "session_number": n + 1,
                    "language": "zh" if c % 3 == 0 else "en",
                    "content_hash": "h",
                    "created_at": NOW,
                }
            )
            texts = [f"Hello {session_id}", CHINESE if c % 3 == 0 else "I slept badly."]
            for number, text in enumerate(texts, start=1):
                speaker = "counselor" if number % 2 else "client"
                turns.append(
                    {"session_id": session_id, "number": number, "speaker": speaker, "text": text}
                )
            for item in items:
                value = max(1, min(5, level + rng.choice((-1, 0, 0, 1))))
                client_ratings[(session_id, item)] = value
                ratings.append(
                    {
                        "session_id": session_id,
                        "item_id": item,
                        "rater_role": "client",
                        "value": value,
                    }
                )
                ratings.append(
                    {
                        "session_id": session_id,
                        "item_id": item,
                        "rater_role": "counselor",
                        "value": rng.randint(3, 5),
                    }
                )
                rationale_ids[(session_id, item)] = next_id
                rationales.append(
                    {
                        "id": next_id,
                        "session_id": session_id,
                        "item_id": item,
                        "author_id": "ana",
                        "status": workflow.ACCEPTED,
                        "flagged": False,
                        "lock_version": 1,
                        "current_version": 1,
                        "updated_at": NOW,
                    }
                )
                text = f"{item} in {session_id}: " + (CHINESE if c % 3 == 0 else "turn 2 shows it.")
                versions.append(
                    {
                        "rationale_id": next_id,
                        "version": 1,
                        "text": text,
                        "author_id": "ana",
                        "kind": workflow.VERSION_IMPORT,
                        "guideline_version": "1.0.0",
                        "created_at": NOW,
                    }
                )
                if reviewed:
                    reviews.append(
                        {
                            "rationale_id": next_id,
                            "rationale_version": 1,
                            "reviewer_id": "ben",
                            "comment": "",
                            "passed": True,
                            "rubric_version": "1.0.0",
                            "created_at": NOW,
                        }
                    )
                next_id += 1
    with engine.begin() as connection:
        connection.execute(insert(Client), clients)
        connection.execute(insert(Counselor), [{"id": "t1", "created_at": NOW}])
        connection.execute(
            insert(Annotator), [{"id": name, "created_at": NOW} for name in ("ana", "ben")]
        )
        for model, rows in (
            (TherapySession, sessions),
            (Turn, turns),
            (Rating, ratings),
            (Rationale, rationales),
            (RationaleVersion, versions),
            (Review, reviews),
        ):
            if rows:
                connection.execute(insert(model), rows)
        for criterion in ("faithfulness", "relevance", "informativeness"):  # 4 on each
            connection.execute(
                insert(ReviewScore).from_select(
                    ["review_id", "criterion", "score"],
                    select(col(Review.id), literal(criterion), literal(4)),
                )
            )
    return Corpus(client_of, client_ratings, rationale_ids)


def add_draft(
    engine: Engine,
    session_id: str,
    item_id: str,
    text: str | None,
    status: str = workflow.DRAFT_OK,
    provider: str = "openai",
    model: str = "test-model",
) -> int:
    """Store a draft (every NOT NULL column filled) and point the rationale at it; a
    model's draft unless ``provider`` says otherwise (``"offline"``: the offline drafter)."""
    from sqlalchemy import update

    with engine.begin() as connection:
        result = connection.execute(
            insert(Draft).values(
                session_id=session_id,
                item_id=item_id,
                status=status,
                text=text,
                evidence=[],
                quotes=[],
                provider=provider,
                model=model,
                prompt_version="draft-1",
                prompt_hash="0" * 64,
                params={},
                created_at=NOW,
            )
        )
        draft_id = int(result.inserted_primary_key[0])
        connection.execute(
            update(Rationale)
            .where(Rationale.session_id == session_id, Rationale.item_id == item_id)
            .values(draft_id=draft_id)
        )
    return draft_id


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def load_jsonl(path: Path, cache: Path) -> Any:
    """Load a JSONL file the way trainers do (``datasets``, cached in ``cache``; the
    ``offline_datasets`` fixture keeps it offline)."""
    from datasets import load_dataset

    return load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))
