"""The offline trace method: character n-gram TF-IDF, no model.

Words, not meaning: a turn scores high on an item when it shares character sequences
with the item's wording ("agree", "goal"; 目标, 一致), so paraphrase and negation are
invisible to it. Every figure it makes is labelled ``lexical``. It needs no download and
sends nothing anywhere, and it works on Chinese (characters are the units) as on English.

The vectoriser is fitted on the item wordings only, so a turn's score never depends on
which other sessions were traced with it: the vocabulary is the items' character
n-grams of 2 to 4 characters within word boundaries (each word padded with a space),
weighted by smoothed inverse document frequency over the item texts, each vector scaled
to unit length. It is scikit-learn's ``TfidfVectorizer(analyzer="char_wb",
ngram_range=(2, 4))`` fitted on the item texts (a test holds the two equal), written out
so scikit-learn stays a test dependency.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

MODEL = "char-wb-2-4-tfidf-1"  # the method's name and version, stored as a trace's model
NGRAMS = (2, 4)
_WHITESPACE = re.compile(r"\s\s+")


def char_ngrams(text: str, ngrams: tuple[int, int] = NGRAMS) -> list[str]:
    """The character n-grams of TEXT within word boundaries (lowercased; each word padded
    with one space on each side; a word shorter than n gives itself once)."""
    low, high = ngrams
    found: list[str] = []
    for word in _WHITESPACE.sub(" ", text.lower()).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            offset = 0
            found.append(padded[offset : offset + n])
            while offset + n < length:
                offset += 1
                found.append(padded[offset : offset + n])
            if offset == 0:  # the word is shorter than n: counted once
                break
    return found


class CharTfidf:
    """A TF-IDF vectoriser of character n-grams fitted on a fixed set of texts."""

    def __init__(self, documents: Sequence[str]) -> None:
        frequency: Counter[str] = Counter()
        for document in documents:
            frequency.update(set(char_ngrams(document)))
        self.vocabulary = {gram: index for index, gram in enumerate(sorted(frequency))}
        count = len(documents)
        self.idf = np.array(
            [math.log((1 + count) / (1 + frequency[gram])) + 1 for gram in sorted(frequency)]
        )

    def transform(self, texts: Iterable[str]) -> np.ndarray:
        """One unit-length row per text (all zeros when it shares no n-gram with the items)."""
        texts = list(texts)
        matrix = np.zeros((len(texts), len(self.vocabulary)))
        for row, text in enumerate(texts):
            for gram, times in Counter(char_ngrams(text)).items():
                column = self.vocabulary.get(gram)
                if column is not None:
                    matrix[row, column] = times
        matrix *= self.idf
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)
        return matrix
