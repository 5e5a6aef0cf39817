"""Automatic rationale metrics, as the published study reported them: BLEU, ROUGE-1, ROUGE-L.

Each model rationale is compared with the accepted expert rationale of the same
(session, item). BLEU is sacrebleu's corpus BLEU with its ``zh`` tokenizer for Chinese
sessions (``char`` for other unspaced scripts, ``13a`` otherwise); a group mixing
languages sums each sentence's n-gram statistics, computed with its own tokenizer, the
way corpus BLEU sums them. ROUGE-1 and ROUGE-L are rouge-score's F1, averaged over the
group, on words (lower-cased, any script) for spaced languages and on characters for
Chinese and other unspaced text (a Latin word inside Chinese text stays one token).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

UNSPACED = {"zh", "ja", "th", "lo", "km", "my", "bo"}  # ISO 639-1 codes written without spaces
_UNSPACED_CHARS = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\U00020000-\U0002ffff"
)
_CHARACTER_TOKENS = re.compile(rf"[{_UNSPACED_CHARS}]|[^\W{_UNSPACED_CHARS}]+")
_WORD_TOKENS = re.compile(r"\w+")
TOKENIZATION = {
    "rouge_spaced": "words (lower-cased, any script)",
    "rouge_unspaced": "characters (Latin words inside stay whole)",
    "bleu": "sacrebleu: zh for Chinese, char for other unspaced scripts, 13a otherwise",
}


def is_unspaced(language: str | None) -> bool:
    """Whether LANGUAGE (a BCP 47 tag such as ``zh-CN``) is written without spaces."""
    return (language or "").split("-")[0].split("_")[0].lower() in UNSPACED


def bleu_tokenizer(language: str | None) -> str:
    primary = (language or "").split("-")[0].split("_")[0].lower()
    if primary == "zh":
        return "zh"
    return "char" if primary in UNSPACED else "13a"


class RougeTokens:
    """rouge-score's tokenizer interface: words, or characters for unspaced text."""

    def __init__(self, unspaced: bool) -> None:
        self.pattern = _CHARACTER_TOKENS if unspaced else _WORD_TOKENS

    def tokenize(self, text: str) -> list[str]:
        return self.pattern.findall(text.lower())


@dataclass(frozen=True)
class Pair:
    """One model rationale and the expert reference for its (session, item)."""

    session_id: str
    item_id: str
    dimension: str
    language: str | None
    prediction: str
    reference: str


@dataclass(frozen=True)
class _Scored:
    pair: Pair
    bleu_stats: tuple[int, ...]  # sacrebleu's per-sentence sufficient statistics
    rouge1: float
    rouge_l: float


def _bleu(tokenize: str) -> Any:
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=tokenize)


def score_pairs(pairs: Sequence[Pair]) -> list[_Scored]:
    """Each pair's BLEU statistics and ROUGE F1 (computed once; groups add them up)."""
    from rouge_score import rouge_scorer

    scorers = {
        unspaced: rouge_scorer.RougeScorer(["rouge1", "rougeL"], tokenizer=RougeTokens(unspaced))
        for unspaced in (False, True)
    }
    by_tokenizer: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        by_tokenizer.setdefault(bleu_tokenizer(pair.language), []).append(index)
    stats: dict[int, tuple[int, ...]] = {}
    for tokenize, indexes in by_tokenizer.items():
        rows = _bleu(tokenize)._extract_corpus_statistics(
            [pairs[i].prediction for i in indexes], [[pairs[i].reference for i in indexes]]
        )
        stats.update({i: tuple(int(v) for v in row) for i, row in zip(indexes, rows, strict=True)})
    scored = []
    for index, pair in enumerate(pairs):
        rouge = scorers[is_unspaced(pair.language)].score(pair.reference, pair.prediction)
        scored.append(
            _Scored(pair, stats[index], rouge["rouge1"].fmeasure, rouge["rougeL"].fmeasure)
        )
    return scored


def _round(value: float) -> float:
    return round(value, 6)


def group_metrics(scored: Iterable[_Scored]) -> dict[str, Any]:
    """Corpus BLEU and mean ROUGE-1 / ROUGE-L F1 of a group (None when it is empty)."""
    members = list(scored)
    if not members:
        return {"n": 0, "bleu": None, "rouge1": None, "rougeL": None}
    totals = [sum(column) for column in zip(*(m.bleu_stats for m in members), strict=True)]
    bleu = _bleu("13a")._compute_score_from_stats(totals).score  # tokenizer not used here
    return {
        "n": len(members),
        "bleu": _round(bleu),
        "rouge1": _round(math.fsum(m.rouge1 for m in members) / len(members)),
        "rougeL": _round(math.fsum(m.rouge_l for m in members) / len(members)),
    }


def by_dimension(scored: Sequence[_Scored], dimensions: Sequence[str]) -> dict[str, Any]:
    """Metrics per dimension, and ``all`` over every pair."""
    table = {d: group_metrics(s for s in scored if s.pair.dimension == d) for d in dimensions}
    table["all"] = group_metrics(scored)
    return table
