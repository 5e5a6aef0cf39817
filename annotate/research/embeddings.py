"""Embeddings from any OpenAI-compatible ``/v1/embeddings`` endpoint (llama.cpp's server
with an embedding model, vLLM, Ollama, OpenAI), through the official async client with
the same key handling, timeout and retries as drafting."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from annotate.core.errors import ConfigError
from annotate.core.settings import api_key
from annotate.drafting.base import ProviderError, scrub_secret
from annotate.drafting.providers import host_of, request_error

DEFAULT_MODEL = "text-embedding-3-small"
MODEL_VARIABLE = "ANNOTATE_EMBED_MODEL"
BATCH = 64  # texts per request (OpenAI takes up to 2,048; small local servers fewer)


@dataclass
class EmbeddingSettings:
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    timeout: float = 60.0
    max_retries: int = 4
    batch: int = BATCH


class EmbeddingClient:
    """``await embed(texts)`` -> one row per text (float64), batched; an async context."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        import openai  # noqa: F401  (loaded here, not inside a timed run)

        self.settings = settings
        self.host = host_of(settings.base_url)
        self._client: Any = None
        self.requests = 0
        self.tokens = 0

    async def __aenter__(self) -> EmbeddingClient:
        from openai import AsyncOpenAI

        key = api_key()
        if not key and not self.settings.base_url:
            raise ConfigError("embeddings need OPENAI_API_KEY or a --base-url")
        if key and not (key.isascii() and key.isprintable()):
            raise ConfigError(
                "OPENAI_API_KEY holds characters an HTTP header cannot carry (not plain "
                "ASCII): check the key, it is not shown here"
            )
        self._client = AsyncOpenAI(api_key=key or "no-key", base_url=self.settings.base_url,
                                   timeout=self.settings.timeout,
                                   max_retries=self.settings.max_retries)  # fmt: skip
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' embeddings, in order; ProviderError when no usable reply came back."""
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), max(1, self.settings.batch)):
            rows.append(await self._batch(list(texts[start : start + self.settings.batch])))
        return np.vstack(rows) if rows else np.zeros((0, 0))

    async def _batch(self, texts: list[str]) -> np.ndarray:
        import openai

        settings = self.settings
        started = time.perf_counter()
        try:
            reply = await self._client.embeddings.create(model=settings.model, input=texts,
                                                         encoding_format="float")  # fmt: skip
        except openai.OpenAIError as error:
            raise request_error(error, self.host, settings.timeout, settings.max_retries,
                                started) from None  # fmt: skip
        except ValueError as error:  # a 200 whose body is not JSON
            raise self._unusable(f"not JSON: {getattr(error, 'doc', '')!r}", started) from None
        self.requests += 1
        try:
            data = sorted(reply.data, key=lambda row: row.index)
            matrix = np.array([row.embedding for row in data], dtype=np.float64)
            usage = getattr(reply, "usage", None)
            tokens = getattr(usage, "prompt_tokens", None)
        except (AttributeError, TypeError, ValueError):
            raise self._unusable(f"not an embeddings reply: {str(reply)!r}", started) from None
        if matrix.ndim != 2 or matrix.shape[0] != len(texts) or matrix.shape[1] == 0:
            raise self._unusable(
                f"{matrix.shape[0] if matrix.ndim else 0} embeddings for {len(texts)} texts",
                started)  # fmt: skip
        if not np.isfinite(matrix).all():
            raise self._unusable("an embedding holds NaN or infinity", started)
        if isinstance(tokens, int) and 0 <= tokens < 10**9:
            self.tokens += tokens
        return matrix

    def _unusable(self, what: str, started: float) -> ProviderError:
        message = f"HTTP 200 from {self.host}: {what}"
        return ProviderError(scrub_secret(message, 300) or "",
                             (time.perf_counter() - started) * 1000)  # fmt: skip


def cosine(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ROWS with each row of COLUMNS (0 for a zero
    vector)."""
    a = np.linalg.norm(rows, axis=1, keepdims=True)
    b = np.linalg.norm(columns, axis=1, keepdims=True)
    left = np.divide(rows, a, out=np.zeros_like(rows), where=a > 0)
    right = np.divide(columns, b, out=np.zeros_like(columns), where=b > 0)
    return left @ right.T
