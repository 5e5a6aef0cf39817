"""What every draft provider offers the batch runner, and what one request returns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Protocol, overload
from urllib.parse import quote, quote_plus

from annotate.core.settings import api_key
from annotate.drafting.context import DraftContext
from annotate.drafting.grounding import ParsedDraft


@dataclass
class Reply:
    """What one request produced: raw content (or an already parsed draft) and its cost."""

    content: str | None = None
    parsed: ParsedDraft | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    request_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None  # "length": cut at max_tokens
    cached_tokens: int | None = None  # prompt tokens the server took from its prefix cache
    timings: dict[str, Any] | None = None  # llama-server's timings, as it sent them


class ProviderError(Exception):
    """No usable reply; the message is stored on the failed draft."""

    def __init__(self, message: str, latency_ms: float | None = None) -> None:
        super().__init__(message)
        self.latency_ms = latency_ms


class DraftProvider(Protocol):
    """What the batch runner needs from a provider (tests may pass their own)."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def base_url_host(self) -> str | None: ...

    @property
    def prompt_version(self) -> str: ...

    @property
    def prompt_hash(self) -> str: ...

    @property
    def params(self) -> dict[str, Any]: ...

    async def __aenter__(self) -> DraftProvider: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def draft(self, context: DraftContext) -> Reply: ...


MAX_TOKEN_COUNT = 10**9  # a server's token count beyond this is not believed


def token_count(value: object) -> int | None:
    """A server's token count when it is a whole number in 0..MAX_TOKEN_COUNT, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return None


SECRET_PIECE = 12  # characters: any piece this long of the key, or of an encoding of it
SCRUBBED = "***"  # what a scrubbed piece becomes
_PROBE = 6  # characters looked up at every 7th position (see ``_scrub_spans``)
_STEP = SECRET_PIECE - _PROBE + 1
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_B64 = {
    "standard": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "urlsafe": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
}


@overload
def scrub_secret(text: str, limit: int | None = None) -> str: ...


@overload
def scrub_secret(text: None, limit: int | None = None) -> None: ...


@overload
def scrub_secret(text: str | None, limit: int | None = None) -> str | None: ...


def scrub_secret(text: str | None, limit: int | None = None) -> str | None:
    """``text`` without the API key, then cut to ``limit`` characters: the one way a text a
    server sent (an error body, a header kept as provenance, the reply itself) is stored.

    Scrubbed are the key in any letter case, URL-encoded, hex and base64 (standard and
    URL-safe, at any offset: ``Bearer KEY`` or ``user:KEY`` encoded as a whole too), and
    every piece of at least ``SECRET_PIECE`` characters of any of these, since a text
    someone cut before it reached here may end with the key's head or begin with its
    tail. Scrubbing comes before the cut, so the cut can never keep what the scrub would
    have caught. The key is read from ``OPENAI_API_KEY`` only (:func:`api_key`).
    """
    if text is None:
        return None
    key = api_key()
    if key:
        text = _scrub(text, _secret_pieces(key))
    return text if limit is None else text[:limit]


def scrub_json(value: Any) -> Any:
    """A JSON value (a server's timings, a parsed reply) with every string scrubbed, keys too."""
    if isinstance(value, str):
        return _scrub_json_string(value)
    if isinstance(value, dict):
        return {_scrub_json_string(str(k)): scrub_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def _scrub_json_string(text: str) -> str:
    key = api_key()
    if not key:
        return text
    pieces = _secret_pieces(key)
    return _scrub_escaped(_scrub(text, pieces), pieces)


def scrub_reply(reply: Reply) -> Reply:
    """The reply with the key scrubbed from everything the server sent, before anything
    parses it, quotes a snippet of it or cuts it."""
    return replace(
        reply,
        content=scrub_secret(reply.content),
        request_id=scrub_secret(reply.request_id),
        finish_reason=scrub_secret(reply.finish_reason),
        timings=scrub_json(reply.timings),
    )


@dataclass(frozen=True)
class _Pieces:
    folded: tuple[str, ...]  # forms compared ignoring ASCII case (the key, hex, URL-encoded)
    exact: tuple[str, ...]  # forms compared as they are (base64)
    folded_grams: frozenset[str]  # every SECRET_PIECE-long piece of a folded form
    folded_probes: frozenset[str]  # every _PROBE-long piece of a folded form
    exact_grams: frozenset[str]
    exact_probes: frozenset[str]


def _base64_runs(data: bytes, alphabet: str) -> list[str]:
    """The base64 characters that ``data`` alone decides, at each of the three offsets it
    can start at inside a longer encoded text (``Bearer KEY``, ``user:KEY``)."""
    bits = "".join(f"{byte:08b}" for byte in data)
    runs = []
    for offset in (0, 1, 2):
        lead = (-8 * offset) % 6  # bits of data in the character it shares with the prefix
        usable = bits[lead:]
        usable = usable[: len(usable) - len(usable) % 6]
        runs.append("".join(alphabet[int(usable[i : i + 6], 2)] for i in range(0, len(usable), 6)))
    return runs


@lru_cache(maxsize=4)
def _secret_pieces(key: str) -> _Pieces:
    data = key.encode("utf-8", "surrogatepass")
    folded = {
        key,
        data.hex(),
        quote(key, safe=""),
        quote_plus(key, safe=""),
        "".join(f"%{byte:02x}" for byte in data),
    }
    exact = {run for alphabet in _B64.values() for run in _base64_runs(data, alphabet)}
    folded_forms = tuple(sorted(form.translate(_ASCII_FOLD) for form in folded))
    exact_forms = tuple(sorted(exact))

    def pieces(forms: tuple[str, ...], size: int) -> frozenset[str]:
        return frozenset(f[i : i + size] for f in forms for i in range(len(f) - size + 1))

    return _Pieces(
        folded_forms,
        exact_forms,
        pieces(folded_forms, SECRET_PIECE),
        pieces(folded_forms, _PROBE),
        pieces(exact_forms, SECRET_PIECE),
        pieces(exact_forms, _PROBE),
    )


def _scrub_spans(text: str, grams: frozenset[str], probes: frozenset[str]) -> list[int]:
    """Start of every ``SECRET_PIECE``-long piece of ``text`` that is in ``grams``.

    Such a piece holds ``_STEP`` consecutive ``_PROBE``-long pieces in ``probes``, one of
    which starts at a multiple of ``_STEP``: only those positions are looked up, and
    around a hit, the few starts that can reach it (a 4 MiB text takes about 0.3 s).
    """
    starts = []
    for probe in range(0, len(text) - _PROBE + 1, _STEP):
        if text[probe : probe + _PROBE] in probes:
            for start in range(max(0, probe - _STEP + 1), probe + 1):
                if text[start : start + SECRET_PIECE] in grams:
                    starts.append(start)
    return starts


def _leaking_spans(text: str, pieces: _Pieces) -> list[list[int]]:
    """Merged [start, end) spans of ``text`` that hold a piece of the key."""
    folded = text.translate(_ASCII_FOLD)  # ASCII only: the same length, the same positions
    starts = _scrub_spans(folded, pieces.folded_grams, pieces.folded_probes)
    starts += _scrub_spans(text, pieces.exact_grams, pieces.exact_probes)
    spans = [(start, start + SECRET_PIECE) for start in starts]
    for form, haystack in [(f, folded) for f in pieces.folded] + [(f, text) for f in pieces.exact]:
        if 4 <= len(form) < SECRET_PIECE:  # a short key: whole occurrences only
            at = haystack.find(form)
            while at >= 0:
                spans.append((at, at + len(form)))
                at = haystack.find(form, at + 1)
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _scrub_escaped(text: str, pieces: _Pieces) -> str:
    """``text`` (already scrubbed) such that its JSON string forms hold no piece either:
    an escape (``\\u00d0``, ``\\n``) next to a shorter piece can complete one, so the
    characters behind such a span are scrubbed too (both with and without ``ensure_ascii``,
    the forms JSON columns and files are written in)."""
    if not any(
        _leaking_spans(json.dumps(text, ensure_ascii=ensure_ascii), pieces)
        for ensure_ascii in (True, False)
    ):
        return text  # the usual case, found without mapping characters
    for _ in range(len(text) + 1):  # each round scrubs at least one character
        hit: set[int] = set()
        for ensure_ascii in (True, False):
            escaped: list[str] = []
            owner: list[int] = []
            for index, character in enumerate(text):
                form = json.dumps(character, ensure_ascii=ensure_ascii)[1:-1]
                escaped.append(form)
                owner.extend([index] * len(form))
            for start, end in _leaking_spans("".join(escaped), pieces):
                hit.update(owner[start:end])
        if not hit:
            return text
        text = "".join(
            SCRUBBED if index in hit and (index == 0 or index - 1 not in hit) else character
            for index, character in enumerate(text)
            if index not in hit or index == 0 or index - 1 not in hit
        )
    return text


def _scrub(text: str, pieces: _Pieces) -> str:
    merged = _leaking_spans(text, pieces)
    if not merged:
        return text
    kept: list[str] = []
    position = 0
    for start, end in merged:
        kept.append(text[position:start])
        kept.append(SCRUBBED)
        position = end
    kept.append(text[position:])
    return "".join(kept)
