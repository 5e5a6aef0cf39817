"""Clients not on track: reliable drops in the client's own alliance rating, session by
session, and whether the counselor's own rating of the session registered them.

Reliable change (Jacobson-Truax): ``SE_diff = SD * sqrt(2) * sqrt(1 - alpha)`` and a drop
counts when it is larger than ``1.96 * SE_diff``. ``alpha`` is Cronbach's alpha of the
dimension's items over every session the store holds a complete set of client ratings
for (or one stated with ``reliability``); ``SD`` is the standard deviation of clients'
first-session scores (one per client, ddof 1).

A session is flagged on a dimension when the client's score fell by more than the
threshold from the client's previous scored session, or from their baseline (the mean of
their first ``baseline`` scored sessions; only for later sessions, and not when the
baseline is the previous session itself). Each comparison that exceeds it is one flag.
A flag is *missed* when the counselor's own score of the flagged session is not lower
than their score of what it was compared with (their previous session's score, or the
mean of their scores of the baseline sessions); *unknown* when either is missing.

A flag is a reliable drop in the client's own rating: a prompt to look at the sessions
and ask the client, not a diagnosis and not a prediction of dropout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.plurals import counted
from annotate.research.counselors import checked_dimensions
from annotate.research.ratings import CLIENT, dimension_scores, item_ratings, paired

if TYPE_CHECKING:
    import pandas as pd

RCI_Z = 1.96
MIN_CLIENTS = 5  # fewer clients than this: alpha is not estimated from the store
PREVIOUS = "previous"
BASELINE = "baseline"
MEANING = (
    "A flag is a reliable drop in the client's own alliance rating (larger than the "
    "Jacobson-Truax reliable change index, 1.96 x SE of the difference) from their previous "
    "session or their baseline; 'missed' means the counselor's own rating of that session "
    "did not fall. A flag is a prompt to look and ask, not a diagnosis and not a "
    "prediction of dropout."
)


@dataclass(frozen=True)
class Reliability:
    """What one dimension's threshold rests on."""

    dimension: str
    alpha: float | None
    alpha_source: str  # "store" (Cronbach's alpha of the client ratings) or "stated"
    alpha_sessions: int  # sessions with every item rated (0 when stated)
    sd: float | None
    sd_clients: int
    se_diff: float | None
    threshold: float | None
    note: str | None = None


@dataclass(frozen=True)
class Flag:
    """One reliable drop on one dimension against one reference."""

    client_id: str
    counselor_id: str
    session_id: str
    session_number: int | None
    visit: int
    dimension: str
    score: float
    compared_to: str  # previous | baseline
    reference: float
    drop: float
    threshold: float
    counselor_score: float | None
    counselor_reference: float | None
    missed: bool | None  # None: a counselor score is missing


@dataclass(frozen=True)
class ClientTrack:
    """One client's sessions and flags; ``trajectory`` maps a dimension to its scores
    in session order as (visit, session number, client score, counselor score)."""

    client_id: str
    counselors: tuple[str, ...]
    sessions: int
    flags: int
    missed: int
    unknown: int
    trajectory: dict[str, list[tuple[int, int | None, float | None, float | None]]]


@dataclass(frozen=True)
class Watch:
    """Clients not on track: thresholds per dimension, flags, and every client, flagged
    clients first."""

    reliability: tuple[Reliability, ...]
    flags: tuple[Flag, ...]
    clients: tuple[ClientTrack, ...]
    baseline: int
    meaning: str = MEANING

    def flagged_clients(self) -> list[str]:
        return [track.client_id for track in self.clients if track.flags]

    def notes(self) -> list[str]:
        return [r.note for r in self.reliability if r.note]

    def as_json(self) -> dict[str, Any]:
        return {
            "meaning": self.meaning,
            "baseline_sessions": self.baseline,
            "reliability": [_clean(asdict(r)) for r in self.reliability],
            "flags": [_clean(asdict(f)) for f in self.flags],
            "clients": [
                {**_clean(asdict(c)), "counselors": list(c.counselors),
                 "trajectory": {d: [dict(zip(("visit", "session_number", "client",
                                              "counselor"), _points(p), strict=True))
                                    for p in points]
                                for d, points in c.trajectory.items()}}
                for c in self.clients
            ],
            "notes": self.notes(),
        }  # fmt: skip


def _points(point: tuple[Any, ...]) -> list[Any]:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in point]


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _value(value: Any) -> float | None:
    return (
        None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )


def cronbach_alpha(items: pd.DataFrame) -> float | None:
    """Cronbach's alpha of ITEMS (one column per item, one complete row per rating
    occasion): ``k/(k-1) * (1 - sum of item variances / variance of the sum)``; None when
    undefined (fewer than 2 items or 2 rows, or a constant sum)."""
    k = items.shape[1]
    if k < 2 or len(items) < 2:
        return None
    total = float(items.sum(axis=1).var(ddof=1))
    if total <= 0:
        return None
    return k / (k - 1) * (1 - float(items.var(ddof=1).sum()) / total)


def store_alphas(engine: Engine, order: list[str]) -> dict[str, tuple[float | None, int, int]]:
    """Per dimension: Cronbach's alpha of the client ratings (sessions with every item),
    the number of those sessions and of their clients."""
    from annotate.research.ratings import sessions

    rated = item_ratings(engine, CLIENT)
    clients = sessions(engine).set_index("session_id")["client_id"]
    found: dict[str, tuple[float | None, int, int]] = {}
    for dimension in order:
        wide = rated[rated["dimension"] == dimension].pivot_table(
            index="session_id", columns="item_id", values="value"
        )
        complete = wide.dropna()
        n_clients = int(clients.reindex(complete.index).nunique())
        found[dimension] = (cronbach_alpha(complete), len(complete), n_clients)
    return found


def _reliability(
    dimension: str,
    first_scores: pd.Series,
    alpha_found: tuple[float | None, int, int] | None,
    stated: float | None,
) -> Reliability:
    notes = []
    alpha: float | None
    if first_scores.empty:
        return Reliability(dimension, stated, "stated" if stated else "store", 0, None, 0, None,
                           None, f"{dimension}: no client has rated every item yet")  # fmt: skip
    if stated is not None:
        alpha, source, used = stated, "stated", 0
    else:
        alpha, used, clients = alpha_found or (None, 0, 0)
        source = "store"
        if clients < MIN_CLIENTS:
            notes.append(f"{dimension}: Cronbach's alpha is not estimated from only "
                         f"{counted(clients, 'client')} (needs {MIN_CLIENTS}); state one "
                         "with --reliability")  # fmt: skip
            alpha = None
        elif alpha is None or not 0 < alpha < 1:
            shown = "undefined" if alpha is None else f"{alpha:.2f}"
            notes.append(f"{dimension}: Cronbach's alpha is {shown} in these ratings, which "
                         "gives no usable threshold; state one with --reliability")  # fmt: skip
            alpha = None
    sd_clients = len(first_scores)
    sd = float(first_scores.std(ddof=1)) if sd_clients >= 2 else None
    if sd is None:
        notes.append(f"{dimension}: the SD of first-session scores needs at least 2 clients "
                     f"(found {sd_clients})")  # fmt: skip
    elif sd_clients < MIN_CLIENTS:
        notes.append(f"{dimension}: SD from the first sessions of only "
                     f"{counted(sd_clients, 'client')}: the threshold is rough")  # fmt: skip
    se_diff = sd * math.sqrt(2) * math.sqrt(1 - alpha) if sd is not None and alpha else None
    threshold = RCI_Z * se_diff if se_diff is not None else None
    if threshold == 0:
        notes.append(f"{dimension}: first-session scores do not vary: no threshold")
        threshold = None
    return Reliability(dimension, alpha, source, used, sd, sd_clients, se_diff, threshold,
                       "; ".join(notes) or None)  # fmt: skip


def _flags_of(track: pd.DataFrame, dimension: str, threshold: float, baseline: int) -> list[Flag]:
    """TRACK: one client's scored sessions on DIMENSION in visit order."""
    found = []
    rows = list(track.itertuples(index=False))
    base = rows[:baseline]
    base_client = sum(r.client for r in base) / len(base) if len(rows) > baseline else None
    base_counselor_values = [_value(r.counselor) for r in base]
    base_counselor = (
        sum(v for v in base_counselor_values if v is not None) / len(base)
        if all(v is not None for v in base_counselor_values) else None
    )  # fmt: skip
    for index in range(1, len(rows)):
        row, previous = rows[index], rows[index - 1]
        references = [(PREVIOUS, float(previous.client), _value(previous.counselor))]
        if base_client is not None and index >= baseline and not (baseline == 1 and index == 1):
            references.append((BASELINE, base_client, base_counselor))
        for compared_to, reference, counselor_reference in references:
            drop = reference - float(row.client)
            if drop <= threshold:
                continue
            counselor = _value(row.counselor)
            missed = (
                None if counselor is None or counselor_reference is None
                else counselor >= counselor_reference
            )  # fmt: skip
            number = row.session_number
            found.append(Flag(
                client_id=str(row.client_id), counselor_id=str(row.counselor_id),
                session_id=str(row.session_id),
                session_number=None if number is None or number != number else int(number),
                visit=int(row.visit), dimension=dimension, score=float(row.client),
                compared_to=compared_to, reference=reference, drop=drop, threshold=threshold,
                counselor_score=counselor, counselor_reference=counselor_reference,
                missed=missed,
            ))  # fmt: skip
    return found


def watch_from_scores(
    scores: pd.DataFrame,
    order: list[str],
    alphas: dict[str, tuple[float | None, int, int]],
    *,
    reliability: float | None = None,
    baseline: int = 1,
    client: str | None = None,
) -> Watch:
    """Flags and client tracks of SCORES (``ratings.dimension_scores``) for the
    dimensions in ORDER; ALPHAS as ``store_alphas`` gives them (ignored when a
    ``reliability`` is stated). Thresholds use every client; CLIENT narrows the output."""
    check_options(reliability, baseline)
    pairs = paired(scores)
    pairs = pairs[pairs["dimension"].isin(order)]
    rated = pairs.dropna(subset=[CLIENT])
    if client is not None and client not in set(rated["client_id"]):
        raise NotFoundError(f"no client {client!r} with client ratings")
    found: list[Reliability] = []
    flags: list[Flag] = []
    for dimension in order:
        own = rated[rated["dimension"] == dimension]
        first = own.groupby("client_id", sort=False)[CLIENT].first()
        level = _reliability(dimension, first, alphas.get(dimension), reliability)
        found.append(level)
        if level.threshold is None:
            continue
        for client_id, track in own.groupby("client_id", sort=True):
            if client is None or client_id == client:
                flags.extend(_flags_of(track, dimension, level.threshold, baseline))
    tracks = _tracks(pairs, order, flags, client)
    place = {track.client_id: index for index, track in enumerate(tracks)}
    flags.sort(key=lambda f: (place[f.client_id], f.visit, order.index(f.dimension)))
    return Watch(tuple(found), tuple(flags), tracks, baseline)


def _tracks(
    pairs: pd.DataFrame, order: list[str], flags: list[Flag], client: str | None
) -> tuple[ClientTrack, ...]:
    tracks = []
    for client_id, own in pairs.groupby("client_id", sort=True):
        if client is not None and client_id != client:
            continue
        mine = [f for f in flags if f.client_id == client_id]
        trajectory = {
            dimension: [
                (int(r.visit), _number(r.session_number), _value(r.client), _value(r.counselor))
                for r in own[own["dimension"] == dimension].itertuples(index=False)
            ]
            for dimension in order
        }
        tracks.append(ClientTrack(
            client_id=str(client_id),
            counselors=tuple(str(c) for c in dict.fromkeys(own["counselor_id"])),
            sessions=int(own["session_id"].nunique()),
            flags=len(mine), missed=sum(f.missed is True for f in mine),
            unknown=sum(f.missed is None for f in mine), trajectory=trajectory,
        ))  # fmt: skip
    return tuple(sorted(tracks, key=lambda t: (t.flags == 0, -t.missed, -t.flags)))


def _number(value: Any) -> int | None:
    return None if value is None or value != value else int(value)


def check_options(reliability: float | None, baseline: int) -> None:
    """A stated reliability must lie strictly between 0 and 1; the baseline is at least
    one session."""
    if reliability is not None and not 0 < reliability < 1:
        raise ConfigError(f"--reliability must be between 0 and 1 (exclusive), not {reliability}")
    if baseline < 1:
        raise ConfigError(f"--baseline must be at least 1 session, not {baseline}")


def not_on_track(
    engine: Engine,
    *,
    reliability: float | None = None,
    baseline: int = 1,
    dimension: str | None = None,
    client: str | None = None,
) -> Watch:
    """Clients not on track in the store's ratings (see the module's docstring)."""
    check_options(reliability, baseline)
    order = checked_dimensions(engine, dimension)
    alphas = store_alphas(engine, order) if reliability is None else {}
    return watch_from_scores(dimension_scores(engine), order, alphas, reliability=reliability,
                             baseline=baseline, client=client)  # fmt: skip
