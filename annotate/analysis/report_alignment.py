"""The report's sections on binary items and on alignment by condition and over sessions."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.analysis import svg
from annotate.analysis.binary import binary_alignment, confusion_frame
from annotate.analysis.by_group import SESSION_NUMBER, alignment_by, metadata_keys
from annotate.core.frames import ci_text, defined

if TYPE_CHECKING:
    import pandas as pd

CONDITION = "condition"
BINARY_LABELS = {
    "client_yes_share": "client yes",
    "counselor_yes_share": "counselor yes",
    "missed_by_counselor": "missed by counselor",
    "not_reported_by_client": "not reported by client",
    "kappa": "kappa",
}


def _estimate(row: Any, name: str) -> svg.Estimate | None:
    if not defined(row[name]):
        return None
    low, high = row[f"{name}_ci_low"], row[f"{name}_ci_high"]
    return (
        float(row[name]),
        float(low) if defined(low) else None,
        float(high) if defined(high) else None,
    )


def binary_section(engine: Engine) -> list[str]:
    """The 2x2 table of each binary item, the missed shares and kappa."""
    from annotate.analysis.html import html_table

    table = binary_alignment(engine)
    parts = [
        "<h2>Ruptures and other binary items</h2>",
        "<p>Items declared binary (a rating above the item's threshold is “yes”; for the "
        "rupture question any rating above 1 is a rupture), over sessions rated by both "
        "client and counselor. <em>Missed by counselor</em>: of the client's “yes”, the "
        "share the counselor did not report; <em>not reported by client</em>: of the "
        "counselor's “yes”, the share the client did not report.</p>",
    ]
    if table.empty:
        return [*parts, '<p class="note">No item is declared binary.</p>']
    for _, row in table.iterrows():
        parts.append(
            html_table(
                confusion_frame(row),
                f"{row['item_id']}: client (rows) vs counselor (columns), "
                f"yes = rating above {row['binary_above']}",
            )
        )
    import pandas as pd

    shown = pd.DataFrame(
        {"item": table["item_id"], "n": table["n"],
         **{label: table[name] for name, label in BINARY_LABELS.items()}}
    )  # fmt: skip
    parts.append(html_table(shown, "Binary items: shares and Cohen's kappa"))
    parts += [
        f'<p class="note">{escape(str(row["item_id"]))}: {escape(row["note"])}</p>'
        for _, row in table.iterrows()
        if isinstance(row["note"], str)
    ]
    return parts


def _gap_chart(frame: pd.DataFrame, dimensions: list[str], key: str, title: str) -> str:
    categories = [str(group) for group in dict.fromkeys(frame["group"])]
    series = {
        dimension: [_estimate(row, "gap") for _, row in frame[frame["dimension"] == dimension]
                    .iterrows()]
        for dimension in dimensions
    }  # fmt: skip
    return svg.interval_chart(
        title, categories, series, x_label=key.replace("_", " "),
        y_label="counselor − client (mean)", connect=key == SESSION_NUMBER,
    )  # fmt: skip


def _gap_table(frame: pd.DataFrame, groups: pd.DataFrame, key: str) -> pd.DataFrame:
    import pandas as pd

    columns: dict[str, list[Any]] = {key: [str(g) for g in groups["group"]],
                                     "sessions": list(groups["sessions"])}  # fmt: skip
    for dimension in dict.fromkeys(frame["dimension"]):
        columns[dimension] = [ci_text(row, "gap") for _, row in
                              frame[frame["dimension"] == dimension].iterrows()]  # fmt: skip
    return pd.DataFrame(columns)


def _binary_by_group(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "item": frame["item_id"],
            key: [str(g) for g in frame["group"]],
            "n": frame["n"],
            **{label: [ci_text(r, name) for _, r in frame.iterrows()]
               for name, label in BINARY_LABELS.items()},
        }
    )  # fmt: skip


def group_sections(engine: Engine, instrument_id: str, samples: int, seed: int) -> list[str]:
    """Alignment by condition and by session number: gap charts with 95% CI bars, tables."""
    from annotate.analysis.html import html_table

    keys = metadata_keys(engine)
    parts: list[str] = []
    headings = {
        CONDITION: "Counselor vs client by condition",
        SESSION_NUMBER: "Counselor vs client over sessions",
    }
    for key, heading in headings.items():
        parts.append(f"<h2>{heading}</h2>")
        if key not in keys:
            parts.append(f'<p class="note">No session carries a {key.replace("_", " ")}.</p>')
            continue
        result = alignment_by(engine, key, instrument_id, samples, seed)
        frame = result.dimensions
        if frame.empty:
            parts.append(f'<p class="note">No session carries a {key.replace("_", " ")}.</p>')
            continue
        dimensions = [d for d in dict.fromkeys(frame["dimension"]) if d != "total"]
        where = "by condition" if key == CONDITION else "by session number"
        parts.append(
            f"<p>Mean of counselor minus client dimension score {where} (above 0: the "
            f"counselor rated the alliance higher), with 95% percentile bootstrap intervals "
            f"over {samples} resamples of each group's sessions (seed {seed}). "
            f"{result.left_out} session(s) without a {key.replace('_', ' ')} are left out."
            "</p>"
        )
        title = f"Alignment gap {where}"
        parts.append(f'<div class="charts">{_gap_chart(frame, dimensions, key, title)}</div>')
        parts.append(html_table(_gap_table(frame, result.groups, key), f"{title}, 95% CI"))
        if not result.binary.empty:
            parts.append(
                html_table(_binary_by_group(result.binary, key), f"Binary items {where}, 95% CI")
            )
    return parts
