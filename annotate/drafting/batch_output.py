"""Reading a batch output file (the Batch API's, or vLLM's ``run_batch``'s, the same shape).

Every line is decoded with explicit limits (line length, nesting, number ranges, field
sizes, storable text, no duplicate keys) and the ``BatchLine`` schema before anything is
written: a problem is one ``FILE:LINE: what`` error, never a traceback, and one bad line
writes nothing. ``annotate.drafting.batch_api`` stores what passes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import IO, Annotated

import msgspec
from msgspec import Meta

from annotate.core.errors import ConfigError
from annotate.core.reading import MIB, bounded_lines, too_long
from annotate.drafting.base import MAX_TOKEN_COUNT, Reply, scrub_reply, scrub_secret
from annotate.drafting.batch import draft_problem, read_draft
from annotate.drafting.grounding import ReplyFormatError
from annotate.drafting.providers import ERROR_LIMIT
from annotate.ingest.readers import parse_line, show

FILE_TAG = re.compile(r"#(?P<tag>[0-9a-f]{16})$")  # a --batch-file line's custom_id ends so
MAX_LINE_BYTES = 4 * MIB  # one output line; a longer one is refused without being held
MAX_CONTENT = 100_000  # characters of a reply's content, refusal or error message
MAX_ID_LENGTH = 128  # a request or response id (what Draft.request_id holds)
MAX_PROBLEMS = 50  # problems collected before the reading stops

TokenCount = Annotated[int, Meta(ge=0, le=MAX_TOKEN_COUNT)]
ShortText = Annotated[str, Meta(max_length=MAX_ID_LENGTH)]
LongText = Annotated[str, Meta(max_length=MAX_CONTENT)]
Timing = Annotated[float, Meta(ge=-1e15, le=1e15)]


class _ErrorDetail(msgspec.Struct):
    message: LongText | None = None
    type: ShortText | None = None
    code: ShortText | TokenCount | None = None


class _Message(msgspec.Struct):
    content: LongText | None = None
    refusal: LongText | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    finish_reason: Annotated[str, Meta(max_length=32)] | None = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: TokenCount | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: TokenCount | None = None
    completion_tokens: TokenCount | None = None
    prompt_tokens_details: _PromptDetails | None = None


class _Body(msgspec.Struct):
    id: ShortText | None = None
    choices: Annotated[list[_Choice], Meta(max_length=16)] | None = None
    usage: _Usage | None = None
    timings: Annotated[dict[ShortText, TokenCount | Timing], Meta(max_length=32)] | None = None
    error: _ErrorDetail | None = None
    message: LongText | None = None  # vLLM's error body: {"object": "error", "message": ...}


class _Response(msgspec.Struct):
    status_code: Annotated[int, Meta(ge=100, le=599)]
    body: _Body | None = None


class BatchLine(msgspec.Struct):
    """One line of a batch output file, as the Batch API and vLLM's run_batch write it
    (fields not named here are ignored; those named must have these types and sizes)."""

    custom_id: Annotated[str, Meta(min_length=3, max_length=2 * MAX_ID_LENGTH + 18)]
    id: ShortText | None = None
    response: _Response | None = None
    error: _ErrorDetail | None = None


@dataclass(frozen=True)
class BatchResult:
    """A checked line: the item it drafts, and its reply or why its request failed."""

    line: int
    session_id: str
    item_id: str
    digest: str  # of the line's bytes: the same line ingested again is recognised
    reply: Reply | None
    failure: str | None
    batch_tag: str | None = None  # the --batch-file it answers (its custom_id's #tag)


def read_batch_output(handle: IO[bytes], source: str) -> list[BatchResult]:
    """Every line of a batch output file checked, or ``ConfigError`` naming the first
    problem as ``SOURCE:LINE: what`` (and how many more there are)."""
    problems: list[str] = []
    results: list[BatchResult] = []
    seen: dict[str, int] = {}
    for number, raw in bounded_lines(handle, MAX_LINE_BYTES):
        if raw is None:
            problem: str | None = too_long(MAX_LINE_BYTES)
        else:
            result, problem = _read_line(number, raw)
            if result is not None:
                key = f"{result.session_id}/{result.item_id}"
                if key in seen:
                    problem = f"custom_id {show(scrub_secret(key))} was already on line {seen[key]}"
                else:
                    seen[key] = number
                    results.append(result)
        if problem is not None:
            problems.append(f"{source}:{number}: {one_line(problem)}")
            if len(problems) >= MAX_PROBLEMS:
                break
    if problems:
        raise refused(problems)
    return results


def refused(problems: list[str]) -> ConfigError:
    """The first problem in one line, with how many more there are (the reading stops at
    ``MAX_PROBLEMS``)."""
    more = ""
    if len(problems) > 1:
        least = "at least " if len(problems) >= MAX_PROBLEMS else ""
        more = f" (and {least}{len(problems) - 1} more problem(s))"
    return ConfigError(f"{problems[0]}{more}; nothing was ingested")


def one_line(text: str) -> str:
    """A problem as shown: the key scrubbed, on one line, cut short."""
    return scrub_secret(" ".join(text.split()), 300)


def _read_line(number: int, raw: bytes) -> tuple[BatchResult | None, str | None]:
    record = parse_line(number, raw)  # UTF-8, NUL, surrogates, duplicate keys, nesting
    if record is None:
        return None, None  # a blank line
    if record.error is not None or record.data is None:
        return None, record.error or "not a JSON object"
    try:
        line = msgspec.convert(record.data, BatchLine)
    except msgspec.ValidationError as error:  # "Expected `int`, got `str` - at `$.id`"
        what, _, where = str(error).replace("`", "").partition(" - at $.")
        what = what[:1].lower() + what[1:]
        return None, f"{where}: {what}" if where else f"not a batch result: {what}"
    tagged = FILE_TAG.search(line.custom_id)
    tag = tagged["tag"] if tagged else None
    session_id, _, item_id = line.custom_id.removesuffix(f"#{tag}" if tag else "").rpartition("/")
    if not session_id or not item_id:
        return None, "custom_id is not 'session/item'"
    digest = hashlib.sha256(raw.strip().removeprefix(b"\xef\xbb\xbf")).hexdigest()[:32]
    response, body = line.response, line.response.body if line.response else None
    if line.error is not None or (response is not None and response.status_code >= 400):
        detail = line.error or (body.error if body else None)
        if detail is None and body is not None and body.message is not None:
            detail = _ErrorDetail(message=body.message)
        shown = json.dumps(msgspec.to_builtins(detail) if detail else "no reply",
                           ensure_ascii=False)  # fmt: skip
        failure = f"batch request failed: {scrub_secret(shown, 500)}"
        return BatchResult(number, session_id, item_id, digest, None, failure, tag), None
    if response is None:
        return None, "neither a response nor an error"
    if body is None:
        return None, "the response has no body"
    refusal = _refusal(body)
    if refusal is not None:
        return BatchResult(number, session_id, item_id, digest, None, refusal, tag), None
    reply = _reply(body)
    unfit = _unfit(reply)
    if unfit is not None:
        return None, unfit
    return BatchResult(number, session_id, item_id, digest, reply, None, tag), None


def _reply(body: _Body) -> Reply:
    choice = body.choices[0] if body.choices else None
    message = choice.message if choice else None
    usage = body.usage
    details = usage.prompt_tokens_details if usage else None
    return scrub_reply(
        Reply(
            content=message.content if message else None,
            tokens_in=usage.prompt_tokens if usage else None,
            tokens_out=usage.completion_tokens if usage else None,
            request_id=body.id or None,
            finish_reason=choice.finish_reason if choice else None,
            cached_tokens=details.cached_tokens if details else None,
            timings=body.timings,
        )
    )


def _refusal(body: _Body) -> str | None:
    """The model's refusal when it gave one instead of content, as the online path says it."""
    choice = body.choices[0] if body.choices else None
    message = choice.message if choice else None
    if message is None or message.content or not message.refusal:
        return None
    return scrub_secret(f"the model refused: {message.refusal}", ERROR_LIMIT)


def _unfit(reply: Reply) -> str | None:
    """Why a reply that reads as a draft cannot be stored as one (a reply that does not
    read as one is stored as a failed draft, as online)."""
    try:
        parsed = read_draft(reply.content)
    except ReplyFormatError:
        return None
    problem = draft_problem(parsed)
    return f"the reply's draft cannot be stored: {problem}" if problem else None
