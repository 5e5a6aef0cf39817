"""Text view of ``annotate evaluate``'s binary items (precision, recall, F1, macro-F1)."""

from __future__ import annotations

from typing import Any

from cli.commands._common import estimate_cell

COLUMNS = (("no", "precision", "no P"), ("no", "recall", "no R"), ("no", "f1", "no F1"),
           ("yes", "precision", "yes P"), ("yes", "recall", "yes R"), ("yes", "f1", "yes F1"),
           (None, "macro_f1", "macro-F1"))  # fmt: skip


def _label(entry: dict[str, Any], row: dict[str, Any], folded: bool) -> str:
    if row["name"] != "majority":
        return str(row["label"])
    return f"{row['label']} ({'per fold' if folded else entry['majority_class']})"


def format_binary_tables(result: dict[str, Any]) -> list[str]:
    """One table per binary item: a row per rater, per-class P / R / F1 and macro-F1."""
    folded = result["folds"] is not None
    width = 11 if folded else 8
    lines: list[str] = []
    for entry in result["binary"]:
        labels = [_label(entry, row, folded) for row in entry["rows"]]
        label_width = max(len(label) for label in labels) + 2
        head = "" if folded else f"{'n':<5}"
        lines.append(f"{entry['item_id']}, against {entry['reference']} (yes: {entry['yes']})")
        lines.append(
            " " * label_width + head + "".join(f"{name:<{width}}" for *_, name in COLUMNS).rstrip()
        )
        for label, row in zip(labels, entry["rows"], strict=True):
            cells = []
            for klass, figure, _ in COLUMNS:
                if folded:
                    summary = row["fold_summary"]
                    stat = summary[figure] if klass is None else summary[klass][figure]
                    cells.append(f"{estimate_cell(stat['mean'], stat['sd']):<{width}}")
                else:
                    metrics = row["overall"]
                    value = metrics[figure] if klass is None else metrics[klass][figure]
                    cells.append(f"{estimate_cell(value):<{width}}")
            n = "" if folded else f"{row['overall']['n']:<5}"
            lines.append(f"{label:<{label_width}}{n}" + "".join(cells).rstrip())
        reports = entry["client_reports"]
        note = (
            f"client reports over {entry['sessions']} sessions: {reports['no']} no, "
            f"{reports['yes']} yes; majority class {entry['majority_class']}"
        )
        if folded:
            classes = [f["majority_class"] for f in entry["folds"]]
            majority = ", ".join(f"{c} in {classes.count(c)}" for c in dict.fromkeys(classes))
            note = f"mean±SD over {result['folds']} folds; majority class: {majority} fold(s)"
            used = [
                stat["folds"]
                for row in entry["rows"]
                for stat in [row["fold_summary"]["macro_f1"]]
                + [row["fold_summary"][k][f] for k in ("no", "yes") for f in ("precision",
                                                                               "recall", "f1")]
            ]  # fmt: skip
            if min(used) < result["folds"]:
                note += (
                    f"; a cell is over the folds that give it ({min(used)} to {max(used)} of "
                    f"{result['folds']}): a fold with one class has no macro-F1"
                )
        lines.append(note)
        lines.append("majority class: " + entry["majority_rule"])
        for row in entry["rows"]:
            if row["overall"]["note"]:
                lines.append(f"{row['label']}: {row['overall']['note']}")
    return lines
