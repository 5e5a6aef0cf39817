"""Find the offline drafter's instructions and templates in any text, wherever it came from.

The drafter declares them per language (``scaffolding`` and ``label`` in
``guidelines/prompts/offline.toml``). A text holds one when the sentence appears in it
verbatim or nearly: compared on letters and digits only (Unicode NFKC, case-folded, so
whitespace, punctuation and full-width forms do not matter), with the template's
placeholders (rating, turn numbers, dimension name, item) as wildcards. A sentence with
two clauses (``;`` or ``；``) is found from either clause, so deleting half of an
instruction does not hide the other half.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from annotate.core.guidelines import OFFLINE_SPEC, load_offline_spec

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CLAUSE_BREAK = re.compile(r"[;；]")
_MIN_LITERAL = 6  # a clause with fewer letters of its own is not looked for alone
# What each placeholder may have become, in the letters-and-digits form of the text.
_NUMBERS = r"\d+(?:(?:and|to|和|及|与|至)?\d+)*"
_WILDCARDS = {
    "rating": r"\d+",
    "turns": _NUMBERS,
    "dimension": r".{1,40}?",
}
_ANY = r".{1,300}?"


@dataclass(frozen=True)
class ScaffoldMatch:
    """One declared sentence found in a text: where, and the words found there."""

    template: str  # the sentence as the drafter declares it
    start: int  # span in the text, end exclusive
    end: int
    found: str  # the text's own words at that span

    def quoted(self, limit: int = 80) -> str:
        """The found words on one line, shortened for a message."""
        words = " ".join(self.found.split())
        return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _letters(text: str) -> tuple[str, list[int]]:
    """The text's letters and digits (NFKC, case-folded) and each one's index in ``text``."""
    kept: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            if char.isalnum():
                kept.append(char.lower())
                origin.append(index)
            continue
        for piece in unicodedata.normalize("NFKC", char).casefold():
            if piece.isalnum():
                kept.append(piece)
                origin.append(index)
    return "".join(kept), origin


_ASCII_OTHER = re.compile(r"[^a-z0-9]+")


def _letters_only(text: str) -> str:
    """``_letters(text)[0]`` without the index, quickly for ASCII text (the export tests
    every accepted text: the per-character loop halved its speed)."""
    if text.isascii():
        return _ASCII_OTHER.sub("", text.lower())
    return _letters(text)[0]


def _pattern(clause: str) -> str | None:
    """A clause of a template as a regular expression over :func:`_letters` (None: too short)."""
    parts: list[str] = []
    literal = 0
    position = 0
    for placeholder in _PLACEHOLDER.finditer(clause):
        letters = _letters(clause[position : placeholder.start()])[0]
        literal += len(letters)
        parts.append(re.escape(letters))
        parts.append(f"(?:{_WILDCARDS.get(placeholder.group(1), _ANY)})")
        position = placeholder.end()
    letters = _letters(clause[position:])[0]
    literal += len(letters)
    parts.append(re.escape(letters))
    return "".join(parts) if literal >= _MIN_LITERAL else None


@dataclass(frozen=True)
class _Sought:
    template: str
    patterns: tuple[re.Pattern[str], ...]


@cache
def _sought() -> tuple[tuple[_Sought, ...], re.Pattern[str]]:
    """Every declared sentence (all languages) with its clause patterns, and one pattern
    that finds any of them (the quick test)."""
    spec, _ = load_offline_spec(OFFLINE_SPEC)
    sought: list[_Sought] = []
    for words in spec.text.values():
        label = words.label.strip("[]【】 ")
        for template in (label, *words.scaffolding):
            clauses = (_pattern(clause) for clause in _CLAUSE_BREAK.split(template))
            patterns = tuple(re.compile(p) for p in clauses if p)
            if patterns:
                sought.append(_Sought(template, patterns))
    anything = re.compile("|".join(p.pattern for s in sought for p in s.patterns))
    return tuple(sought), anything


def declared_sentences() -> tuple[str, ...]:
    """The sentences the offline drafter declares as instructions or templates (and labels)."""
    return tuple(s.template for s in _sought()[0])


def holds_scaffolding(text: str | None) -> bool:
    """Whether ``text`` still holds any of the drafter's declared sentences."""
    if not text:
        return False
    return _sought()[1].search(_letters_only(text)) is not None


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """The span grown to the sentence's own punctuation (and the rest of a last wildcard)."""
    while end < len(text) and not text[end].isspace() and not text[end].isalnum():
        end += 1
    return start, end


def find_scaffolding(text: str) -> list[ScaffoldMatch]:
    """Each declared sentence found in ``text`` (clauses of one sentence merged), in order."""
    if not holds_scaffolding(text):
        return []
    letters, origin = _letters(text)
    found: list[ScaffoldMatch] = []
    for sought in _sought()[0]:
        spans = sorted(
            _widen(text, origin[m.start()], origin[m.end() - 1] + 1)
            for pattern in sought.patterns
            for m in pattern.finditer(letters)
            if m.end() > m.start()
        )
        merged: list[list[int]] = []
        for start, end in spans:
            gap = text[merged[-1][1] : start] if merged else None
            if merged and (start <= merged[-1][1] or (gap is not None and not _has_letters(gap))):
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        found.extend(ScaffoldMatch(sought.template, s, e, text[s:e]) for s, e in merged)
    return sorted(found, key=lambda match: (match.start, match.end))


def _has_letters(text: str) -> bool:
    return any(char.isalnum() for char in text)
