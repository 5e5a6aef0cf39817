"""Evaluate a model's predicted ratings against the clients' own, per alliance dimension.

A dimension score is the mean of its items. For each session the predicted score
is the mean of the predicted items of the dimension and the client's score the
mean of the client's ratings of the same items, so a partial prediction file is
compared like with like. The counselor's own ratings of the same sessions form the
human baseline row (items both the counselor and the client rated). Pearson,
Spearman (Pearson on average ranks) and MSE are computed here in plain Python;
the tests check them against scipy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from annotate.core.errors import ConfigError
from annotate.ingest.predictions import (
    MAX_ERRORS,
    Key,
    PredictionsInvalid,
    PredictionTargets,
    load_targets,
    read_predictions,
)
from annotate.ingest.readers import show
from store.db import reader
from store.tables import RATINGS, SESSIONS

ROWS = (("counselor", "Counselor (human baseline)"), ("model", "Predictions"))
METRICS = ("pearson", "spearman", "mse")


def _varies(values: list[float]) -> bool:
    return len(set(values)) > 1


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r (scipy), or None when fewer than two pairs or either side is constant."""
    if len(xs) < 2 or not (_varies(xs) and _varies(ys)):
        return None
    from scipy import stats

    return float(stats.pearsonr(xs, ys).statistic)


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rho (scipy; ties share their mean rank), or None as for :func:`pearson`."""
    if len(xs) < 2 or not (_varies(xs) and _varies(ys)):
        return None
    from scipy import stats

    return float(stats.spearmanr(xs, ys).statistic)


def mse(xs: list[float], ys: list[float]) -> float | None:
    """Mean squared error, or None without pairs."""
    if not xs:
        return None
    import numpy as np

    return float(np.mean((np.asarray(xs, dtype=float) - np.asarray(ys, dtype=float)) ** 2))


def metrics(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """n, Pearson, Spearman and MSE of (estimate, client score) pairs."""
    estimates = [estimate for estimate, _ in pairs]
    truths = [truth for _, truth in pairs]
    return {
        "n": len(pairs),
        "pearson": _round(pearson(estimates, truths)),
        "spearman": _round(spearman(estimates, truths)),
        "mse": _round(mse(estimates, truths)),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _mean_sd(values: list[float]) -> dict[str, float | None]:
    """Mean and SD over the folds that gave a value, and how many did (a fold of one
    session, common when leaving one client out, gives no r)."""
    if not values:
        return {"mean": None, "sd": None, "folds": 0}
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return {"mean": _round(mean), "sd": None, "folds": 1}
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return {"mean": _round(mean), "sd": _round(math.sqrt(variance)), "folds": len(values)}


def _ratings(
    engine: Engine, session_ids: Iterable[str], items: set[str]
) -> dict[str, dict[tuple[str, str], int]]:
    """{role: {(session, item): value}} for the given sessions, read in chunks."""
    found: dict[str, dict[tuple[str, str], int]] = {"client": {}, "counselor": {}}
    ordered = sorted(session_ids)
    with reader(engine).connect() as connection:
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            rows = connection.execute(
                select(
                    RATINGS.c.session_id,
                    RATINGS.c.item_id,
                    RATINGS.c.rater_role,
                    RATINGS.c.value,
                ).where(RATINGS.c.session_id.in_(chunk))
            )
            for session_id, item_id, role, value in rows:
                if role in found and item_id in items:
                    found[role][(session_id, item_id)] = value
    return found


def _session_pairs(
    sessions: list[str],
    by_session: dict[str, dict[str, float]],
    truth: dict[tuple[str, str], int],
    store: PredictionTargets,
) -> dict[str, list[tuple[float, float]]]:
    """Per dimension, (estimated dimension score, client dimension score) per session."""
    pairs: dict[str, list[tuple[float, float]]] = {d: [] for d in store.dimensions}
    for session_id in sessions:
        estimates = by_session.get(session_id, {})
        for dimension in store.dimensions:
            items = [
                item
                for item in estimates
                if store.dimension_of[item] == dimension and (session_id, item) in truth
            ]
            if not items:
                continue
            estimate = math.fsum(estimates[item] for item in items) / len(items)
            client = math.fsum(truth[(session_id, item)] for item in items) / len(items)
            pairs[dimension].append((estimate, client))
    return pairs


def _fold_sessions(folds_dir: Path) -> dict[int, set[str]]:
    """The validation sessions of each fold of an export (K folds or one per client)."""
    path = folds_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        folds = {
            int(entry["fold"]): set(entry["val"]["session_ids"]) for entry in manifest["fold_table"]
        }
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (is {folds_dir} an export?)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ConfigError(f"{path}: not an annotate export manifest") from None
    if not folds:
        raise ConfigError(f"{path}: the export has no folds (export with --folds K or loco)")
    home: dict[str, int] = {}
    for fold, members in sorted(folds.items()):
        for session_id in sorted(members):
            if home.setdefault(session_id, fold) != fold:
                raise ConfigError(
                    f"{path}: session {session_id!r} is in the validation files of folds "
                    f"{home[session_id]} and {fold}; not a fold table"
                )
    return folds


def evaluate(
    engine: Engine,
    predictions_path: Path,
    folds_dir: Path | None = None,
    instrument_id: str = "wai-sr",
    bertscore_model: Path | None = None,
) -> dict[str, Any]:
    """The evaluation table (see the README's JSON shape for ``annotate evaluate``)."""
    from annotate.analysis.evaluate_binary import binary_section

    store = load_targets(engine, instrument_id)
    predictions, lines, rationales = read_predictions(predictions_path, store)
    sessions = sorted({session_id for session_id, _ in predictions})
    ratings = _ratings(engine, sessions, set(store.dimension_of))
    client, counselor = ratings["client"], ratings["counselor"]
    missing = sorted((lines[key], key) for key in predictions if key not in client)
    if missing:
        raise PredictionsInvalid(
            str(predictions_path),
            [
                f"{predictions_path}:{line}: no client rating of session {show(s)} item {show(i)}"
                for line, (s, i) in missing[:MAX_ERRORS]
            ],
            max(0, len(missing) - MAX_ERRORS),
        )
    model_by_session: dict[str, dict[str, float]] = {}
    for (session_id, item_id), value in predictions.items():
        model_by_session.setdefault(session_id, {})[item_id] = value
    counselor_by_session: dict[str, dict[str, float]] = {}
    for (session_id, item_id), value in counselor.items():
        counselor_by_session.setdefault(session_id, {})[item_id] = float(value)
    estimates = {"counselor": counselor_by_session, "model": model_by_session}

    def table(subset: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        return {
            name: {
                dimension: metrics(pairs)
                for dimension, pairs in _session_pairs(
                    subset, estimates[name], client, store
                ).items()
            }
            for name, _ in ROWS
        }

    overall = table(sessions)
    fold_tables: dict[int, dict[str, dict[str, dict[str, Any]]]] = {}
    outside: list[str] = []
    fold_sessions: dict[int, set[str]] | None = None
    if folds_dir is not None:
        fold_sessions = _fold_sessions(folds_dir)
        in_any = set().union(*fold_sessions.values()) if fold_sessions else set()
        outside = [session_id for session_id in sessions if session_id not in in_any]
        if sessions and len(outside) == len(sessions):
            raise ConfigError(
                f"--folds-from {folds_dir}: none of the {len(sessions)} predicted sessions is "
                f"in its {len(fold_sessions)} folds (they hold {len(in_any)} other sessions); "
                "evaluate without --folds-from, or predict the sessions of that export"
            )
        for fold, members in sorted(fold_sessions.items()):
            fold_tables[fold] = table([s for s in sessions if s in members])
    rows = []
    for name, label in ROWS:
        row: dict[str, Any] = {"name": name, "label": label, "overall": overall[name]}
        if folds_dir is not None:
            row["folds"] = [
                {"fold": fold, "metrics": tables[name]} for fold, tables in fold_tables.items()
            ]
            row["fold_summary"] = {
                dimension: {
                    metric: _mean_sd(
                        [
                            value
                            for tables in fold_tables.values()
                            if (value := tables[name][dimension][metric]) is not None
                        ]
                    )
                    for metric in METRICS
                }
                for dimension in store.dimensions
            }
        rows.append(row)
    return {
        "predictions": {
            "file": str(predictions_path),
            "records": len(predictions),
            "sessions": len(sessions),
            "with_rationale": len(rationales),
        },
        "instrument": instrument_id,
        "dimensions": store.dimensions,
        "folds_from": str(folds_dir) if folds_dir is not None else None,
        "folds": len(fold_tables) or None,
        "sessions_in_folds": len(sessions) - len(outside) if folds_dir is not None else None,
        "sessions_outside_folds": len(outside),
        "rows": rows,
        "rationales": _rationale_section(engine, rationales, store, fold_sessions, bertscore_model),
        "binary": binary_section(
            store.binary_above, predictions, client, counselor, sessions, fold_sessions
        ),
    }


def _references(engine: Engine, keys: Iterable[Key]) -> tuple[dict[Key, str], dict[str, str]]:
    """The accepted expert text of each (session, item) that has one, and session languages.

    The text is the lifecycle's current text (``lifecycle.versions.current_texts``), the
    one export writes; it is not looked up here again.
    """
    from sqlmodel import Session

    from annotate.core import workflow
    from annotate.work.rationales.versions import current_texts
    from store.tables import RATIONALES

    session_ids = sorted({session_id for session_id, _ in keys})
    references: dict[Key, str] = {}
    languages: dict[str, str] = {}
    with Session(reader(engine)) as session:
        for start in range(0, len(session_ids), 500):
            chunk = session_ids[start : start + 500]
            accepted = {
                rationale_id: (session_id, item_id)
                for rationale_id, session_id, item_id in session.execute(
                    select(RATIONALES.c.id, RATIONALES.c.session_id, RATIONALES.c.item_id)
                    .where(RATIONALES.c.session_id.in_(chunk))
                    .where(RATIONALES.c.status == workflow.ACCEPTED)
                )
            }
            texts = current_texts(session, list(accepted))
            references.update({accepted[rid]: text for rid, text in texts.items()})
            language_rows = session.execute(
                select(SESSIONS.c.id, SESSIONS.c.language).where(SESSIONS.c.id.in_(chunk))
            )
            languages.update({session_id: language for session_id, language in language_rows})
    return references, languages


def _rationale_section(
    engine: Engine,
    rationales: dict[Key, str],
    store: PredictionTargets,
    fold_members: dict[int, set[str]] | None,
    bertscore_model: Path | None = None,
) -> dict[str, Any] | None:
    """BLEU and ROUGE of the predicted rationales against the accepted expert ones."""
    if not rationales:
        return None
    from annotate.analysis.rationale_metrics import (
        TOKENIZATION,
        Pair,
        by_dimension,
        score_pairs,
        tokenizers_used,
    )

    references, languages = _references(engine, rationales)
    pairs = [
        Pair(s, i, store.dimension_of[i], languages.get(s), text, references[(s, i)])
        for (s, i), text in sorted(rationales.items())
        if (s, i) in references
    ]
    unmatched = [key for key in rationales if key not in references]
    scored = score_pairs(pairs, bertscore_model)
    section: dict[str, Any] = {
        "records": len(rationales),
        "scored": len(pairs),
        "without_reference": len(unmatched),
        "without_reference_by_dimension": {
            d: sum(1 for _, i in unmatched if store.dimension_of[i] == d) for d in store.dimensions
        },
        "reference": "the accepted expert rationale (its current version) of the same item",
        "tokenization": TOKENIZATION,
        "rouge_tokenizers": tokenizers_used(pairs),
        "languages": sorted({languages.get(p.session_id) or "unknown" for p in pairs}),
        "overall": by_dimension(scored, store.dimensions),
        "bertscore": (
            {"model": str(bertscore_model), "measure": "F1, mean over rationales"}
            if bertscore_model
            else None
        ),
        "bertscore_note": (
            None
            if bertscore_model
            else "not computed: give --bertscore-model DIR (a local model; "
            "pip install 'annotate[bertscore]')"
        ),
    }
    measured = ["bleu", "rouge1", "rougeL", *(["bertscore_f1"] if bertscore_model else [])]
    if fold_members is not None:
        folds = {
            fold: by_dimension(
                [x for x in scored if x.pair.session_id in members], store.dimensions
            )  # fmt: skip
            for fold, members in sorted(fold_members.items())
        }
        section["folds"] = [{"fold": fold, "metrics": table} for fold, table in folds.items()]
        section["fold_summary"] = {
            group: {
                metric: _mean_sd(
                    [v for table in folds.values() if (v := table[group].get(metric)) is not None]
                )
                for metric in measured
            }
            for group in [*store.dimensions, "all"]
        }
    return section
