"""Predicted ratings of binary items (the rupture question) as yes/no against the client.

A predicted rating is "yes" when it is above the item's ``binary_above``, like the
client's and the counselor's (``annotate.analysis.binary.is_yes``). Against the client's
report, per item: precision, recall and F1 of each class and their mean (macro-F1),
for the predictions, for the counselor's own report (the human baseline, sessions the
counselor rated) and for the majority-class baseline: always the more frequent answer
among the evaluated sessions' client reports (a tie counts as "no"). With folds, each
fold is scored on its own and summarised as mean and SD over the folds where a figure is
defined; a fold's baseline takes the majority of the evaluated sessions in the *other*
folds (its training side), never of the fold's own reports, which would leak the labels
it is scored on (leaving one client out, a client who never reported a rupture would
get a perfect baseline).
"""

from __future__ import annotations

import statistics
from typing import Any

from annotate.analysis.binary import NO, YES, classification, is_yes, majority_class

ROWS = (
    ("counselor", "Counselor (human baseline)"),
    ("model", "Predictions"),
    ("majority", "Majority class"),
)
CLASS_FIGURES = ("precision", "recall", "f1")
MAJORITY_RULE = (
    "always the more frequent answer among the evaluated sessions' client reports; with "
    "--folds-from, per fold among the evaluated sessions of the other folds (its training "
    "side); a tie counts as no"
)


def _summary(values: list[float]) -> dict[str, float | int | None]:
    """Mean and SD over the folds that gave a value, and how many did."""
    if not values:
        return {"mean": None, "sd": None, "folds": 0}
    mean = round(statistics.fmean(values), 6)
    sd = round(statistics.stdev(values), 6) if len(values) > 1 else None
    return {"mean": mean, "sd": sd, "folds": len(values)}


def _rounded(metrics: dict[str, Any]) -> dict[str, Any]:
    out = dict(metrics)
    for name in (NO, YES):
        out[name] = {
            key: (round(value, 6) if isinstance(value, float) else value)
            for key, value in metrics[name].items()
        }
    if isinstance(out["macro_f1"], float):
        out["macro_f1"] = round(out["macro_f1"], 6)
    return out


def _score(
    sessions: list[str],
    item_id: str,
    binary_above: int,
    predictions: dict[tuple[str, str], float],
    client: dict[tuple[str, str], int],
    counselor: dict[tuple[str, str], int],
    majority: str | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The sessions' client reports and each row's metrics; the baseline predicts
    ``majority``, by default the majority of these sessions' reports."""
    evaluated = [s for s in sessions if (s, item_id) in predictions]
    truth = [is_yes(client[(s, item_id)], binary_above) for s in evaluated]
    majority = majority_class(truth) if majority is None else majority
    rated = [s for s in evaluated if (s, item_id) in counselor]
    reports = {
        "sessions": len(evaluated),
        "client_reports": {NO: truth.count(False), YES: truth.count(True)},
        "majority_class": majority,
    }
    rows = {
        "counselor": classification(
            [is_yes(client[(s, item_id)], binary_above) for s in rated],
            [is_yes(counselor[(s, item_id)], binary_above) for s in rated],
        ),
        "model": classification(
            truth, [is_yes(predictions[(s, item_id)], binary_above) for s in evaluated]
        ),
        "majority": classification(truth, [majority == YES] * len(truth)),
    }
    return reports, {name: _rounded(metrics) for name, metrics in rows.items()}


def _fold_summary(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    def values(pick: Any) -> list[float]:
        return [v for metrics in per_fold if (v := pick(metrics)) is not None]

    summary: dict[str, Any] = {"macro_f1": _summary(values(lambda m: m["macro_f1"]))}
    for name in (NO, YES):
        summary[name] = {
            figure: _summary(values(lambda m, n=name, f=figure: m[n][f]))
            for figure in CLASS_FIGURES
        }
    return summary


def binary_section(
    binary_above: dict[str, int],
    predictions: dict[tuple[str, str], float],
    client: dict[tuple[str, str], int],
    counselor: dict[tuple[str, str], int],
    sessions: list[str],
    fold_members: dict[int, set[str]] | None,
) -> list[dict[str, Any]] | None:
    """One entry per binary item with predictions (see the README's JSON shape), or None."""
    predicted_items = {item_id for _, item_id in predictions}
    items = [item_id for item_id in binary_above if item_id in predicted_items]
    if not items:
        return None
    section = []
    for item_id in items:
        threshold = binary_above[item_id]
        reports, overall = _score(sessions, item_id, threshold, predictions, client, counselor)
        entry: dict[str, Any] = {
            "item_id": item_id,
            "binary_above": threshold,
            "yes": f"rating above {threshold}",
            "reference": "the client's report",
            **reports,
            "majority_rule": MAJORITY_RULE,
            "rows": [
                {"name": name, "label": label, "overall": overall[name]} for name, label in ROWS
            ],
        }
        if fold_members is not None:
            folds = []
            for fold, members in sorted(fold_members.items()):
                subset = [s for s in sessions if s in members]
                training = [
                    is_yes(client[(s, item_id)], threshold)
                    for other, others in fold_members.items()
                    if other != fold
                    for s in sessions
                    if s in others and (s, item_id) in predictions
                ]
                fold_reports, metrics = _score(
                    subset, item_id, threshold, predictions, client, counselor,
                    majority_class(training),
                )  # fmt: skip
                folds.append({"fold": fold, **fold_reports, "metrics": metrics})
            entry["folds"] = [{k: v for k, v in f.items() if k != "metrics"} for f in folds]
            for row in entry["rows"]:
                per_fold = [f["metrics"][row["name"]] for f in folds]
                row["folds"] = [
                    {"fold": f["fold"], "metrics": m} for f, m in zip(folds, per_fold, strict=True)
                ]
                row["fold_summary"] = _fold_summary(per_fold)
        section.append(entry)
    return section
