"""Text and JSON views of ``annotate alignment``'s binary items and ``--by`` groups."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

    from annotate.analysis.by_group import GroupedAlignment

BINARY_SHOWN = {
    "client_yes_share": "client yes",
    "counselor_yes_share": "counselor yes",
    "missed_by_counselor": "missed by counselor",
    "not_reported_by_client": "not reported by client",
    "kappa": "kappa",
}
DIMENSION_SHOWN = {
    "pearson_r": "r",
    "spearman_rho": "rho",
    "mse": "MSE",
    "counselor_higher": "counselor higher",
    "client_mean": "client mean",
    "counselor_mean": "counselor mean",
    "gap": "gap",
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def with_ci(row: Any, name: str) -> str:
    """The value over its interval on a second line (``0.29`` / ``[0.01, 0.60]``), the
    value alone without an interval, ``-`` when undefined."""
    value = row[name]
    if _missing(value):
        return "-"
    low, high = row[f"{name}_ci_low"], row[f"{name}_ci_high"]
    if _missing(low) or _missing(high):
        return f"{value:.2f}"
    return f"{value:.2f}\n[{low:.2f}, {high:.2f}]"


def _notes(frame: pd.DataFrame, label: Callable[[pd.Series], str]) -> None:
    for _, row in frame.iterrows():
        if isinstance(row["note"], str):
            typer.echo(f"{label(row)}: {row['note']}")


def show_binary(table: pd.DataFrame) -> None:
    """Per binary item: the 2x2 client/counselor table, then the figures."""
    import pandas as pd

    from annotate.analysis.binary import confusion_frame
    from cli.commands._common import show_table

    if table.empty:
        return
    for _, row in table.iterrows():
        show_table(
            confusion_frame(row),
            f"{row['item_id']} ({row['instrument_id']}): client vs counselor, yes = rating "
            f"above {row['binary_above']}, {row['n']} sessions rated by both",
        )
    shown = pd.DataFrame(
        {
            "item": table["item_id"],
            "n": table["n"],
            **{label: table[name] for name, label in BINARY_SHOWN.items()},
        }
    )
    show_table(
        shown,
        "Binary items: missed by counselor = counselor no among client yes; "
        "not reported by client = client no among counselor yes",
    )
    _notes(table, lambda row: str(row["item_id"]))


def show_grouped(result: GroupedAlignment, instrument: str) -> None:
    """The mean gap per group and dimension, every figure per dimension, binary per group."""
    import pandas as pd

    from cli.commands._common import show_table

    key, frame = result.key, result.dimensions
    interval = f"95% bootstrap CI, {result.samples} resamples, seed {result.seed}"
    if result.samples == 0:
        interval = "no intervals: --samples 0"
    sessions = dict(zip(result.groups["group"], result.groups["sessions"], strict=True))
    if frame.empty:
        typer.echo(f"no session has {key!r}")
    dimensions = list(dict.fromkeys(frame["dimension"]))
    gaps = pd.DataFrame(
        {
            key: result.groups["group"].astype(str),
            "sessions": result.groups["sessions"],
            **{
                dimension: [
                    with_ci(row, "gap")
                    for _, row in frame[frame["dimension"] == dimension].iterrows()
                ]
                for dimension in dimensions
            },
        }
    )
    if not frame.empty:
        show_table(gaps, f"Counselor minus client ({instrument}, mean gap) by {key} ({interval})")
    for dimension in dimensions:
        subset = frame[frame["dimension"] == dimension]
        shown = pd.DataFrame(
            {
                key: subset["group"].astype(str),
                "n": subset["n"],
                **{label: [with_ci(r, name) for _, r in subset.iterrows()]
                   for name, label in DIMENSION_SHOWN.items()},
            }
        )  # fmt: skip
        show_table(shown, f"{dimension.capitalize()}: counselor vs client by {key} ({interval})")
    for item_id in dict.fromkeys(result.binary["item_id"]):
        subset = result.binary[result.binary["item_id"] == item_id]
        shown = pd.DataFrame(
            {
                key: subset["group"].astype(str),
                "n": subset["n"],
                "both yes": subset["client_yes_counselor_yes"],
                "client only": subset["client_yes_counselor_no"],
                "counselor only": subset["client_no_counselor_yes"],
                "both no": subset["client_no_counselor_no"],
                **{label: [with_ci(r, name) for _, r in subset.iterrows()]
                   for name, label in BINARY_SHOWN.items()},
            }
        )  # fmt: skip
        show_table(shown, f"{item_id} by {key}: client vs counselor yes/no ({interval})")
        _notes(subset, lambda row: f"{row['item_id']}, {key} {row['group']}")
    typer.echo(
        f"{len(sessions)} group(s) by {key!r}; {result.left_out} session(s) without "
        f"{key!r} left out"
    )


def grouped_json(result: GroupedAlignment) -> dict[str, Any]:
    from annotate.analysis._data import records

    return {
        "key": result.key,
        "bootstrap_samples": result.samples,
        "seed": result.seed,
        "groups": records(result.groups),
        "sessions_left_out": result.left_out,
        "dimensions": records(result.dimensions),
        "binary": records(result.binary),
    }
