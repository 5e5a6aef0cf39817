"""Read a model's reply tolerantly, then check that it is grounded in the transcript.

A draft is grounded when it cites at least one turn, every cited turn exists, and every
quote appears in the turn it names (or, for a bare string, in one of the cited turns),
ignoring case, whitespace and punctuation. Quotes shortened with an ellipsis match when
each fragment appears in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from annotate.drafting.context import TurnText
from annotate.drafting.similarity import normalise

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_ELLIPSIS = re.compile(r"\.\.\.+|…+|⋯+")
_INT = re.compile(r"-?\d+")

# The schema sent as structured output where the server supports it.
DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rationale": {"type": "string"},
        "evidence": {"type": "array", "items": {"type": "integer"}},
        "quotes": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"turn": {"type": "integer"}, "text": {"type": "string"}},
                "required": ["turn", "text"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["rationale", "evidence", "quotes"],
    "additionalProperties": False,
}


class ReplyFormatError(ValueError):
    """The reply holds no usable ``{rationale, evidence, quotes}`` object."""


@dataclass
class Quote:
    text: str
    turn: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"turn": self.turn, "text": self.text}


@dataclass
class ParsedDraft:
    rationale: str
    evidence: list[int] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)


def _json_candidates(content: str) -> list[str]:
    """The whole reply, fenced blocks, and the outermost brace span, in that order."""
    candidates = [content.strip()]
    candidates += [block.strip() for block in _FENCE.findall(content)]
    start, end = content.find("{"), content.rfind("}")
    if 0 <= start < end:
        candidates.append(content[start : end + 1])
    return candidates


def parse_reply(content: str | None) -> ParsedDraft:
    """The draft in a reply: strict JSON first, then a fenced or embedded object."""
    if not content or not content.strip():
        raise ReplyFormatError("the model returned no content")
    data: Any = None
    for candidate in _json_candidates(content):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            break
    if not isinstance(data, dict):
        snippet = " ".join(content.split())[:80]
        raise ReplyFormatError(f"the reply is not the requested JSON object: {snippet!r}")
    rationale = data.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        raise ReplyFormatError("the reply has no 'rationale' text")
    evidence: list[int] = []
    raw_evidence = data.get("evidence") or []
    if not isinstance(raw_evidence, list):
        raw_evidence = [raw_evidence]
    for value in raw_evidence:
        number = _as_int(value)
        if number is not None and number not in evidence:
            evidence.append(number)
    quotes: list[Quote] = []
    raw_quotes = data.get("quotes") or []
    if not isinstance(raw_quotes, list):
        raw_quotes = [raw_quotes]
    for value in raw_quotes:
        if isinstance(value, str) and value.strip():
            quotes.append(Quote(value.strip()))
        elif isinstance(value, dict) and isinstance(value.get("text"), str):
            quotes.append(Quote(value["text"].strip(), _as_int(value.get("turn"))))
    return ParsedDraft(rationale.strip(), evidence, quotes)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):  # "7", "turn 7", "[7]"
        match = _INT.search(value)
        return int(match.group()) if match else None
    return None


def quote_in(quote: str, turn_text: str) -> bool:
    """Whether ``quote`` occurs in ``turn_text``, ignoring case, spacing and punctuation."""
    haystack = normalise(turn_text).replace(" ", "")
    fragments = [normalise(f).replace(" ", "") for f in _ELLIPSIS.split(quote)]
    fragments = [f for f in fragments if f]
    if not fragments:
        return False
    position = 0
    for fragment in fragments:
        found = haystack.find(fragment, position)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


def grounding_error(draft: ParsedDraft, turns: Sequence[TurnText]) -> str | None:
    """None when the draft is grounded, else every reason it is not, in one line."""
    by_number = {turn.number: turn.text for turn in turns}
    problems: list[str] = []
    if not draft.evidence:
        problems.append("cites no turn")
    missing = [n for n in draft.evidence if n not in by_number]
    if missing:
        problems.append(
            f"cites turn(s) {', '.join(map(str, missing))} that do not exist "
            f"(the transcript has {len(by_number)})"
        )
    cited = [n for n in draft.evidence if n in by_number]
    for quote in draft.quotes:
        short = quote.text if len(quote.text) <= 60 else quote.text[:57] + "..."
        if quote.turn is not None:
            if quote.turn not in by_number:
                problems.append(f"quote {short!r} names turn {quote.turn}, which does not exist")
            elif not quote_in(quote.text, by_number[quote.turn]):
                problems.append(f"quote {short!r} is not in turn {quote.turn}")
        elif not any(quote_in(quote.text, by_number[n]) for n in cited):
            problems.append(f"quote {short!r} is not in any cited turn")
    return "; ".join(problems) or None
