"""Frames as escaped HTML tables, shared by the report and its sections."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _format(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def html_table(frame: pd.DataFrame, caption: str = "", digits: int = 3) -> str:
    """A DataFrame as an escaped HTML table; numbers right-aligned, text left."""
    if frame.empty:
        return f'<p class="note">{escape(caption)}: no data yet.</p>'
    text_columns = {c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str)).any()}
    head = "".join(
        f'<th class="{"text" if c in text_columns else "num"}">'
        f"{escape(str(c).replace('_', ' '))}</th>"
        for c in frame.columns
    )
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="{"text" if c in text_columns else "num"}">'
            f"{escape(_format(value, digits))}</td>"
            for c, value in zip(frame.columns, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="table"><table>{title}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
