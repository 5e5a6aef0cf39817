"""``export_dataset``: training files with client-grouped folds, a manifest and an index.

Memory stays flat in the number of records: the first pass keeps client- and
session-level figures only, the second reads texts a batch of sessions at a time
and writes every record straight to its files.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, Engine

from annotate.analysis.textdistance import normalised_distance
from annotate.core import workflow
from annotate.core.errors import ConfigError, NotFoundError
from annotate.core.guidelines import Rubric
from annotate.core.vocabulary import current_rubric
from annotate.export import formats, metadata, records
from annotate.export.deidentify import ExportMasks, check_mode, manifest_entry
from annotate.export.folds import LOCO, ClientStats, fold_spec
from annotate.export.manifest import (
    Counts,
    Provenance,
    SplitRecords,
    build_manifest,
)
from annotate.export.options import ExportOptions
from annotate.export.plan import Plan, build_plan
from annotate.export.writer import (
    FileInfo,
    Splits,
    write_export,
)
from annotate.work.rationales.rules import is_scaffold_draft

SESSIONS_PER_BATCH = 500


def _check(options: ExportOptions, rubric: Rubric) -> int:
    """Validate the options; return the review threshold in force."""
    if options.fmt not in formats.FORMATS:
        raise ConfigError(f"unknown format {options.fmt!r}; choose {', '.join(formats.FORMATS)}")
    if options.target not in formats.TARGETS:
        raise ConfigError(f"unknown target {options.target!r}; choose {', '.join(formats.TARGETS)}")
    if options.fmt == "dpo" and options.target == "rating":
        raise ConfigError("--format dpo pairs rationales: use --target rationale or both")
    if options.conversational and options.fmt != "dpo":
        raise ConfigError("--conversational is for --format dpo (the other formats are chats)")
    if options.conversational and options.parquet:
        raise ConfigError("--conversational writes JSONL only: drop --parquet")
    if options.fmt == "markers":
        if options.target != "both":
            raise ConfigError("--target is for the rationale formats: markers targets the codes")
        if options.min_score is not None or options.include_unreviewed:
            raise ConfigError(
                "--min-score and --include-unreviewed filter rationales; --format markers "
                "exports finished turn codings"
            )
    if options.min_score is not None and options.include_unreviewed:
        raise ConfigError("--min-score and --include-unreviewed cannot be combined")
    if options.min_score is not None and not (
        rubric.scale_min <= options.min_score <= rubric.scale_max
    ):
        raise ConfigError(
            f"--min-score must be within the rubric's scale {rubric.scale_min}..{rubric.scale_max}"
        )
    if not 0.0 <= options.dpo_min_edit < 1.0:
        raise ConfigError("--dpo-min-edit must be at least 0 and below 1")
    check_mode(options.deidentify_mode)
    return options.min_score if options.min_score is not None else rubric.threshold


def _first_pass(
    connection: Connection,
    policy: records.Policy,
    dimensions: tuple[str, ...],
    options: ExportOptions,
    counts: Counts,
    masks: ExportMasks | None = None,
) -> Plan:
    clients: dict[str, ClientStats] = {}
    client_of: dict[str, str] = {}
    sessions: list[str] = []
    unreviewed: set[str] = set()  # clients an --include-unreviewed export would add
    for row in records.scan(connection, policy):
        counts.rationales += 1
        reason = records.exclusion_reason(row, policy)
        if reason is not None:
            Counts.bump(counts.excluded, reason)
            if reason == records.UNREVIEWED:
                unreviewed.add(row.client_id)
            continue
        counts.included["reviewed" if row.reviews else "unreviewed"] += 1
        stats = clients.get(row.client_id)
        if stats is None:
            stats = clients[row.client_id] = ClientStats(row.client_id)
        stats.records += 1
        if row.session_id not in client_of:
            client_of[row.session_id] = row.client_id
            sessions.append(row.session_id)
            stats.sessions.append(row.session_id)
    counts.records = sum(stats.records for stats in clients.values())

    def too_few(have: int, need: int) -> str:
        return too_few_clients(options, have, need, len(unreviewed | set(clients)))

    return build_plan(
        connection, clients, client_of, sessions, instrument_id=policy.instrument_id,
        dimensions=dimensions, folds=options.folds, seed=options.seed, too_few=too_few,
        metadata_of=masks.metadata if masks is not None else None,
    )  # fmt: skip


def too_few_clients(options: ExportOptions, have: int, need: int, with_unreviewed: int) -> str:
    """Why ``--folds`` cannot be met and what to do, in one line: fewer folds, or
    ``--include-unreviewed`` (with the numbers), or more accepted and reviewed work."""
    offer_unreviewed = not options.include_unreviewed and options.min_score is None
    if have == 0 and not (offer_unreviewed and with_unreviewed):
        return (
            f"--folds {options.folds}: nothing to export yet, no client has an accepted "
            "rationale; accept rationales in the editor ('annotate tui'), have them reviewed "
            "('annotate review-assign'), then export"
        )
    which = "an accepted" if options.include_unreviewed else "a reviewed, passing"
    remedies = []
    if have >= 2 and options.folds != LOCO:
        remedies.append(f"use --folds {have}")
    if offer_unreviewed and with_unreviewed > have:
        if with_unreviewed >= need:
            remedies.append(f"add --include-unreviewed ({with_unreviewed} clients)")
        elif with_unreviewed >= 2:
            remedies.append(f"add --include-unreviewed with --folds {with_unreviewed}")
    if not remedies:
        remedies.append("have more clients' rationales accepted and reviewed, or export "
                        "without --folds")  # fmt: skip
    return (
        f"--folds {options.folds} needs at least {need} clients; the export has {have} "
        f"(clients with {which} rationale): {', or '.join(remedies)}"
    )


def export_dataset(
    engine: Engine,
    options: ExportOptions,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the export to ``options.out_dir``; return its manifest.

    ``on_progress(done, total)`` is called after each batch with the number of
    sessions written so far and the number to write.
    """
    options = dataclasses.replace(
        options,
        folds=fold_spec(options.folds),
        prompt_metadata=metadata.prompt_keys(options.prompt_metadata),
    )
    rubric = current_rubric(engine)
    threshold = _check(options, rubric)
    if options.fmt == "markers":
        from annotate.export.markers import export_markers

        return export_markers(engine, options, on_progress)
    policy = records.Policy(options.instrument_id, threshold, options.include_unreviewed)
    counts = Counts()
    masks = ExportMasks(engine, options.deidentify_mode) if options.deidentify else None
    # One snapshot, so both passes see the same store; writers are not held up.
    with records.read_snapshot(engine) as connection:
        instrument = records.load_instrument(connection, options.instrument_id)
        if instrument is None:
            raise NotFoundError(f"no instrument {options.instrument_id!r} in the store")
        dimensions = tuple(instrument.dimensions)
        plan = _first_pass(connection, policy, dimensions, options, counts, masks)
        metadata.check_known(options.prompt_metadata, plan.meta_of)
        if options.fmt == "dpo":
            counts.records = 0  # counted again as pairs are written
        provenance = Provenance(
            instrument.id, instrument.version, rubric.version, criteria=rubric.names
        )

        def write_records(splits: Splits) -> None:
            _second_pass(
                connection, policy, instrument, options, plan, splits, counts, provenance,
                on_progress, masks,
            )  # fmt: skip

        def manifest(files: FileInfo, split_records: SplitRecords) -> dict[str, Any]:
            return build_manifest(
                options=options, threshold=threshold, counts=counts, provenance=provenance,
                overall=plan.overall, fold_tables=plan.fold_tables,
                split_records=split_records, files=files,
                deidentification=deidentified(options),
            )  # fmt: skip

        return write_export(options, plan, write_records, manifest)


def _second_pass(
    connection: Connection,
    policy: records.Policy,
    instrument: records.InstrumentInfo,
    options: ExportOptions,
    plan: Plan,
    splits: Splits,
    counts: Counts,
    provenance: Provenance,
    on_progress: Callable[[int, int], None] | None,
    masks: ExportMasks | None = None,
) -> None:
    prompts = formats.PromptBuilder(instrument, options.target)
    item_json = functools.cache(formats.json_string)
    keep_records = options.parquet  # dicts are built only for the Parquet writer
    reader = records.BatchReader(connection, policy, SESSIONS_PER_BATCH)
    for start in range(0, len(plan.sessions), SESSIONS_PER_BATCH):
        batch = plan.sessions[start : start + SESSIONS_PER_BATCH]
        rows, turns = reader.read(batch)
        if masks is not None:  # every text of the batch's sessions goes through its mask
            masks.load(batch)
            turns = {sid: [(s, t) for s, t in masks.turns(sid, said)]
                     for sid, said in turns.items()}  # fmt: skip
        # Per session: the user text (the metadata header asked for, then the transcript),
        # its JSON, and the index line's session part and metadata.
        sessions: dict[str, tuple[str, str, str, str]] = {}
        for row in rows:
            if records.exclusion_reason(row, policy) is not None:
                continue
            assert row.text is not None and row.client_rating is not None
            session = sessions.get(row.session_id)
            if session is None:
                meta = plan.meta_of.get(row.session_id, {})
                transcript = metadata.header(meta, options.prompt_metadata) + (
                    formats.transcript_text(turns[row.session_id])
                )
                head = {"session_id": row.session_id, "client_id": row.client_id}
                session = sessions[row.session_id] = (
                    transcript,
                    formats.json_string(transcript),
                    json.dumps(head, ensure_ascii=False)[1:-1],
                    json.dumps(meta, ensure_ascii=False),
                )
            transcript, transcript_json, head_json, meta_json = session
            system, system_json = prompts.system(row.item_id, row.client_rating)
            record: dict[str, Any] | None = None
            source_json = ""  # dpo: the index line's draft columns
            masked = _masker(masks, row.session_id)
            if options.fmt == "dpo":
                pair = _pair(row, prompts, options, counts, masked)
                if pair is None:
                    continue
                counts.records += 1
                source = pair[2]
                Counts.bump(counts.pairs_by_model, f"{source.provider}/{source.model}")
                source_json = source.json_tail()
                if options.conversational:
                    record = formats.render_dpo_conversational(system, transcript, *pair)
                    text = json.dumps(record, ensure_ascii=False) + "\n"
                else:
                    text = formats.dpo_line(system, transcript_json, *pair)
                    if keep_records:
                        record = formats.render_dpo(system, transcript, *pair)
            else:
                target = prompts.target_text(masked(row.text), row.client_rating)
                text = formats.line(
                    options.fmt, system_json, transcript_json, formats.json_string(target)
                )
                if keep_records:
                    record = formats.render(options.fmt, system, transcript, target)
            if row.guideline_version:
                provenance.guideline_versions.add(row.guideline_version)
            if row.draft_prompt_version:
                provenance.draft_prompt_versions.add(row.draft_prompt_version)
            line = text.encode("utf-8")
            item = item_json(row.item_id)
            entry = f'{head_json}, "item_id": {item}, "metadata": {meta_json}{source_json}}}\n'
            splits.write(row.client_id, line, record, entry, row.session_id)
        if on_progress is not None:
            on_progress(start + len(batch), len(plan.sessions))


def _masker(masks: ExportMasks | None, session_id: str) -> Callable[[str], str]:
    """How a text of the session is written: masked with ``export --deidentify``."""
    if masks is None:
        return _as_is
    return functools.partial(masks.text, session_id)


def _as_is(text: str) -> str:
    return text


def deidentified(options: ExportOptions) -> dict[str, Any] | None:
    """The manifest's ``deidentification`` (None: the export is not de-identified)."""
    return manifest_entry(options.deidentify_mode) if options.deidentify else None


def _pair(
    row: records.FullRow,
    prompts: formats.PromptBuilder,
    options: ExportOptions,
    counts: Counts,
    masked: Callable[[str], str] = _as_is,
) -> tuple[str, str, formats.DraftSource] | None:
    """(chosen, rejected, the draft's source) when a model drafted the text and the
    expert changed it enough, else None (counted by reason). The edit is measured on the
    stored texts; ``masked`` writes them (``export --deidentify``)."""
    draft = row.draft_text
    if row.draft_status in (None, workflow.DRAFT_FAILED) or not draft:
        Counts.bump(counts.dpo_excluded, records.DPO_NO_DRAFT)
        return None
    if is_scaffold_draft(row.draft_provider):
        Counts.bump(counts.dpo_excluded, records.DPO_OFFLINE_DRAFT)
        return None
    assert row.text is not None and row.client_rating is not None
    assert row.draft_provider is not None and row.draft_model is not None
    assert row.draft_prompt_version is not None
    if normalised_distance(draft, row.text) <= options.dpo_min_edit:
        Counts.bump(counts.dpo_excluded, records.DPO_SMALL_EDIT)
        return None
    return (
        prompts.target_text(masked(row.text), row.client_rating),
        prompts.target_text(masked(draft), row.client_rating),
        formats.DraftSource(row.draft_provider, row.draft_model, row.draft_prompt_version),
    )
