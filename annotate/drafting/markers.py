"""Propose turn codes (3RS markers) for experts to accept or reject: ``draft --markers``.

Two proposers, one store: the configured model (any OpenAI-compatible server, through
:class:`MarkerProvider`, which reuses the rationale drafter's format negotiation,
retries and cut-reply handling) and the offline hinter (cue lists of the marker scheme,
labelled as such). Every proposal is *grounded* like a rationale's evidence: the turn
exists, the code is in the scheme and fits the speaker (client markers on client turns,
repairs on counselor turns), and the quote occurs in that turn. Ungrounded proposals are
stored with the reason, never offered. A call that gives no usable reply is a failed
marker draft with its error and the scrubbed raw reply. A rerun skips sessions already
proposed by the same provider, model, prompt and scheme version.

The prompt, reading a reply, grounding and the hinter are in
``annotate.drafting.marker_proposals``; sessions run through the drafting engine
(``annotate.drafting.engine``), as rationale drafts do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.guidelines import MarkerScheme
from annotate.core.markers import DEFAULT_SCHEME, stored_scheme
from annotate.core.plurals import counted
from annotate.drafting.base import ProviderError, Reply, scrub_reply, scrub_secret
from annotate.drafting.context import TurnText
from annotate.drafting.deidentify import Deidentify, Mask, masked_turns, masks_for, restored
from annotate.drafting.engine import RowWriter, run_units, write_each
from annotate.drafting.marker_proposals import (
    MarkerReplyError,
    Proposal,
    SessionTurns,
    hint_offline,
    marker_schema,
    marker_template,
    parse_markers,
    proposal_error,
    restore_proposal,
)
from annotate.drafting.prompt import estimate_tokens, turn_line
from annotate.drafting.providers import DraftSettings, OpenAIProvider, Prompt, with_endpoint
from store.db import session_scope
from store.models import Coding, MarkerDraft, TherapySession, Turn, utcnow
from store.tables import MARKER_DRAFTS, MARKER_SUGGESTIONS

OFFLINE_MODEL = "offline-cues-1"
RAW_REPLY_LIMIT = 20_000


class MarkerProvider:
    """Marker proposals from an OpenAI-compatible endpoint: the rationale drafter's client
    (format negotiation, retries, cut-reply handling) asked with the marker prompt and
    schema. An async context manager, like the provider it holds."""

    name = "openai"

    def __init__(self, settings: DraftSettings, scheme: MarkerScheme) -> None:
        settings = with_endpoint(settings)  # the model and endpoint drafts would use
        self.client = OpenAIProvider(settings)
        self.settings = settings
        self.scheme = scheme
        self.marker_template = marker_template()
        self.model = self.client.model
        self.base_url_host = self.client.base_url_host
        self.prompt_version = self.marker_template.version
        self.prompt_hash = self.marker_template.hash

    async def __aenter__(self) -> MarkerProvider:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.__aexit__(*exc_info)

    @property
    def deidentify(self) -> Deidentify:
        """Whether what is sent is de-identified (the endpoint's rule, as for rationales)."""
        return self.client.deidentify

    def prompt(self, context: SessionTurns) -> Prompt:
        """The marker prompt for a window of turns, and its bounded schema."""
        self.client.check_sendable(context.deidentified)
        schema = marker_schema(self.scheme, context, for_openai=self.client.strict_schema)
        return Prompt(self.marker_template.messages(self.scheme, context), "turn_markers", schema)

    async def propose(self, context: SessionTurns) -> Reply:
        """One reply for a window of turns (``ProviderError`` when none came back)."""
        prompt = self.prompt(context)

        async def whole() -> int:
            return self.settings.context_budget  # the whole window is coded

        return await self.client.ask(lambda budget: prompt, whole)


# --- the batch --------------------------------------------------------------------------


def windows(context: SessionTurns, budget: int) -> list[SessionTurns]:
    """The session's turns in consecutive windows of at most ``budget`` estimated tokens
    (one window when the whole transcript fits): every turn is coded, a long session in
    several requests instead of one the server would refuse."""
    parts: list[list[TurnText]] = [[]]
    used = 0
    for turn in context.turns:
        cost = estimate_tokens(turn_line(turn))
        if parts[-1] and used + cost > budget:
            parts.append([])
            used = 0
        parts[-1].append(turn)
        used += cost
    return [SessionTurns(context.session_id, context.language, tuple(part), context.deidentified)
            for part in parts]  # fmt: skip


class _Failed(Exception):
    def __init__(self, message: str, reply: Reply, raw: str | None) -> None:
        super().__init__(message)
        self.message, self.reply, self.raw = message, reply, raw


def _summed(replies: list[Reply]) -> Reply:
    """One session's requests as one reply: tokens and latency added up; the parameters
    of the last request that has them (the format the server took), with every
    request's attempts."""
    asked = [r.params for r in replies if r.params]
    params = dict(asked[-1]) if asked else {}
    if len(asked) > 1 and all(isinstance(p.get("attempts"), list) for p in asked):
        params["attempts"] = [attempt for p in asked for attempt in p["attempts"]]
    return Reply(
        tokens_in=_total([r.tokens_in for r in replies]),
        tokens_out=_total([r.tokens_out for r in replies]),
        latency_ms=_total([r.latency_ms for r in replies]),
        params=params,
    )


Number = TypeVar("Number", int, float)


def _total(values: list[Number | None]) -> Number | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class _Proposed:
    """One session's proposals as stored: the marker_drafts row and its suggestions."""

    draft: dict[str, Any]
    suggestions: list[dict[str, Any]]  # marker_suggestions rows, less their draft_id
    grounded: int


class _MarkerWriter(RowWriter[_Proposed]):
    """Inserts each session's marker draft, then its suggestions under the draft's id."""

    def write(self, connection: Connection, results: list[_Proposed]) -> None:
        for result in results:
            inserted = connection.execute(insert(MARKER_DRAFTS), result.draft)
            if result.suggestions:
                key = inserted.inserted_primary_key
                assert key is not None
                draft_id = key[0]
                rows = [{**row, "draft_id": draft_id} for row in result.suggestions]
                connection.execute(insert(MARKER_SUGGESTIONS), rows)


@dataclass
class MarkerRun:
    sessions: int = 0
    skipped: int = 0
    ok: int = 0
    ungrounded: int = 0
    failed: int = 0
    proposals: int = 0
    grounded: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self, label: str) -> str:
        return (
            f"proposed markers for {counted(self.sessions, 'session')} with {label}: "
            f"{self.ok} ok, {self.ungrounded} with ungrounded proposals, {self.failed} failed; "
            f"{self.grounded} of {counted(self.proposals, 'proposal')} grounded; "
            f"{self.skipped} already proposed"
        )


def _contexts(session: Session, session_ids: list[str]) -> list[SessionTurns]:
    sessions = {
        row.id: row
        for row in session.execute(
            select(TherapySession).where(col(TherapySession.id).in_(session_ids))
        ).scalars()
    }
    turns: dict[str, list[TurnText]] = {sid: [] for sid in session_ids}
    for row in session.execute(
        select(col(Turn.session_id), col(Turn.number), col(Turn.speaker), col(Turn.text))
        .where(col(Turn.session_id).in_(session_ids))
        .order_by(col(Turn.session_id), col(Turn.number))
    ).all():
        turns[row.session_id].append(TurnText(row.number, row.speaker, row.text))
    return [SessionTurns(sid, sessions[sid].language or "en", tuple(turns[sid]))
            for sid in session_ids]  # fmt: skip


def select_sessions(session: Session, requested: list[str] | None, scheme_id: str) -> list[str]:
    """The sessions to propose for: those named, else every session with a coding."""
    if requested:
        known = set(
            session.execute(
                select(col(TherapySession.id)).where(col(TherapySession.id).in_(requested))
            ).scalars()
        )
        unknown = [s for s in requested if s not in known]
        if unknown:
            raise NotFoundError(f"no session {', '.join(map(repr, unknown))}")
        return sorted(set(requested))
    coded = session.execute(
        select(col(Coding.session_id)).where(col(Coding.scheme_id) == scheme_id).distinct()
    ).scalars()
    return sorted(set(coded))


def run_markers(
    engine: Engine,
    settings: DraftSettings | None,
    *,
    sessions: list[str] | None = None,
    scheme_id: str = DEFAULT_SCHEME,
    concurrency: int = 4,
    on_progress: Callable[[MarkerRun, int], None] | None = None,
) -> MarkerRun:
    """Propose codes for the sessions (``settings`` None: the offline hinter)."""
    with session_scope(engine) as session:
        scheme = stored_scheme(session, scheme_id)
        chosen = select_sessions(session, sessions, scheme_id)
        if not chosen:
            raise ConfigError(
                "no sessions to propose markers for: assign codings first "
                "('annotate codes assign') or name --session"
            )
        provider: MarkerProvider | None = (
            MarkerProvider(settings, scheme) if settings is not None else None
        )
        name = "openai" if provider else "offline"
        model = provider.model if provider else OFFLINE_MODEL
        prompt_hash = provider.prompt_hash if provider else marker_template().hash
        done = set(
            session.execute(
                select(col(MarkerDraft.session_id)).where(
                    col(MarkerDraft.scheme_id) == scheme_id,
                    col(MarkerDraft.provider) == name,
                    col(MarkerDraft.model) == model,
                    col(MarkerDraft.prompt_hash) == prompt_hash,
                    col(MarkerDraft.scheme_version) == scheme.version,
                    col(MarkerDraft.status) != "failed",
                )
            ).scalars()
        )
        todo = [sid for sid in chosen if sid not in done]
        contexts = _contexts(session, todo)
    # De-identified before any request when the endpoint asks for it (the map's new
    # entries stored in a transaction of its own); replies are mapped back with the mask.
    masks = masks_for(engine, todo, provider.deidentify) if provider else {}
    run = MarkerRun(sessions=len(todo), skipped=len(chosen) - len(todo))
    if on_progress:
        on_progress(run, len(todo))

    def asked(reply: Reply | None) -> dict[str, Any] | None:
        """The draft's parameters, with its ``deidentify`` provenance as a rationale
        draft's (``annotate.drafting.deidentify``); None for the hinter, which sends
        nothing."""
        if provider is None:
            return None
        return dict(reply.params) if reply and reply.params else dict(provider.client.params)

    def proposed(context: SessionTurns, reply: Reply | None, proposals: list[Proposal] | None,
                 error: str | None, raw: str | None) -> _Proposed:  # fmt: skip
        error = scrub_secret(error)  # stored and shown
        rows = []
        for proposal in proposals or []:
            problem = proposal_error(scheme, context, proposal)
            rows.append((proposal, problem))
        grounded = sum(1 for _, problem in rows if problem is None)
        status = "failed" if error else ("ungrounded" if grounded < len(rows) else "ok")
        draft = dict(
            session_id=context.session_id, scheme_id=scheme.id, status=status,
            error=error, provider=name, model=model,
            base_url_host=provider.base_url_host if provider else None,
            prompt_version=marker_template().version, prompt_hash=prompt_hash,
            scheme_version=scheme.version,
            tokens_in=reply.tokens_in if reply else None,
            tokens_out=reply.tokens_out if reply else None,
            latency_ms=reply.latency_ms if reply else None,
            raw_reply=scrub_secret(raw, RAW_REPLY_LIMIT) or None if status != "ok" else None,
            created_at=utcnow(), params=asked(reply),
        )  # fmt: skip
        suggestions = [
            dict(session_id=context.session_id, turn_number=proposal.turn,
                 code=proposal.code[:64], reason=proposal.reason, quote=proposal.quote,
                 grounded=problem is None, grounding_error=problem)
            for proposal, problem in rows
        ]  # fmt: skip
        return _Proposed(draft, suggestions, grounded)

    def counted(result: _Proposed) -> None:
        run.proposals += len(result.suggestions)
        run.grounded += result.grounded
        status = result.draft["status"]
        if status == "failed":
            run.failed += 1
            run.errors.append(f"{result.draft['session_id']}: {result.draft['error']}")
        elif status == "ungrounded":
            run.ungrounded += 1
        else:
            run.ok += 1
        if on_progress:
            on_progress(run, len(todo))

    def hint(context: SessionTurns) -> _Proposed:
        return proposed(context, None, hint_offline(scheme, context), None, None)

    async def ask(
        part: SessionTurns, mask: Mask | None, original: SessionTurns
    ) -> tuple[Reply, list[Proposal]]:
        """One request for a window of turns; ``_Failed`` says why it gave nothing. With
        ``mask`` the window was sent masked: what comes back is mapped back with it."""
        assert provider is not None
        try:
            reply = await provider.propose(part)
        except ProviderError as error:
            message = restored(str(error), mask) or ""
            raise _Failed(message, Reply(latency_ms=error.latency_ms), None) from None
        reply = scrub_reply(reply)  # before the reply is parsed, quoted or cut
        raw = restored(reply.content, mask)
        if reply.finish_reason == "length":
            cut = f"cut at max_tokens={reply.params.get('max_tokens')}: raise --max-tokens"
            raise _Failed(cut, reply, raw)
        try:
            found = parse_markers(reply.content)
        except MarkerReplyError as error:
            message = restored(f"unusable reply: {error}", mask) or ""
            raise _Failed(message, replace(reply, content=raw), raw) from None
        back = [restore_proposal(p, mask, part, original) for p in found]
        return replace(reply, content=raw), back

    async def one(context: SessionTurns) -> _Proposed:
        assert provider is not None
        mask = masks.get(context.session_id)
        sent = context  # grounding below is against the original turns
        if mask is not None:
            sent = SessionTurns(context.session_id, context.language,
                                masked_turns(context.turns, mask), deidentified=True)  # fmt: skip
        parts = windows(sent, provider.settings.context_budget)
        replies: list[Reply] = []
        proposals: list[Proposal] = []
        contents: list[str] = []
        for part in parts:
            try:
                reply, found = await ask(part, mask, context)
            except _Failed as failed:
                where = f" (turns {part.turns[0].number}-{part.turns[-1].number})"
                error = failed.message + (where if len(parts) > 1 else "")
                return proposed(context, _summed([*replies, failed.reply]), None, error,
                                failed.raw)  # fmt: skip
            replies.append(reply)
            proposals.extend(found)
            contents.append(reply.content or "")
        return proposed(context, _summed(replies), proposals, None, "\n".join(contents))

    writer = _MarkerWriter(engine)
    if provider is None:  # the offline hinter: no request to wait for, no event loop
        write_each(contexts, hint, writer, on_result=counted)
    else:
        asyncio.run(run_units(contexts, one, writer, client=provider, concurrency=concurrency,
                              on_result=counted))  # fmt: skip
    return run
