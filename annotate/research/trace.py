"""The turn-level alliance trace: how close each turn's words come to each dimension's items.

For each turn and dimension, the mean cosine similarity between the turn's vector and the
vectors of that dimension's items (the client form for client turns; the counselor form
for counselor turns when the instrument carries one, else the client form), as the
published method does; a session's score on a dimension is the mean over a speaker's
turns (:func:`session_means`). Two methods:

- ``embedding``: vectors from any OpenAI-compatible ``/v1/embeddings`` endpoint, with the
  drafting's key handling, retries and de-identification (on by default when the
  endpoint is not on this machine; the turns are masked as a draft request's are, and the
  figures stored against the original turns);
- ``lexical``: character n-gram TF-IDF (:mod:`annotate.research.lexical`), no model, for
  teams without one; stored and shown as ``lexical``.

One transaction per session, so a kill loses at most the sessions in flight and a rerun
resumes: a session is done for a (method, model, instrument version) once its rows are
stored. Turns with no text get no score. Figures are a signal read from language, not a
rating: ``annotate trace --validate`` says how far they follow the ratings in a team's data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection, Engine

from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.plurals import counted
from annotate.core.settings import Endpoint, api_key
from annotate.drafting.base import ProviderError
from annotate.drafting.deidentify import Deidentify, check_mode, decide, masks_for
from annotate.drafting.engine import RowWriter, run_units, write_each
from annotate.drafting.providers import host_of
from annotate.research import lexical
from annotate.research.embeddings import (
    DEFAULT_MODEL,
    MODEL_VARIABLE,
    EmbeddingClient,
    EmbeddingSettings,
    cosine,
)
from annotate.research.forms import Forms, load_forms
from store.db import reader
from store.models import utcnow
from store.tables import SESSIONS, TURN_ALLIANCE, TURNS

METHODS = ("embedding", "lexical")
PROVIDERS = {"openai": "embedding", "offline": "lexical"}


@dataclass
class TraceSettings:
    """How to trace; ``None`` fields come from the environment or the defaults."""

    provider: str | None = None  # openai | offline | None: openai when an endpoint is set
    model: str | None = None  # $ANNOTATE_EMBED_MODEL, then text-embedding-3-small
    base_url: str | None = None  # $OPENAI_BASE_URL, then the OpenAI API
    timeout: float = 60.0
    max_retries: int = 4
    batch: int = 64  # texts per embeddings request
    deidentify: bool | None = None  # None: on when the endpoint is not on this machine
    deidentify_mode: str = "surrogate"
    instrument: str = "wai-sr"


@dataclass(frozen=True)
class Plan:
    """What one run does: its method, model, endpoint and de-identification."""

    method: str
    model: str
    base_url: str | None = None
    host: str | None = None
    deidentify: Deidentify = field(default_factory=Deidentify)

    @property
    def label(self) -> str:
        if self.method == "lexical":
            return f"lexical ({self.model}, no model: shared character sequences)"
        return f"embedding ({self.model} at {self.host})"


def plan(settings: TraceSettings, endpoint: Endpoint | None = None,
         environ: dict[str, str] | None = None) -> Plan:  # fmt: skip
    """The run's method and model: the provider asked for, else openai when an endpoint is
    configured (a key or a base URL), as ``draft`` decides."""
    import os

    endpoint = endpoint or Endpoint.from_environment(environ)
    provider = settings.provider
    if provider is not None and provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {provider!r}: use openai or offline")
    base_url = settings.base_url or endpoint.base_url
    if provider is None:
        provider = "openai" if (api_key(environ) or base_url) else "offline"
    if PROVIDERS[provider] == "lexical":
        if settings.model not in (None, lexical.MODEL):
            raise ConfigError(f"the offline method is {lexical.MODEL}: it takes no --model")
        return Plan("lexical", lexical.MODEL)
    environment = os.environ if environ is None else environ
    model = settings.model or environment.get(MODEL_VARIABLE) or DEFAULT_MODEL
    deid = decide(base_url, settings.deidentify, check_mode(settings.deidentify_mode))
    return Plan("embedding", model, base_url, host_of(base_url), deid)


@dataclass
class TraceRun:
    """What a run did."""

    method: str
    model: str
    label: str
    sessions: int = 0  # to trace in this run
    skipped: int = 0  # traced before (same method, model and instrument version)
    ok: int = 0
    failed: int = 0
    turns: int = 0  # turns scored
    requests: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"traced {counted(self.ok, 'session')} ({counted(self.turns, 'turn')}) with "
            f"{self.label}{failed}; {self.skipped} traced before"
        )

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "model": self.model, "sessions": self.sessions,
                "skipped": self.skipped, "ok": self.ok, "failed": self.failed,
                "turns": self.turns, "requests": self.requests, "errors": self.errors}  # fmt: skip


@dataclass(frozen=True)
class _Session:
    id: str
    language: str | None
    numbers: tuple[int, ...]
    speakers: tuple[str, ...]
    texts: tuple[str, ...]  # as sent: masked when de-identifying
    positions: tuple[int, ...]  # each scored turn's place among all the session's turns


@dataclass(frozen=True)
class _Traced:
    session_id: str
    rows: list[dict[str, Any]]
    error: str | None = None


class _TraceWriter(RowWriter[_Traced]):
    """Writes a session's turn scores in one transaction (replacing an earlier run's of
    the same key when forced)."""

    thread_name = "trace-writer"

    def __init__(self, engine: Engine, key: dict[str, str], replace: bool) -> None:
        super().__init__(engine)
        self.key, self.replace = key, replace

    def write(self, connection: Connection, results: list[_Traced]) -> None:
        t = TURN_ALLIANCE.c
        for result in results:
            if result.error is not None:
                continue
            if self.replace:
                connection.execute(delete(TURN_ALLIANCE).where(
                    t.session_id == result.session_id,
                    *(getattr(t, name) == value for name, value in self.key.items())))  # fmt: skip
            if result.rows:
                connection.execute(insert(TURN_ALLIANCE), result.rows)


def scores(turns: np.ndarray, items: np.ndarray, dimensions: Sequence[str]
           ) -> list[dict[str, float]]:  # fmt: skip
    """Per turn (a row of TURNS), per dimension, the mean cosine similarity with the
    items (rows of ITEMS) of that dimension (DIMENSIONS: one per item row)."""
    similarity = cosine(turns, items)
    names = list(dict.fromkeys(dimensions))
    columns = {d: [i for i, item in enumerate(dimensions) if item == d] for d in names}
    return [{d: float(row[columns[d]].mean()) for d in names} for row in similarity]


def run_trace(
    engine: Engine,
    settings: TraceSettings | None = None,
    *,
    sessions: list[str] | None = None,
    force: bool = False,
    concurrency: int = 8,
    endpoint: Endpoint | None = None,
    on_progress: Callable[[TraceRun, int], None] | None = None,
) -> TraceRun:
    """Trace the sessions named (default: every session with turns) not traced before with
    this method, model and instrument version (all of them when ``force``)."""
    settings = settings or TraceSettings(provider="offline")
    chosen = plan(settings, endpoint)
    with reader(engine).connect() as connection:
        forms = load_forms(connection, settings.instrument)
        wanted = _select(connection, sessions)
        key = {
            "method": chosen.method,
            "model": chosen.model,
            "instrument_id": forms.instrument_id,
            "instrument_version": forms.version,
        }
        done = set() if force else _traced(connection, key)
        todo = [sid for sid in wanted if sid not in done]
        loaded = _load(connection, todo)
    run = TraceRun(chosen.method, chosen.model, chosen.label, sessions=len(todo),
                   skipped=len(wanted) - len(todo))  # fmt: skip
    if on_progress:
        on_progress(run, len(todo))
    writer = _TraceWriter(engine, key, replace=force)
    params = _params(chosen)

    def counted_in(result: _Traced) -> None:
        if result.error is not None:
            run.failed += 1
            run.errors.append(f"{result.session_id}: {result.error}")
        else:
            run.ok += 1
            run.turns += len(result.rows)
        if on_progress:
            on_progress(run, len(todo))

    if chosen.method == "lexical":
        vectoriser = lexical.CharTfidf(forms.texts())
        matrices = _item_matrices(forms, vectoriser.transform(forms.texts()))

        def traced(unit: _Session) -> _Traced:
            vectors = vectoriser.transform(unit.texts)
            return _Traced(unit.id, _rows(unit, vectors, forms, matrices, key, params))

        write_each(loaded, traced, writer, on_result=counted_in)
        return run
    masks = masks_for(engine, [unit.id for unit in loaded], chosen.deidentify)
    if masks:
        loaded = [_masked(unit, masks[unit.id].turns) for unit in loaded]
    client = EmbeddingClient(EmbeddingSettings(model=chosen.model, base_url=chosen.base_url,
                                               timeout=settings.timeout,
                                               max_retries=settings.max_retries,
                                               batch=settings.batch))  # fmt: skip
    asyncio.run(_embed_all(loaded, client, forms, key, params, writer, concurrency, counted_in))
    run.requests = client.requests
    return run


async def _embed_all(loaded: list[_Session], client: EmbeddingClient, forms: Forms,
                     key: dict[str, str], params: dict[str, Any], writer: _TraceWriter,
                     concurrency: int, on_result: Callable[[_Traced], None]) -> None:  # fmt: skip
    matrices: dict[tuple[str, str], tuple[np.ndarray, list[str]]] = {}

    async def ask(unit: _Session) -> _Traced:
        try:
            vectors = await client.embed(unit.texts) if unit.texts else np.zeros((0, 1))
        except ProviderError as error:
            return _Traced(unit.id, [], str(error))
        try:
            return _Traced(unit.id, _rows(unit, vectors, forms, matrices, key, params))
        except ValueError as error:  # vectors of another length than the items'
            return _Traced(unit.id, [], f"embeddings of different lengths: {error}")

    async with client:
        texts = forms.texts()
        try:
            matrices.update(_item_matrices(forms, await client.embed(texts)))
        except ProviderError as error:
            raise ConfigError(f"cannot embed the instrument's items: {error}") from None
        await run_units(loaded, ask, writer, concurrency=concurrency, on_result=on_result)


def _item_matrices(forms: Forms, vectors: np.ndarray
                   ) -> dict[tuple[str, str], tuple[np.ndarray, list[str]]]:  # fmt: skip
    """Per (form, language): the item vectors and each one's dimension."""
    index = {text: row for row, text in enumerate(forms.texts())}
    return {
        key: (vectors[[index[text] for _, text in wording.items]],
              [dimension for dimension, _ in wording.items])
        for key, wording in forms.wordings.items()
    }  # fmt: skip


def _rows(unit: _Session, vectors: np.ndarray, forms: Forms,
          matrices: dict[tuple[str, str], tuple[np.ndarray, list[str]]],
          key: dict[str, str], params: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    """The session's turn_alliance rows: each turn scored against its speaker's wording
    (the turns of one wording together, in one product)."""
    now = utcnow()
    groups: dict[tuple[str, str], list[int]] = {}
    for position, speaker in enumerate(unit.speakers):
        wording = forms.wording(speaker, unit.language)
        groups.setdefault((wording.form, wording.language), []).append(position)
    figures: dict[int, tuple[dict[str, float], tuple[str, str]]] = {}
    for wording_key, positions in groups.items():
        items, dimensions = matrices[wording_key]
        if vectors.shape[1] != items.shape[1]:
            raise ValueError(f"{vectors.shape[1]} for a turn, {items.shape[1]} for an item")
        for position, found in zip(positions, scores(vectors[positions], items, dimensions),
                                   strict=True):  # fmt: skip
            figures[position] = (found, wording_key)
    rows = []
    for position, (number, speaker) in enumerate(zip(unit.numbers, unit.speakers, strict=True)):
        found, (form, language) = figures[position]
        rows.append({
            "session_id": unit.id, "turn_number": number, "speaker": speaker, **key,
            "scores": found, "created_at": now,
            "params": {**params, "form": form, "wording": language},
        })  # fmt: skip
    return rows


def _params(chosen: Plan) -> dict[str, Any]:
    if chosen.method == "lexical":
        return {}
    deidentify = chosen.deidentify.provenance()
    return {"base_url_host": chosen.host, **({"deidentify": deidentify} if deidentify else {})}


def _select(connection: Connection, requested: list[str] | None) -> list[str]:
    if requested:
        known = set(connection.execute(
            select(SESSIONS.c.id).where(SESSIONS.c.id.in_(requested))).scalars())  # fmt: skip
        unknown = [s for s in dict.fromkeys(requested) if s not in known]
        if unknown:
            raise NotFoundError(f"no session {', '.join(map(repr, unknown))}")
        return sorted(set(requested))
    return sorted(set(connection.execute(select(TURNS.c.session_id).distinct()).scalars()))


def _traced(connection: Connection, key: dict[str, str]) -> set[str]:
    t = TURN_ALLIANCE.c
    return set(connection.execute(
        select(t.session_id).where(*(getattr(t, name) == value for name, value in key.items()))
        .distinct()).scalars())  # fmt: skip


def _load(connection: Connection, session_ids: list[str]) -> list[_Session]:
    """The sessions' scorable turns: a client's or a counselor's, with some text."""
    if not session_ids:
        return []
    languages = dict(
        connection.execute(
            select(SESSIONS.c.id, SESSIONS.c.language).where(SESSIONS.c.id.in_(session_ids))
        ).all()
    )
    turns: dict[str, list[tuple[int, str, str]]] = {sid: [] for sid in session_ids}
    for chunk in range(0, len(session_ids), 500):
        part = session_ids[chunk : chunk + 500]
        for row in connection.execute(
            select(TURNS.c.session_id, TURNS.c.number, TURNS.c.speaker, TURNS.c.text)
            .where(TURNS.c.session_id.in_(part))
            .order_by(TURNS.c.session_id, TURNS.c.number)
        ):
            turns[row.session_id].append((row.number, row.speaker, row.text))
    return [_Session(sid, languages.get(sid), *_scorable(turns[sid])) for sid in session_ids]


def _scorable(
    turns: list[tuple[int, str, str]],
) -> tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    kept = [
        (n, s, t, i)
        for i, (n, s, t) in enumerate(turns)
        if s in ("client", "counselor") and t.strip()
    ]
    return (tuple(k[0] for k in kept), tuple(k[1] for k in kept), tuple(k[2] for k in kept),
            tuple(k[3] for k in kept))  # fmt: skip


def _masked(unit: _Session, masked: Sequence[str]) -> _Session:
    """UNIT with its turns' de-identified texts (MASKED: every turn of the session)."""
    return _Session(unit.id, unit.language, unit.numbers, unit.speakers,
                    tuple(masked[p] for p in unit.positions), unit.positions)  # fmt: skip
