"""``annotate judge --batch-api``: the judge's requests through a batch interface (OpenAI's
Batch API: half the price), as ``draft --batch-api`` sends drafts.

The requests are built as online (the judge prompt, the rubric's schema, masked when the
endpoint asks for it) with ``custom_id`` naming the target and its text's hash. The batch
is recorded in ``draft_batches`` (under the judge prompt's hash, with the parameters its
requests carry) right after the server creates it, before the first poll (as drafting's
``submit_or_resume`` does), so a command killed while waiting polls the same batch again
instead of paying twice; one killed between the upload and that record leaves a batch
this database does not know. Its output is read by the drafts' checked reader
(``annotate.drafting.batch_output``: limits, schema, one ``FILE:LINE`` error and nothing
written) and each line becomes a judgement through the online path's reading and
grounding, mapped back with the masks of the de-identification the batch was sent with
(as recorded, whatever the resuming command asks); a line whose reply cannot be read is
a failed judgement, and a line whose text changed since it was sent is left out. The
judgements and the batch's ``ingested_at`` are written in one transaction.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from annotate.core.settings import Endpoint
from annotate.drafting.base import Reply, scrub_secret
from annotate.drafting.batch_api import (
    ENDPOINT,
    FILE_BATCH_PREFIX,
    POLL_SECONDS,
    _mode,
    poll,
    submit,
)
from annotate.drafting.batch_output import MAX_ID_LENGTH, read_batch_output
from annotate.drafting.deidentify import OFF, Deidentify, Mask, check_mode, masks_for, restored
from annotate.drafting.providers import DraftSettings
from annotate.judging.prompt import Target
from annotate.judging.service import (
    JudgeProvider,
    JudgeRun,
    JudgeSelection,
    StoredJudgement,
    insert_judgements,
    judgement_row,
    load_targets,
    masking,
    prepared,
    read_reply,
    sent_as,
)
from store.db import session_scope
from store.models import DraftBatch, utcnow


def custom_id(target: Target) -> str:
    """``kind-id-version/hash``: the target and the text it was asked about (the drafts'
    reader takes ``a/b`` ids)."""
    kind, number, version = target.key
    return f"judge-{kind}-{number}-{version or 0}/{target.text_hash[:32]}"


def _lines(engine: Engine, provider: JudgeProvider, targets: list[Target]) -> list[str]:
    """One request line per target, as the online request is built (the format forced
    or remembered for this endpoint: a batch cannot step down mid-way)."""
    client = provider.client
    client.remembered_format()
    masks, turns = masking(engine, provider, targets)
    response_format = client.params["response_format"]
    lines = []
    for target in targets:
        sid = target.context.session_id
        prompt = provider.prompt(sent_as(target, masks.get(sid), turns.get(sid)),
                                 provider.settings.context_budget)  # fmt: skip
        # the online request's body itself: one place builds what a request carries
        body = client._request(prompt, response_format, provider.settings.max_tokens)
        lines.append(json.dumps({"custom_id": custom_id(target), "method": "POST",
                                 "url": ENDPOINT, "body": body}, ensure_ascii=False))  # fmt: skip
    return lines


def _open_batch(engine: Engine, provider: JudgeProvider) -> DraftBatch | None:
    """The judge's batch of this endpoint, model and prompt not yet ingested, if any."""
    with session_scope(engine) as session:
        found = session.execute(
            select(DraftBatch).where(
                col(DraftBatch.model) == provider.model,
                col(DraftBatch.prompt_hash) == provider.prompt_hash,
                col(DraftBatch.base_url_host) == provider.base_url_host,
                col(DraftBatch.ingested_at).is_(None),
                col(DraftBatch.batch_id).not_like(FILE_BATCH_PREFIX + "%"),
            ).order_by(col(DraftBatch.id).desc())
        ).scalars().first()  # fmt: skip
        if found is not None:
            session.expunge(found)
        return found


@dataclass
class JudgeBatch:
    """What ``judge --batch-api`` did: the batch, and the run's figures."""

    batch_id: str
    resumed: bool
    status: str
    run: JudgeRun
    left_out: int = 0  # lines whose text changed since the batch was sent

    def as_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "resumed": self.resumed, "status": self.status,
                "changed_since_sent": self.left_out, **self.run.as_json()}  # fmt: skip


def judge_batch(
    engine: Engine,
    settings: DraftSettings,
    selection: JudgeSelection,
    *,
    poll_seconds: float = POLL_SECONDS,
    on_poll: Callable[[int, int, str], None] | None = None,
    endpoint: Endpoint | None = None,
) -> JudgeBatch:
    """Resume the judge's open batch, or submit one for the texts a run would judge;
    poll until it ends; store its judgements."""
    started = time.perf_counter()
    provider, chosen = prepared(engine, settings, selection, endpoint)
    run = JudgeRun(provider.name, provider.model, provider.prompt_version,
                   provider.rubric.version, skipped=chosen.unchanged,
                   deidentify=provider.deidentify.provenance())  # fmt: skip
    client = provider.client.sync_client()
    pending = _open_batch(engine, provider)
    resumed = pending is not None
    if pending is None:
        if not chosen.todo:
            return JudgeBatch("", False, "nothing to judge", run)
        uploaded, created = submit(client, _lines(engine, provider, chosen.todo), "judge.jsonl")
        with session_scope(engine) as session:
            pending = DraftBatch(  # ids and status as the server sent them, the key scrubbed
                batch_id=scrub_secret(created.id, MAX_ID_LENGTH),
                input_file_id=scrub_secret(uploaded.id, MAX_ID_LENGTH),
                items=len(chosen.todo), model=provider.model,
                base_url_host=provider.base_url_host, prompt_version=provider.prompt_version,
                prompt_hash=provider.prompt_hash,
                params={**provider.client.params, "rubric_version": provider.rubric.version},
                status=scrub_secret(created.status, 32),
            )  # fmt: skip
            session.add(pending)
            session.flush()
            session.expunge(pending)
    run.selected = pending.items
    run.deidentify = dict(pending.params or {}).get("deidentify")  # as the batch was sent
    batch = poll(engine, client, pending, poll_seconds, on_poll)
    output = client.files.content(batch.output_file_id).content if batch.output_file_id else b""
    source = f"the output of batch {scrub_secret(pending.batch_id)}"
    found, left_out = _judgements(engine, provider, output, source, pending)
    with engine.begin() as connection:
        insert_judgements(connection, found)
        connection.execute(update(DraftBatch).where(col(DraftBatch.id) == pending.id).values(
            ingested_at=utcnow(),
            output_file_id=scrub_secret(batch.output_file_id, MAX_ID_LENGTH)))  # fmt: skip
    for judgement in found:
        run.count(judgement.row, judgement.label)
    run.seconds = time.perf_counter() - started
    return JudgeBatch(pending.batch_id, resumed, batch.status, run, left_out)


def _judgements(engine: Engine, provider: JudgeProvider, output: bytes, source: str,
                batch: DraftBatch) -> tuple[list[StoredJudgement], int]:  # fmt: skip
    """The output's lines as judgements of the texts they were asked about (lines of a
    text changed since are left out, and counted); replies carry the batch's recorded
    parameters and are mapped back with the masks it was sent with."""
    if not output:
        return [], 0
    results = read_batch_output(io.BytesIO(output), source)
    with session_scope(engine) as session:
        targets = {custom_id(t): t for t in load_targets(session, JudgeSelection())}
    asked = [(r, targets[f"{r.session_id}/{r.item_id}"]) for r in results
             if f"{r.session_id}/{r.item_id}" in targets]  # fmt: skip
    params = {**dict(batch.params or {}), "batch_id": batch.batch_id}
    mode = _mode(params)  # as sent, not as the resuming command would send
    sent = Deidentify(on=True, mode=check_mode(mode)) if mode is not None else OFF
    masks = masks_for(engine, [target.context.session_id for _, target in asked], sent)
    found = []
    for result, target in asked:
        mask = masks.get(target.context.session_id)
        if result.reply is None:
            found.append(judgement_row(provider, target, None,
                                       error=restored(result.failure, mask)))  # fmt: skip
            found[-1].row["params"] = params
        else:
            found.append(_read(provider, target, replace(result.reply, params=params), mask))
    return found, len(results) - len(found)


def _read(provider: JudgeProvider, target: Target, reply: Reply, mask: Mask | None
          ) -> StoredJudgement:  # fmt: skip
    """One line's reply as a judgement; a reply the reader trips on is a failed one, so
    one line never stops the batch's others from being stored (and the batch ingested)."""
    try:
        return read_reply(provider, target, reply, mask)
    except ValueError as unreadable:
        error = restored(f"unusable reply: {unreadable}", mask)
        return judgement_row(provider, target, reply, error=error,
                             raw=restored(reply.content, mask))  # fmt: skip
