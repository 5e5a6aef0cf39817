"""Draft providers: any OpenAI-compatible endpoint, or the offline drafter; chosen from settings.

A provider is an async context manager with ``draft(context) -> Reply``; it raises
``ProviderError`` when no usable reply came back (after the client's own retries).
The API key is read from ``OPENAI_API_KEY`` only (``annotate.core.settings.api_key``),
handed to the client, and scrubbed from every error message; it is never stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from annotate.core.errors import ConfigError
from annotate.core.settings import Endpoint, api_key
from annotate.drafting.base import (
    DraftProvider,
    ProviderError,
    Reply,
    scrub_secret,
    token_count,
)
from annotate.drafting.context import DraftContext
from annotate.drafting.deidentify import Deidentify, NotDeidentified, decide
from annotate.drafting.endpoint_formats import FormatMemory
from annotate.drafting.prompt import DEFAULT_CONTEXT_BUDGET, PromptTemplate, default_template
from annotate.drafting.schema import draft_schema
from annotate.drafting.server_replies import (
    Spent,
    context_overflow,
    read_usage,
    refuses_format,
    retry_after,
    told_window,
    transient,
)

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_HOST = "api.openai.com"
# Structured output first; servers that reject it get plain JSON mode, then no format at all.
# "json_object_schema" is JSON mode carrying the schema (llama-cpp-python's server turns it
# into a grammar; it refuses "json_schema" itself).
RESPONSE_FORMATS = ("json_schema", "json_object_schema", "json_object", "text")
PROVIDERS = ("openai", "offline")
MAX_TOKENS_CAP = 4096  # a reply cut at --max-tokens is asked once more with up to this
# The retry after a cut changes what caused it: more room, another seed, and at least this
# temperature (at 0 a new seed changes nothing: greedy decoding repeats the same opening).
CUT_RETRY_TEMPERATURE = 0.3
CUT_RETRY_SEED_STEP = 1
ERROR_LIMIT = 1000  # characters of an error message kept on a failed draft


@dataclass(frozen=True)
class Prompt:
    """What one request asks: its messages, and the reply's JSON schema and its name."""

    messages: list[dict[str, str]]
    schema_name: str
    schema: dict[str, Any]


@dataclass
class DraftSettings:
    """How to draft; ``None`` fields are taken from the environment or the defaults."""

    provider: str | None = None  # openai | offline | None: openai when an endpoint is configured
    model: str | None = None  # $ANNOTATE_DRAFT_MODEL, then gpt-4o-mini
    base_url: str | None = None  # $OPENAI_BASE_URL, then the OpenAI API
    temperature: float = 0.0
    max_tokens: int = 600
    seed: int | None = 0
    timeout: float = 60.0  # seconds per request attempt
    max_retries: int = 4  # the openai client's retries on 408/409/429/5xx, timeouts, resets
    context_budget: int = DEFAULT_CONTEXT_BUDGET  # estimated tokens for the transcript
    response_format: str | None = None  # force one of RESPONSE_FORMATS
    context_window: int | None = None  # the server's context: the transcript budget follows
    # Where the negotiated response format is remembered per endpoint and model (None:
    # negotiated afresh by every provider, as tests that build one by hand may want).
    formats: FormatMemory | None = None
    # De-identify what is sent (annotate.drafting.deidentify): None = when the endpoint is
    # not on this machine; True = always; False = never (recorded when the endpoint is remote).
    deidentify: bool | None = None
    deidentify_mode: str = "surrogate"  # surrogate | tag


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url  # never keep credentials in a URL


def host_of(base_url: str | None) -> str:
    """The host requests to BASE_URL go to, as stored and shown (None: OpenAI's API)."""
    return _host(base_url) if base_url else OPENAI_HOST


class OpenAIProvider:
    """Chat completions on an OpenAI-compatible server through the official async client."""

    name = "openai"

    def __init__(self, settings: DraftSettings, template: PromptTemplate | None = None) -> None:
        import openai  # noqa: F401  (loaded here, not inside a timed batch)

        self.settings = settings
        self.template = template or default_template()
        self.model = settings.model or DEFAULT_MODEL
        self.base_url = settings.base_url
        self.base_url_host: str | None = host_of(self.base_url)
        self.prompt_version = self.template.version
        self.prompt_hash = self.template.hash
        forced = settings.response_format
        if forced is not None and forced not in RESPONSE_FORMATS:
            raise ConfigError(f"--response-format must be one of {', '.join(RESPONSE_FORMATS)}")
        self._forced = forced is not None
        self._format_index = RESPONSE_FORMATS.index(forced) if forced else 0
        # A format is asked without the client's retries until the server has answered one:
        # a refusal of it (400, 422, or llama-cpp-python's 500) is then asked once, not five
        # times, and the batch steps down and keeps the working format.
        self._format_confirmed = self._forced  # the server answered it (this run)
        # Known: confirmed, forced or remembered from an earlier run; until then one request
        # at a time probes (the others wait) so a refusal is asked once, not once per slot.
        self._format_known = self._forced
        self._probe_lock: asyncio.Lock | None = None
        self._prober: asyncio.Task[Any] | None = None  # the request probing, if any
        self._remembered: str | None = None  # the format the store holds for this endpoint
        self._server_window: int | None = None  # n_ctx a context-size error told
        self._client: Any = None
        self._counter: Any = None
        self._scale: dict[str, float] = {}  # language -> real tokens per estimated token
        self._deidentify: Deidentify | None = None

    @property
    def deidentify(self) -> Deidentify:
        """Whether what this provider sends is de-identified (decided once, on first use:
        the endpoint's name may need resolving)."""
        if self._deidentify is None:
            settings = self.settings
            self._deidentify = decide(self.base_url, settings.deidentify,
                                      settings.deidentify_mode)  # fmt: skip
        return self._deidentify

    def check_sendable(self, deidentified: bool) -> None:
        """Refuse to build a request from text that should have been de-identified."""
        if self.deidentify.on and not deidentified:
            raise NotDeidentified(
                f"refusing to send a transcript to {self.base_url_host} that is not de-identified"
            )

    @property
    def params(self) -> dict[str, Any]:
        deidentify = self.deidentify.provenance()
        return {
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "seed": self.settings.seed,
            "response_format": RESPONSE_FORMATS[self._format_index],
            "timeout": self.settings.timeout,
            "max_retries": self.settings.max_retries,
            "context_budget": self.settings.context_budget,
            **(
                {"context_window": self.settings.context_window}
                if self.settings.context_window
                else {}
            ),  # fmt: skip
            **({"deidentify": deidentify} if deidentify else {}),
        }

    async def __aenter__(self) -> OpenAIProvider:
        from openai import AsyncOpenAI

        key = api_key()
        if not key and not self.base_url:
            raise ConfigError("the openai provider needs OPENAI_API_KEY or a --base-url")
        if key and not (key.isascii() and key.isprintable()):
            raise ConfigError(
                "OPENAI_API_KEY holds characters an HTTP header cannot carry (not plain "
                "ASCII): check the key, it is not shown here"
            )
        self._client = AsyncOpenAI(
            api_key=key or "no-key",  # local servers (vLLM, Ollama) need none
            base_url=self.base_url,
            timeout=self.settings.timeout,
            max_retries=self.settings.max_retries,
        )
        self._probe_lock = asyncio.Lock()
        await self._recall_format()
        return self

    async def _recall_format(self) -> None:
        """Start with the format this endpoint and model last answered (not when forced)."""
        memory = self.settings.formats
        if self._forced or memory is None or self.base_url_host is None:
            return
        stored = await memory.arecall(self.base_url_host, self.model)
        if stored in RESPONSE_FORMATS:
            self._remembered = stored
            self._format_index = max(self._format_index, RESPONSE_FORMATS.index(stored))
            self._format_known = True

    def remembered_format(self) -> str | None:
        """The format the store holds for this endpoint and model (sync: the batch file)."""
        memory = self.settings.formats
        if self._forced or memory is None or self.base_url_host is None:
            return None
        stored = memory.recall(self.base_url_host, self.model)
        if stored in RESPONSE_FORMATS:
            self._remembered = stored
            self._format_index = max(self._format_index, RESPONSE_FORMATS.index(stored))
        return self._remembered

    async def _confirm(self, response_format: str) -> None:
        """The server answered ``response_format``: keep it, and remember it when new."""
        self._format_confirmed = self._format_known = True
        memory = self.settings.formats
        if self._forced or memory is None or self.base_url_host is None:
            return
        if self._remembered != response_format:
            self._remembered = response_format
            await memory.aremember(self.base_url_host, self.model, response_format)

    def sync_client(self) -> Any:
        """A synchronous client with the same endpoint, key and retries (the batch path)."""
        from openai import OpenAI

        key = api_key()
        if not key and not self.base_url:
            raise ConfigError("the openai provider needs OPENAI_API_KEY or a --base-url")
        settings = self.settings
        return OpenAI(api_key=key or "no-key", base_url=self.base_url, timeout=settings.timeout,
                      max_retries=settings.max_retries)  # fmt: skip

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def strict_schema(self) -> bool:
        """The endpoint is OpenAI's, whose structured outputs take a stricter schema."""
        return self.base_url_host == OPENAI_HOST

    def _prompt(self, context: DraftContext, budget: int) -> Prompt:
        """The rationale prompt for CONTEXT with a transcript of at most BUDGET tokens."""
        self.check_sendable(context.deidentified)
        schema = draft_schema(context, for_openai=self.strict_schema)
        return Prompt(self.template.messages(context, budget), "rationale_draft", schema)

    def _request(self, prompt: Prompt, response_format: str, max_tokens: int) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": prompt.messages,
            "temperature": self.settings.temperature,
            "max_tokens": max_tokens,
        }
        if self.settings.seed is not None:
            request["seed"] = self.settings.seed
        field = response_format_field(response_format, prompt.schema_name, prompt.schema)
        if field is not None:
            request["response_format"] = field
        return request

    async def batch_body(self, context: DraftContext) -> dict[str, Any]:
        """The request body the batch interface sends for CONTEXT: the format forced or
        remembered for this endpoint (a batch cannot step down mid-way) and the transcript
        budget online drafting would use (``--context-window`` included)."""
        prompt = self._prompt(context, await self._budget(context))
        return self._request(prompt, RESPONSE_FORMATS[self._format_index], self.settings.max_tokens)

    async def _complete(self, request: dict[str, Any], retries: int) -> Any:
        client = self._client.with_options(max_retries=retries)
        return await client.chat.completions.create(**request)

    def dry_budgets(self, contexts: list[DraftContext]) -> list[int]:
        """Each context's transcript budget as online drafting sizes it, counted without
        asking the server's tokenizer (a dry run sends nothing)."""
        if self.settings.context_window is None:
            return [self.settings.context_budget] * len(contexts)
        from annotate.drafting.tokens import TokenCounter

        counter, scale = self._counter, dict(self._scale)
        self._counter, self._scale = TokenCounter(None, self.model), {}

        async def budgets() -> list[int]:
            return [await self._budget(context) for context in contexts]

        try:
            return asyncio.run(budgets())
        finally:
            self._counter, self._scale = counter, scale

    async def _budget(self, context: DraftContext) -> int:
        """The transcript budget (estimated tokens): the setting, or what the context
        window leaves after the fixed prompt and ``max_tokens``, in real tokens."""
        window = self.settings.context_window
        if window is None:
            return self.settings.context_budget
        from annotate.drafting.prompt import estimate_tokens, turn_line
        from annotate.drafting.tokens import TokenCounter

        if self._counter is None:
            self._counter = TokenCounter(self.base_url, self.model)
        if self._counter.url is not None:  # the server's tokenizer reads the transcript
            self.check_sendable(context.deidentified)
        fixed_context = DraftContext(**{**vars(context), "turns": ()})
        fixed = "\n".join(m["content"] for m in self.template.messages(fixed_context, 0))
        room = window - self.settings.max_tokens - await self._counter.count(fixed) - 64
        if context.language not in self._scale:
            sample = "\n".join(turn_line(t) for t in context.turns[:40]) or "x"
            real = await self._counter.count(sample)
            self._scale[context.language] = max(0.25, real / max(1, estimate_tokens(sample)))
        return max(0, int(room / self._scale[context.language]))

    async def draft(self, context: DraftContext, seed_step: int = 0) -> Reply:
        return await self.ask(partial(self._prompt, context), partial(self._budget, context),
                              seed_step)  # fmt: skip

    async def ask(
        self,
        prompt_for: Callable[[int], Prompt],
        budget: Callable[[], Awaitable[int]],
        seed_step: int = 0,
    ) -> Reply:
        """One reply to the prompt ``prompt_for(transcript budget)``, the budget given by
        ``budget()``: the format negotiated, a context overflow asked again with half the
        transcript, a cut reply once more with room; ``ProviderError`` when none came back.
        Rationale drafts ask through it, and so does anything else asking this endpoint
        (marker proposals). ``seed_step`` is added to the seed (one per sample of an item:
        ``draft --samples``)."""
        if self._client is None:
            raise RuntimeError("use the provider as 'async with provider:'")
        started = time.perf_counter()
        await self._probe_turn()
        try:
            return await self._ask(prompt_for, await budget(), started, seed_step)
        finally:
            self._end_probe()

    async def _probe_turn(self) -> None:
        """Wait while another request probes the format; then probe, unless it is known."""
        if self._format_known or self._probe_lock is None:
            return
        await self._probe_lock.acquire()
        if self._format_known:
            self._probe_lock.release()
        else:
            self._prober = asyncio.current_task()

    def _end_probe(self) -> None:
        """This request's probe is over: the next waiting request goes on."""
        if self._prober is not None and self._prober is asyncio.current_task():
            self._prober = None
            if self._probe_lock is not None:
                self._probe_lock.release()

    async def _ask(self, prompt_for: Callable[[int], Prompt], budget: int,
                   started: float, seed_step: int = 0) -> Reply:  # fmt: skip
        import openai

        max_tokens = self.settings.max_tokens
        asked_seed = None if self.settings.seed is None else self.settings.seed + seed_step
        temperature, seed = self.settings.temperature, asked_seed
        shrunk = retrying = False
        retries = self.settings.max_retries
        spent = Spent()
        kept: tuple[Any, Any, str, int] | None = None  # a cut reply, while its retry runs
        while True:
            response_format = RESPONSE_FORMATS[self._format_index]
            request = self._request(prompt_for(budget), response_format, max_tokens)
            request["temperature"] = temperature
            if seed is not None:
                request["seed"] = seed
            unconfirmed = not self._format_confirmed and not retrying
            try:
                completion = await self._complete(request, 0 if unconfirmed else retries)
            except openai.APIStatusError as error:
                spent.refused(request, response_format, error.status_code)
                if not self._forced and response_format != "text" and refuses_format(error):
                    # The server lacks this structured-output mode: step down (once per batch).
                    if RESPONSE_FORMATS[self._format_index] == response_format:
                        self._format_index += 1
                    continue
                if context_overflow(error):
                    self._server_window = told_window(error) or self._server_window
                if kept is not None:
                    break  # the retry after a cut did not fit or failed: the cut reply stays
                if not shrunk and context_overflow(error):
                    # One more try with half the transcript, unless halving the budget
                    # leaves the prompt as it was (a short transcript): the same request
                    # would be refused again.
                    shrunk, smaller = True, max(200, budget // 2)
                    if prompt_for(smaller).messages != request["messages"]:
                        budget = smaller
                        continue
                if unconfirmed and transient(error) and retries > 0:
                    retries -= 1  # not about the format: the remaining retries, as usual
                    retrying = True
                    await asyncio.sleep(retry_after(error))
                    continue
                raise self._error(error, started) from None
            except openai.APIConnectionError as error:  # timeouts too
                if kept is not None:
                    break
                if unconfirmed and retries > 0:
                    retries -= 1
                    retrying = True
                    continue
                raise self._error(error, started) from None
            except openai.OpenAIError as error:
                if kept is not None:
                    break
                raise self._error(error, started) from None
            except ValueError as error:  # a 200 whose body is not JSON (the client's json error)
                if kept is not None:
                    break
                raise self._not_completion(getattr(error, "doc", ""), started) from None
            if isinstance(completion, str | bytes):  # a 200 body that is not JSON at all
                if kept is not None:
                    break
                raise self._not_completion(completion, started)
            await self._confirm(response_format)
            self._end_probe()  # the others go on with the confirmed format
            try:
                choice = completion.choices[0] if completion.choices else None
                cut = choice is not None and choice.finish_reason == "length"
                spent.answered(request, response_format, completion, choice)
            except (AttributeError, TypeError, IndexError, KeyError):
                raise self._not_completion(str(completion), started) from None
            if cut and kept is None:
                room = self._room_after_cut(completion, max_tokens)
                if room is not None:  # once more, changing what caused the cut
                    kept = (completion, choice, response_format, max_tokens)
                    max_tokens = room
                    temperature = max(temperature, CUT_RETRY_TEMPERATURE)
                    seed = (seed if seed is not None else 0) + CUT_RETRY_SEED_STEP
                    continue
            kept = None
            break
        if kept is not None:
            completion, choice, response_format, max_tokens = kept
            temperature, seed = self.settings.temperature, asked_seed
        try:
            return self._reply(completion, choice, started, response_format, max_tokens, budget,
                               spent, temperature, seed)  # fmt: skip
        except (AttributeError, TypeError, IndexError, KeyError):  # JSON of some other shape
            raise self._not_completion(str(completion), started) from None

    def _room_after_cut(self, completion: Any, max_tokens: int) -> int | None:
        """``max_tokens`` for the retry after a cut (twice as many, at most MAX_TOKENS_CAP
        and what the context leaves after the prompt), or None when there is no more room:
        the prompt alone fills the context, or the cap is reached."""
        room = min(MAX_TOKENS_CAP, max_tokens * 2)
        window = self.settings.context_window or self._server_window
        usage = getattr(completion, "usage", None)
        prompt_tokens = token_count(getattr(usage, "prompt_tokens", None))
        if window is not None and prompt_tokens is not None:
            room = min(room, window - prompt_tokens)
        return room if room > max_tokens else None

    def _reply(self, completion: Any, choice: Any, started: float, response_format: str,
               max_tokens: int, budget: int, spent: Spent, temperature: float,
               seed: int | None) -> Reply:  # fmt: skip
        latency = (time.perf_counter() - started) * 1000
        refusal = getattr(choice.message, "refusal", None) if choice else None
        if refusal and choice is not None and not choice.message.content:
            raise ProviderError(_scrub(f"the model refused: {refusal}"), latency)
        _, _, _, timings = read_usage(completion)
        content = choice.message.content if choice else None
        if content is not None and not isinstance(content, str):
            raise TypeError("the content is not text")
        finish_reason = choice.finish_reason if choice else None
        finish_reason = finish_reason if isinstance(finish_reason, str) else None
        return Reply(
            content=content,
            tokens_in=spent.tokens_in,
            tokens_out=spent.tokens_out,
            latency_ms=latency,
            request_id=scrub_secret(
                str(getattr(completion, "_request_id", None) or completion.id or ""), 128
            )
            or None,
            params={
                **self.params,
                "response_format": response_format,
                "max_tokens": max_tokens,
                "temperature": temperature,
                "seed": seed,
                "context_budget": budget,
                "attempts": spent.attempts,
            },  # fmt: skip
            finish_reason=scrub_secret(finish_reason, 32),
            cached_tokens=spent.cached_tokens,
            timings=timings,
        )

    def _not_completion(self, body: object, started: float) -> ProviderError:
        """A 200 that is no chat completion (an HTML page, a proxy's notice): a failed draft
        quoting the start of the body, scrubbed before it is cut."""
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        shown = scrub_secret(" ".join(text.split()), 200)
        message = f"HTTP 200 from {self.base_url_host}: not a chat completion: {shown!r}"
        return ProviderError(_scrub(message), (time.perf_counter() - started) * 1000)

    def _error(self, error: Exception, started: float) -> ProviderError:
        settings = self.settings
        return request_error(error, self.base_url_host, settings.timeout, settings.max_retries,
                             started)  # fmt: skip


def request_error(error: Exception, host: str | None, timeout: float, max_retries: int,
                  started: float) -> ProviderError:  # fmt: skip
    """What a failed request to HOST says, in one line without the API key: a timeout
    after every attempt, the server's status and message, or no connection."""
    import openai

    attempts = max_retries + 1
    if isinstance(error, openai.APITimeoutError):
        message = f"timed out after {timeout:g} s ({attempts} attempts)"
    elif isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, Mapping) else {}
        detail = body.get("message") or error.message
        message = f"HTTP {error.status_code} from {host}: {detail}"
    elif isinstance(error, openai.APIConnectionError):
        message = f"cannot connect to {host} ({attempts} attempts)"
    else:
        message = f"{type(error).__name__}: {error}"
    return ProviderError(_scrub(message), (time.perf_counter() - started) * 1000)


def response_format_field(
    response_format: str, name: str, schema: dict[str, Any]
) -> dict[str, Any] | None:
    """The request's ``response_format`` for one of RESPONSE_FORMATS (None: plain text)."""
    if response_format == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema,
                                                        "strict": True}}  # fmt: skip
    if response_format == "json_object_schema":
        return {"type": "json_object", "schema": schema}  # llama-cpp-python's JSON mode
    if response_format == "json_object":
        return {"type": "json_object"}
    return None


def _scrub(message: str) -> str:
    """An error message without the API key (some servers quote the header), then cut."""
    return scrub_secret(message, ERROR_LIMIT) or ""


def resolve_provider_name(
    settings: DraftSettings,
    environ: Mapping[str, str] | None = None,
    endpoint: Endpoint | None = None,
) -> str:
    """The provider to use: the one asked for, else openai when an endpoint is configured
    (a key, or a base URL given or in ``endpoint``, by default the environment's)."""
    if settings.provider is not None:
        if settings.provider not in PROVIDERS:
            raise ConfigError(f"unknown provider {settings.provider!r}: use one of {PROVIDERS}")
        return settings.provider
    if endpoint is None:
        endpoint = Endpoint.from_environment(environ)
    configured = api_key(environ) or settings.base_url or endpoint.base_url
    return "openai" if configured else "offline"


def make_provider(
    settings: DraftSettings | None = None, endpoint: Endpoint | None = None
) -> DraftProvider:
    """A provider for these settings, the endpoint's defaults filled in (``endpoint``
    None: the environment's, as the terminal UI drafts)."""
    settings = settings or DraftSettings()
    if endpoint is None:
        endpoint = Endpoint.from_environment()
    name = resolve_provider_name(settings, endpoint=endpoint)
    if name == "offline":
        from annotate.drafting.offline import OfflineProvider

        return OfflineProvider()
    return OpenAIProvider(with_endpoint(settings, endpoint))


def with_endpoint(settings: DraftSettings, endpoint: Endpoint | None = None) -> DraftSettings:
    """SETTINGS with the model and base URL the command line left out taken from the
    endpoint (``ANNOTATE_DRAFT_MODEL``, ``OPENAI_BASE_URL``), then the defaults: the one
    rule for rationale drafts and marker proposals alike."""
    if endpoint is None:
        endpoint = Endpoint.from_environment()
    filled = DraftSettings(**vars(settings))
    filled.model = settings.model or endpoint.model or DEFAULT_MODEL
    filled.base_url = settings.base_url or endpoint.base_url
    return filled
