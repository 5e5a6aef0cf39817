"""``annotate judge``: a model scores texts on the store's rubric, for project leads.

The texts are the current version of every rationale that has been signed off (status
accepted, or sent back after a review and not edited since: the text the reviewers
scored) and every imported prediction. The configured model is asked through the
rationale drafter's client (format negotiation, retries, cut replies, scrubbing of the
API key) with the judge prompt and a schema made from the rubric; requests are
de-identified as drafts are and the reply mapped back before it is grounded. Each
judgement is a ``judgements`` row with its ``judgement_scores``, written by the drafting
engine's writer in one transaction.

A rerun judges only what changed: a text keeps its judgement while its version, text
hash, the model, the prompt's hash and the rubric's version are the same (a failed one
is asked again; an ungrounded one with ``retry_ungrounded``; everything with ``force``).
There is no offline judge: a stand-in without a model would only pretend to read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from statistics import fmean
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.guidelines import Rubric
from annotate.core.plurals import counted
from annotate.core.settings import Endpoint
from annotate.core.vocabulary import current_rubric
from annotate.core.workflow import (
    ACCEPTED,
    DRAFT_FAILED,
    DRAFT_OK,
    DRAFT_UNGROUNDED,
    REVISION_REQUESTED,
    VERSION_ACCEPT,
    VERSION_IMPORT,
)
from annotate.drafting.base import ProviderError, Reply, scrub_reply, scrub_secret
from annotate.drafting.batch import BatchProgress, _storable, draft_problem, masked_context
from annotate.drafting.context import TurnText, load_contexts
from annotate.drafting.deidentify import Deidentify, Mask, masked_turns, masks_for, restore_draft
from annotate.drafting.deidentify import restored as unmasked
from annotate.drafting.engine import RowWriter, run_units
from annotate.drafting.estimate import cost_at_most, request_tokens
from annotate.drafting.grounding import ReplyFormatError
from annotate.drafting.providers import (
    DraftSettings,
    OpenAIProvider,
    Prompt,
    resolve_provider_name,
    with_endpoint,
)
from annotate.judging.prompt import (
    Judged,
    Target,
    check_rubric,
    judge_schema,
    judge_template,
    judged_problem,
    messages,
    read_judgement,
)
from annotate.work.judged import current_judgements, text_hash
from store.db import session_scope
from store.models import Item, Judgement, Prediction, Rating, Rationale, RationaleVersion, utcnow
from store.tables import JUDGEMENT_SCORES, JUDGEMENTS

PROVIDER = "openai"
TARGETS = ("all", "rationales", "predictions")
# Rationales whose current text was signed off: accepted, or sent back by a review and not
# yet edited (a save after the send-back is work in progress, judged once accepted again).
JUDGED_STATUSES = (ACCEPTED, REVISION_REQUESTED)
SIGNED_OFF = (VERSION_ACCEPT, VERSION_IMPORT)  # the kinds of version an accepted text has
RAW_REPLY_LIMIT = 20_000  # characters of a failed or ungrounded reply kept to inspect


def needs_model(settings: DraftSettings, endpoint: Endpoint | None = None) -> DraftSettings:
    """The settings with the endpoint filled in, or ``ConfigError`` when they name no
    model endpoint: the judge has no offline stand-in."""
    if resolve_provider_name(settings, endpoint=endpoint) == "offline":
        how = ("not --provider offline" if settings.provider == "offline" else
               "give --base-url or set OPENAI_BASE_URL or OPENAI_API_KEY")  # fmt: skip
        raise ConfigError(f"the judge needs a model: {how} (an offline judge would only "
                          "pretend to read)")  # fmt: skip
    return with_endpoint(settings, endpoint)


class JudgeProvider:
    """Judgements from an OpenAI-compatible endpoint: the drafter's client (``client``,
    the async context manager requests run in) asked with the judge prompt and the
    rubric's schema."""

    name = PROVIDER

    def __init__(self, settings: DraftSettings, rubric: Rubric) -> None:
        self.client = OpenAIProvider(settings)
        self.settings = settings
        self.rubric = check_rubric(rubric)
        self.template = judge_template()
        self.model = self.client.model
        self.base_url_host = self.client.base_url_host
        self.prompt_version = self.template.version
        self.prompt_hash = self.template.hash

    @property
    def deidentify(self) -> Deidentify:
        """Whether what is sent is de-identified (the endpoint's rule, as for drafts)."""
        return self.client.deidentify

    def prompt(self, target: Target, budget: int) -> Prompt:
        """The judge prompt for one text with a transcript of at most ``budget`` tokens."""
        self.client.check_sendable(target.context.deidentified)
        schema = judge_schema(self.rubric, target.context, for_openai=self.client.strict_schema)
        return Prompt(messages(self.template, self.rubric, target, budget), "rubric_judgement",
                      schema)  # fmt: skip

    async def judge(self, target: Target) -> Reply:
        """One reply for one text (``ProviderError`` when none came back)."""

        async def budget() -> int:
            return self.settings.context_budget

        return await self.client.ask(lambda tokens: self.prompt(target, tokens), budget)


# --- what to judge ----------------------------------------------------------------------


@dataclass
class JudgeSelection:
    targets: str = "all"  # all | rationales | predictions
    sessions: list[str] | None = None
    limit: int | None = None
    force: bool = False
    retry_ungrounded: bool = False


def _check(selection: JudgeSelection) -> None:
    if selection.targets not in TARGETS:
        raise ConfigError(f"--targets must be one of {', '.join(TARGETS)}")
    if selection.limit is not None and selection.limit < 0:
        raise ConfigError(f"--limit must be 0 or more, not {selection.limit}")


def load_targets(session: Session, selection: JudgeSelection) -> list[Target]:
    """Every text of the selection in session and item order (rationale before the
    predictions of its item), with its item's context."""
    _check(selection)
    if selection.sessions:
        from store.models import TherapySession

        known = set(session.execute(select(col(TherapySession.id)).where(
            col(TherapySession.id).in_(selection.sessions))).scalars())  # fmt: skip
        unknown = [s for s in selection.sessions if s not in known]
        if unknown:
            raise NotFoundError(f"no session {', '.join(map(repr, unknown))}")
    rated = set(session.execute(select(col(Rating.session_id), col(Rating.item_id))
                                .where(col(Rating.rater_role) == "client")).all())  # fmt: skip
    found: list[dict[str, Any]] = []
    if selection.targets in ("all", "rationales"):
        query = (
            select(col(Rationale.id), col(Rationale.session_id), col(Rationale.item_id),
                   col(Rationale.current_version), col(RationaleVersion.text))
            .join(RationaleVersion, (col(RationaleVersion.rationale_id) == col(Rationale.id))
                  & (col(RationaleVersion.version) == col(Rationale.current_version)))
            .where(col(Rationale.status).in_(JUDGED_STATUSES),
                   col(RationaleVersion.kind).in_(SIGNED_OFF))
        )  # fmt: skip
        if selection.sessions:
            query = query.where(col(Rationale.session_id).in_(selection.sessions))
        found += [dict(session_id=s, item_id=i, text=text, rationale_id=rid,
                       rationale_version=version, source=None)
                  for rid, s, i, version, text in session.execute(query).all()]  # fmt: skip
    if selection.targets in ("all", "predictions"):
        query = select(col(Prediction.id), col(Prediction.source), col(Prediction.session_id),
                       col(Prediction.item_id), col(Prediction.text))  # fmt: skip
        if selection.sessions:
            query = query.where(col(Prediction.session_id).in_(selection.sessions))
        found += [dict(session_id=s, item_id=i, text=text, prediction_id=pid, source=source)
                  for pid, source, s, i, text in session.execute(query).all()]  # fmt: skip
    found = [row for row in found if (row["session_id"], row["item_id"]) in rated]
    places = dict(session.execute(select(col(Item.id), col(Item.position))).all())
    found.sort(key=lambda row: (row["session_id"], places.get(row["item_id"], 0), row["item_id"],
                                row["source"] is not None, row["source"] or ""))  # fmt: skip
    pairs = list(dict.fromkeys((row["session_id"], row["item_id"]) for row in found))
    contexts = {context.key: context for context in load_contexts(session, pairs)}
    return [
        Target(context=contexts[(row.pop("session_id"), row.pop("item_id"))],
               text_hash=text_hash(row["text"]), **row)
        for row in found
    ]  # fmt: skip


def _done(session: Session, provider: JudgeProvider, selection: JudgeSelection) -> set[tuple]:
    """The (target key, text hash) pairs already judged by this model, prompt and rubric."""
    if selection.force:
        return set()
    kept = [DRAFT_OK] if selection.retry_ungrounded else [DRAFT_OK, DRAFT_UNGROUNDED]
    rows = session.execute(
        select(col(Judgement.rationale_id), col(Judgement.rationale_version),
               col(Judgement.prediction_id), col(Judgement.text_hash))
        .where(col(Judgement.provider) == provider.name, col(Judgement.model) == provider.model,
               col(Judgement.prompt_hash) == provider.prompt_hash,
               col(Judgement.rubric_version) == provider.rubric.version,
               col(Judgement.status).in_(kept))
    ).all()  # fmt: skip
    return {(_key(rid, version, pid), digest) for rid, version, pid, digest in rows}


def _key(rationale_id: int | None, version: int | None, prediction_id: int | None) -> tuple:
    if prediction_id is not None:
        return ("prediction", prediction_id, None)
    return ("rationale", rationale_id, version)


@dataclass(frozen=True)
class Chosen:
    """Every text of the selection, those to judge now, and how many are unchanged."""

    every: list[Target]
    todo: list[Target]
    unchanged: int  # judged already with this model, prompt and rubric: left out


def choose_targets(session: Session, provider: JudgeProvider, selection: JudgeSelection) -> Chosen:
    """The texts to judge now: the selection less the unchanged ones, then at most
    ``limit`` of them."""
    every = load_targets(session, selection)
    done = _done(session, provider, selection)
    todo = [target for target in every if (target.key, target.text_hash) not in done]
    unchanged = len(every) - len(todo)
    if selection.limit is not None:
        todo = todo[: selection.limit]
    return Chosen(every, todo, unchanged)


# --- what the judge thinks of the texts -------------------------------------------------


@dataclass
class CriterionStanding:
    mean: float | None
    judged: int
    below_threshold: int


@dataclass
class Standing:
    """The counted judgements of a set of texts: per criterion the mean score and how
    many fall below the threshold, and how many texts the judge would fail."""

    texts: int
    judged: int
    would_fail: int
    criteria: dict[str, CriterionStanding]


def standing(engine: Engine, targets: list[Target], rubric: Rubric, model: str) -> Standing:
    """What MODEL's judgements that count for ``targets`` say (``annotate.work.judged``:
    the newest grounded one of each text as it is now), on the rubric's criteria."""
    with session_scope(engine) as session:
        judged = current_judgements(
            session,
            model=model,
            rationale_ids=[t.rationale_id for t in targets if t.rationale_id is not None],
            prediction_ids=[t.prediction_id for t in targets if t.prediction_id is not None],
        )
    counted = [*judged.rationales.values(), *judged.predictions.values()]
    criteria = {}
    for name in rubric.criteria:
        given = [j.scores[name] for j in counted if name in j.scores]
        criteria[name] = CriterionStanding(
            round(fmean(given), 3) if given else None, len(given),
            sum(1 for score in given if score < rubric.threshold),
        )  # fmt: skip
    failing = sum(1 for j in counted
                  if any(j.scores.get(name, rubric.threshold) < rubric.threshold
                         for name in rubric.criteria))  # fmt: skip
    return Standing(len(targets), len(counted), failing, criteria)


# --- the run ----------------------------------------------------------------------------


@dataclass
class JudgeRun:
    """What a run did (the ``annotate judge --json`` document), updated as it goes: the
    drafts' running totals (``progress``: done, ok, ungrounded, failed, tokens)."""

    provider: str
    model: str
    prompt_version: str
    rubric_version: str
    selected: int = 0  # texts to judge in this run
    skipped: int = 0  # unchanged since their judgement
    progress: BatchProgress = field(default_factory=BatchProgress)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    standing: Standing | None = None
    deidentify: dict[str, Any] | None = None

    def count(self, row: dict[str, Any], label: str) -> None:
        self.progress.count({**row, "cached_tokens": None})
        if row["status"] == DRAFT_UNGROUNDED:
            self.errors.append(f"{label}: ungrounded: {row['grounding_error']}")
        elif row["status"] == DRAFT_FAILED:
            self.errors.append(f"{label}: {row['error']}")

    def summary(self) -> str:
        figures = self.progress
        return (
            f"judged {counted(figures.done, 'text')} with {self.provider}/{self.model} (prompt "
            f"{self.prompt_version}, rubric {self.rubric_version}): {figures.ok} ok, "
            f"{figures.ungrounded} ungrounded, {figures.failed} failed; {self.skipped} "
            f"unchanged since judged (skipped); tokens {figures.tokens_in} in / "
            f"{figures.tokens_out} out; {self.seconds:.1f} s"
        )

    def as_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        figures = asdict(self)
        done = figures.pop("progress")
        figures["skipped_unchanged"] = figures.pop("skipped")
        figures["seconds"] = round(self.seconds, 3)
        return {**figures, **{key: done[key] for key in ("done", "ok", "ungrounded", "failed",
                                                         "tokens_in", "tokens_out")}}  # fmt: skip


@dataclass(frozen=True)
class StoredJudgement:
    row: dict[str, Any]  # the judgements row
    scores: dict[str, int]  # its judgement_scores, none when failed
    label: str


def insert_judgements(connection: Connection, results: list[StoredJudgement]) -> None:
    """Each judgement, then its scores under the judgement's id (in the caller's
    transaction)."""
    for result in results:
        inserted = connection.execute(insert(JUDGEMENTS), result.row)
        if result.scores:
            key = inserted.inserted_primary_key
            assert key is not None
            rows = [{"judgement_id": key[0], "criterion": name, "score": score}
                    for name, score in result.scores.items()]  # fmt: skip
            connection.execute(insert(JUDGEMENT_SCORES), rows)


class JudgementWriter(RowWriter[StoredJudgement]):
    """The drafting engine's writer, storing judgements."""

    thread_name = "judge-writer"

    def write(self, connection: Connection, results: list[StoredJudgement]) -> None:
        insert_judgements(connection, results)


def sent_as(target: Target, mask: Mask | None, turns: tuple[TurnText, ...] | None) -> Target:
    """The target as sent: its session's turns and the judged text masked."""
    if mask is None:
        return target
    return replace(target, context=masked_context(target.context, mask, turns),
                   text=mask.mask(target.text))  # fmt: skip


def judgement_row(
    provider: JudgeProvider, target: Target, reply: Reply | None, *,
    judged: Judged | None = None, error: str | None = None, raw: str | None = None,
) -> StoredJudgement:  # fmt: skip
    """The stored judgement of one text: ok or ungrounded with its scores, or failed with
    its error and the raw reply; provenance from the provider and the reply. A reply no
    database could keep (NUL, lone surrogates, runaway lengths) fails, naming why."""
    unfit = draft_problem(judged.cited) if judged is not None and not error else None
    if unfit is not None:
        error, judged = f"unusable reply: the judgement cannot be stored: {unfit}", None
    problem = judged_problem(judged, target) if judged is not None and not error else None
    status = DRAFT_FAILED if error or judged is None else (
        DRAFT_UNGROUNDED if problem else DRAFT_OK)  # fmt: skip
    scores = judged.scores if judged is not None and status != DRAFT_FAILED else {}
    row = dict(
        rationale_id=target.rationale_id, rationale_version=target.rationale_version,
        prediction_id=target.prediction_id, text_hash=target.text_hash, status=status,
        passed=provider.rubric.passes(scores) if scores else None,
        reason=judged.reason if scores and judged else None,
        evidence=list(judged.evidence) if scores and judged else [],
        quotes=[q.as_json() for q in judged.quotes] if scores and judged else [],
        grounding_error=problem,
        error=_storable(scrub_secret(error)) if status == DRAFT_FAILED else None,
        provider=provider.name, model=provider.model, base_url_host=provider.base_url_host,
        prompt_version=provider.prompt_version, prompt_hash=provider.prompt_hash,
        rubric_version=provider.rubric.version,
        params=dict(reply.params) if reply and reply.params else dict(provider.client.params),
        tokens_in=reply.tokens_in if reply else None,
        tokens_out=reply.tokens_out if reply else None,
        latency_ms=reply.latency_ms if reply else None,
        raw_reply=_storable(scrub_secret(raw, RAW_REPLY_LIMIT)) or None
        if status != DRAFT_OK else None,
        created_at=utcnow(),
    )  # fmt: skip
    return StoredJudgement(row, scores, target.label)


async def judge_one(provider: JudgeProvider, target: Target, mask: Mask | None,
                    turns: tuple[TurnText, ...] | None = None) -> StoredJudgement:  # fmt: skip
    """One request, turned into a stored judgement; failures become failed judgements.
    With ``mask`` the request carries the masked turns and text and the reply is mapped
    back before it is read and grounded against the store's turns."""
    try:
        reply = await provider.judge(sent_as(target, mask, turns))
    except ProviderError as failure:
        failed = Reply(latency_ms=failure.latency_ms)
        return judgement_row(provider, target, failed, error=unmasked(str(failure), mask))
    return read_reply(provider, target, reply, mask)


def read_reply(provider: JudgeProvider, target: Target, reply: Reply,
               mask: Mask | None) -> StoredJudgement:  # fmt: skip
    """A reply (online or from a batch) as the stored judgement of ``target``: read,
    mapped back with ``mask``, grounded; an unusable or cut reply is a failed one."""
    reply = scrub_reply(reply)  # before the reply is parsed, quoted or cut
    raw = unmasked(reply.content, mask)
    try:
        judged = read_judgement(reply.content, provider.rubric)
    except ReplyFormatError as unusable:
        error = unmasked(f"unusable reply: {unusable}", mask)
        if reply.finish_reason == "length":
            error = f"cut at max_tokens={reply.params.get('max_tokens')}: raise --max-tokens"
        return judgement_row(provider, target, reply, error=error, raw=raw)
    back = restore_draft(judged.cited, mask, target.context.turns)
    judged = replace(judged, reason=back.rationale, quotes=back.quotes)
    return judgement_row(provider, target, reply, judged=judged, raw=raw)


def masking(engine: Engine, provider: JudgeProvider, targets: list[Target]
            ) -> tuple[dict[str, Mask], dict[str, tuple[TurnText, ...]]]:  # fmt: skip
    """Each session's mask when the endpoint asks for de-identification (its new map
    entries stored first, in a transaction of their own), and its masked turns."""
    masks = masks_for(engine, [t.context.session_id for t in targets], provider.deidentify)
    turns = {sid: masked_turns(next(t.context.turns for t in targets
                                    if t.context.session_id == sid), mask)
             for sid, mask in masks.items()}  # fmt: skip
    return masks, turns


def prepared(engine: Engine, settings: DraftSettings, selection: JudgeSelection,
              endpoint: Endpoint | None) -> tuple[JudgeProvider, Chosen]:  # fmt: skip
    """The provider for the store's rubric and the texts it would judge now."""
    _check(selection)
    provider = JudgeProvider(needs_model(settings, endpoint), current_rubric(engine))
    with session_scope(engine) as session:
        return provider, choose_targets(session, provider, selection)


def run_judge(
    engine: Engine,
    settings: DraftSettings,
    *,
    targets: str = "all",
    sessions: list[str] | None = None,
    limit: int | None = None,
    force: bool = False,
    retry_ungrounded: bool = False,
    concurrency: int = 8,
    on_progress: Callable[[JudgeRun, int], None] | None = None,
    endpoint: Endpoint | None = None,
) -> JudgeRun:
    """Judge every selected text that changed since it was judged; the run's figures."""
    selection = JudgeSelection(targets, sessions, limit, force, retry_ungrounded)
    provider, chosen = prepared(engine, settings, selection, endpoint)
    todo = chosen.todo
    run = JudgeRun(provider.name, provider.model, provider.prompt_version,
                   provider.rubric.version, selected=len(todo), skipped=chosen.unchanged,
                   deidentify=provider.deidentify.provenance())  # fmt: skip
    # De-identified before any request when the endpoint asks for it (the map's new
    # entries stored in a transaction of its own); replies are mapped back with the mask.
    masks, sent_turns = masking(engine, provider, todo)
    if on_progress:
        on_progress(run, len(todo))

    def counted_one(result: StoredJudgement) -> None:
        run.count(result.row, result.label)
        if on_progress:
            on_progress(run, len(todo))

    async def ask(target: Target) -> StoredJudgement:
        sid = target.context.session_id
        return await judge_one(provider, target, masks.get(sid), sent_turns.get(sid))

    started = time.perf_counter()
    if todo:
        asyncio.run(run_units(todo, ask, JudgementWriter(engine), client=provider.client,
                              concurrency=concurrency, on_result=counted_one))  # fmt: skip
    run.seconds = time.perf_counter() - started
    run.standing = standing(engine, chosen.every, provider.rubric, provider.model)
    return run


# --- a dry run --------------------------------------------------------------------------


@dataclass
class JudgeEstimate:
    """What ``annotate judge --dry-run`` prints: nothing is sent."""

    provider: str
    model: str
    prompt_version: str
    rubric_version: str
    texts: int
    skipped_unchanged: int
    input_tokens: int
    output_tokens_at_most: int
    price_in_per_million: float | None = None
    price_out_per_million: float | None = None
    cost_at_most: float | None = None

    def as_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def estimate_judge(
    engine: Engine, settings: DraftSettings, *, targets: str = "all",
    sessions: list[str] | None = None, limit: int | None = None, force: bool = False,
    retry_ungrounded: bool = False, price_in: float | None = None,
    price_out: float | None = None, endpoint: Endpoint | None = None,
) -> JudgeEstimate:  # fmt: skip
    """Build every request a run would send and count its tokens; send nothing."""
    selection = JudgeSelection(targets, sessions, limit, force, retry_ungrounded)
    provider, chosen = prepared(engine, settings, selection, endpoint)
    settings, todo = provider.settings, chosen.todo
    tokens_in = sum(
        request_tokens(messages(provider.template, provider.rubric, target,
                                settings.context_budget))
        for target in todo
    )  # fmt: skip
    tokens_out = len(todo) * settings.max_tokens
    return JudgeEstimate(
        provider.name, provider.model, provider.prompt_version, provider.rubric.version,
        len(todo), chosen.unchanged, tokens_in, tokens_out, price_in,
        price_out, cost_at_most(tokens_in, tokens_out, price_in, price_out),
    )  # fmt: skip
