"""Builders of session records with WAI-SR ratings, and independent readings of them: the
counselor-effect and not-on-track tests share these."""

from __future__ import annotations

import random

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.factories import ITEMS, session_record

DIMENSIONS = ("goal", "task", "bond")


def items_at(**levels: float) -> dict[str, int]:
    """Every item of each named dimension at its level (``goal=4``)."""
    return {item: int(levels[item.split("_")[0]]) for item in ITEMS
            if item.split("_")[0] in levels}  # fmt: skip


def noisy_items(generator: random.Random, level: float, spread: float = 0.6) -> dict[str, int]:
    """Every item near LEVEL (1..5), each with its own noise."""
    return {item: min(5, max(1, round(level + generator.gauss(0, spread)))) for item in ITEMS}


def nested_records(counselors: int, clients: int, sessions: int, *, seed: int = 1,
                   counselor_sd: float = 0.6, prefix: str = "") -> list[dict]:  # fmt: skip
    """Sessions of CLIENTS clients per counselor, SESSIONS each, ids in Chinese and
    English; counselors differ in level (COUNSELOR_SD) and in how much higher they rate
    than their clients; a few counselor ratings are left out."""
    generator = random.Random(seed)
    records = []
    for c in range(counselors):
        counselor = f"{prefix}咨询师{c:02d}" if c % 2 else f"{prefix}counselor-{c:02d}"
        level, bias = 3.2 + generator.gauss(0, counselor_sd), generator.uniform(-0.3, 1.2)
        for k in range(clients):
            client = f"{counselor}/来访者{k}"
            client_level = level + generator.gauss(0, 0.4)
            for number in range(1, sessions + 1):
                session_level = client_level + generator.gauss(0, 0.3)
                own = noisy_items(generator, session_level)
                record = session_record(
                    f"{prefix}s{c:02d}-{k}-{number}", client_id=client, counselor_id=counselor,
                    session_number=number, client_ratings=own,
                    counselor_ratings=noisy_items(generator, session_level + bias),
                )  # fmt: skip
                if generator.random() < 0.1:
                    del record["counselor_ratings"]
                records.append(record)
    return records


def session_scores_by_sql(engine: Engine) -> pd.DataFrame:
    """Per session, dimension and rater role: the mean of the dimension's four items when
    all four are rated, from hand-written SQL (the oracle of ``ratings.dimension_scores``)."""
    query = text(
        "SELECT s.id AS session_id, s.client_id, s.counselor_id, r.rater_role, i.dimension, "
        "AVG(r.value * 1.0) AS score, COUNT(*) AS n FROM ratings r "
        "JOIN items i ON i.id = r.item_id JOIN sessions s ON s.id = r.session_id "
        "WHERE i.instrument_id = 'wai-sr' "
        "GROUP BY s.id, s.client_id, s.counselor_id, r.rater_role, i.dimension"
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    frame["score"] = frame["score"].astype(float)
    return frame[frame["n"] == 4].drop(columns="n").reset_index(drop=True)
