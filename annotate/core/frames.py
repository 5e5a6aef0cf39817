"""Small helpers on tables of figures (pandas frames and their rows), shared by the rooms
that report statistics: JSON-ready records and an estimate with its interval as text."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def defined(value: Any) -> bool:
    """A figure that is there: not None, not NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN and NA become None, numpy scalars plain Python."""
    rows = []
    for row in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if hasattr(value, "item") and not isinstance(value, str | bytes):
                value = value.item()
            missing = isinstance(value, float) and math.isnan(value)
            if missing or value.__class__.__name__ in ("NAType", "NaTType"):
                value = None
            clean[str(key)] = value
        rows.append(clean)
    return rows


def ci_text(row: Any, name: str) -> str | None:
    """``0.25 [0.10, 0.40]``; the value alone without an interval; None when undefined."""
    if not defined(row[name]):
        return None
    low, high = row[f"{name}_ci_low"], row[f"{name}_ci_high"]
    if not (defined(low) and defined(high)):
        return f"{row[name]:.2f}"
    return f"{row[name]:.2f} [{low:.2f}, {high:.2f}]"
