"""Lexical similarity by character n-grams: works for Chinese (no word breaks) and English alike."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """NFKC, case-folded, every run of punctuation or space turned into one space."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def char_ngrams(text: str, sizes: tuple[int, ...] = (2, 3)) -> Counter[str]:
    """Character n-grams of the normalised text (within and across words)."""
    flat = normalise(text)
    grams: Counter[str] = Counter()
    for size in sizes:
        grams.update(flat[i : i + size] for i in range(len(flat) - size + 1))
    grams.pop(" " * 2, None)
    return grams


def rank(query: str, documents: Sequence[str]) -> list[float]:
    """Cosine similarity of each document to the query over tf-idf weighted character n-grams.

    The idf is computed over the documents themselves (a session's turns), so grams every
    turn shares (a language's commonest bigrams) count for little.
    """
    bags = [char_ngrams(doc) for doc in documents]
    query_bag = char_ngrams(query)
    if not bags or not query_bag:
        return [0.0] * len(documents)
    document_frequency: Counter[str] = Counter()
    for bag in bags:
        document_frequency.update(bag.keys())
    total = len(bags)

    def idf(gram: str) -> float:
        return math.log((1 + total) / (1 + document_frequency[gram])) + 1.0

    query_vector = {g: (1 + math.log(c)) * idf(g) for g, c in query_bag.items()}
    query_norm = math.sqrt(sum(v * v for v in query_vector.values()))
    scores = []
    for bag in bags:
        vector = {g: (1 + math.log(c)) * idf(g) for g, c in bag.items()}
        norm = math.sqrt(sum(v * v for v in vector.values()))
        dot = sum(w * vector[g] for g, w in query_vector.items() if g in vector)
        scores.append(dot / (norm * query_norm) if norm and query_norm else 0.0)
    return scores
