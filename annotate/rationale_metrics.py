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
from pathlib import Path
from typing import Any

from annotate.errors import ConfigError

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
    bertscore: float | None = None  # F1, with --bertscore-model


def bertscore_f1(pairs: Sequence[Pair], model_dir: Path) -> list[float]:
    """BERTScore F1 of each pair with the local model in MODEL_DIR (nothing is downloaded).

    The ``bert-score`` package (``pip install 'annotate[bertscore]'``, which brings
    torch) embeds with the model's own tokenizer, so any language the model knows works;
    the layer used is the model's last, since a local model has no entry in bert-score's
    table of tuned layers.
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from bert_score import score
        from transformers import AutoConfig
    except ImportError:
        raise ConfigError(
            "--bertscore-model needs the bertscore extra: pip install 'annotate[bertscore]'"
        ) from None
    if not (model_dir / "config.json").is_file():
        raise ConfigError(f"{model_dir}: not a model directory (no config.json)")
    layers = AutoConfig.from_pretrained(str(model_dir)).num_hidden_layers
    _, _, f1 = score(
        [pair.prediction for pair in pairs],
        [pair.reference for pair in pairs],
        model_type=str(model_dir),
        num_layers=layers,
        batch_size=32,
        verbose=False,
    )
    return [float(value) for value in f1.tolist()]


def _bleu(tokenize: str) -> Any:
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=tokenize)


def score_pairs(pairs: Sequence[Pair], bertscore_model: Path | None = None) -> list[_Scored]:
    """Each pair's BLEU statistics, ROUGE F1 and, with a model, BERTScore F1 (computed
    once; groups add them up)."""
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
    bert = bertscore_f1(pairs, bertscore_model) if bertscore_model and pairs else None
    scored = []
    for index, pair in enumerate(pairs):
        rouge = scorers[is_unspaced(pair.language)].score(pair.reference, pair.prediction)
        scored.append(
            _Scored(
                pair,
                stats[index],
                rouge["rouge1"].fmeasure,
                rouge["rougeL"].fmeasure,
                bert[index] if bert is not None else None,
            )  # fmt: skip
        )
    return scored


def _round(value: float) -> float:
    return round(value, 6)


def group_metrics(scored: Iterable[_Scored]) -> dict[str, Any]:
    """Corpus BLEU and mean ROUGE-1 / ROUGE-L F1 of a group (None when it is empty)."""
    members = list(scored)
    with_bert = any(m.bertscore is not None for m in members)
    if not members:
        empty: dict[str, Any] = {"n": 0, "bleu": None, "rouge1": None, "rougeL": None}
        return empty
    totals = [sum(column) for column in zip(*(m.bleu_stats for m in members), strict=True)]
    bleu = _bleu("13a")._compute_score_from_stats(totals).score  # tokenizer not used here
    figures: dict[str, Any] = {
        "n": len(members),
        "bleu": _round(bleu),
        "rouge1": _round(math.fsum(m.rouge1 for m in members) / len(members)),
        "rougeL": _round(math.fsum(m.rouge_l for m in members) / len(members)),
    }
    if with_bert:
        values = [m.bertscore for m in members if m.bertscore is not None]
        figures["bertscore_f1"] = _round(math.fsum(values) / len(values))
    return figures


def by_dimension(scored: Sequence[_Scored], dimensions: Sequence[str]) -> dict[str, Any]:
    """Metrics per dimension, and ``all`` over every pair."""
    table = {d: group_metrics(s for s in scored if s.pair.dimension == d) for d in dimensions}
    table["all"] = group_metrics(scored)
    return table
