"""The words a team loads rather than the code defining them: dimensions and items come
from the instruments in the store (``annotate instrument load FILE``), review criteria
from the rubric (:mod:`annotate.core.guidelines`). Statuses, which the code does define,
are in :mod:`annotate.core.workflow`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from annotate.core.catalog import stored_rubric_row
from annotate.core.errors import ConfigError
from annotate.core.guidelines import Rubric, rubric_from_row
from store.db import reader
from store.models import utcnow
from store.tables import (
    INSTRUMENTS,
    ITEMS,
    PREDICTION_REVIEW_SCORES,
    REVIEW_SCORES,
    RUBRICS,
)


def rationale_dimensions(engine: Engine) -> list[str]:
    """The dimensions of the explained instruments' items (those that get rationales), in
    the order their first item appears (goal, task, bond for the WAI-SR)."""
    query = (
        select(ITEMS.c.dimension)
        .join(INSTRUMENTS, INSTRUMENTS.c.id == ITEMS.c.instrument_id)
        .where(INSTRUMENTS.c.rationales)
        .order_by(ITEMS.c.instrument_id, ITEMS.c.position)
    )
    with reader(engine).connect() as connection:
        return list(dict.fromkeys(connection.execute(query).scalars()))


# --- the rubric ------------------------------------------------------------------------
# A lead loads a rubric into the store (``annotate rubric load FILE``) as an instrument
# is loaded; the newest loaded is the one reviews are scored, checked and counted on. A
# store with none uses the packaged ``guidelines/rubric.toml``.


def current_rubric(source: Engine | Connection) -> Rubric:
    """The rubric reviews are scored on in this store (see above)."""
    if isinstance(source, Engine):
        with reader(source).connect() as connection:
            return rubric_from_row(stored_rubric_row(connection))
    return rubric_from_row(stored_rubric_row(source))


def _rubric_content(rubric: Rubric) -> dict[str, Any]:
    return json.loads(rubric.model_dump_json(include={"threshold", "scale_min", "scale_max",
                                                      "criteria"}))  # fmt: skip


def install_rubric(connection: Connection, rubric: Rubric) -> bool:
    """Store ``rubric`` as the store's rubric; True when it was not stored yet.

    As with instruments, a version names one content: a file that changes a stored
    version (threshold, scale, criteria or their texts) is refused. Loading an older
    version again makes it the current one.
    """
    content = _rubric_content(rubric)
    row = connection.execute(
        select(RUBRICS.c.threshold, RUBRICS.c.scale_min, RUBRICS.c.scale_max, RUBRICS.c.criteria)
        .where(RUBRICS.c.version == rubric.version)
    ).first()  # fmt: skip
    if row is not None:
        criteria = json.loads(row[3]) if isinstance(row[3], str) else row[3]
        stored = {"threshold": row[0], "scale_min": row[1], "scale_max": row[2],
                  "criteria": criteria}  # fmt: skip
        if json.dumps(stored, sort_keys=True) != json.dumps(content, sort_keys=True):
            raise ConfigError(
                f"rubric {rubric.version} is stored with other content: bump the version "
                "in the file to load the change"
            )
        connection.execute(
            update(RUBRICS).where(RUBRICS.c.version == rubric.version).values(loaded_at=utcnow())
        )
        return False
    connection.execute(insert(RUBRICS).values(version=rubric.version, loaded_at=utcnow(),
                                              **content))  # fmt: skip
    return True


# --- review scores ---------------------------------------------------------------------


def read_scores(
    connection: Connection, review_ids: Iterable[int] | None, *, predictions: bool = False
) -> dict[int, dict[str, int]]:
    """Each review's scores, criterion -> score (of ``prediction_review_scores`` with
    ``predictions``), for the ids given (every review's for None)."""
    table, key = (
        (PREDICTION_REVIEW_SCORES, PREDICTION_REVIEW_SCORES.c.prediction_review_id)
        if predictions
        else (REVIEW_SCORES, REVIEW_SCORES.c.review_id)
    )
    query = select(key, table.c.criterion, table.c.score)
    if review_ids is None:
        parts = [query]
        found: dict[int, dict[str, int]] = {}
    else:
        ids = list(review_ids)
        found = {review_id: {} for review_id in ids}
        parts = [query.where(key.in_(ids[i : i + 10_000])) for i in range(0, len(ids), 10_000)]
    for part in parts:
        for review_id, criterion, score in connection.execute(part):
            found.setdefault(review_id, {})[criterion] = score
    return found


def score_rows(review_id: int, scores: Mapping[str, int], *, predictions: bool = False
               ) -> list[dict[str, Any]]:  # fmt: skip
    """The rows that store one review's scores."""
    key = "prediction_review_id" if predictions else "review_id"
    return [{key: review_id, "criterion": name, "score": value} for name, value in scores.items()]


def describe_review(scores: Mapping[str, int], comment: str | None, *, short: bool = False) -> str:
    """A review as its author reads it: its scores (in the order given, the rubric's:
    :meth:`Rubric.ordered`), then the comment.

    ``short`` (for a queue column): ``F4 R2 I4 · comment``, each criterion's initial.
    """
    if short:
        marks = " ".join(f"{name[0].upper()}{value}" for name, value in scores.items())
        return f"{marks} · {comment}" if comment else marks
    marks = ", ".join(f"{name} {value}" for name, value in scores.items())
    return f"{marks}: {comment}" if comment else marks
