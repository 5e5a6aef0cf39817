"""``annotate draft --dry-run``: what a batch would send, before anything is sent.

The requests are built exactly as the batch would build them (same selection, prompt
template and transcript budget); tokens are the prompt module's tokenizer-free estimate
(about 4 ASCII characters or 1 other character per token). The cacheable share is the
part of each request identical to the start of the previous request of the same
session, which a server's prefix cache can serve instead of processing again.
With ``samples`` K (``draft --samples``) every item is asked K times: requests, tokens
and cost are K times a single draft's, and the K-1 repeats of a request are cacheable
whole; the items skipped are those with a finished set (``annotate.drafting.samples``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Engine

from annotate.drafting.base import DraftProvider
from annotate.drafting.batch import WorkSelection, choose_work
from annotate.drafting.context import load_contexts
from annotate.drafting.prompt import estimate_tokens
from store.db import session_scope


@dataclass
class Estimate:
    """The figures ``--dry-run`` prints (``--json``: this, as an object)."""

    provider: str
    model: str
    prompt_version: str
    items: int
    skipped_already_drafted: int
    input_tokens: int
    cacheable_input_tokens: int
    output_tokens_at_most: int
    price_in_per_million: float | None = None
    price_out_per_million: float | None = None
    cost_at_most: float | None = None
    skipped_accepted: int = 0  # their rationale is accepted (no --include-accepted)
    samples: int = 1  # drafts asked per item (draft --samples)
    requests: int = 0  # items x samples

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _serialised(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m['role']}\n{m['content']}" for m in messages)


def request_tokens(messages: list[dict[str, Any]]) -> int:
    """A request's estimated input tokens, as every dry run counts them."""
    return estimate_tokens(_serialised(messages))


def cost_at_most(
    tokens_in: int, tokens_out: int, price_in: float | None, price_out: float | None
) -> float | None:
    """What the tokens cost at most at the given prices per million (None: no prices)."""
    if price_in is None or price_out is None:
        return None
    return round(tokens_in / 1e6 * price_in + tokens_out / 1e6 * price_out, 4)


def estimate(
    engine: Engine,
    provider: DraftProvider,
    selection: WorkSelection,
    *,
    price_in: float | None = None,
    price_out: float | None = None,
    samples: int | None = None,
) -> Estimate:
    """Build every request of the batch (of ``samples`` per item) and count it; nothing
    is sent."""
    from annotate.drafting.samples import choose_sample_work

    asked = samples or 1
    with session_scope(engine) as session:
        if samples is None:
            work = choose_work(session, provider, selection)
        else:
            work = choose_sample_work(session, provider, selection, samples)
        contexts = load_contexts(session, work.pairs)
    template = getattr(provider, "template", None)
    settings = getattr(provider, "settings", None)
    total = cacheable = 0
    previous: dict[str, str] = {}
    if template is not None and settings is not None:  # a model endpoint, not offline
        sizing = getattr(provider, "dry_budgets", None)  # --context-window, as online
        budgets = sizing(contexts) if sizing else [settings.context_budget] * len(contexts)
        for context, budget in zip(contexts, budgets, strict=True):
            messages = template.messages(context, budget)
            request = _serialised(messages)
            tokens = request_tokens(messages)
            total += tokens * asked
            cacheable += tokens * (asked - 1)  # the same request again, for each sample
            before = previous.get(context.session_id)
            if before is not None:
                cacheable += estimate_tokens(os.path.commonprefix([before, request]))
            previous[context.session_id] = request
    output = len(contexts) * asked * settings.max_tokens if settings is not None else 0
    cost = cost_at_most(total, output, price_in, price_out)
    return Estimate(
        provider=provider.name,
        model=provider.model,
        prompt_version=provider.prompt_version,
        items=len(contexts),
        skipped_already_drafted=work.skipped,
        input_tokens=total,
        cacheable_input_tokens=cacheable,
        output_tokens_at_most=output,
        price_in_per_million=price_in,
        price_out_per_million=price_out,
        cost_at_most=cost,
        skipped_accepted=work.accepted,
        samples=asked,
        requests=len(contexts) * asked,
    )
