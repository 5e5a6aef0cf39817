"""The offline drafter: no network and no model weights, an honest evidence-first draft.

It ranks the session's turns by character n-gram similarity to the item, its
dimension's definition and the dimension's cue words (English and Chinese, from
``guidelines/prompts/offline.toml``), prefers the client's own turns, and writes a
draft stored as the offline provider's (the editor labels it as such): the rating, the
item, and short exact quotes from the best-matching turns, for the expert to rewrite.
"""

from __future__ import annotations

import time
from pathlib import Path

from annotate.core.guidelines import OFFLINE_SPEC, OfflineSpec, load_offline_spec
from annotate.drafting.base import Reply
from annotate.drafting.context import DraftContext, TurnText
from annotate.drafting.grounding import ParsedDraft, Quote
from annotate.drafting.similarity import rank

CLIENT_WEIGHT = 1.0
COUNSELOR_WEIGHT = 0.6  # the rating is the client's: their own words weigh more


def excerpt(text: str, limit: int) -> str:
    """An exact prefix of the turn, cut at a word or clause boundary when it is long."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if text[limit] == " ":
        return cut.rstrip()
    for mark in ("。", "，", "！", "？", ". ", ", ", "; ", " "):
        position = cut.rfind(mark)
        if position >= limit // 2:
            return cut[:position].rstrip()
    return cut


def pick_evidence(context: DraftContext, spec: OfflineSpec) -> list[TurnText]:
    """The best-matching turns (at least one client turn when there is one), in turn order."""
    cues = " ".join(spec.cues.get(context.dimension, []))
    query = f"{context.item_text} {context.dimension_definition} {cues}"
    scores = rank(query, [t.text for t in context.turns])
    weighted = [
        (score * (CLIENT_WEIGHT if turn.speaker == "client" else COUNSELOR_WEIGHT), turn)
        for score, turn in zip(scores, context.turns, strict=True)
    ]
    ordered = [turn for _, turn in sorted(weighted, key=lambda pair: (-pair[0], pair[1].number))]
    chosen = ordered[: spec.evidence_turns]
    if not any(t.speaker == "client" for t in chosen):
        client = next((t for t in ordered if t.speaker == "client"), None)
        if client is not None:
            chosen = [*chosen[: spec.evidence_turns - 1], client]
    return sorted(chosen, key=lambda t: t.number)


def offline_draft(context: DraftContext, spec: OfflineSpec) -> ParsedDraft:
    """The evidence-first draft for one item (its label is shown, not stored in it)."""
    words = spec.text.get(context.language) or spec.text["en"]
    evidence = pick_evidence(context, spec)
    quotes = [Quote(excerpt(t.text, spec.quote_chars), t.number) for t in evidence]
    quoted = words.joiner.join(words.quote.format(turn=q.turn, text=q.text) for q in quotes)
    body = words.body.format(
        item=context.item_text,
        rating=context.rating,
        anchor=context.anchor,
        dimension=context.dimension_name,
        turns=", ".join(str(t.number) for t in evidence),
        quotes=quoted + ("." if quoted and context.language != "zh" else "。" if quoted else ""),
    )
    # The label (``words.label``) is not part of the text: the editor shows it above the
    # draft (the draft's provider says it is offline), and accept refuses the draft as is.
    return ParsedDraft(body, [t.number for t in evidence], quotes)


class OfflineProvider:
    """A provider that drafts locally and instantly; the demo's default."""

    name = "offline"
    base_url_host: str | None = None

    def __init__(self, spec_path: Path = OFFLINE_SPEC) -> None:
        self.spec, self.prompt_hash = load_offline_spec(spec_path)
        self.model = self.spec.model
        self.prompt_version = self.spec.version
        self.params: dict = {"evidence_turns": self.spec.evidence_turns}

    async def __aenter__(self) -> OfflineProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def draft(self, context: DraftContext) -> Reply:
        started = time.perf_counter()
        parsed = offline_draft(context, self.spec)
        return Reply(
            parsed=parsed,
            tokens_in=0,
            tokens_out=0,
            latency_ms=(time.perf_counter() - started) * 1000,
            params=dict(self.params),
        )
