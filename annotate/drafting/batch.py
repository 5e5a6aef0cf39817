"""Draft many items at once: bounded concurrency, every finished draft saved at once.

The items run through the drafting engine (``annotate.drafting.engine``): workers take
them from a shared queue; each result goes to one writer that commits whatever has
arrived in one transaction (group commit in a thread), so a kill loses at most the
replies of the last few milliseconds and Ctrl-C loses none.
A rerun skips every item already drafted by the same provider, model and prompt
version (failed attempts are retried; ungrounded ones only on request). Items whose
rationale is already accepted are left out unless asked for.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.instruments import explained_items
from annotate.core.workflow import ACCEPTED, DRAFT_FAILED, DRAFT_OK, DRAFT_UNGROUNDED
from annotate.drafting.base import (
    DraftProvider,
    ProviderError,
    Reply,
    scrub_json,
    scrub_reply,
    scrub_secret,
)
from annotate.drafting.context import DraftContext, TurnText, load_contexts
from annotate.drafting.deidentify import (
    Deidentify,
    Mask,
    masked_turns,
    masks_for,
    plan_of,
    restore_draft,
    restored,
)
from annotate.drafting.engine import STAGGER_SECONDS, RowWriter, run_units
from annotate.drafting.grounding import ParsedDraft, ReplyFormatError, grounding_error, parse_reply
from annotate.ingest.validation import MAX_RATIONALE_LENGTH
from store.db import code_point_order, session_scope
from store.models import Draft, Item, Rating, Rationale, TherapySession, utcnow
from store.tables import DRAFTS


@dataclass
class WorkSelection:
    """Which (session, item) units to draft."""

    sessions: list[str] | None = None
    dimension: str | None = None
    limit: int | None = None
    force: bool = False  # draft again even when a draft exists for this model and prompt
    retry_ungrounded: bool = False  # draft again the ones whose last draft was ungrounded
    include_accepted: bool = False  # draft items whose rationale is accepted (left out otherwise)


@dataclass
class BatchProgress:
    """Running totals, passed to the progress callback after every item."""

    total: int = 0
    done: int = 0
    ok: int = 0
    ungrounded: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    # Of tokens_in, what the servers said they served from their prefix cache; None while
    # no reply reported it (llama-cpp-python's server never does): unknown, not 0.
    tokens_cached: int | None = None

    def count(self, draft: dict[str, Any]) -> None:
        self.done += 1
        if draft["status"] == DRAFT_OK:
            self.ok += 1
        elif draft["status"] == DRAFT_UNGROUNDED:
            self.ungrounded += 1
        else:
            self.failed += 1
        self.tokens_in += draft["tokens_in"] or 0
        self.tokens_out += draft["tokens_out"] or 0
        if draft["cached_tokens"] is not None:
            self.tokens_cached = (self.tokens_cached or 0) + draft["cached_tokens"]


@dataclass
class BatchSummary:
    """What a batch did (the ``annotate draft --json`` document)."""

    provider: str
    model: str
    prompt_version: str
    selected: int
    skipped: int
    progress: BatchProgress = field(default_factory=BatchProgress)
    seconds: float = 0.0
    accepted: int = 0  # left out: their rationale is accepted (no --include-accepted)
    deidentify: Deidentify | None = None  # what was done about identifiers in what was sent

    def as_json(self) -> dict[str, Any]:
        figures = asdict(self.progress)
        figures.pop("total")
        rate = self.progress.done / self.seconds if self.seconds else 0.0
        return {
            "provider": self.provider,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "selected": self.selected,
            "skipped_already_drafted": self.skipped,
            "skipped_accepted": self.accepted,
            **figures,
            "seconds": round(self.seconds, 3),
            "items_per_second": round(rate, 2),
            **({"deidentify": shown} if (shown := self._deidentified()) else {}),
        }

    def _deidentified(self) -> dict[str, Any] | None:
        return self.deidentify.provenance() if self.deidentify is not None else None


ProgressCallback = Callable[[BatchProgress], None]


RAW_REPLY_LIMIT = 20_000  # characters of a failed or ungrounded reply kept to inspect
# What a drafted rationale may hold to be stored as one (else the draft fails, naming why):
# at most MAX_RATIONALE_LENGTH characters (an imported rationale's limit), as one quote;
MAX_CITED = 200  # turn numbers cited, and quotes
MAX_TURN_NUMBER = 2**31 - 1  # a cited turn number (PostgreSQL INTEGER)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL (PostgreSQL refuses it), lone surrogates


@dataclass(frozen=True)
class ChosenWork:
    """The (session, item) units to draft, in order, and what was left out."""

    pairs: list[tuple[str, str]]
    skipped: int  # already drafted with this provider, model and prompt version
    accepted: int  # their rationale is accepted: nobody would read a new draft


def select_work(
    session: Session, provider: DraftProvider, selection: WorkSelection
) -> tuple[list[tuple[str, str]], int]:
    """The (session, item) units to draft, in order, and how many were skipped as done."""
    work = choose_work(session, provider, selection)
    return work.pairs, work.skipped


def choose_work(session: Session, provider: DraftProvider, selection: WorkSelection) -> ChosenWork:
    """The units to draft: every rated (session, item) of the selection, less those whose
    rationale is accepted (unless ``include_accepted``) and those already drafted (unless
    ``force``), then at most ``limit`` of them."""
    dialect = session.get_bind().dialect
    query = (
        select(Rating.session_id, Rating.item_id)
        .join(Item, col(Item.id) == col(Rating.item_id))
        .where(Rating.rater_role == "client")
        .where(col(Rating.item_id).in_(explained_items()))
        .order_by(
            code_point_order(col(Rating.session_id), dialect),
            code_point_order(col(Item.instrument_id), dialect),
            col(Item.position),
        )
    )
    if selection.sessions:
        known = set(
            session.exec(
                select(TherapySession.id).where(col(TherapySession.id).in_(selection.sessions))
            ).all()
        )
        unknown = [s for s in selection.sessions if s not in known]
        if unknown:
            raise NotFoundError(f"no session {', '.join(map(repr, unknown))}")
        query = query.where(col(Rating.session_id).in_(selection.sessions))
    if selection.dimension:
        dimensions = set(session.exec(select(Item.dimension).distinct()).all())
        if selection.dimension not in dimensions:
            raise ConfigError(
                f"unknown dimension {selection.dimension!r}: use one of {sorted(dimensions)}"
            )
        query = query.where(Item.dimension == selection.dimension)
    candidates = [(s, i) for s, i in session.exec(query).all()]
    accepted = 0
    if not selection.include_accepted:
        final = set(
            session.exec(
                select(Rationale.session_id, Rationale.item_id).where(Rationale.status == ACCEPTED)
            ).all()
        )
        kept_out = len(candidates)
        candidates = [pair for pair in candidates if pair not in final]
        accepted = kept_out - len(candidates)
    done: set[tuple[str, str]] = set()
    if not selection.force:
        kept = [DRAFT_OK] if selection.retry_ungrounded else [DRAFT_OK, DRAFT_UNGROUNDED]
        rows = session.exec(
            select(Draft.session_id, Draft.item_id)
            .where(Draft.provider == provider.name, Draft.model == provider.model)
            .where(Draft.prompt_version == provider.prompt_version)
            .where(col(Draft.status).in_(kept))
            .distinct()
        ).all()
        done = {(s, i) for s, i in rows}
    pending = [pair for pair in candidates if pair not in done]
    skipped = len(candidates) - len(pending)
    if selection.limit is not None:
        pending = pending[: max(selection.limit, 0)]
    return ChosenWork(pending, skipped, accepted)


def draft_values(
    provider: DraftProvider,
    context: DraftContext,
    reply: Reply | None,
    error: ProviderError | None = None,
    *,
    mask: Mask | None = None,
) -> dict[str, Any]:
    """The column values of a Draft row with full provenance, graded ok / ungrounded / failed.

    ``context`` is the original (the store's turns); ``mask`` the session's when the
    request was de-identified: the reply's rationale and quotes, the raw reply and any
    error quoting it are mapped back with it before grounding and storing.

    Plain values rather than a model object: a batch inserts thousands with one
    ``executemany`` (SQLModel construction costs more CPU than the request itself).
    """
    values: dict[str, Any] = {
        "session_id": context.session_id,
        "item_id": context.item_id,
        "status": DRAFT_FAILED,
        "text": None,
        "evidence": [],
        "quotes": [],
        "grounding_error": None,
        "error": None,
        "provider": provider.name,
        "model": provider.model,
        "base_url_host": provider.base_url_host,
        "prompt_version": provider.prompt_version,
        "prompt_hash": provider.prompt_hash,
        "instrument_version": context.instrument_version,
        "params": reply.params if reply and reply.params else dict(provider.params),
        "tokens_in": None,
        "tokens_out": None,
        "latency_ms": error.latency_ms if error else None,
        "request_id": None,
        "finish_reason": None,
        "cached_tokens": None,
        "server_timings": None,
        "raw_reply": None,
        "created_at": utcnow(),
    }
    if error is not None or reply is None:
        values["error"] = restored(str(error), mask) if error else "no reply"
        return values
    reply = scrub_reply(reply)  # before anything quotes or cuts what the server sent
    values.update(
        tokens_in=reply.tokens_in,
        tokens_out=reply.tokens_out,
        latency_ms=reply.latency_ms,
        request_id=reply.request_id,
        finish_reason=reply.finish_reason,
        cached_tokens=reply.cached_tokens,
        server_timings=reply.timings,
    )
    raw_reply = scrub_secret(restored(reply.content, mask), RAW_REPLY_LIMIT) or None
    try:
        parsed = reply.parsed or read_draft(reply.content)
    except ReplyFormatError as format_error:
        values["raw_reply"] = raw_reply
        if reply.finish_reason == "length":
            limit = values["params"].get("max_tokens")
            values["error"] = f"cut at max_tokens={limit}: raise --max-tokens"
        else:
            values["error"] = restored(str(format_error), mask)
        return values
    as_sent = parsed
    parsed = restore_draft(parsed, mask, context.turns)  # grounded against the originals
    unfit = draft_problem(parsed)
    if unfit is not None:
        values.update(raw_reply=raw_reply, error=f"the reply cannot be stored as a draft: {unfit}")
        return values
    problem = grounding_error(parsed, context.turns, context, from_model=reply.parsed is None,
                              as_sent=as_sent if mask is not None else None)  # fmt: skip
    if problem:
        values["raw_reply"] = raw_reply
    values.update(
        text=parsed.rationale,
        evidence=parsed.evidence,
        quotes=[quote.as_json() for quote in parsed.quotes],
        grounding_error=problem,
        status=DRAFT_UNGROUNDED if problem else DRAFT_OK,
    )
    return values


def read_draft(content: str | None) -> ParsedDraft:
    """The draft in a reply, or ``ReplyFormatError`` (also for JSON nested too deeply or
    holding a number too long for Python, which the tolerant reader does not catch)."""
    try:
        return parse_reply(content)
    except ReplyFormatError:
        raise
    except (ValueError, RecursionError):
        raise ReplyFormatError("the reply is not the requested JSON object") from None


def draft_problem(parsed: ParsedDraft) -> str | None:
    """Why a parsed draft cannot be stored as one (None when it can): a rationale or quote
    too long, too many citations, a turn number out of range, or text no database keeps."""
    if len(parsed.rationale) > MAX_RATIONALE_LENGTH:
        return f"the rationale is longer than {MAX_RATIONALE_LENGTH:,} characters"
    if len(parsed.evidence) > MAX_CITED or len(parsed.quotes) > MAX_CITED:
        return f"it cites more than {MAX_CITED} turns or quotes"
    numbers = [*parsed.evidence, *(q.turn for q in parsed.quotes if q.turn is not None)]
    if any(not -MAX_TURN_NUMBER <= number <= MAX_TURN_NUMBER for number in numbers):
        return "a cited turn number is out of range"
    if any(len(quote.text) > MAX_RATIONALE_LENGTH for quote in parsed.quotes):
        return f"a quote is longer than {MAX_RATIONALE_LENGTH:,} characters"
    for text in (parsed.rationale, *(quote.text for quote in parsed.quotes)):
        found = _UNSTORABLE.search(text)
        if found is not None:
            return ("the text contains a NUL character" if found.group() == "\x00" else
                    "the text contains a lone surrogate (\\ud800-\\udfff)")  # fmt: skip
    return None


async def draft_context(
    provider: DraftProvider,
    context: DraftContext,
    mask: Mask | None = None,
    sent: DraftContext | None = None,
) -> dict[str, Any]:
    """One request, turned into Draft values; provider failures become failed drafts.

    With ``mask`` (the session's, when the provider de-identifies) the request carries
    the masked turns (``sent``, made here when not given) and the reply is mapped back.
    The API key is scrubbed from everything stored, wherever a server echoed it.
    """
    if mask is not None and sent is None:
        sent = masked_context(context, mask)
    try:
        reply = await provider.draft(sent or context)
    except ProviderError as error:
        return _scrubbed(draft_values(provider, context, None, error, mask=mask))
    return _scrubbed(draft_values(provider, context, reply, mask=mask))


def masked_context(context: DraftContext, mask: Mask,
                   turns: tuple[TurnText, ...] | None = None) -> DraftContext:  # fmt: skip
    """The context as sent: the session's masked turns (``turns``, when already made)."""
    masked = turns if turns is not None else masked_turns(context.turns, mask)
    return replace(context, turns=masked, deidentified=True)


def _scrubbed(values: dict[str, Any]) -> dict[str, Any]:
    """Draft values as stored: the key scrubbed from every text (the reply was scrubbed
    before it was read; this also catches what joining its parts could make), and the
    characters no database keeps replaced in what is kept for inspection."""
    for key in ("text", "error", "grounding_error", "request_id", "raw_reply", "finish_reason"):
        values[key] = _storable(scrub_secret(values[key]))
    values["quotes"] = scrub_json(values["quotes"])
    values["server_timings"] = scrub_json(values["server_timings"])
    return values


def _storable(text: str | None) -> str | None:
    return None if text is None else _UNSTORABLE.sub("\ufffd", text)


class _DraftWriter(RowWriter[dict[str, Any]]):
    """Inserts Draft values (one ``executemany`` per transaction)."""

    def write(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        connection.execute(insert(DRAFTS), rows)


async def run_contexts(
    engine: Engine,
    provider: DraftProvider,
    contexts: list[DraftContext],
    *,
    concurrency: int = 8,
    on_progress: ProgressCallback | None = None,
    stagger: float = STAGGER_SECONDS,
) -> BatchProgress:
    """Draft every context with at most ``concurrency`` requests in flight; save as they finish."""
    progress = BatchProgress(total=len(contexts))
    ask = await asker(engine, provider, contexts)

    def counted(draft: dict[str, Any]) -> None:
        progress.count(draft)
        if on_progress is not None:
            on_progress(progress)

    await run_units(contexts, ask, _DraftWriter(engine), client=provider,
                    concurrency=concurrency, on_result=counted, stagger=stagger)  # fmt: skip
    return progress


Asker = Callable[..., Awaitable[dict[str, Any]]]


async def asker(engine: Engine, provider: DraftProvider, contexts: list[DraftContext]) -> Asker:
    """``ask(context, asking=provider)``: one request for a context turned into Draft
    values, de-identified when the provider's plan says so (each session masked once,
    before the first request; the map's new entries stored off the event loop).
    ``asking`` may wrap the provider (a sample of ``draft --samples``)."""
    plan = plan_of(provider)
    masks = await asyncio.to_thread(masks_for, engine, [c.session_id for c in contexts], plan)
    sent_turns = {sid: masked_turns(c.turns, masks[sid]) for c in contexts
                  if (sid := c.session_id) in masks}  # fmt: skip

    async def ask(context: DraftContext, asking: DraftProvider = provider) -> dict[str, Any]:
        mask = masks.get(context.session_id)
        if mask is None:
            return await draft_context(asking, context)
        sent = masked_context(context, mask, sent_turns[context.session_id])
        return await draft_context(asking, context, mask, sent)

    return ask


def remember_formats(engine: Engine, provider: DraftProvider) -> None:
    """Give a provider that negotiates its response format, and was given no memory of
    it, this store's (``endpoint_formats``)."""
    settings = getattr(provider, "settings", None)
    if settings is not None and hasattr(settings, "formats") and settings.formats is None:
        from annotate.drafting.endpoint_formats import FormatMemory

        settings.formats = FormatMemory(engine)


def run_batch(
    engine: Engine,
    provider: DraftProvider,
    selection: WorkSelection | None = None,
    *,
    concurrency: int = 8,
    on_start: Callable[[int, int], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> BatchSummary:
    """Select the work, draft it, and report (synchronous entry point for the CLI).

    A provider that negotiates its response format and was given no memory of it uses
    this store's (``endpoint_formats``), so every caller reuses what an endpoint answered.
    """
    selection = selection or WorkSelection()
    remember_formats(engine, provider)
    with session_scope(engine) as session:
        work = choose_work(session, provider, selection)
        contexts = load_contexts(session, work.pairs)
    summary = BatchSummary(
        provider=provider.name,
        model=provider.model,
        prompt_version=provider.prompt_version,
        selected=len(work.pairs),
        skipped=work.skipped,
        accepted=work.accepted,
        deidentify=plan_of(provider),
    )
    if on_start is not None:
        on_start(len(work.pairs), work.skipped)
    started = time.perf_counter()
    if contexts:
        summary.progress = asyncio.run(
            run_contexts(
                engine, provider, contexts, concurrency=concurrency, on_progress=on_progress
            )
        )
    summary.seconds = time.perf_counter() - started
    return summary
