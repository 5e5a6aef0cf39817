"""Alignment per group of sessions (a metadata key such as ``condition``, or the session
number), with percentile bootstrap 95% intervals.

Every figure of ``alignment`` (per dimension) and of ``binary_alignment`` (per binary
item) is computed on each group's sessions, plus ``gap``: the mean of counselor minus
client, positive when counselors rate the alliance higher than their clients did. A
figure's interval resamples, with replacement, the group's sessions that have that
figure's pair (so n is fixed), ``samples`` times; resamples where the figure is
undefined (e.g. a constant side for a correlation) are skipped. Each (group, dimension or
item) draws from its own generator seeded by the seed and the two names, so a group's
interval does not change when another group gains sessions. Sessions without the key
belong to no group and are counted as left out.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.analysis._data import _frame, dimension_order
from annotate.analysis.agreement import BOOTSTRAP_SAMPLES, SEED
from annotate.analysis.alignment import DEFAULT_INSTRUMENT, TOTAL, pair_figures, paired_scores
from annotate.analysis.binary import COUNTS, SHARES, binary_figures, binary_items, binary_pairs
from annotate.core.errors import ConfigError
from annotate.core.plurals import counted
from store.tables import SESSIONS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SESSION_NUMBER = "session_number"
GAP = "gap"
# Figures with an interval, in column order; p-values follow their correlation.
DIMENSION_FIGURES = ("pearson_r", "spearman_rho", "mse", "counselor_higher", "client_mean",
                     "counselor_mean", GAP)  # fmt: skip
P_VALUE = {"pearson_r": "pearson_p", "spearman_rho": "spearman_p"}


def _with_ci(names: tuple[str, ...]) -> list[str]:
    columns = []
    for name in names:
        columns += [name, f"{name}_ci_low", f"{name}_ci_high"]
        if name in P_VALUE:
            columns.append(P_VALUE[name])
    return columns


DIMENSION_COLUMNS = ["group", "dimension", "n", *_with_ci(DIMENSION_FIGURES)]
BINARY_COLUMNS = ["group", "item_id", "instrument_id", "binary_above", "n", *COUNTS,
                  *_with_ci(SHARES), "note"]  # fmt: skip


@dataclass(frozen=True)
class Grouping:
    """Which group each session is in under one key; sessions without it are left out."""

    key: str
    group_of: dict[str, Any]  # session id -> group value (str, or int for session_number)
    groups: list[Any]  # the values in order (numeric for session_number, else by text)
    sessions: int  # all sessions in the store
    left_out: int  # sessions without the key


@dataclass(frozen=True)
class GroupedAlignment:
    """``alignment`` and ``binary_alignment`` per group, each figure with its 95% interval."""

    key: str
    samples: int
    seed: int
    groups: pd.DataFrame  # group, sessions
    left_out: int
    dimensions: pd.DataFrame  # DIMENSION_COLUMNS
    binary: pd.DataFrame  # BINARY_COLUMNS


def _sessions(engine: Engine) -> pd.DataFrame:
    table = SESSIONS
    query = select(table.c.id, table.c.session_number, table.c.meta).order_by(table.c.id)
    return _frame(engine, query)


def _has_number(number: Any) -> bool:
    return number is not None and number == number  # NaN: a column pandas made float


def _key_counts(sessions: pd.DataFrame) -> dict[str, int]:
    """How many sessions carry each key: metadata keys, and session_number."""
    counts: dict[str, int] = {}
    for meta in sessions["meta"]:
        for key in meta if isinstance(meta, dict) else ():
            counts[key] = counts.get(key, 0) + 1
    numbered = sum(1 for number in sessions["session_number"] if _has_number(number))
    if numbered:
        counts[SESSION_NUMBER] = numbered
    return dict(sorted(counts.items()))


def metadata_keys(engine: Engine) -> list[str]:
    """The keys ``--by`` accepts: every session metadata key in the store, and
    session_number when some session has one (a key no session carries groups nothing)."""
    return list(_key_counts(_sessions(engine)))


def _no_such_key(key: str, counts: dict[str, int]) -> str:
    """What to do when no session carries ``key``: the keys that do group sessions, or
    (when none does) what to import."""
    if counts:
        usable = [f"{name} ({counted(n, 'session')})" for name, n in counts.items()]
        listed = usable[0] if len(usable) == 1 else f"{', '.join(usable[:-1])} or {usable[-1]}"
        return f"no session carries {key!r}: use --by with a key sessions carry: {listed}"
    return (
        f"no session carries {key!r}, nor any other metadata or a session_number, so there "
        'is nothing to group by: both come with the sessions file ("metadata": {"condition": '
        '...}, "session_number") and a stored session does not change on a second import, '
        "so import the completed file into a new database"
    )


def grouping(engine: Engine, key: str) -> Grouping:
    """Sessions by ``key``: a metadata key (e.g. ``condition``) or ``session_number``."""
    sessions = _sessions(engine)
    counts = _key_counts(sessions)
    if key not in counts:
        raise ConfigError(_no_such_key(key, counts))
    group_of: dict[str, Any] = {}
    for session_id, number, meta in sessions.itertuples(index=False):
        if key == SESSION_NUMBER:
            value = int(number) if _has_number(number) else None
        else:
            value = meta.get(key) if isinstance(meta, dict) else None
        if value is not None:
            group_of[session_id] = value
    groups = sorted(set(group_of.values()), key=lambda v: (str(type(v)), v))
    return Grouping(key, group_of, groups, len(sessions), len(sessions) - len(group_of))


def _generator(seed: int, group: Any, name: str) -> np.random.Generator:
    import numpy as np

    entropy = [seed % 2**63, zlib.crc32(str(group).encode()), zlib.crc32(name.encode())]
    return np.random.default_rng(entropy)


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    import numpy as np

    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return None, None
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair, NaN where a row is constant."""
    import numpy as np

    constant = (x.max(axis=1) == x.min(axis=1)) | (y.max(axis=1) == y.min(axis=1))
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    r = np.full(x.shape[0], np.nan)
    np.divide((dx * dy).sum(axis=1), denominator, out=r, where=~constant & (denominator > 0))
    return r


def _dimension_resamples(
    client: np.ndarray, counselor: np.ndarray, samples: int, generator: np.random.Generator
) -> dict[str, np.ndarray]:
    """Each figure over ``samples`` resamples of the sessions (rows of the index matrix)."""
    import numpy as np
    from scipy.stats import rankdata

    n = len(client)
    picked = generator.integers(0, n, size=(samples, n))
    y, x = client[picked], counselor[picked]
    figures = {
        "mse": ((x - y) ** 2).mean(axis=1),
        "counselor_higher": (x > y).mean(axis=1),
        "client_mean": y.mean(axis=1),
        "counselor_mean": x.mean(axis=1),
        GAP: (x - y).mean(axis=1),
    }
    if n >= 3:  # as in alignment: no correlation below 3 sessions
        figures["pearson_r"] = _pearson_rows(x, y)
        figures["spearman_rho"] = _pearson_rows(rankdata(x, axis=1), rankdata(y, axis=1))
    else:
        figures["pearson_r"] = figures["spearman_rho"] = np.full(samples, np.nan)
    return figures


def _dimension_row(
    group: Any, dimension: str, subset: pd.DataFrame, samples: int, seed: int
) -> dict[str, Any]:
    client = subset["client"].astype(float)
    counselor = subset["counselor"].astype(float)
    point = pair_figures(client, counselor)
    point[GAP] = float((counselor - client).mean()) if len(client) else None
    row: dict[str, Any] = {"group": group, "dimension": dimension, **point}
    resampled = None
    if samples > 0 and len(client):
        generator = _generator(seed, group, dimension)
        resampled = _dimension_resamples(
            client.to_numpy(), counselor.to_numpy(), samples, generator
        )
    for name in DIMENSION_FIGURES:
        low = high = None
        if resampled is not None and point[name] is not None:
            low, high = _interval(resampled[name])
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
    return row


def _binary_row(
    group: Any, item: tuple[str, str, int], subset: pd.DataFrame, samples: int, seed: int
) -> dict[str, Any]:
    from annotate.analysis.binary import figures_from_counts

    item_id, instrument_id, binary_above = item
    client_yes = subset["client_yes"].to_numpy(dtype=bool)
    counselor_yes = subset["counselor_yes"].to_numpy(dtype=bool)
    point = binary_figures(list(client_yes), list(counselor_yes))
    row: dict[str, Any] = {"group": group, "item_id": item_id, "instrument_id": instrument_id,
                           "binary_above": int(binary_above), **point}  # fmt: skip
    resampled = None
    n = len(client_yes)
    if samples > 0 and n:
        picked = _generator(seed, group, item_id).integers(0, n, size=(samples, n))
        c, k = client_yes[picked], counselor_yes[picked]
        resampled = figures_from_counts(
            (c & k).sum(axis=1), (c & ~k).sum(axis=1), (~c & k).sum(axis=1), (~c & ~k).sum(axis=1)
        )
    for name in SHARES:
        low = high = None
        if resampled is not None and point[name] is not None:
            low, high = _interval(resampled[name])
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
    return row


def alignment_by(
    engine: Engine,
    key: str,
    instrument_id: str = DEFAULT_INSTRUMENT,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = SEED,
) -> GroupedAlignment:
    """Every alignment figure per group of sessions under ``key``, with 95% intervals.

    ``dimensions`` has a row per group and dimension of ``instrument_id`` (and
    ``total``), ``binary`` a row per group and binary item of any instrument; a group
    without pairs still has its rows (n 0, figures None).
    """
    import pandas as pd

    sessions = grouping(engine, key)
    pairs = paired_scores(engine, instrument_id)
    pairs = pairs.assign(group=pairs["session_id"].map(sessions.group_of))
    binary = binary_pairs(engine)
    binary = binary.assign(group=binary["session_id"].map(sessions.group_of))
    items = list(binary_items(engine).itertuples(index=False, name=None))
    dimensions = [*dimension_order(engine, instrument_id), TOTAL]
    dimension_rows, binary_rows = [], []
    for group in sessions.groups:
        in_group = pairs[pairs["group"] == group]
        for dimension in dimensions:
            subset = in_group[in_group["dimension"] == dimension]
            dimension_rows.append(_dimension_row(group, dimension, subset, samples, seed))
        binary_in_group = binary[binary["group"] == group]
        for item in items:
            subset = binary_in_group[binary_in_group["item_id"] == item[0]]
            binary_rows.append(_binary_row(group, item, subset, samples, seed))
    counts = pd.Series(list(sessions.group_of.values())).value_counts()
    groups = pd.DataFrame(
        {"group": sessions.groups, "sessions": [int(counts[g]) for g in sessions.groups]}
    )
    return GroupedAlignment(
        key=key,
        samples=samples,
        seed=seed,
        groups=groups,
        left_out=sessions.left_out,
        dimensions=pd.DataFrame(dimension_rows, columns=DIMENSION_COLUMNS),
        binary=pd.DataFrame(binary_rows, columns=BINARY_COLUMNS),
    )
