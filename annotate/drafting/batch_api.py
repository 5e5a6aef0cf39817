"""Drafting through a batch interface (OpenAI's Batch API, vLLM's ``run_batch``): half the price.

``write_batch_file`` writes the requests of a batch as the Batch API's JSONL (one line
per item, ``custom_id`` = ``session/item``), built exactly as the online path builds
them. ``submit_or_resume`` uploads it and creates the batch, recording the batch id in
``draft_batches`` first thing, so a killed command resumes polling the same batch
instead of paying again. ``ingest`` reads an output file (the Batch API's, or
``run_batch``'s, which is the same shape) through the same grounding and provenance
path as online drafts.

An output file is believed only after every line has passed explicit limits (line
length, nesting, number ranges, field sizes, storable text, no duplicate keys) and the
``BatchLine`` schema; a problem is one ``FILE:LINE: what`` error and nothing is written.
A line already ingested for its item is skipped, so ingesting a file twice changes nothing.
Reading and checking an output file is ``annotate.drafting.batch_output``.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core.errors import ConfigError
from annotate.drafting.base import ProviderError, scrub_secret
from annotate.drafting.batch import (
    BatchProgress,
    WorkSelection,
    _scrubbed,
    draft_values,
    masked_context,
    select_work,
)
from annotate.drafting.batch_output import (
    MAX_ID_LENGTH,
    MAX_PROBLEMS,
    BatchResult,
    one_line,
    read_batch_output,
    refused,
)
from annotate.drafting.batch_output import MAX_LINE_BYTES as MAX_LINE_BYTES  # named here too
from annotate.drafting.context import DraftContext, load_contexts
from annotate.drafting.deidentify import Deidentify, Mask, check_mode, masked_turns, masks_for
from annotate.drafting.providers import OpenAIProvider
from annotate.ingest.readers import show
from store.db import session_scope
from store.models import Draft, DraftBatch, Rating, utcnow
from store.private import write_private
from store.tables import DRAFTS

ENDPOINT = "/v1/chat/completions"
FINISHED = ("completed", "failed", "expired", "cancelled")
POLL_SECONDS = 10.0


FILE_BATCH_PREFIX = "file-"  # draft_batches.batch_id of a --batch-file (no server batch)


def _custom_id(context: DraftContext, tag: str | None = None) -> str:
    """``session/item``; a ``--batch-file`` line adds ``#tag``, its batch's id, so that
    ingest finds the parameters the file was written with."""
    return f"{context.session_id}/{context.item_id}" + (f"#{tag}" if tag else "")


def _contexts(
    engine: Engine, provider: OpenAIProvider, selection: WorkSelection
) -> list[DraftContext]:
    """The contexts to request, as sent: de-identified when the provider's endpoint asks
    for it (the batch's recorded parameters say so, and ingest maps the replies back
    with the same masks, which the store reproduces)."""
    with session_scope(engine) as session:
        pairs, _ = select_work(session, provider, selection)
        contexts = load_contexts(session, pairs)
    masks = masks_for(engine, [c.session_id for c in contexts], provider.deidentify)
    if not masks:
        return contexts
    turns = {sid: masked_turns(c.turns, masks[sid]) for c in contexts
             if (sid := c.session_id) in masks}  # fmt: skip
    return [masked_context(c, masks[c.session_id], turns[c.session_id]) for c in contexts]


def batch_lines(
    provider: OpenAIProvider, contexts: list[DraftContext], tag: str | None = None
) -> list[str]:
    """One Batch API request line per item, built as the online request is: the format
    forced or remembered for the endpoint, the same transcript budget."""
    provider.remembered_format()

    async def bodies() -> list[dict[str, Any]]:
        return [await provider.batch_body(context) for context in contexts]

    return [
        json.dumps(
            {
                "custom_id": _custom_id(context, tag),
                "method": "POST",
                "url": ENDPOINT,
                "body": body,
            },
            ensure_ascii=False,
        )  # fmt: skip
        for context, body in zip(contexts, asyncio.run(bodies()), strict=True)
    ]


def write_batch_file(
    engine: Engine, provider: OpenAIProvider, selection: WorkSelection, path: Path
) -> int:
    """Write the batch's requests as JSONL (for an offline runner); returns how many.

    The batch is recorded in ``draft_batches`` (batch id ``file-TAG``, status ``written``)
    with the parameters its requests carry, and every line's ``custom_id`` ends with
    ``#TAG``: ingest drafts with those parameters, not its own command line's.
    """
    contexts = _contexts(engine, provider, selection)
    tag = secrets.token_hex(8)
    lines = batch_lines(provider, contexts, tag)
    write_private(path, "".join(line + "\n" for line in lines).encode("utf-8"))  # transcripts
    with session_scope(engine) as session:
        session.add(DraftBatch(
            batch_id=FILE_BATCH_PREFIX + tag, input_file_id=path.name[:MAX_ID_LENGTH],
            items=len(lines), model=provider.model, base_url_host=provider.base_url_host,
            prompt_version=provider.prompt_version, prompt_hash=provider.prompt_hash,
            params=dict(provider.params), status="written",
        ))  # fmt: skip
    return len(lines)


@dataclass
class BatchRun:
    """What ``--batch-api`` did."""

    batch_id: str
    resumed: bool
    status: str
    progress: BatchProgress


def _open_batch(engine: Engine, provider: OpenAIProvider) -> DraftBatch | None:
    with session_scope(engine) as session:
        return (
            session.execute(
                select(DraftBatch)
                .where(
                    DraftBatch.model == provider.model,  # type: ignore[arg-type]
                    DraftBatch.prompt_hash == provider.prompt_hash,  # type: ignore[arg-type]
                    DraftBatch.base_url_host == provider.base_url_host,  # type: ignore[arg-type]
                    DraftBatch.ingested_at.is_(None),  # type: ignore[union-attr]
                    col(DraftBatch.batch_id).not_like(FILE_BATCH_PREFIX + "%"),
                )
                .order_by(DraftBatch.id.desc())  # type: ignore[union-attr]
            )
            .scalars()
            .first()
        )


def submit(client: Any, lines: list[str], name: str) -> tuple[Any, Any]:
    """Upload the request lines as NAME and create a batch of them: the file and batch
    as the server sent them."""
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    uploaded = client.files.create(file=(name, data), purpose="batch")
    created = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                                    completion_window="24h")  # fmt: skip
    return uploaded, created


def poll(engine: Engine, client: Any, pending: DraftBatch, poll_seconds: float,
         on_poll: Callable[[int, int, str], None] | None) -> Any:  # fmt: skip
    """Poll the batch until it ends, its status kept in its ``draft_batches`` row."""
    while True:
        batch = client.batches.retrieve(pending.batch_id)
        counts = batch.request_counts
        if on_poll is not None and counts is not None:
            on_poll(counts.completed + counts.failed, counts.total, batch.status)
        with session_scope(engine) as session:
            session.execute(update(DraftBatch).where(DraftBatch.id == pending.id)  # type: ignore[arg-type]
                            .values(status=scrub_secret(batch.status, 32)))  # fmt: skip
        if batch.status in FINISHED:
            return batch
        time.sleep(poll_seconds)


def submit_or_resume(
    engine: Engine,
    provider: OpenAIProvider,
    selection: WorkSelection,
    *,
    poll_seconds: float = POLL_SECONDS,
    on_poll: Callable[[int, int, str], None] | None = None,
) -> BatchRun:
    """Resume the open batch of this model and prompt, or submit a new one; poll; ingest."""
    client = provider.sync_client()
    pending = _open_batch(engine, provider)
    resumed = pending is not None
    if pending is None:
        contexts = _contexts(engine, provider, selection)
        if not contexts:
            return BatchRun("", False, "nothing to draft", BatchProgress())
        uploaded, created = submit(client, batch_lines(provider, contexts), "drafts.jsonl")
        with session_scope(engine) as session:
            pending = DraftBatch(  # ids and status as the server sent them, the key scrubbed
                batch_id=scrub_secret(created.id, MAX_ID_LENGTH),
                input_file_id=scrub_secret(uploaded.id, MAX_ID_LENGTH),
                items=len(contexts),
                model=provider.model,
                base_url_host=provider.base_url_host,
                prompt_version=provider.prompt_version,
                prompt_hash=provider.prompt_hash,
                params=dict(provider.params),
                status=scrub_secret(created.status, 32),
            )
            session.add(pending)
            session.flush()
            session.expunge(pending)
    batch = poll(engine, client, pending, poll_seconds, on_poll)
    progress = BatchProgress()
    if batch.output_file_id:
        output = client.files.content(batch.output_file_id).content
        source = f"the output of batch {show(scrub_secret(pending.batch_id))}"
        recorded = _Recorded.of(pending)
        progress = ingest_lines(engine, provider, io.BytesIO(output), source, recorded).progress
    output_id = scrub_secret(batch.output_file_id, MAX_ID_LENGTH)
    done = {"ingested_at": utcnow(), "output_file_id": output_id}
    with session_scope(engine) as session:
        session.execute(update(DraftBatch).where(DraftBatch.id == pending.id)  # type: ignore[arg-type]
                        .values(**done))  # fmt: skip
    return BatchRun(pending.batch_id, resumed, batch.status, progress)


@dataclass(frozen=True)
class _Recorded:
    """What a batch was written with (its ``draft_batches`` row): its drafts carry these."""

    model: str
    base_url_host: str | None
    prompt_version: str
    prompt_hash: str
    params: dict[str, Any]

    @classmethod
    def of(cls, batch: DraftBatch) -> _Recorded:
        return cls(batch.model, batch.base_url_host, batch.prompt_version, batch.prompt_hash,
                   dict(batch.params or {}))  # fmt: skip


@dataclass
class Ingested:
    """What an ingest stored, and how many lines were drafts already stored."""

    progress: BatchProgress
    already_ingested: int = 0


def ingest_lines(
    engine: Engine,
    provider: OpenAIProvider,
    handle: IO[bytes],
    source: str,
    recorded: _Recorded | None = None,
) -> Ingested:
    """Turn batch output lines into drafts (grounded and recorded as online drafts are),
    all in one transaction after every line is checked; a line already ingested (the same
    bytes for the same item) is skipped, so ingesting a file again changes nothing.

    Drafts carry the model, prompt and parameters the batch was written with: those of
    ``recorded`` (a ``--batch-api`` batch), of the ``--batch-file`` a line's custom_id
    names, else (a file written before batches were recorded) the provider's.
    """
    results = read_batch_output(handle, source)
    with session_scope(engine) as session:
        _check_items(session, results, source)
        files = _file_batches(session, results, source)
        done = _ingested(session, results)
        fresh = [r for r in results if (r.session_id, r.item_id, r.digest) not in done]
        fresh = [r for r in fresh if r.reply is None or r.reply.request_id is None
                 or (r.session_id, r.item_id, r.reply.request_id) not in done]  # fmt: skip
        contexts = load_contexts(session, [(r.session_id, r.item_id) for r in fresh])
    progress = BatchProgress(total=len(contexts))
    batches = [files[r.batch_tag] if r.batch_tag else recorded for r in fresh]
    all_params = [{**(batch.params if batch else provider.params), "batch": True,
                   "batch_line": result.digest}
                  for result, batch in zip(fresh, batches, strict=True)]  # fmt: skip
    masks = _masks(engine, fresh, all_params)
    rows = []
    for result, context, batch, params in zip(fresh, contexts, batches, all_params, strict=True):
        mode = _mode(params)
        mask = masks.get((mode, result.session_id)) if mode is not None else None
        if result.reply is None:
            failure = ProviderError(result.failure or "no reply")
            values = draft_values(provider, context, None, failure, mask=mask)
        else:
            values = draft_values(provider, context, replace(result.reply, params=params),
                                  mask=mask)  # fmt: skip
        values = _scrubbed({**values, "params": params})
        if batch is not None:
            values.update(model=batch.model, base_url_host=batch.base_url_host,
                          prompt_version=batch.prompt_version,
                          prompt_hash=batch.prompt_hash)  # fmt: skip
        progress.count(values)
        rows.append(values)
    if rows:
        tags = sorted({FILE_BATCH_PREFIX + r.batch_tag for r in fresh if r.batch_tag})
        with engine.begin() as connection:
            connection.execute(insert(DRAFTS), rows)
            if tags:
                connection.execute(update(DraftBatch).where(col(DraftBatch.batch_id).in_(tags))
                                   .values(status="ingested", ingested_at=utcnow()))  # fmt: skip
    return Ingested(progress, len(results) - len(fresh))


def _mode(params: dict[str, Any]) -> str | None:
    """The de-identification mode a batch's requests were sent with (None: not masked)."""
    found = params.get("deidentify")
    mode = found.get("mode") if isinstance(found, dict) else None
    return mode if isinstance(mode, str) else None


def _masks(
    engine: Engine, results: list[BatchResult], params: list[dict[str, Any]]
) -> dict[tuple[str, str], Mask]:
    """The masks the requests of de-identified batches were sent with, by (mode, session):
    the store's map reproduces them, so the replies are mapped back as online ones are."""
    by_mode: dict[str, set[str]] = {}
    for result, given in zip(results, params, strict=True):
        mode = _mode(given)
        if mode is not None:
            by_mode.setdefault(mode, set()).add(result.session_id)
    masks: dict[tuple[str, str], Mask] = {}
    for mode, sessions in sorted(by_mode.items()):
        found = masks_for(engine, sessions, Deidentify(on=True, mode=check_mode(mode)))
        masks.update({(mode, session_id): mask for session_id, mask in found.items()})
    return masks


def _file_batches(session: Any, results: list[BatchResult], source: str) -> dict[str, _Recorded]:
    """The recorded ``--batch-file`` batches the lines name, by tag; a tag this database
    never wrote is refused (one line naming the first, nothing written)."""
    tags = sorted({r.batch_tag for r in results if r.batch_tag})
    if not tags:
        return {}
    names = [FILE_BATCH_PREFIX + tag for tag in tags]
    rows = session.execute(select(DraftBatch).where(col(DraftBatch.batch_id).in_(names))).scalars()
    found = {row.batch_id.removeprefix(FILE_BATCH_PREFIX): _Recorded.of(row) for row in rows}
    problems = [
        f"{source}:{r.line}: custom_id names batch file {r.batch_tag}, which this database "
        "did not write (write the requests with draft --batch-file here)"
        for r in results
        if r.batch_tag and r.batch_tag not in found
    ]
    if problems:
        raise refused([one_line(p) for p in problems[:MAX_PROBLEMS]])
    return found


def _check_items(session: Any, results: list[BatchResult], source: str) -> None:
    """Every line names a (session, item) with a client rating in the store."""
    sessions = sorted({r.session_id for r in results})
    known: set[tuple[str, str]] = set()
    for chunk in range(0, len(sessions), 500):
        known.update(
            session.execute(
                select(col(Rating.session_id), col(Rating.item_id))
                .where(col(Rating.session_id).in_(sessions[chunk : chunk + 500]))
                .where(col(Rating.rater_role) == "client")
            ).all()
        )
    problems = [
        f"{source}:{r.line}: no client rating of item {show(scrub_secret(r.item_id))} in "
        f"session {show(scrub_secret(r.session_id))} in the database"
        for r in results
        if (r.session_id, r.item_id) not in known
    ]
    if problems:
        raise refused([one_line(p) for p in problems[:MAX_PROBLEMS]])


def _ingested(session: Any, results: list[BatchResult]) -> set[tuple[str, str, str]]:
    """(session, item, line digest or request id) of the batch drafts already stored."""
    sessions = sorted({r.session_id for r in results})
    wanted = {(r.session_id, r.item_id) for r in results}
    found: set[tuple[str, str, str]] = set()
    for chunk in range(0, len(sessions), 500):
        rows = session.execute(
            select(
                col(Draft.session_id), col(Draft.item_id), col(Draft.request_id), col(Draft.params)
            ).where(col(Draft.session_id).in_(sessions[chunk : chunk + 500]))  # fmt: skip
        ).all()
        for session_id, item_id, request_id, params in rows:
            if (session_id, item_id) not in wanted or not (params or {}).get("batch"):
                continue
            if params.get("batch_line"):
                found.add((session_id, item_id, str(params["batch_line"])))
            if request_id:
                found.add((session_id, item_id, request_id))
    return found


def ingest_file(engine: Engine, provider: OpenAIProvider, path: Path) -> Ingested:
    """``annotate draft --ingest FILE``: the output of an offline batch runner."""
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    try:
        with path.open("rb") as handle:
            return ingest_lines(engine, provider, handle, str(path))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
