"""Model-in-the-loop drafting: grounded rationale drafts with their provenance.

``draft_one`` regenerates one draft (the terminal UI calls it from a worker thread);
``run_batch`` drafts many with bounded concurrency and resumes where it stopped;
``run_samples`` asks K drafts of each item and stores how much they disagree.
Every draft row records the provider, model, endpoint host, prompt version and hash,
instrument version, parameters, tokens, latency, request id, time and grounding result.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotate.core.errors import ConfigError
from annotate.drafting.base import DraftProvider, ProviderError, Reply
from annotate.drafting.batch import (
    BatchProgress,
    BatchSummary,
    WorkSelection,
    draft_context,
    run_batch,
    run_contexts,
    select_work,
)
from annotate.drafting.context import DraftContext, load_contexts
from annotate.drafting.deidentify import Mask, masks_for, plan_of
from annotate.drafting.providers import DraftSettings, make_provider
from annotate.drafting.samples import SamplesSummary, run_samples
from store.db import session_scope
from store.models import Draft

__all__ = [
    "BatchProgress",
    "BatchSummary",
    "DraftProvider",
    "DraftSettings",
    "DraftContext",
    "ProviderError",
    "Reply",
    "SamplesSummary",
    "WorkSelection",
    "draft_one",
    "make_provider",
    "run_batch",
    "run_contexts",
    "run_samples",
    "select_work",
]


def draft_one(
    engine: Engine | Session,
    session_id: str,
    item_id: str,
    *,
    provider: DraftProvider | str | None = None,
) -> Draft:
    """Draft one (session, item) again and store it; returns the new Draft row.

    ``provider`` None means the configured default (openai when OPENAI_API_KEY or
    OPENAI_BASE_URL is set, else offline); a name ("openai", "offline") picks one with
    the environment's settings. The transcript is de-identified when the provider's
    endpoint is not on this machine (``annotate.drafting.deidentify``). Synchronous:
    call it from a worker thread, not from a running event loop. Given an Engine
    (preferred), the transcript is read in one short transaction and the draft committed
    in another, with no transaction open during the request; given a Session, the draft
    is added and flushed in it and the caller commits (its transaction, and on SQLite the
    write lock, stays open meanwhile).
    """
    if provider is None or isinstance(provider, str):
        # Given an engine, the format the endpoint answered before is used from the first
        # request (a Session's open transaction may hold SQLite's write lock: no memory).
        from annotate.drafting.endpoint_formats import FormatMemory

        memory = None if isinstance(engine, Session) else FormatMemory(engine)
        provider = make_provider(DraftSettings(provider=provider, formats=memory))
    plan = plan_of(provider)
    if isinstance(engine, Session):
        if plan.on:  # the mask's map is stored in a transaction of its own
            raise ConfigError("de-identified drafting needs the store's engine, not a session")
        context = load_contexts(engine, [(session_id, item_id)])[0]
        draft = asyncio.run(_draft_single(provider, context))
        engine.add(draft)
        engine.flush()
        return draft
    with session_scope(engine) as session:
        context = load_contexts(session, [(session_id, item_id)])[0]
    mask = masks_for(engine, [session_id], plan).get(session_id)
    draft = asyncio.run(_draft_single(provider, context, mask))
    with session_scope(engine) as session:
        session.add(draft)
    return draft


async def _draft_single(
    provider: DraftProvider, context: DraftContext, mask: Mask | None = None
) -> Draft:
    async with provider:
        return Draft(**await draft_context(provider, context, mask))
