"""What a usable reply is, defined once: pydantic models that give the JSON Schema sent to
the server (so a grammar-constrained server can only produce a usable draft) and validate
the reply that comes back, so the request and the check cannot drift.

The JSON Schema keeps to keywords every structured-output engine reads: ``type``,
``properties``, ``required`` (every property), ``additionalProperties: false``, ``items``,
``enum``, ``minLength``/``maxLength``, ``minItems``/``maxItems`` and ``minimum``/``maximum``
(llama.cpp's and llama-cpp-python's schema-to-grammar converters, vLLM's guided decoding);
no ``$ref``, ``title`` or ``default``. OpenAI's strict mode refuses ``minLength`` and
``maxLength`` ("not permitted"), so its variant leaves them out and the lengths are checked
here only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

EVIDENCE_MAX = 6  # turn numbers a draft cites: the few turns that drove the rating
QUOTES_MAX = 4  # quotes a draft gives
MARKERS_MAX = 50  # proposals in one marker reply (most turns carry none)
MARKER_REASON_MAX = 300  # characters of a proposal's reason
MARKER_QUOTE_MAX = 200  # characters of a proposal's quote
_STRING_LENGTHS = ("minLength", "maxLength")  # what OpenAI's strict mode does not permit
_KEPT = ("type", "properties", "required", "additionalProperties", "items", "enum",
         "minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum")  # fmt: skip


@dataclass(frozen=True)
class TextBounds:
    """Characters a rationale and a quote may have in one language.

    The prompt asks for 100-200 characters in English and 80-150 in Chinese, which says
    about three times as much per character. The minimum is one short clause (30 English,
    10 Chinese characters): below it nothing explains a rating, and what a constrained
    small model pads with (``"}\\n[1] "``, a tab) is refused. The maximum lets a long
    answer through (5x and 2x the asked length) but stops a runaway before the reply
    outgrows ``--max-tokens``: 1,000 + 4 x 200 English characters are about 490 tokens, under
    the default 600; 300 + 4 x 60 Chinese characters about 820 tokens with a small
    English-centric tokenizer (1.4 per character), under the 1,200 of the one retry.
    """

    rationale_min: int
    rationale_max: int
    quote_max: int


BOUNDS = {"en": TextBounds(30, 1000, 200), "zh": TextBounds(10, 300, 60)}


def bounds_for(language: str | None) -> TextBounds:
    """The bounds of a session's language (English's for others); the loosest of all
    when the language is not known."""
    if language is None:
        every = BOUNDS.values()
        return TextBounds(min(b.rationale_min for b in every),
                          max(b.rationale_max for b in every),
                          max(b.quote_max for b in every))  # fmt: skip
    return BOUNDS.get(language, BOUNDS["en"])


_STRICT = ConfigDict(extra="forbid", strict=True)


@cache
def draft_model(first_turn: int, last_turn: int, language: str | None) -> type[BaseModel]:
    """The reply a draft for a session with turns ``first_turn..last_turn`` must be."""
    bounds = bounds_for(language)
    turn = Annotated[int, Field(ge=first_turn, le=last_turn)]
    quote = create_model(
        "DraftQuote",
        __config__=_STRICT,
        turn=(turn, ...),
        text=(Annotated[str, Field(min_length=1, max_length=bounds.quote_max)], ...),
    )
    return create_model(
        "DraftReply",
        __config__=_STRICT,
        rationale=(
            Annotated[str, Field(min_length=bounds.rationale_min, max_length=bounds.rationale_max)],
            ...,
        ),  # fmt: skip
        evidence=(Annotated[list[turn], Field(min_length=1, max_length=EVIDENCE_MAX)], ...),
        quotes=(Annotated[list[quote], Field(max_length=QUOTES_MAX)], ...),  # type: ignore[valid-type,arg-type]
    )


@cache
def marker_model(first_turn: int, last_turn: int, codes: tuple[str, ...]) -> type[BaseModel]:
    """The reply a marker request over turns ``first_turn..last_turn`` must be."""
    code = Literal[codes]  # type: ignore[valid-type]
    proposal = create_model(
        "MarkerProposal",
        __config__=_STRICT,
        turn=(Annotated[int, Field(ge=first_turn, le=last_turn)], ...),
        code=(code, ...),
        reason=(Annotated[str, Field(min_length=1, max_length=MARKER_REASON_MAX)], ...),
        quote=(Annotated[str, Field(min_length=1, max_length=MARKER_QUOTE_MAX)], ...),
    )
    return create_model(
        "MarkerReply",
        __config__=_STRICT,
        markers=(Annotated[list[proposal], Field(max_length=MARKERS_MAX)], ...),  # type: ignore[valid-type,arg-type]
    )


def turn_range(numbers: list[int]) -> tuple[int, int]:
    """The first and last turn number (1..1 for none), as the schema bounds them."""
    return (min(numbers), max(numbers)) if numbers else (1, 1)


def plain_schema(model: type[BaseModel], *, for_openai: bool = False) -> dict[str, Any]:
    """The model's JSON Schema with references inlined and only the keywords every engine
    reads; every property required, no other property allowed. ``for_openai``: without
    the string lengths OpenAI's strict mode refuses."""
    generated = model.model_json_schema(mode="validation")
    definitions = generated.get("$defs", {})

    def plain(node: Any) -> Any:
        if isinstance(node, list):
            return [plain(value) for value in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return plain(definitions[node["$ref"].rsplit("/", 1)[1]])
        if "const" in node:  # a one-value Literal
            node = {**node, "enum": [node["const"]]}
        kept = {key: node[key] for key in _KEPT if key in node}
        if for_openai:
            kept = {key: value for key, value in kept.items() if key not in _STRING_LENGTHS}
        if "enum" in kept and "type" not in kept:
            kept["type"] = "string"
        if "properties" in kept:
            kept["required"] = list(kept["properties"])
            kept["additionalProperties"] = False
        return {key: plain(value) if key != "properties" else
                {name: plain(sub) for name, sub in value.items()}
                for key, value in kept.items()}  # fmt: skip

    return plain(generated)


def draft_schema(context: Any, *, for_openai: bool = False) -> dict[str, Any]:
    """The JSON Schema of a usable draft for one item (``DraftContext``): its session's
    turn range and language."""
    first, last = turn_range([turn.number for turn in context.turns])
    return json.loads(_draft_schema_text(first, last, context.language, for_openai))


@cache
def _draft_schema_text(first: int, last: int, language: str, for_openai: bool) -> str:
    """The schema as JSON text, built once per turn range and language (a fresh copy is
    read from it for every request: building it costs half a millisecond)."""
    return json.dumps(plain_schema(draft_model(first, last, language), for_openai=for_openai))


def problems(model: type[BaseModel], data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Where and why ``data`` is not what ``model`` accepts (empty when it is)."""
    try:
        model.model_validate(data)
    except ValidationError as error:
        return [(tuple(entry["loc"]), entry["type"]) for entry in error.errors()]
    return []
