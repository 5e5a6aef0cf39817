"""Counts in words: "1 code", "2 codes", so no screen or command says "1 codes"."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """COUNT and NOUN in agreement: "1 code", "3 codes", "2 turn codings" (regular nouns:
    the plural adds "s" to the noun's last word)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
