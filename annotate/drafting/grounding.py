"""Read a model's reply tolerantly, then check that it is grounded in the transcript.

A draft is grounded when it cites at least one turn, every cited turn exists, and every
quote appears in the turn it names (or, for a bare string, in one of the cited turns),
ignoring case, whitespace and punctuation. Quotes shortened with an ellipsis match when
each fragment appears in order. A draft must also fit the reply schema (the rationale's
length, how many turns and quotes it cites); a quote that is text of the prompt (a
placeholder, an anchor label, the item) is named as such.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from annotate.drafting import schema
from annotate.drafting.context import DraftContext, TurnText
from annotate.drafting.similarity import normalise

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_ELLIPSIS = re.compile(r"\.\.\.+|…+|⋯+")
_INT = re.compile(r"-?\d+")
PLACEHOLDER = re.compile(r"<[^<>\n]{1,80}>")  # <words copied verbatim>, <number>
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_BRACE_STARTS = 32  # positions of "{" tried when the reply is not JSON as a whole
_SHOWN = 80  # characters of an unreadable reply quoted in its error
_PROMPT_WORDS = 8  # characters (normalised) a quote needs to be recognised as prompt text


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
    """The whole reply, then its fenced blocks."""
    return [content.strip()] + [block.strip() for block in _FENCE.findall(content)]


def read_json_object(
    content: str, wanted: Callable[[dict[str, Any]], bool] = lambda data: True
) -> dict[str, Any]:
    """The JSON object in a reply, read leniently: control characters inside strings (what
    llama-cpp-python's grammar lets through), a fenced block, text before or after the
    object. The first object ``wanted`` accepts, else the reply or fenced block that is an
    object (an object found inside broken JSON, such as a quote of a cut reply, is not
    taken for the reply), else ``ReplyFormatError`` quoting the reply with its characters
    escaped."""
    decoder = json.JSONDecoder(strict=False)
    found: list[dict[str, Any]] = []
    failure: str | None = None

    def keep(data: Any) -> bool:
        if isinstance(data, dict):
            found.append(data)
            return wanted(data)
        return False

    for candidate in _json_candidates(content):
        try:
            if keep(decoder.decode(candidate)):
                return found[-1]
        except json.JSONDecodeError as error:
            failure = failure or _where(error)
        except RecursionError:
            failure = failure or "nested too deeply"
    start = content.find("{")
    for _ in range(_BRACE_STARTS):
        if start < 0:
            break
        try:
            data = decoder.raw_decode(content, start)[0]
            if isinstance(data, dict) and wanted(data):
                return data
        except json.JSONDecodeError as error:
            failure = failure or _where(error)
        except RecursionError:
            failure = failure or "nested too deeply"
        start = content.find("{", start + 1)
    if found:
        return found[0]
    why = f" ({failure})" if failure and "{" in content else ""  # plain prose: no detail
    raise ReplyFormatError(
        f"the reply is not the requested JSON object{why}: {content[:_SHOWN]!r}"
        + (f" ... ({len(content):,} characters)" if len(content) > _SHOWN else "")
    )


def _where(error: json.JSONDecodeError) -> str:
    """A decoding error with the characters around it, escaped so they can be seen."""
    around = error.doc[max(0, error.pos - 12) : error.pos + 12]
    return f"{error.msg} at character {error.pos}: {around!r}"


def parse_reply(content: str | None) -> ParsedDraft:
    """The draft in a reply (see ``read_json_object``), its values read tolerantly."""
    if not content or not content.strip():
        raise ReplyFormatError("the model returned no content")
    data = read_json_object(content, lambda candidate: "rationale" in candidate)
    rationale = data.get("rationale")
    if not isinstance(rationale, str):
        raise ReplyFormatError("the reply has no 'rationale' text")
    if not rationale.strip():
        raise ReplyFormatError(f"the reply has no 'rationale' text: it is empty ({rationale!r})")
    evidence, quotes = read_citations(data)
    return ParsedDraft(rationale.strip(), evidence, quotes)


def read_citations(data: dict[str, Any]) -> tuple[list[int], list[Quote]]:
    """A reply's ``evidence`` (turn numbers) and ``quotes`` read tolerantly: a draft's and
    a judgement's alike."""
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
    return evidence, quotes


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


def grounding_error(
    draft: ParsedDraft,
    turns: Sequence[TurnText],
    context: DraftContext | None = None,
    *,
    from_model: bool = True,
    as_sent: ParsedDraft | None = None,
) -> str | None:
    """None when the draft is grounded and fits the reply schema, else every reason it
    does not, in one line. ``context`` (the item) gives the bounds of the session's
    language and the prompt's texts a copied quote is named by; without it the loosest
    bounds and the default instrument's texts are used."""
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
    # The schema's lengths bind what the model wrote: a de-identified draft (``as_sent``)
    # may grow when its surrogates are mapped back to longer originals.
    problems += schema_problems(
        as_sent or draft, list(by_number), context.language if context else None
    )
    # A model may answer with its instructions; the offline drafter writes its own
    # declared sentences (``annotate.work.rationales.scaffold`` keeps those out of the data).
    copied = copied_instructions(draft.rationale) if from_model else None
    if copied is not None:
        problems.append(f"the rationale copies the prompt's instructions ({copied!r}): "
                        "it explains nothing about this client")  # fmt: skip
    cited = [n for n in draft.evidence if n in by_number]
    for quote in draft.quotes:
        short = quote.text if len(quote.text) <= 60 else quote.text[:57] + "..."
        if quote.turn is not None:
            if quote.turn not in by_number:
                problems.append(f"quote {short!r} names turn {quote.turn}, which does not exist")
            elif not quote_in(quote.text, by_number[quote.turn]):
                problems.append(_not_in(short, quote.text, f"turn {quote.turn}", context))
        elif not any(quote_in(quote.text, by_number[n]) for n in cited):
            problems.append(_not_in(short, quote.text, "any cited turn", context))
    return "; ".join(problems) or None


def schema_problems(draft: ParsedDraft, numbers: list[int], language: str | None) -> list[str]:
    """What in a parsed draft the reply schema refuses, besides what grounding reports
    (turns that do not exist, no turn cited)."""
    first, last = schema.turn_range(numbers)
    bounds = schema.bounds_for(language)
    model = schema.draft_model(first, last, language)
    data = {
        "rationale": draft.rationale,
        "evidence": draft.evidence,
        # a bare-string quote names no turn: only its text is checked here
        "quotes": [
            {"turn": first if q.turn is None else q.turn, "text": q.text} for q in draft.quotes
        ],  # fmt: skip
    }
    found: list[str] = []
    for location, kind in schema.problems(model, data):
        if location == ("rationale",) and kind == "string_too_short":
            found.append(f"the rationale is {len(draft.rationale)} characters, fewer than "
                         f"the {bounds.rationale_min} a draft needs")  # fmt: skip
        elif location == ("rationale",) and kind == "string_too_long":
            found.append(f"the rationale is {len(draft.rationale):,} characters, more than "
                         f"the {bounds.rationale_max:,} a draft may have")  # fmt: skip
        elif location == ("evidence",) and kind == "too_long":
            found.append(f"cites {len(draft.evidence)} turns, more than {schema.EVIDENCE_MAX}")
        elif location == ("quotes",) and kind == "too_long":
            found.append(f"gives {len(draft.quotes)} quotes, more than {schema.QUOTES_MAX}")
        elif location[0] == "quotes" and location[-1] == "text":
            text = draft.quotes[int(location[1])].text
            found.append(f"quote {text[:57] + '...' if len(text) > 60 else text!r} is "
                         f"{len(text)} characters, more than {bounds.quote_max}"
                         if kind == "string_too_long" else "a quote is empty")  # fmt: skip
    return found


def _not_in(short: str, text: str, where: str, context: DraftContext | None) -> str:
    what = copied_from(text, context)
    if what is None:
        return f"quote {short!r} is not in {where}"
    return f"quote {short!r} is {what}, not words from {where}"


def _squashed(text: str) -> str:
    return normalise(text).replace(" ", "")


def copied_from(text: str, context: DraftContext | None = None) -> str | None:
    """What of the prompt a quote copies (a placeholder, an anchor label, the item's text,
    the dimension's definition, the prompt's own words), or None."""
    if PLACEHOLDER.search(text):
        return "a placeholder"
    key = _squashed(text)
    if not key:
        return None
    if context is not None:
        if key == _squashed(context.anchor):
            return "the rating's anchor label"
        labels = [label for _, label in context.anchors]
        items, definitions = [context.item_text], [context.dimension_definition]
    else:
        labels, items, definitions = _instrument_texts()
    if key in {_squashed(label) for label in labels}:
        return "an anchor label of the scale"
    long_enough = len(key) >= _PROMPT_WORDS
    for item in items:
        if key == _squashed(item) or (long_enough and key in _squashed(item)):
            return "the item's text"
    if long_enough and any(key in _squashed(d) for d in definitions):
        return "the dimension's definition"
    if long_enough and any(key in piece for piece in _prompt_pieces()):
        return "words of the prompt"
    return None


_CLAUSE = re.compile(r"[.;:!?,\n。；：！？，、]+")
_COPIED_CLAUSE = 30  # characters (normalised) of a clause taken whole from the prompt


def copied_instructions(rationale: str) -> str | None:
    """A clause of the rationale taken whole from the prompt's fixed text (a small model
    may answer with the instructions it was given: "..., written in Chinese in your own
    words, explaining why the client gave this rating ..."), or None."""
    pieces = _prompt_pieces()
    for clause in _CLAUSE.split(rationale):
        key = _squashed(clause)
        if len(key) >= _COPIED_CLAUSE and any(key in piece for piece in pieces):
            text = " ".join(clause.split())
            return text if len(text) <= 60 else text[:57] + "..."
    return None


@cache
def _instrument_texts() -> tuple[list[str], list[str], list[str]]:
    """The default instrument's anchor labels, item texts and dimension definitions."""
    from annotate.core.guidelines import default_instrument

    spec = default_instrument()
    return (list(spec.anchors.values()), [item.text for item in spec.items],
            [d.definition for d in spec.dimensions.values()])  # fmt: skip


@cache
def _prompt_pieces() -> tuple[str, ...]:
    """The default prompt's fixed text (system message, template, manual rules), cut at its
    variables and squashed as quotes are compared."""
    from annotate.drafting.prompt import default_template

    template = default_template()
    text = "\n".join((template.meta.system, template.source, template.manual_rules))
    return tuple(p for p in (_squashed(part) for part in _JINJA.split(text)) if p)
