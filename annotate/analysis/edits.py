"""From draft to final text: how much experts kept, changed and wrote.

Only accepted rationales have a final text: the text of their current version. A
rationale whose ``draft_id`` (the draft that text began from) is empty (imported, or
written from an empty editor) or names a draft without text has nothing to compare
and is counted under ``no_draft``. Texts are compared after Unicode NFC normalisation
and trimming the surrounding whitespace; lengths count characters (code points), so
Chinese and English are measured alike.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from annotate.analysis._data import dimension_order, rationales, sort_by_dimension
from annotate.analysis.textdistance import normalised_distance
from annotate.core.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

ALL = "all"
COLUMNS = [
    "accepted",
    "with_draft",
    "no_draft",
    "unchanged",
    "unchanged_share",
    "edit_distance_mean",
    "draft_length_mean",
    "final_length_mean",
    "final_length_sd",
]


def _clean(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def draft_edits(engine: Engine) -> pd.DataFrame:
    """One row per accepted rationale: rationale_id, session_id, item_id, dimension,
    annotator, has_draft, unchanged, edit_distance, draft_length, final_length."""
    frame = rationales(engine)
    frame = frame[frame["final_text"].notna()].copy()
    final = [_clean(text) for text in frame["final_text"]]
    draft = [_clean(text) if isinstance(text, str) else None for text in frame["draft_text"]]
    frame["annotator"] = frame["author_id"]
    frame["has_draft"] = [text is not None for text in draft]
    frame["final_length"] = [len(text) for text in final]
    frame["draft_length"] = [None if d is None else len(d) for d in draft]
    pairs = list(zip(draft, final, strict=True))
    frame["unchanged"] = [None if d is None else d == f for d, f in pairs]
    frame["edit_distance"] = [None if d is None else normalised_distance(d, f) for d, f in pairs]
    columns = ["rationale_id", "session_id", "item_id", "dimension", "annotator", "has_draft",
               "unchanged", "edit_distance", "draft_length", "final_length"]  # fmt: skip
    return frame[columns].reset_index(drop=True)


def _summary(rows: pd.DataFrame) -> dict[str, float | int | None]:
    drafted = rows[rows["has_draft"].astype(bool)]
    unchanged = int(drafted["unchanged"].astype(bool).sum())

    def mean(series: pd.Series) -> float | None:
        return float(series.astype(float).mean()) if len(series) else None

    return {
        "accepted": len(rows),
        "with_draft": len(drafted),
        "no_draft": len(rows) - len(drafted),
        "unchanged": unchanged,
        "unchanged_share": unchanged / len(drafted) if len(drafted) else None,
        "edit_distance_mean": mean(drafted["edit_distance"]),
        "draft_length_mean": mean(drafted["draft_length"]),
        "final_length_mean": mean(rows["final_length"]),
        "final_length_sd": float(rows["final_length"].std()) if len(rows) > 1 else None,
    }


def edit_stats(engine: Engine, by: str = "dimension") -> pd.DataFrame:
    """Draft-to-final figures per ``dimension`` or ``annotator``, with an ``all`` row last.

    Columns: the group column, accepted, with_draft, no_draft, unchanged,
    unchanged_share (of with_draft), edit_distance_mean (normalised, over with_draft),
    draft_length_mean, final_length_mean, final_length_sd (characters).
    """
    import pandas as pd

    if by not in ("dimension", "annotator"):
        raise ConfigError(f"cannot group drafts by {by!r}: use dimension or annotator")
    edits = draft_edits(engine)
    rows = [{by: key, **_summary(group)} for key, group in edits.groupby(by, sort=True)]
    table = pd.DataFrame(rows, columns=[by, *COLUMNS])
    if by == "dimension":
        table = sort_by_dimension(table, dimension_order(engine))
    total = pd.DataFrame([{by: ALL, **_summary(edits)}], columns=[by, *COLUMNS])
    return pd.concat([table, total], ignore_index=True) if len(table) else total


MIN_PAIRS = 5  # items below which no correlation is reported
SIGNIFICANT_P = 0.05
PAIRING = (
    "each accepted rationale begun from a draft whose item has an uncertainty (its current "
    "draft_samples row, annotate draft --samples): that uncertainty against the normalised "
    "edit distance from the draft it began from to its accepted text"
)


def uncertainty_pairs(engine: Engine) -> list[tuple[str, str, float, float]]:
    """(session_id, item_id, uncertainty, edit_distance) of every item measured both ways."""
    from annotate.work.rationales.samples import current_uncertainty
    from store.db import reader, session_scope

    edits = draft_edits(engine)
    with session_scope(reader(engine)) as session:
        doubt = current_uncertainty(session)
    rows = zip(edits["session_id"], edits["item_id"], edits["has_draft"], edits["edit_distance"],
               strict=True)  # fmt: skip
    return [(s, i, doubt[(s, i)], float(d)) for s, i, has, d in rows
            if has and (s, i) in doubt]  # fmt: skip


def uncertainty_and_edits(engine: Engine) -> dict[str, Any]:
    """Whether the model's uncertainty predicts the experts' edits: Spearman's rho and
    Pearson's r (scipy.stats, two-sided p) over ``uncertainty_pairs``, n, and a sentence
    saying what they show (None figures below MIN_PAIRS items, or when either side does
    not vary)."""
    pairs = uncertainty_pairs(engine)
    result: dict[str, Any] = {"n": len(pairs), "spearman_rho": None, "spearman_p": None,
                              "pearson_r": None, "pearson_p": None, "pairing": PAIRING}  # fmt: skip
    doubts, distances = [p[2] for p in pairs], [p[3] for p in pairs]
    if len(pairs) < MIN_PAIRS:
        result["sentence"] = (
            f"Too few items to tell whether the model's uncertainty predicts the experts' "
            f"edits: {len(pairs)} item(s) have both an uncertainty (draft --samples) and an "
            f"accepted text begun from a draft; {MIN_PAIRS} are needed."
        )
        return result
    if len(set(doubts)) < 2 or len(set(distances)) < 2:
        same = "uncertainty" if len(set(doubts)) < 2 else "edit distance"
        result["sentence"] = (f"No relation can be measured: every one of the {len(pairs)} "
                              f"items has the same {same}.")  # fmt: skip
        return result
    from scipy import stats

    spearman, pearson = stats.spearmanr(doubts, distances), stats.pearsonr(doubts, distances)
    rho, p = float(spearman.statistic), float(spearman.pvalue)
    result.update(spearman_rho=rho, spearman_p=p, pearson_r=float(pearson.statistic),
                  pearson_p=float(pearson.pvalue))  # fmt: skip
    figures = f"(Spearman ρ {rho:.2f}, p {p:.2g}, n {len(pairs)})"
    if p < SIGNIFICANT_P:
        more = "more" if rho > 0 else "less"
        result["sentence"] = f"Where the model was less sure, experts changed {more} {figures}."
    else:
        result["sentence"] = (
            f"No relation found between the model's uncertainty and the experts' edits {figures}."
        )
    return result
