"""Token counts for sizing a request to a server's context window.

A request must fit ``context window = fixed prompt + transcript + max_tokens``. The
server's own tokenizer is asked where it offers one (llama.cpp's ``/tokenize`` and
vLLM's ``/tokenize``, at the server's root); otherwise the prompt module's estimate is
scaled by a conservative factor per script (a Chinese character is often more than one
token for English-centric tokenizers). Each count is cached for the batch.
"""

from __future__ import annotations

from typing import Any

from annotate.drafting.prompt import estimate_tokens

# Fallback tokens per estimated token, when the server cannot count: ASCII text is
# estimated well; CJK was 1.4x under for a small English-centric model, so 1.5.
FALLBACK_FACTOR = {"ascii": 1.1, "other": 1.5}


def fallback_count(text: str) -> int:
    ascii_share = len(text.encode("ascii", "ignore")) / max(1, len(text))
    factor = FALLBACK_FACTOR["ascii"] if ascii_share > 0.8 else FALLBACK_FACTOR["other"]
    return int(estimate_tokens(text) * factor) + 1


class TokenCounter:
    """Counts with the server's tokenizer when it has an endpoint, else a scaled estimate."""

    def __init__(self, base_url: str | None, model: str) -> None:
        root = (base_url or "").rstrip("/")
        self.url = (root.removesuffix("/v1") + "/tokenize") if root else None
        self.model = model
        self.source = "estimate"
        self._works: bool | None = None

    async def count(self, text: str) -> int:
        if self.url is not None and self._works is not False:
            counted = await self._ask(text)
            if counted is not None:
                self._works, self.source = True, "server"
                return counted
            self._works = False
        return fallback_count(text)

    async def _ask(self, text: str) -> int | None:
        import asyncio

        return await asyncio.to_thread(self._ask_now, text)

    def _ask_now(self, text: str) -> int | None:
        import json
        import urllib.error
        import urllib.request

        body: dict[str, Any] = {"content": text, "prompt": text, "model": self.model,
                                "add_special_tokens": False}  # fmt: skip
        request = urllib.request.Request(self.url or "", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10.0) as response:
                data = json.loads(response.read())
        except (OSError, ValueError):  # URLError, HTTPError, timeouts, not JSON
            return None
        if not isinstance(data, dict):
            return None
        if isinstance(data.get("count"), int):
            return int(data["count"])
        tokens = data.get("tokens")
        return len(tokens) if isinstance(tokens, list) else None
