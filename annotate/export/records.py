"""Which rationales go into an export, read from the store in ordered batches.

Two passes over the store, both ordered by session id and item position: a light
scan (ids, statuses, review counts; no texts) that decides eligibility and gathers
the client-level figures fold assignment needs, then a batched read of the texts
for the eligible sessions only. Eligibility is one function, :func:`exclusion_reason`,
used by both passes so that the counts in the manifest describe the files exactly.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.engine import Connection, Engine

from annotate.core import workflow
from annotate.work.rationales.scaffold import holds_scaffolding
from store.db import code_point_order
from store.tables import (
    DRAFTS,
    INSTRUMENTS,
    ITEMS,
    RATINGS,
    RATIONALE_VERSIONS,
    RATIONALES,
    REVIEW_SCORES,
    REVIEWS,
    SESSIONS,
    TURNS,
    is_current_text,
)

CLIENT = "client"


FETCH_ROWS = 2000  # rows per driver fetch

# Reasons a rationale is left out, in the order they are checked.
OTHER_INSTRUMENT = "other_instrument"
NOT_ACCEPTED = "not_accepted"
NO_TEXT = "no_text"
OFFLINE_SCAFFOLDING = "offline_scaffolding"  # holds the offline drafter's instructions
NO_CLIENT_RATING = "no_client_rating"
REVIEW_BELOW_THRESHOLD = "review_below_threshold"
UNREVIEWED = "unreviewed"
# Why an exported rationale yields no preference pair (``--format dpo`` only).
DPO_NO_DRAFT = "no_usable_draft"
DPO_SMALL_EDIT = "edit_below_threshold"
DPO_OFFLINE_DRAFT = "offline_draft"  # the offline drafter's, not a model's: never "rejected"


@dataclass(frozen=True)
class Policy:
    """The filters of one export: what a rationale needs to be included."""

    instrument_id: str
    threshold: int  # every criterion of every review of the final version must reach it
    include_unreviewed: bool


class ScanRow(NamedTuple):
    """One rationale as the light scan sees it (no texts)."""

    session_id: str
    client_id: str
    item_id: str
    instrument_id: str
    status: str
    final_version: int | None
    scaffold: bool  # the final text is drafter scaffolding (never a training target)
    reviews: int  # reviews of the final version
    failed_reviews: int  # of those, how many score below the threshold on any criterion
    client_rating: int | None


def exclusion_reason(row: Any, policy: Policy) -> str | None:
    """Why a rationale is left out of the export, or None when it is included.

    A rationale is included when it is accepted, has a final text (its current
    version, ``rationales.current_version``) holding none of the offline drafter's
    instructions (:mod:`annotate.work.rationales.scaffold`) and a client rating, and every
    review of its final version (each reviewer reviews a version at most once) scores
    at least the threshold on every criterion of the rubric.
    Reviews of earlier versions do not count. With no review of the final version it
    is ``unreviewed``: left out unless the policy includes unreviewed work.
    """
    if row.instrument_id != policy.instrument_id:
        return OTHER_INSTRUMENT
    if row.status != workflow.ACCEPTED:
        return NOT_ACCEPTED
    if row.final_version is None:
        return NO_TEXT
    if row.scaffold:
        return OFFLINE_SCAFFOLDING
    if row.client_rating is None:
        return NO_CLIENT_RATING
    if row.failed_reviews:
        return REVIEW_BELOW_THRESHOLD
    if not row.reviews and not policy.include_unreviewed:
        return UNREVIEWED
    return None


def _measures(threshold: int) -> tuple[Any, Any, Any, Any, Any, tuple[Any, Any, Any]]:
    """The final version and the draft it began from, to outer-join (with their ON
    clauses); whether the final text is drafter scaffolding; and per rationale the
    reviews of the final version, how many of them fail, and the client's rating.

    The final version is the one ``rationales.current_version`` names (an index seek
    on the unique (rationale_id, version) key).
    """
    final = RATIONALE_VERSIONS.alias("final")
    on_final = is_current_text(final)
    origin = DRAFTS.alias("origin")
    on_origin = origin.c.id == RATIONALES.c.draft_id
    # An accepted rationale's final text, for :func:`_scaffolding` to test (None otherwise).
    scaffold = case((RATIONALES.c.status == workflow.ACCEPTED, final.c.text), else_=None)
    of_final = (
        REVIEWS.c.rationale_id == RATIONALES.c.id,
        REVIEWS.c.rationale_version == final.c.version,
    )
    # Any criterion's score below the threshold (the criteria are the rubric's, stored
    # one row each in review_scores).
    below = (
        select(REVIEW_SCORES.c.review_id)
        .where(REVIEW_SCORES.c.review_id == REVIEWS.c.id, REVIEW_SCORES.c.score < threshold)
        .exists()
    )
    reviews = select(func.count()).where(*of_final).correlate(RATIONALES, final).scalar_subquery()
    failed = (
        select(func.count()).where(*of_final, below).correlate(RATIONALES, final).scalar_subquery()
    )
    client_rating = (
        select(RATINGS.c.value)
        .where(
            RATINGS.c.session_id == RATIONALES.c.session_id,
            RATINGS.c.item_id == RATIONALES.c.item_id,
            RATINGS.c.rater_role == CLIENT,
        )
        .correlate(RATIONALES)
        .scalar_subquery()
    )
    return final, on_final, origin, on_origin, scaffold, (reviews, failed, client_rating)


def _scaffolding(row: tuple, index: int) -> tuple:
    """The row with its final text at ``index`` replaced by whether it holds scaffolding
    (the offline drafter's declared sentences, whatever the text's origin)."""
    return (*row[:index], holds_scaffolding(row[index]), *row[index + 1 :])


_CURSOR_NUMBERS = itertools.count(1)


class Statement:
    """A Core query compiled once for the connection's dialect, run on the driver's cursor.

    SQLAlchemy's per-row result processing (and compiling a query per batch) costs
    more than the export's own work per record; the queries here return only strings,
    integers and JSON text, which need no processing. Runs inside the transaction of
    :func:`read_snapshot`. On PostgreSQL a named (server-side) cursor keeps the rows
    on the server.
    """

    def __init__(self, connection: Connection, query: Any) -> None:
        self.connection = connection
        compiled = query.compile(dialect=connection.dialect)
        self.sql = str(compiled)
        self.defaults = compiled.params
        self.order = compiled.positiontup

    def rows(self, params: dict[str, Any] | None = None) -> Iterator[tuple]:
        values = {**self.defaults, **(params or {})}
        args: Any = [values[key] for key in self.order] if self.order is not None else values
        dbapi_connection: Any = self.connection.connection
        if self.connection.dialect.name == "postgresql":
            cursor = dbapi_connection.cursor(name=f"annotate_export_{next(_CURSOR_NUMBERS)}")
        else:
            cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, args)
            while rows := cursor.fetchmany(FETCH_ROWS):
                yield from rows
        finally:
            cursor.close()


def driver_rows(connection: Connection, query: Any) -> Iterator[tuple]:
    """Run a query once through :class:`Statement`."""
    return Statement(connection, query).rows()


def scan(connection: Connection, policy: Policy) -> Iterator[ScanRow]:
    """Every rationale, light, ordered by (session id, item position), streamed."""
    final, on_final, origin, on_origin, scaffold, counts = _measures(policy.threshold)
    query = (
        select(
            RATIONALES.c.session_id,
            SESSIONS.c.client_id,
            RATIONALES.c.item_id,
            ITEMS.c.instrument_id,
            RATIONALES.c.status,
            final.c.version,
            scaffold,
            *counts,
        )
        .join(SESSIONS, SESSIONS.c.id == RATIONALES.c.session_id)
        .join(ITEMS, ITEMS.c.id == RATIONALES.c.item_id)
        .outerjoin(final, on_final)
        .outerjoin(origin, on_origin)
        .order_by(
            code_point_order(RATIONALES.c.session_id, connection.dialect),
            ITEMS.c.position,
            code_point_order(RATIONALES.c.item_id, connection.dialect),
        )
    )
    for row in driver_rows(connection, query):
        yield ScanRow(*_scaffolding(row, 6))


def session_dimension_scores(
    connection: Connection, instrument_id: str
) -> Iterator[tuple[str, str, float, int]]:
    """(session id, dimension, sum of client ratings, count), ordered, streamed."""
    query = (
        select(
            RATINGS.c.session_id,
            ITEMS.c.dimension,
            func.sum(RATINGS.c.value),
            func.count(),
        )
        .join(ITEMS, ITEMS.c.id == RATINGS.c.item_id)
        .where(RATINGS.c.rater_role == CLIENT, ITEMS.c.instrument_id == instrument_id)
        .group_by(RATINGS.c.session_id, ITEMS.c.dimension)
        # The order fixes the order of the float sums per client (fold assignment).
        .order_by(
            code_point_order(RATINGS.c.session_id, connection.dialect),
            code_point_order(ITEMS.c.dimension, connection.dialect),
        )
    )
    for session_id, dimension, total, count in driver_rows(connection, query):
        yield session_id, dimension, float(total), int(count)


@dataclass(frozen=True)
class InstrumentInfo:
    """What the prompt says about the instrument and its items."""

    id: str
    name: str
    version: str
    scale_min: int
    scale_max: int
    anchors: dict[int, str]
    dimensions: dict[str, dict[str, str]]  # key -> {name, definition}
    items: dict[str, tuple[str, str]]  # item id -> (dimension key, text), in position order


def _json_value(value: Any) -> Any:
    """A JSON column as the driver returns it: text (SQLite) or already parsed (psycopg)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def load_instrument(connection: Connection, instrument_id: str) -> InstrumentInfo | None:
    columns = [
        INSTRUMENTS.c[name]
        for name in ("name", "version", "scale_min", "scale_max", "anchors", "dimensions")
    ]
    found = list(driver_rows(connection, select(*columns).where(INSTRUMENTS.c.id == instrument_id)))
    if not found:
        return None
    name, version, scale_min, scale_max, anchors, dimensions = found[0]
    items = driver_rows(
        connection,
        select(ITEMS.c.id, ITEMS.c.dimension, ITEMS.c.text)
        .where(ITEMS.c.instrument_id == instrument_id)
        .order_by(ITEMS.c.position),
    )
    return InstrumentInfo(
        id=instrument_id,
        name=name,
        version=version,
        scale_min=scale_min,
        scale_max=scale_max,
        anchors={int(value): label for value, label in _json_value(anchors).items()},
        dimensions={
            key: {"name": dim["name"], "definition": dim["definition"]}
            for key, dim in _json_value(dimensions).items()
        },
        items={item_id: (dimension, text) for item_id, dimension, text in items},
    )


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection that reads one consistent snapshot of the store without blocking writers.

    The store's SQLite engine begins every SQLAlchemy transaction with BEGIN IMMEDIATE,
    the writer's lock, which would make every expert's save wait for a long export. An
    export only reads, so on SQLite it opens a deferred transaction on the driver
    connection: in WAL mode that is a snapshot writers never wait for. All reads then
    go through :class:`Statement` (never ``connection.execute``, which would begin a
    second transaction). On PostgreSQL a REPEATABLE READ transaction is the snapshot.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            cursor: Any = connection.connection.cursor()
            cursor.execute("BEGIN DEFERRED")
            try:
                yield connection
            finally:
                cursor.execute("ROLLBACK")  # read-only: nothing to keep
                cursor.close()
        else:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection


class FullRow(NamedTuple):
    """One rationale with everything a record is built from."""

    rationale_id: int
    session_id: str
    client_id: str
    item_id: str
    instrument_id: str
    status: str
    final_version: int | None
    scaffold: bool
    reviews: int
    failed_reviews: int
    client_rating: int | None
    text: str | None
    guideline_version: str | None
    draft_status: str | None
    draft_text: str | None
    draft_prompt_version: str | None
    draft_provider: str | None
    draft_model: str | None


class BatchReader:
    """Reads the rationales (with texts) and transcripts of a batch of sessions.

    Both statements are compiled once with a fixed number of session parameters; a
    shorter batch repeats its last id (harmless in an IN list).
    """

    def __init__(self, connection: Connection, policy: Policy, size: int) -> None:
        self.size = size
        names = [f"session_{n}" for n in range(size)]
        final, on_final, origin, on_origin, scaffold, counts = _measures(policy.threshold)
        # Only the final version's row is joined: texts of older versions are never read.
        query = (
            select(
                RATIONALES.c.id,
                RATIONALES.c.session_id,
                SESSIONS.c.client_id,
                RATIONALES.c.item_id,
                ITEMS.c.instrument_id,
                RATIONALES.c.status,
                final.c.version,
                scaffold,
                *counts,
                final.c.text,
                final.c.guideline_version,
                origin.c.status,
                origin.c.text,
                origin.c.prompt_version,
                origin.c.provider,
                origin.c.model,
            )
            .join(SESSIONS, SESSIONS.c.id == RATIONALES.c.session_id)
            .join(ITEMS, ITEMS.c.id == RATIONALES.c.item_id)
            .outerjoin(final, on_final)
            .outerjoin(origin, on_origin)
            .where(RATIONALES.c.session_id.in_([bindparam(n) for n in names]))
            .order_by(
                code_point_order(RATIONALES.c.session_id, connection.dialect),
                ITEMS.c.position,
                code_point_order(RATIONALES.c.item_id, connection.dialect),
            )
        )
        turn_query = (
            select(TURNS.c.session_id, TURNS.c.speaker, TURNS.c.text)
            .where(TURNS.c.session_id.in_([bindparam(n) for n in names]))
            .order_by(TURNS.c.session_id, TURNS.c.number)
        )
        self.names = names
        self.rationales = Statement(connection, query)
        self.turns = Statement(connection, turn_query)

    def read(
        self, session_ids: list[str]
    ) -> tuple[list[FullRow], dict[str, list[tuple[str, str]]]]:
        """The batch's rationales in export order and each session's (speaker, text) turns."""
        if not 0 < len(session_ids) <= self.size:
            raise ValueError(f"a batch holds 1..{self.size} sessions")
        padded = session_ids + [session_ids[-1]] * (self.size - len(session_ids))
        params = dict(zip(self.names, padded, strict=True))
        rows = [FullRow(*_scaffolding(row, 7)) for row in self.rationales.rows(params)]
        turns: dict[str, list[tuple[str, str]]] = {session_id: [] for session_id in session_ids}
        for session_id, speaker, text in self.turns.rows(params):
            turns[session_id].append((speaker, text))
        return rows, turns
