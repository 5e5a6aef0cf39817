"""What OpenAI-compatible servers report, read one way: each attempt's usage (prompt,
completion and cached tokens, from whichever field the server fills) and what an error
says (a refused response format, a full context, a transient fault, the wait it asks)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from annotate.drafting.base import scrub_secret, token_count


def read_usage(completion: Any) -> tuple[int | None, int | None, int | None, dict | None]:
    """(prompt, completion, cached tokens, timings) as the server reported them; None
    where it reported nothing. Cached prompt tokens come from each server's own report:
    ``usage.prompt_tokens_details.cached_tokens`` (OpenAI, vLLM, recent llama.cpp), else
    llama.cpp's ``timings.cache_n``. llama-cpp-python's server (0.3.x) reports only the
    three usage counts: its cache use is unknown (None), never 0."""
    usage = getattr(completion, "usage", None)
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    extra = getattr(completion, "model_extra", None) or {}
    timings = extra.get("timings") if isinstance(extra.get("timings"), dict) else None
    cached = token_count(getattr(details, "cached_tokens", None) if details else None)
    if cached is None and timings is not None:
        cached = token_count(timings.get("cache_n"))
    return (
        token_count(getattr(usage, "prompt_tokens", None) if usage else None),
        token_count(getattr(usage, "completion_tokens", None) if usage else None),
        cached,
        timings,
    )


def _plus(total: int | None, value: int | None) -> int | None:
    """A sum of server counts: None only while no attempt reported one."""
    return total if value is None else (total or 0) + value


@dataclass
class Spent:
    """What every attempt of one draft cost, as the server reported it: the totals are
    the draft's tokens, ``attempts`` the same per request (first attempt and retries)."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    cached_tokens: int | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def answered(self, request: dict[str, Any], response_format: str, completion: Any,
                 choice: Any) -> None:  # fmt: skip
        tokens_in, tokens_out, cached, _ = read_usage(completion)
        self.tokens_in = _plus(self.tokens_in, tokens_in)
        self.tokens_out = _plus(self.tokens_out, tokens_out)
        self.cached_tokens = _plus(self.cached_tokens, cached)
        reason = getattr(choice, "finish_reason", None) if choice is not None else None
        self.attempts.append({**_asked(request, response_format), "tokens_in": tokens_in,
                              "tokens_out": tokens_out, "cached_tokens": cached,
                              "finish_reason": scrub_secret(reason, 32)
                              if isinstance(reason, str) else None})  # fmt: skip

    def refused(self, request: dict[str, Any], response_format: str, status: int) -> None:
        self.attempts.append({**_asked(request, response_format), "http_status": status})


def _asked(request: dict[str, Any], response_format: str) -> dict[str, Any]:
    return {"response_format": response_format, "max_tokens": request.get("max_tokens"),
            "temperature": request.get("temperature"), "seed": request.get("seed")}  # fmt: skip


def told_window(error: Exception) -> int | None:
    """The context size a context-size error names (llama.cpp's ``n_ctx``, vLLM's
    "maximum context length is N tokens"), else None."""
    body = getattr(error, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error")
        inner = inner if isinstance(inner, Mapping) else body
        told = token_count(inner.get("n_ctx"))
        if told:
            return told
    found = re.search(r"(?:n_ctx\D{0,3}|maximum context length is )(\d{2,9})",
                      f"{getattr(error, 'message', '')} {body}")  # fmt: skip
    return int(found.group(1)) if found else None


def refuses_format(error: Exception) -> bool:
    """A refusal of the structured-output mode, told by what the server says.

    vLLM and OpenAI answer 400 (or 422); llama-cpp-python's server answers 500 with a
    validation message naming ``response_format``. Any of them naming the format is a
    refusal of the format, not a fault to retry.
    """
    import openai

    if not isinstance(error, openai.APIStatusError) or error.status_code not in (400, 422, 500):
        return False
    text = f"{error.message} {error.body}".lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object"))


def context_overflow(error: Exception) -> bool:
    """A 400 saying the prompt does not fit the model's context (llama.cpp, vLLM, OpenAI)."""
    import openai

    if not isinstance(error, openai.APIStatusError) or error.status_code != 400:
        return False
    text = f"{error.message} {error.body}".lower()
    return "context" in text and any(
        word in text for word in ("exceed", "too long", "maximum context", "context length")
    )


def retry_after(error: Exception) -> float:
    """The wait a 429/503 asks for (Retry-After, at most 60 s), else half a second."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return min(60.0, max(0.0, float(value))) if value is not None else 0.5
    except ValueError:
        return 0.5


def transient(error: Exception) -> bool:
    import openai

    return isinstance(error, openai.APIStatusError) and (
        error.status_code in (408, 409, 429) or error.status_code >= 500
    )
