"""Client-grouped, score-stratified folds and the per-fold score table.

Every session of a client lands in one fold. Clients are sorted by their mean
client rating and cut into blocks of K neighbours; each block gives one client to
each fold, so fold score distributions match. Within a block the client with the
most records goes to the fold with the fewest so far, which keeps fold sizes within
one client's record count of each other. The seed orders the blocks and breaks ties,
so a seed always gives the same folds.

Leave-one-client-out (``--folds loco``) is the other scheme: one fold per client,
numbered in code point order of the client ids, so the numbering depends on nothing
but the clients in the export.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from annotate.core.errors import ConfigError

LOCO = "loco"


@dataclass
class ClientStats:
    """What fold assignment needs to know about one client."""

    client_id: str
    records: int = 0
    score_sum: float = 0.0  # sum over the client's sessions of the session's mean rating
    sessions: list[str] = field(default_factory=list)

    @property
    def mean_score(self) -> float:
        return self.score_sum / len(self.sessions) if self.sessions else 0.0


def _tiebreak(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def assign_folds(clients: list[ClientStats], k: int, seed: int) -> dict[str, int]:
    """Map each client id to a fold number 1..k (see the module docstring)."""
    ordered = sorted(
        clients, key=lambda c: (c.mean_score, _tiebreak(seed, c.client_id), c.client_id)
    )
    blocks = [ordered[start : start + k] for start in range(0, len(ordered), k)]
    random.Random(seed).shuffle(blocks)
    fold_records = dict.fromkeys(range(1, k + 1), 0)
    fold_key = {fold: _tiebreak(seed, f"fold{fold}") for fold in fold_records}
    assignment: dict[str, int] = {}
    for block in blocks:
        by_size = sorted(block, key=lambda c: (-c.records, _tiebreak(seed, c.client_id)))
        folds = sorted(fold_records, key=lambda f: (fold_records[f], fold_key[f]))
        for client, fold in zip(by_size, folds, strict=False):
            assignment[client.client_id] = fold
            fold_records[fold] += client.records
    return assignment


def fold_spec(value: int | str | None) -> int | str | None:
    """``--folds`` checked: None, a number of folds (at least 2) or ``loco``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == LOCO:
            return LOCO
        if not (text.isascii() and text.isdigit()):
            raise ConfigError(f"--folds must be a number of folds or {LOCO!r}, got {value!r}")
        value = int(text)
    if value is not None and value < 2:
        raise ConfigError("--folds must be at least 2")
    return value


def assign_loco(client_ids: list[str]) -> dict[str, int]:
    """Map each client id to its own fold: 1..n in code point order of the ids."""
    return {client_id: fold for fold, client_id in enumerate(sorted(set(client_ids)), start=1)}


@dataclass
class Moments:
    """Count, mean and sample SD from running sums (ratings are small numbers)."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.squares += value * value

    def summary(self) -> dict[str, float | None]:
        if not self.n:
            return {"mean": None, "sd": None}
        mean = self.total / self.n
        if self.n < 2:
            return {"mean": round(mean, 4), "sd": None}
        variance = max(self.squares - self.n * mean * mean, 0.0) / (self.n - 1)
        return {"mean": round(mean, 4), "sd": round(math.sqrt(variance), 4)}


@dataclass
class FoldTable:
    """Per fold: its clients and sessions and the session-level dimension scores."""

    dimensions: tuple[str, ...]
    clients: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    scores: dict[str, Moments] = field(default_factory=dict)
    # Sessions per metadata value: key -> value -> sessions (e.g. condition mix per fold).
    metadata: dict[str, dict[str, int]] = field(default_factory=dict)
    # Exported codes per family (``--format markers`` only).
    codes: dict[str, int] | None = None

    def __post_init__(self) -> None:
        self.scores = {dimension: Moments() for dimension in self.dimensions}

    def add_metadata(self, meta: dict[str, str]) -> None:
        for key, value in meta.items():
            values = self.metadata.setdefault(key, {})
            values[value] = values.get(value, 0) + 1

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {
            "clients": len(self.clients),
            "sessions": len(self.sessions),
            "scores": {dimension: m.summary() for dimension, m in self.scores.items()},
            "metadata": {
                key: dict(sorted(values.items())) for key, values in sorted(self.metadata.items())
            },
        }
        if self.codes is not None:
            described["codes"] = dict(sorted(self.codes.items()))
        described["client_ids"] = self.clients
        described["session_ids"] = self.sessions
        return described
