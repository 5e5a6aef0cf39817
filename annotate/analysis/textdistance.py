"""Character edit distance, shared by the draft-to-final statistics and the DPO export."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute one character), bit-parallel.

    Myers' algorithm in Hyyrö's formulation for whole strings: one pass over ``b``
    with Python integers as bit vectors as long as ``a``, i.e. O(len(b)) big-integer
    operations instead of the O(len(a) * len(b)) table.
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(a)
    if not b:
        return m
    match: dict[str, int] = {}
    for index, char in enumerate(a):
        match[char] = match.get(char, 0) | (1 << index)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    plus, minus, score = full, 0, m
    for char in b:
        eq = match.get(char, 0)
        xv = eq | minus
        xh = ((((eq & plus) + plus) & full) ^ plus) | eq
        ph = (minus | ~(xh | plus)) & full
        mh = plus & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        plus = (mh | ~(xv | ph)) & full
        minus = ph & xv
    return score


def normalised_distance(draft: str, final: str) -> float:
    """Levenshtein distance over the longer length: 0 identical, 1 nothing in common."""
    longest = max(len(draft), len(final))
    return levenshtein(draft, final) / longest if longest else 0.0
