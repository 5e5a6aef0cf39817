"""What every draft provider offers the batch runner, and what one request returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from annotate.drafting.context import ItemContext
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

    async def draft(self, context: ItemContext) -> Reply: ...


def scrub_secret(text: str | None) -> str | None:
    """``text`` with the API key replaced by ``***``: a server may echo it anywhere (an
    error body, a header kept as provenance, the reply itself)."""
    key = os.environ.get("OPENAI_API_KEY")
    if text is None or not key:
        return text
    return text.replace(key, "***")
