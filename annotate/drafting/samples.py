"""``draft --samples K``: K drafts of each item and how much they disagree.

Each sample is one request and one ordinary ``drafts`` row (full provenance; its params
add ``sample`` (0..K-1) and ``samples``, and the seed, when one is used, is the
configured seed plus the sample's number, so the samples differ). Every sample is a
unit of the drafting engine, so K samples of an item run at once, within the same
concurrency as single drafts. When an item's K samples are stored, one
``draft_samples`` row is written in the same transaction as the last of them: the
drafts' ids in the order asked, K, and the uncertainty, 1 - the mean pairwise ROUGE-L
F1 of the samples with text (failed samples have none), over words (Chinese cut by
jieba: ``annotate.core.words``); None when fewer than two have text.

A rerun skips the items that have a set of K samples from this provider, model and
prompt version with an uncertainty (a set with fewer than two texts is asked again, as
failed drafts are). A set a killed run left unfinished is asked again whole; the
samples it did store stay as ordinary drafts.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from annotate.core.errors import ConfigError
from annotate.core.words import WORDS_METHOD, words
from annotate.drafting.base import DraftProvider, Reply
from annotate.drafting.batch import (
    BatchProgress,
    BatchSummary,
    ChosenWork,
    ProgressCallback,
    WorkSelection,
    asker,
    choose_work,
    remember_formats,
)
from annotate.drafting.context import DraftContext, load_contexts
from annotate.drafting.deidentify import plan_of
from annotate.drafting.engine import RowWriter, run_units
from store.db import session_scope
from store.models import Draft, DraftSample, utcnow
from store.tables import DRAFT_SAMPLES, DRAFTS

MIN_SAMPLES, MAX_SAMPLES = 2, 20
SAMPLING_TEMPERATURE = 0.8  # used when --samples is given without --temperature
METHOD = f"1 - mean pairwise ROUGE-L F1 ({WORDS_METHOD})"


def check_samples(samples: int) -> None:
    """Refuse a number of samples outside MIN_SAMPLES..MAX_SAMPLES in one line."""
    if not MIN_SAMPLES <= samples <= MAX_SAMPLES:
        raise ConfigError(
            f"--samples must be {MIN_SAMPLES}..{MAX_SAMPLES} (drafts per item), not {samples}"
        )


def check_sampler(provider: DraftProvider) -> None:
    """Refuse a provider whose samples would all agree: the offline drafter, or a
    temperature of 0 (greedy decoding repeats itself)."""
    if provider.name == "offline":
        raise ConfigError(
            "--samples needs a model endpoint: the offline drafter is deterministic, its "
            "samples would all agree"
        )
    temperature = provider.params.get("temperature") or 0
    if temperature <= 0:
        raise ConfigError("--samples needs a temperature above 0: samples at 0 would all agree")


def rouge_l_f1(first: Sequence[str], second: Sequence[str]) -> float:
    """ROUGE-L F1 of two token lists (longest common subsequence; symmetric; 0 when
    either is empty), as rouge-score computes it."""
    if not first or not second:
        return 0.0
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for index, other in enumerate(second):
            current.append(
                previous[index] + 1 if token == other else max(previous[index + 1], current[-1])
            )
        previous = current
    common = previous[-1]
    if common == 0:
        return 0.0
    precision, recall = common / len(second), common / len(first)
    return 2 * precision * recall / (precision + recall)


def uncertainty(texts: Sequence[str | None]) -> float | None:
    """1 - the mean pairwise ROUGE-L F1 of the texts that are not None (METHOD); None
    when fewer than two are."""
    tokens = [words(text) for text in texts if text is not None]
    if len(tokens) < 2:
        return None
    scores = [rouge_l_f1(a, b) for a, b in combinations(tokens, 2)]
    return 1 - math.fsum(scores) / len(scores)


def choose_sample_work(
    session: Session, provider: DraftProvider, selection: WorkSelection, samples: int
) -> ChosenWork:
    """The items to sample: those ``choose_work`` would draft regardless of earlier
    drafts, less (unless ``force``) those with a finished set (see the module's note),
    then at most ``limit``; ``skipped`` counts the finished sets."""
    every = choose_work(session, provider, replace(selection, force=True, limit=None))
    finished = set() if selection.force else finished_sets(session, provider, samples)
    pending = [pair for pair in every.pairs if pair not in finished]
    skipped = len(every.pairs) - len(pending)
    if selection.limit is not None:
        pending = pending[: max(selection.limit, 0)]
    return ChosenWork(pending, skipped, every.accepted)


def finished_sets(session: Session, provider: DraftProvider, samples: int) -> set[tuple[str, str]]:
    """The items holding a set of SAMPLES drafts, all from this provider, model and prompt
    version, with an uncertainty."""
    sets = session.exec(
        select(DraftSample.session_id, DraftSample.item_id, DraftSample.draft_ids)
        .where(DraftSample.samples == samples)
        .where(col(DraftSample.uncertainty).is_not(None))
    ).all()
    ids = {draft_id for _, _, draft_ids in sets for draft_id in draft_ids}
    ours = set(
        session.exec(
            select(Draft.id)
            .where(col(Draft.id).in_(ids))
            .where(Draft.provider == provider.name, Draft.model == provider.model)
            .where(Draft.prompt_version == provider.prompt_version)
        ).all()
    ) if ids else set()  # fmt: skip
    return {(s, i) for s, i, draft_ids in sets if all(d in ours for d in draft_ids)}


@dataclass(frozen=True)
class SampledItem:
    """One item's finished set: its drafts and their disagreement."""

    session_id: str
    item_id: str
    draft_ids: list[int]
    with_text: int  # samples that have text (failed ones have none)
    uncertainty: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "item_id": self.item_id,
            "uncertainty": None if self.uncertainty is None else round(self.uncertainty, 6),
            "with_text": self.with_text,
            "draft_ids": self.draft_ids,
        }


@dataclass
class SamplesSummary:
    """What a samples run did (the ``annotate draft --samples --json`` document); the
    batch's figures count requests (K per item)."""

    batch: BatchSummary
    samples: int
    items: list[SampledItem] = field(default_factory=list)
    method: str = METHOD

    @property
    def uncertainties(self) -> list[float]:
        return [item.uncertainty for item in self.items if item.uncertainty is not None]

    def most_uncertain(self, count: int = 5) -> list[SampledItem]:
        """The COUNT items whose samples disagree most (session and item order on ties)."""
        scored = [item for item in self.items if item.uncertainty is not None]
        scored.sort(key=lambda item: (-(item.uncertainty or 0), item.session_id, item.item_id))
        return scored[:count]

    def as_json(self) -> dict[str, Any]:
        values = self.uncertainties
        figures = self.batch.as_json()
        # Skipped here: the items with a finished set, not those with a draft.
        figures["skipped_already_sampled"] = figures.pop("skipped_already_drafted")
        return {
            **figures,
            "samples": self.samples,
            "method": self.method,
            "items_sampled": len(self.items),
            "uncertainty_mean": round(statistics.fmean(values), 6) if values else None,
            "uncertainty_median": round(statistics.median(values), 6) if values else None,
            "items": [item.as_json() for item in self.items],
        }


class _Sample:
    """The provider asked for sample INDEX of SAMPLES: the seed moved on by INDEX, and the
    draft's params saying which sample it is."""

    def __init__(self, provider: DraftProvider, index: int, samples: int) -> None:
        self.provider, self.index, self.samples = provider, index, samples
        self.name, self.model = provider.name, provider.model
        self.base_url_host = provider.base_url_host
        self.prompt_version, self.prompt_hash = provider.prompt_version, provider.prompt_hash

    @property
    def params(self) -> dict[str, Any]:
        return self._marked(self.provider.params)

    def _marked(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "sample": self.index, "samples": self.samples}

    async def __aenter__(self) -> _Sample:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def draft(self, context: DraftContext) -> Reply:
        asked: Any = self.provider  # an endpoint's provider takes a seed step
        reply: Reply = await asked.draft(context, seed_step=self.index)
        return replace(reply, params=self._marked(reply.params or self.provider.params))


@dataclass(frozen=True)
class _SampleResult:
    index: int
    values: dict[str, Any]  # the Draft row's


class _SampleWriter(RowWriter[_SampleResult]):
    """Inserts each sample's Draft row and, with an item's last, its DraftSample row."""

    def __init__(self, engine: Engine, samples: int) -> None:
        super().__init__(engine)
        self.samples = samples
        self._pending: dict[tuple[str, str], dict[int, tuple[int, str | None]]] = {}
        self.finished: list[SampledItem] = []

    def write(self, connection: Connection, results: list[_SampleResult]) -> None:
        returning = insert(DRAFTS).returning(DRAFTS.c.id, sort_by_parameter_order=True)
        ids = connection.execute(returning, [r.values for r in results]).scalars().all()
        sets: list[SampledItem] = []
        for result, draft_id in zip(results, ids, strict=True):
            key = (result.values["session_id"], result.values["item_id"])
            asked = self._pending.setdefault(key, {})
            asked[result.index] = (draft_id, result.values["text"])
            if len(asked) == self.samples:
                del self._pending[key]
                texts = [asked[index][1] for index in range(self.samples)]
                sets.append(SampledItem(
                    *key, [asked[index][0] for index in range(self.samples)],
                    sum(text is not None for text in texts), uncertainty(texts),
                ))  # fmt: skip
        if sets:
            connection.execute(
                insert(DRAFT_SAMPLES),
                [{"session_id": item.session_id, "item_id": item.item_id,
                  "samples": self.samples, "draft_ids": item.draft_ids, "method": METHOD,
                  "uncertainty": item.uncertainty, "created_at": utcnow()} for item in sets],
            )  # fmt: skip
            self.finished.extend(sets)


async def sample_contexts(
    engine: Engine,
    provider: DraftProvider,
    contexts: list[DraftContext],
    samples: int,
    *,
    concurrency: int = 8,
    on_progress: ProgressCallback | None = None,
) -> tuple[BatchProgress, list[SampledItem]]:
    """Ask SAMPLES drafts of every context (each a unit of the engine, an item's samples
    one after another in the queue); save each as it finishes, and each finished set."""
    progress = BatchProgress(total=len(contexts) * samples)
    ask = await asker(engine, provider, contexts)
    askers = [_Sample(provider, index, samples) for index in range(samples)]
    writer = _SampleWriter(engine, samples)

    async def ask_sample(unit: tuple[DraftContext, int]) -> _SampleResult:
        context, index = unit
        return _SampleResult(index, await ask(context, askers[index]))

    def counted(result: _SampleResult) -> None:
        progress.count(result.values)
        if on_progress is not None:
            on_progress(progress)

    units = [(context, index) for context in contexts for index in range(samples)]
    await run_units(units, ask_sample, writer, client=provider, concurrency=concurrency,
                    on_result=counted)  # fmt: skip
    return progress, writer.finished


def run_samples(
    engine: Engine,
    provider: DraftProvider,
    selection: WorkSelection,
    samples: int,
    *,
    concurrency: int = 8,
    on_start: Callable[[int, int], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> SamplesSummary:
    """Select the items, ask SAMPLES drafts of each, store the sets, and report
    (synchronous entry point for the CLI). ``on_start`` is told the requests to make
    and the items skipped as sampled already."""
    check_samples(samples)
    check_sampler(provider)
    remember_formats(engine, provider)
    with session_scope(engine) as session:
        work = choose_sample_work(session, provider, selection, samples)
        contexts = load_contexts(session, work.pairs)
    batch = BatchSummary(provider=provider.name, model=provider.model,
                         prompt_version=provider.prompt_version, selected=len(work.pairs),
                         skipped=work.skipped, accepted=work.accepted,
                         deidentify=plan_of(provider))  # fmt: skip
    summary = SamplesSummary(batch, samples)
    if on_start is not None:
        on_start(len(work.pairs) * samples, work.skipped)
    started = time.perf_counter()
    if contexts:
        batch.progress, summary.items = asyncio.run(
            sample_contexts(
                engine,
                provider,
                contexts,
                samples,
                concurrency=concurrency,
                on_progress=on_progress,
            )  # fmt: skip
        )
    batch.seconds = time.perf_counter() - started
    order = {pair: n for n, pair in enumerate(work.pairs)}
    summary.items.sort(key=lambda item: order[(item.session_id, item.item_id)])
    return summary
