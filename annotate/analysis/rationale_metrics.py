"""Automatic rationale metrics, as the published study reported them: BLEU, ROUGE-1, ROUGE-L.

Each model rationale is compared with the accepted expert rationale of the same
(session, item). BLEU is sacrebleu's corpus BLEU with its ``zh`` tokenizer for Chinese
sessions (``char`` for other unspaced scripts, ``13a`` otherwise); a group mixing
languages sums each sentence's n-gram statistics, computed with its own tokenizer, the
way corpus BLEU sums them. ROUGE-1 and ROUGE-L are rouge-score's F1, averaged over the
group, without stemming (rouge-score's default). The tokenizer follows the session's
language (``rouge_tokenizer``): English is scored by rouge-score's own ``RougeScorer``
with its default tokenizer, so the figures are rouge-score's; other spaced languages,
and sessions without a language, on Unicode words (the same rule in any script, so on
ASCII text it gives rouge-score's tokens); Chinese and other unspaced text on
characters (a Latin word inside Chinese text stays one token).
"""

from __future__ import annotations

import functools
import math
import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotate.core.errors import ConfigError

UNSPACED = {"zh", "ja", "th", "lo", "km", "my", "bo"}  # ISO 639-1 codes written without spaces
_UNSPACED_CHARS = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\U00020000-\U0002ffff"
)
_CHARACTER_TOKENS = re.compile(rf"[{_UNSPACED_CHARS}]|[^\W{_UNSPACED_CHARS}]+")
USE_STEMMER = False  # rouge-score's default; the README says so
ROUGE_TOKENIZERS = {
    "rouge-score": "rouge-score's own default tokenizer (RougeScorer(['rouge1', 'rougeL'])): "
    "lower-cased runs of a-z and 0-9, anything else separates (don't: don, t; goal_1: "
    "goal, 1; letters outside a-z are dropped); for English sessions (language en)",
    "unicode-words": "lower-cased runs of letters, combining marks and digits in any script "
    "(NFC; punctuation and _ separate, so ASCII text gets rouge-score's tokens); for other "
    "spaced languages and sessions without a language",
    "characters": "each CJK or kana character, a run of other letters and digits whole (a "
    "Latin word inside stays one token); for Chinese and other unspaced languages ("
    + ", ".join(sorted(UNSPACED))
    + ")",
}
TOKENIZATION = {
    "rouge": ROUGE_TOKENIZERS,
    "rouge_stemming": "none (rouge-score's default, use_stemmer=False)",
    "bleu": "sacrebleu: zh for Chinese, char for other unspaced scripts, 13a otherwise",
}


def is_unspaced(language: str | None) -> bool:
    """Whether LANGUAGE (a BCP 47 tag such as ``zh-CN``) is written without spaces."""
    return _primary(language) in UNSPACED


def bleu_tokenizer(language: str | None) -> str:
    primary = _primary(language)
    if primary == "zh":
        return "zh"
    return "char" if primary in UNSPACED else "13a"


def _primary(language: str | None) -> str:
    return (language or "").split("-")[0].split("_")[0].lower()


def rouge_tokenizer(language: str | None) -> str:
    """The key in ``ROUGE_TOKENIZERS`` that tokenizes a session in LANGUAGE for ROUGE."""
    primary = _primary(language)
    if primary == "en":
        return "rouge-score"
    return "characters" if primary in UNSPACED else "unicode-words"


@functools.cache
def _unicode_words() -> re.Pattern[str]:
    """Runs of letters, digits and combining marks: ``\\w`` leaves out the marks (so
    Devanagari words fall apart at their vowel signs) and takes in ``_``."""
    marks: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code))[0] == "M":
            if marks and marks[-1][1] == code - 1:
                marks[-1] = (marks[-1][0], code)
            else:
                marks.append((code, code))
    ranges = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in marks)
    return re.compile(rf"(?:[^\W_]|[{ranges}])+")


class RougeTokens:
    """rouge-score's tokenizer interface for the languages its default tokenizer does not
    serve: Unicode words, or characters for unspaced text."""

    def __init__(self, unspaced: bool) -> None:
        self.unspaced = unspaced

    def tokenize(self, text: str) -> list[str]:
        if self.unspaced:
            return _CHARACTER_TOKENS.findall(text.lower())
        return _unicode_words().findall(unicodedata.normalize("NFC", text.lower()))


def rouge_scorers() -> dict[str, Any]:
    """A rouge-score ``RougeScorer`` per key of ``ROUGE_TOKENIZERS``."""
    from rouge_score import rouge_scorer

    kinds = ["rouge1", "rougeL"]
    return {
        "rouge-score": rouge_scorer.RougeScorer(kinds, use_stemmer=USE_STEMMER),
        "unicode-words": rouge_scorer.RougeScorer(kinds, tokenizer=RougeTokens(unspaced=False)),
        "characters": rouge_scorer.RougeScorer(kinds, tokenizer=RougeTokens(unspaced=True)),
    }


def tokenizers_used(pairs: Iterable[Pair]) -> dict[str, dict[str, Any]]:
    """For each ROUGE tokenizer used: how many rationales and which session languages."""
    used: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        entry = used.setdefault(
            rouge_tokenizer(pair.language), {"rationales": 0, "languages": set()}
        )
        entry["rationales"] += 1
        entry["languages"].add(pair.language or "unknown")
    return {
        name: {"rationales": used[name]["rationales"], "languages": sorted(used[name]["languages"])}
        for name in ROUGE_TOKENIZERS
        if name in used
    }


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
    scorers = rouge_scorers()
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
        rouge = scorers[rouge_tokenizer(pair.language)].score(pair.reference, pair.prediction)
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
