"""Binary items (the rupture question): the client's and the counselor's yes/no reports.

An item with ``binary_above`` is binary: a rating above it is "yes" (for the rupture
question any rating above 1 is a rupture). Over sessions where both rated the item this
gives the 2x2 client/counselor table, each side's "yes" share, the share of the
client's "yes" the counselor did not report (``missed_by_counselor``: the misses that
matter most clinically), the reverse (``not_reported_by_client``: of the counselor's
"yes", the share the client did not report) and Cohen's kappa. A figure with no
denominator is None and ``note`` says why, never NaN. The figures are computed on
count arrays so that the same code gives the point estimate and every bootstrap
resample (``annotate.analysis.by_group``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.analysis._data import _frame
from store.tables import ITEMS, RATINGS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

YES, NO = "yes", "no"
COUNTS = (
    "client_yes_counselor_yes",
    "client_yes_counselor_no",
    "client_no_counselor_yes",
    "client_no_counselor_no",
)
SHARES = (
    "client_yes_share",
    "counselor_yes_share",
    "missed_by_counselor",
    "not_reported_by_client",
    "kappa",
)
PAIR_COLUMNS = ["session_id", "item_id", "instrument_id", "binary_above", "client", "counselor"]
COLUMNS = ["item_id", "instrument_id", "binary_above", "n", *COUNTS, *SHARES, "note"]


def is_yes(rating: float, binary_above: int) -> bool:
    """A rating of a binary item counts as "yes" when it is above the item's threshold."""
    return rating > binary_above


def binary_items(engine: Engine) -> pd.DataFrame:
    """Items declared binary, in instrument and item order: id, instrument_id, binary_above."""
    item = ITEMS
    query = (
        select(item.c.id, item.c.instrument_id, item.c.binary_above)
        .where(item.c.binary_above.is_not(None))
        .order_by(item.c.instrument_id, item.c.position)
    )
    return _frame(engine, query)


def binary_pairs(engine: Engine) -> pd.DataFrame:
    """One row per (session, binary item) rated by both sides.

    Columns: session_id, item_id, instrument_id, binary_above, client, counselor (the
    two ratings), client_yes, counselor_yes.
    """
    import pandas as pd

    rating, item = RATINGS, ITEMS
    query = (
        select(
            rating.c.session_id,
            rating.c.item_id,
            item.c.instrument_id,
            item.c.binary_above,
            rating.c.rater_role,
            rating.c.value,
        )
        .join(item, item.c.id == rating.c.item_id)
        .where(item.c.binary_above.is_not(None))
        .where(rating.c.rater_role.in_(("client", "counselor")))
    )
    frame = _frame(engine, query)
    if frame.empty:
        return pd.DataFrame(columns=[*PAIR_COLUMNS, "client_yes", "counselor_yes"])
    wide = frame.pivot_table(
        index=["session_id", "item_id", "instrument_id", "binary_above"],
        columns="rater_role",
        values="value",
    ).reset_index()
    wide.columns.name = None
    for role in ("client", "counselor"):
        if role not in wide:
            wide[role] = float("nan")
    wide = wide.dropna(subset=["client", "counselor"])[PAIR_COLUMNS].copy()
    wide["binary_above"] = wide["binary_above"].astype(int)
    wide["client_yes"] = wide["client"] > wide["binary_above"]
    wide["counselor_yes"] = wide["counselor"] > wide["binary_above"]
    return wide.sort_values(["item_id", "session_id"]).reset_index(drop=True)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (no warning)."""
    import numpy as np

    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def figures_from_counts(
    both_yes: np.ndarray, client_only: np.ndarray, counselor_only: np.ndarray, both_no: np.ndarray
) -> dict[str, np.ndarray]:
    """Shares and kappa from arrays of 2x2 counts (one entry per table), NaN if undefined.

    Kappa uses the exact 2x2 form 2(ad - bc) / ((a+b)(b+d) + (a+c)(c+d)) on counts, so
    "undefined" (both sides gave one and the same answer throughout) is an exact zero
    denominator, not a rounding accident.
    """
    a, b, c, d = (x.astype(float) for x in (both_yes, client_only, counselor_only, both_no))
    n = a + b + c + d
    return {
        "client_yes_share": _ratio(a + b, n),
        "counselor_yes_share": _ratio(a + c, n),
        "missed_by_counselor": _ratio(b, a + b),
        "not_reported_by_client": _ratio(c, a + c),
        "kappa": _ratio(2 * (a * d - b * c), (a + b) * (b + d) + (a + c) * (c + d)),
    }


def counts_of(client_yes: Sequence[bool], counselor_yes: Sequence[bool]) -> dict[str, int]:
    """The 2x2 table of paired yes/no reports (client first, counselor second)."""
    pairs = list(zip(client_yes, counselor_yes, strict=True))
    return {
        "client_yes_counselor_yes": sum(1 for x, y in pairs if x and y),
        "client_yes_counselor_no": sum(1 for x, y in pairs if x and not y),
        "client_no_counselor_yes": sum(1 for x, y in pairs if not x and y),
        "client_no_counselor_no": sum(1 for x, y in pairs if not x and not y),
    }


def notes(table: dict[str, int]) -> str | None:
    """Why figures of one 2x2 table are missing or degenerate, in plain words."""
    a, b, c, d = (table[name] for name in COUNTS)
    n = a + b + c + d
    if n == 0:
        return "no session has both a client and a counselor rating"
    said = []
    if a + b == 0:
        said.append("the client never reported yes: missed_by_counselor is undefined")
    if a + c == 0:
        said.append("the counselor never reported yes: not_reported_by_client is undefined")
    if a + d == n and (a == n or d == n):
        said.append("both sides gave the same answer in every session: kappa is undefined")
    elif a + b in (0, n) or a + c in (0, n):
        said.append("one side gave the same answer in every session: kappa is 0 by construction")
    return "; ".join(said) or None


def binary_figures(client_yes: Sequence[bool], counselor_yes: Sequence[bool]) -> dict[str, Any]:
    """n, the 2x2 counts, the shares, kappa (None when undefined) and a note."""
    import numpy as np

    table = counts_of(client_yes, counselor_yes)
    arrays = [np.array([table[name]]) for name in COUNTS]
    values = figures_from_counts(*arrays)
    row: dict[str, Any] = {"n": sum(table.values()), **table}
    for name in SHARES:
        value = float(values[name][0])
        row[name] = None if value != value else value
    row["note"] = notes(table)
    return row


def binary_alignment(engine: Engine, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Client vs counselor per binary item (every instrument), over sessions both rated.

    Columns: item_id, instrument_id, binary_above, n, the four cells of the 2x2 table
    (client_yes_counselor_yes, client_yes_counselor_no, client_no_counselor_yes,
    client_no_counselor_no), client_yes_share, counselor_yes_share, missed_by_counselor
    (counselor no among client yes), not_reported_by_client (client no among counselor
    yes), kappa (Cohen's) and note.
    """
    import pandas as pd

    pairs = binary_pairs(engine) if pairs is None else pairs
    rows = []
    for item_id, instrument_id, binary_above in binary_items(engine).itertuples(index=False):
        subset = pairs[pairs["item_id"] == item_id]
        figures = binary_figures(list(subset["client_yes"]), list(subset["counselor_yes"]))
        rows.append(
            {
                "item_id": item_id,
                "instrument_id": instrument_id,
                "binary_above": int(binary_above),
                **figures,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def confusion_frame(row: dict[str, Any] | pd.Series) -> pd.DataFrame:
    """One item's 2x2 table for display: client yes/no rows, counselor yes/no columns."""
    import pandas as pd

    a, b = int(row["client_yes_counselor_yes"]), int(row["client_yes_counselor_no"])
    c, d = int(row["client_no_counselor_yes"]), int(row["client_no_counselor_no"])
    return pd.DataFrame(
        [
            {"client": "yes", "counselor yes": a, "counselor no": b, "total": a + b},
            {"client": "no", "counselor yes": c, "counselor no": d, "total": c + d},
            {"client": "total", "counselor yes": a + c, "counselor no": b + d,
             "total": a + b + c + d},
        ]
    )  # fmt: skip


def classification(truth: Sequence[bool], predicted: Sequence[bool]) -> dict[str, Any]:
    """Precision, recall, F1 and support per class ("no", "yes") and macro-F1.

    Per class: precision is None when the class was never predicted, recall when it
    never occurs in the truth; F1 = 2TP / (2TP + FP + FN), None only when the class is
    absent from both. macro-F1 is the mean of the two F1s, None when either is.
    """
    pairs = list(zip(truth, predicted, strict=True))
    result: dict[str, Any] = {"n": len(pairs)}
    f1s: list[float | None] = []
    for name, positive in ((NO, False), (YES, True)):
        tp = sum(1 for t, p in pairs if t == positive and p == positive)
        fp = sum(1 for t, p in pairs if t != positive and p == positive)
        fn = sum(1 for t, p in pairs if t == positive and p != positive)
        f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else None
        result[name] = {
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": f1,
            "support": tp + fn,
        }
        f1s.append(f1)
    defined = [f1 for f1 in f1s if f1 is not None]
    result["macro_f1"] = sum(defined) / 2 if len(defined) == 2 else None
    said = []
    for name in (NO, YES):
        if result[name]["support"] == 0:
            said.append(f"no '{name}' in the client reports: its recall is undefined")
        if sum(1 for _, p in pairs if p == (name == YES)) == 0:
            said.append(f"'{name}' never predicted: its precision is undefined")
    if result["macro_f1"] is None:
        said.append("one class is absent from both reports and predictions: macro-F1 undefined")
    result["note"] = "; ".join(said) or None
    return result


def majority_class(truth: Sequence[bool]) -> str:
    """The more frequent answer among the client reports; a tie (or none) counts as "no"."""
    yes = sum(1 for value in truth if value)
    return YES if yes > len(truth) - yes else NO
