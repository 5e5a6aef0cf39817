"""Words of a text in any script, for comparing texts word by word (drafting's sample
agreement; analysis may share it): lower-cased (NFKC) runs of letters and digits,
Chinese (Han) runs cut into words by jieba's dictionary and HMM through ``rjieba``,
each kana character a word of its own (there is no Japanese segmenter here)."""

from __future__ import annotations

import re
import unicodedata

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
KANA = "\u3040-\u30ff"
_WORD = re.compile(rf"(?P<han>[{HAN}]+)|(?P<kana>[{KANA}])|(?P<word>[^\W_{HAN}{KANA}]+)")
WORDS_METHOD = "words; Chinese by jieba words"


def han_words(run: str) -> list[str]:
    """A run of Chinese characters cut into jieba's words."""
    import rjieba

    return list(rjieba.cut(run))


def words(text: str) -> list[str]:
    """The text's words, in order (see the module's note)."""
    found: list[str] = []
    for match in _WORD.finditer(unicodedata.normalize("NFKC", text).lower()):
        han = match.group("han")
        found.extend(han_words(han) if han is not None else [match.group()])
    return found
