"""Who is in an export and in which fold: the result of every format's first pass.

The first pass of a format decides which sessions are exported (and counts the
records of each client); :func:`build_plan` then adds what every format shares: the
session-level dimension scores, the session metadata, the fold of each client
(score-stratified K folds or leave-one-client-out) and the per-fold tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from annotate.core.errors import ConfigError
from annotate.export import records
from annotate.export.folds import LOCO, ClientStats, FoldTable, assign_folds, assign_loco
from annotate.export.metadata import session_metadata

# (session -> metadata, session -> client) -> the metadata an export shows
MetadataTransform = Callable[[dict[str, dict[str, str]], dict[str, str]], dict[str, dict[str, str]]]


@dataclass
class Plan:
    """The sessions to write, their clients' folds and the tables for the manifest."""

    sessions: list[str]  # eligible sessions, in export order
    client_of: dict[str, str]  # session -> client
    fold_of: dict[str, int]  # client -> fold (empty without folds)
    fold_count: int  # 0 without folds
    overall: FoldTable
    fold_tables: dict[int, FoldTable]
    meta_of: dict[str, dict[str, str]]  # session -> metadata (sessions that have any)

    @property
    def stems(self) -> list[str]:
        """The data files, without extension: ``train`` or ``fold_k/train`` and ``/val``."""
        if not self.fold_count:
            return ["train"]
        return [
            f"fold_{fold}/{split}"
            for fold in range(1, self.fold_count + 1)
            for split in ("train", "val")
        ]


def build_plan(
    connection: Connection,
    clients: dict[str, ClientStats],
    client_of: dict[str, str],
    sessions: list[str],
    *,
    instrument_id: str,
    dimensions: tuple[str, ...],
    folds: int | str | None,
    seed: int,
    too_few: Callable[[int, int], str] | None = None,
    metadata_of: MetadataTransform | None = None,
) -> Plan:
    """Scores, metadata and folds of the sessions a first pass chose.

    With fewer clients than the folds need, ``too_few(have, need)`` words the refusal:
    what is missing and what to do, as the format knows it. ``metadata_of(meta_of,
    client_of)`` gives the metadata the export shows (``export --deidentify``: masked),
    counted in the manifest and carried by the index lines.
    """
    # Session-level dimension scores (mean client rating of the dimension's items).
    session_scores: dict[str, dict[str, float]] = {}
    totals: dict[str, list[float]] = {}
    for session_id, dimension, total, count in records.session_dimension_scores(
        connection, instrument_id
    ):
        if session_id not in client_of:
            continue
        session_scores.setdefault(session_id, {})[dimension] = total / count
        pair = totals.setdefault(session_id, [0.0, 0.0])
        pair[0] += total
        pair[1] += count
    for session_id, (rating_sum, rating_count) in totals.items():
        clients[client_of[session_id]].score_sum += rating_sum / rating_count
    meta_of = {
        session_id: meta
        for session_id, meta in session_metadata(connection)
        if session_id in client_of
    }
    if metadata_of is not None:
        meta_of = metadata_of(meta_of, client_of)

    fold_of: dict[str, int] = {}
    need = 2 if folds == LOCO else folds if isinstance(folds, int) else 0
    if len(clients) < need:
        if too_few is not None:
            raise ConfigError(too_few(len(clients), need))
        raise ConfigError(
            f"--folds {folds} needs at least {need} clients; the export has {len(clients)}"
        )
    if folds == LOCO:
        fold_of = assign_loco(list(clients))
    elif isinstance(folds, int):
        fold_of = assign_folds(list(clients.values()), folds, seed)
    fold_count = len(clients) if folds == LOCO else (folds if isinstance(folds, int) else 0)
    fold_tables = {fold: FoldTable(dimensions) for fold in range(1, fold_count + 1)}
    overall = FoldTable(dimensions)
    for client_id in sorted(clients):
        tables = [overall] + ([fold_tables[fold_of[client_id]]] if fold_of else [])
        for table in tables:
            table.clients.append(client_id)
    for session_id in sorted(client_of):
        tables = [overall] + ([fold_tables[fold_of[client_of[session_id]]]] if fold_of else [])
        for table in tables:
            table.sessions.append(session_id)
            table.add_metadata(meta_of.get(session_id, {}))
            for dimension, value in session_scores.get(session_id, {}).items():
                if dimension in table.scores:
                    table.scores[dimension].add(value)
    return Plan(sessions, client_of, fold_of, fold_count, overall, fold_tables, meta_of)
