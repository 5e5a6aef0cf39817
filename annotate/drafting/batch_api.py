"""Drafting through a batch interface (OpenAI's Batch API, vLLM's ``run_batch``): half the price.

``write_batch_file`` writes the requests of a batch as the Batch API's JSONL (one line
per item, ``custom_id`` = ``session/item``), built exactly as the online path builds
them. ``submit_or_resume`` uploads it and creates the batch, recording the batch id in
``draft_batches`` first thing, so a killed command resumes polling the same batch
instead of paying again. ``ingest`` reads an output file (the Batch API's, or
``run_batch``'s, which is the same shape) through the same grounding and provenance
path as online drafts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from annotate.drafting.base import Reply
from annotate.drafting.batch import (
    BatchProgress,
    WorkSelection,
    _scrubbed,
    draft_values,
    select_work,
)
from annotate.drafting.context import ItemContext, load_contexts
from annotate.drafting.providers import OpenAIProvider
from annotate.errors import ConfigError
from store.db import session_scope
from store.models import Draft, DraftBatch, utcnow
from store.private import write_private

ENDPOINT = "/v1/chat/completions"
FINISHED = ("completed", "failed", "expired", "cancelled")
POLL_SECONDS = 10.0


def _custom_id(context: ItemContext) -> str:
    return f"{context.session_id}/{context.item_id}"


def _contexts(
    engine: Engine, provider: OpenAIProvider, selection: WorkSelection
) -> list[ItemContext]:
    with session_scope(engine) as session:
        pairs, _ = select_work(session, provider, selection)
        return load_contexts(session, pairs)


def batch_lines(provider: OpenAIProvider, contexts: list[ItemContext]) -> list[str]:
    """One Batch API request line per item, built as the online request is."""
    return [
        json.dumps(
            {
                "custom_id": _custom_id(context),
                "method": "POST",
                "url": ENDPOINT,
                "body": provider.batch_body(context),
            },
            ensure_ascii=False,
        )  # fmt: skip
        for context in contexts
    ]


def write_batch_file(
    engine: Engine, provider: OpenAIProvider, selection: WorkSelection, path: Path
) -> int:
    """Write the batch's requests as JSONL (for an offline runner); returns how many."""
    lines = batch_lines(provider, _contexts(engine, provider, selection))
    write_private(path, "".join(line + "\n" for line in lines).encode("utf-8"))  # transcripts
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
                )
                .order_by(DraftBatch.id.desc())  # type: ignore[union-attr]
            )
            .scalars()
            .first()
        )


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
        data = "".join(line + "\n" for line in batch_lines(provider, contexts))
        uploaded = client.files.create(file=("drafts.jsonl", data.encode("utf-8")),
                                       purpose="batch")  # fmt: skip
        created = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT,
                                        completion_window="24h")  # fmt: skip
        with session_scope(engine) as session:
            pending = DraftBatch(
                batch_id=created.id,
                input_file_id=uploaded.id,
                items=len(contexts),
                model=provider.model,
                base_url_host=provider.base_url_host,
                prompt_version=provider.prompt_version,
                prompt_hash=provider.prompt_hash,
                params=dict(provider.params),
                status=created.status,
            )
            session.add(pending)
            session.flush()
            session.expunge(pending)
    while True:
        batch = client.batches.retrieve(pending.batch_id)
        counts = batch.request_counts
        if on_poll is not None and counts is not None:
            on_poll(counts.completed + counts.failed, counts.total, batch.status)
        with session_scope(engine) as session:
            session.execute(update(DraftBatch).where(DraftBatch.id == pending.id)  # type: ignore[arg-type]
                            .values(status=batch.status))  # fmt: skip
        if batch.status in FINISHED:
            break
        time.sleep(poll_seconds)
    progress = BatchProgress()
    if batch.output_file_id:
        output = client.files.content(batch.output_file_id).text
        progress = ingest_lines(engine, provider, output.splitlines())
    done = {"ingested_at": utcnow(), "output_file_id": batch.output_file_id}
    with session_scope(engine) as session:
        session.execute(update(DraftBatch).where(DraftBatch.id == pending.id)  # type: ignore[arg-type]
                        .values(**done))  # fmt: skip
    return BatchRun(pending.batch_id, resumed, batch.status, progress)


def _reply(body: dict[str, Any], params: dict[str, Any]) -> Reply:
    choice = (body.get("choices") or [{}])[0]
    usage = body.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return Reply(
        content=(choice.get("message") or {}).get("content"),
        tokens_in=usage.get("prompt_tokens"),
        tokens_out=usage.get("completion_tokens"),
        request_id=(body.get("id") or "")[:128] or None,
        params=params,
        finish_reason=choice.get("finish_reason"),
        cached_tokens=details.get("cached_tokens"),
        timings=body.get("timings") if isinstance(body.get("timings"), dict) else None,
    )


def ingest_lines(engine: Engine, provider: OpenAIProvider, lines: list[str]) -> BatchProgress:
    """Turn Batch API output lines into drafts (grounded and recorded as online drafts are)."""
    from annotate.drafting.base import ProviderError

    wanted: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
            session_id, item_id = str(entry["custom_id"]).split("/", 1)
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"batch output line {number}: not a batch result") from None
        wanted[f"{session_id}/{item_id}"] = entry
    with session_scope(engine) as session:
        contexts = load_contexts(session, [tuple(key.split("/", 1)) for key in wanted])  # type: ignore[misc]
    progress = BatchProgress(total=len(contexts))
    rows = []
    params = {**provider.params, "batch": True}
    for context in contexts:
        entry = wanted[_custom_id(context)]
        response = entry.get("response") or {}
        body = response.get("body") if isinstance(response.get("body"), dict) else None
        if entry.get("error") or body is None or response.get("status_code", 200) >= 400:
            detail = entry.get("error") or (body or {}).get("error") or "no reply"
            failure = ProviderError(f"batch request failed: {json.dumps(detail)[:500]}")
            values = draft_values(provider, context, None, failure)
        else:
            values = draft_values(provider, context, _reply(body, params))
        values = _scrubbed(values)
        progress.count(values)
        rows.append(values)
    if rows:
        with engine.begin() as connection:
            connection.execute(insert(Draft.__table__), rows)  # type: ignore[attr-defined]
    return progress


def ingest_file(engine: Engine, provider: OpenAIProvider, path: Path) -> BatchProgress:
    """``annotate draft --ingest FILE``: the output of an offline batch runner."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    return ingest_lines(engine, provider, lines)
