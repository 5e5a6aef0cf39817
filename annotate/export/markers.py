"""``--format markers``: turn-level training data from finished turn codings (3RS).

One record per session whose primary coding under the scheme is finished (submitted
or accepted; the codes are :func:`annotate.work.codings.exported_codes`, read
nowhere else): the instruction lists the scheme's families and codes, the user message
is the dialogue with turn ids (``[T3] Client: ...``, the stored turn numbers the codes
name), and the target is the codes as JSON, ``{"codes": [{"turn": "T3", "code":
"shutdown", "family": "withdrawal"}]}``. Records are in the ``openai`` chat layout, so
they load wherever ``--format openai`` loads; folds, index and manifest are those of
every export. Every session of the store that gives no record is counted by reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from annotate import __version__
from annotate.core.errors import NotFoundError
from annotate.core.guidelines import MarkerScheme
from annotate.core.markers import stored_scheme
from annotate.core.plurals import counted
from annotate.export import formats, metadata, records
from annotate.export.deidentify import ExportMasks, manifest_entry
from annotate.export.folds import LOCO, ClientStats
from annotate.export.manifest import (
    TOOL_NAME,
    SplitRecords,
    all_section,
    fold_table,
    folds_section,
    warnings_section,
)
from annotate.export.plan import Plan, build_plan
from annotate.export.writer import FileInfo, Splits, write_export
from annotate.work.codings import exported_codes, unfinished_primary
from store.db import code_point_order, reader
from store.tables import SESSIONS, TURNS

if TYPE_CHECKING:
    from annotate.export.options import ExportOptions

MARKERS_PROMPT_VERSION = "1.0.0"
LAYOUT = formats.CHAT_LAYOUT["markers"]
SESSIONS_PER_BATCH = 500

# Why a session gives no record, in the order they are checked.
NO_CODING = "no_coding"  # no primary coding under the scheme
CODING_NOT_FINISHED = "coding_not_finished"  # pending, in progress or sent back
CODE_NOT_IN_SCHEME = "code_not_in_scheme"  # the scheme was reloaded without the code
CODE_ON_MISSING_TURN = "code_on_missing_turn"  # a code names a turn the session lacks

RULE = (
    "one record per session whose primary coding under the scheme is submitted or "
    "accepted: its current codes, every code in the scheme and on a turn of the session"
)


@dataclass
class MarkerCounts:
    """What the markers export considered, wrote and left out (and why)."""

    sessions_in_store: int = 0
    codings: int = 0  # finished primary codings
    records: int = 0
    records_without_codes: int = 0  # finished codings that found no marker
    excluded: dict[str, int] = field(default_factory=dict)
    by_family: dict[str, int] = field(default_factory=dict)
    by_code: dict[str, int] = field(default_factory=dict)


def system_prompt(scheme: MarkerScheme) -> str:
    """The instruction: the task, every family and code with its definition, the answer."""
    lines = [
        "You read the transcript of a counseling session and code its turns with the codes "
        f"below ({scheme.name}).",
        "Turns are named T1, T2, ... as in the transcript. A turn may carry several codes, "
        "or none; most turns carry none.",
    ]
    for family_id, family in scheme.families.items():
        lines.append("")
        lines.append(f"{family.name} ({family_id}): {family.definition}")
        lines.extend(
            f"- {code.id} ({code.name}): {code.definition}"
            for code in scheme.codes
            if code.family == family_id
        )
    lines.append("")
    lines.append(
        'Answer with one JSON object and nothing else: {"codes": [{"turn": "T3", "code": '
        '"<code id>", "family": "<family id>"}, ...]}, one entry per turn and code, sorted '
        'by turn, then code; {"codes": []} when no turn carries a code.'
    )
    return "\n".join(lines)


def turn_id(number: int) -> str:
    return f"T{number}"


def dialogue_text(turns: list[tuple[int, str, str]]) -> str:
    """The dialogue with the turn ids the codes name: ``[T3] Client: ...`` per turn."""
    return "\n".join(
        f"[{turn_id(number)}] {formats.SPEAKERS.get(speaker, speaker)}: {text}"
        for number, speaker, text in turns
    )


def target_text(codes: list[tuple[int, str]], scheme: MarkerScheme) -> str:
    """The answer: the session's codes (sorted by turn, then code) as one JSON object."""
    entries = [
        {"turn": turn_id(turn), "code": code, "family": scheme.code(code).family}
        for turn, code in sorted(codes)
    ]
    return json.dumps({"codes": entries}, ensure_ascii=False)


@contextmanager
def snapshot_session(engine: Engine) -> Iterator[Session]:
    """A read-only session over one consistent snapshot, which never blocks writers.

    On SQLite the reader's deferred transaction is a WAL snapshot from its first read;
    on PostgreSQL a REPEATABLE READ transaction is. The session's connection is also
    the one the export's driver-level reads (:mod:`annotate.export.records`) use.
    """
    bind = reader(engine)
    if engine.dialect.name != "sqlite":
        bind = bind.execution_options(isolation_level="REPEATABLE READ")
    with Session(bind) as session:
        try:
            yield session
        finally:
            session.rollback()  # read-only: nothing to keep


def _turn_numbers(session: Session, session_ids: list[str]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {session_id: set() for session_id in session_ids}
    for start in range(0, len(session_ids), SESSIONS_PER_BATCH):
        chunk = session_ids[start : start + SESSIONS_PER_BATCH]
        rows = session.execute(
            select(TURNS.c.session_id, TURNS.c.number).where(TURNS.c.session_id.in_(chunk))
        )
        for session_id, number in rows:
            found[session_id].add(number)
    return found


def _first_pass(
    session: Session,
    scheme: MarkerScheme,
    codes: dict[str, list[tuple[int, str]]],
    counts: MarkerCounts,
    dimensions: tuple[str, ...],
    options: ExportOptions,
    masks: ExportMasks | None = None,
) -> Plan:
    connection = session.connection()
    unfinished = unfinished_primary(session, scheme.id)
    turns = _turn_numbers(session, sorted(codes))
    known = set(scheme.code_ids)
    clients: dict[str, ClientStats] = {}
    client_of: dict[str, str] = {}
    sessions: list[str] = []
    order = code_point_order(SESSIONS.c.id, connection.dialect)
    query = select(SESSIONS.c.id, SESSIONS.c.client_id).order_by(order)
    for session_id, client_id in records.driver_rows(connection, query):
        counts.sessions_in_store += 1
        found = codes.get(session_id)
        reason = None
        if found is None:
            reason = CODING_NOT_FINISHED if session_id in unfinished else NO_CODING
        else:
            counts.codings += 1
            if any(code not in known for _, code in found):
                reason = CODE_NOT_IN_SCHEME
            elif any(turn not in turns[session_id] for turn, _ in found):
                reason = CODE_ON_MISSING_TURN
        if reason is not None:
            counts.excluded[reason] = counts.excluded.get(reason, 0) + 1
            continue
        stats = clients.get(client_id)
        if stats is None:
            stats = clients[client_id] = ClientStats(client_id)
        stats.records += 1
        stats.sessions.append(session_id)
        client_of[session_id] = client_id
        sessions.append(session_id)
    counts.records = len(sessions)

    def too_few(have: int, need: int) -> str:
        return too_few_coded(options, scheme.id, have, need, len(unfinished))

    plan = build_plan(
        connection, clients, client_of, sessions, instrument_id=options.instrument_id,
        dimensions=dimensions, folds=options.folds, seed=options.seed, too_few=too_few,
        metadata_of=masks.metadata if masks is not None else None,
    )  # fmt: skip
    # Codes per family, over the export and per validation fold.
    tables = [plan.overall, *plan.fold_tables.values()]
    for table in tables:
        table.codes = dict.fromkeys(scheme.families, 0)
    for session_id in sessions:
        own = [plan.overall]
        if plan.fold_of:
            own.append(plan.fold_tables[plan.fold_of[client_of[session_id]]])
        if not codes[session_id]:
            counts.records_without_codes += 1
        for _, code in codes[session_id]:
            family = scheme.code(code).family
            counts.by_code[code] = counts.by_code.get(code, 0) + 1
            counts.by_family[family] = counts.by_family.get(family, 0) + 1
            for table in own:
                assert table.codes is not None
                table.codes[family] += 1
    return plan


def too_few_coded(
    options: ExportOptions, scheme_id: str, have: int, need: int, unfinished: int
) -> str:
    """Why ``--folds`` cannot be met by the finished codings, and what to do, in one line."""
    open_work = ""
    if unfinished:
        open_work = f" ({counted(unfinished, 'coding')} under way: finish them in 'annotate tui')"
    if have == 0:
        return (
            f"nothing is coded yet under {scheme_id!r}: no session has a finished coding"
            f"{open_work}; hand out sessions with 'annotate codes assign --coders A,B' and "
            "code them in 'annotate tui', or import codings with 'annotate import FILE "
            "--kind codings', then export"
        )
    fewer = f"use --folds {have}, or " if have >= 2 and options.folds != LOCO else ""
    return (
        f"--folds {options.folds} needs at least {need} clients; {have} have a finished "
        f"coding under {scheme_id!r}: {fewer}finish the coding of more clients' sessions"
        f"{open_work}"
    )


def _write_records(
    session: Session,
    scheme: MarkerScheme,
    codes: dict[str, list[tuple[int, str]]],
    plan: Plan,
    options: ExportOptions,
    splits: Splits,
    on_progress: Callable[[int, int], None] | None,
    masks: ExportMasks | None = None,
) -> None:
    system = system_prompt(scheme)
    system_json = formats.json_string(system)
    for start in range(0, len(plan.sessions), SESSIONS_PER_BATCH):
        batch = plan.sessions[start : start + SESSIONS_PER_BATCH]
        turns: dict[str, list[tuple[int, str, str]]] = {session_id: [] for session_id in batch}
        rows = session.execute(
            select(TURNS.c.session_id, TURNS.c.number, TURNS.c.speaker, TURNS.c.text)
            .where(TURNS.c.session_id.in_(batch))
            .order_by(TURNS.c.session_id, TURNS.c.number)
        )
        for session_id, number, speaker, text in rows:
            turns[session_id].append((number, speaker, text))
        if masks is not None:  # the dialogue as drafting would send it
            masks.load(batch)
            turns = {sid: [(n, s, t) for n, s, t in masks.turns(sid, said)]
                     for sid, said in turns.items()}  # fmt: skip
        for session_id in batch:
            meta = plan.meta_of.get(session_id, {})
            user = metadata.header(meta, options.prompt_metadata) + dialogue_text(turns[session_id])
            target = target_text(codes[session_id], scheme)
            line = formats.line(
                LAYOUT, system_json, formats.json_string(user), formats.json_string(target)
            )
            record = formats.render(LAYOUT, system, user, target) if options.parquet else None
            client_id = plan.client_of[session_id]
            head = {"session_id": session_id, "client_id": client_id}
            entry = json.dumps(
                {**head, "codes": len(codes[session_id]), "metadata": meta}, ensure_ascii=False
            )[1:]
            splits.write(client_id, line.encode("utf-8"), record, entry + "\n", session_id)
        if on_progress is not None:
            on_progress(start + len(batch), len(plan.sessions))


def export_markers(
    engine: Engine,
    options: ExportOptions,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the markers export to ``options.out_dir``; return its manifest."""

    counts = MarkerCounts()
    masks = ExportMasks(engine, options.deidentify_mode) if options.deidentify else None
    with snapshot_session(engine) as session:
        scheme = stored_scheme(session, options.scheme_id)
        connection = session.connection()
        instrument = records.load_instrument(connection, options.instrument_id)
        if instrument is None:
            raise NotFoundError(f"no instrument {options.instrument_id!r} in the store")
        codes = exported_codes(session, scheme.id)
        plan = _first_pass(
            session, scheme, codes, counts, tuple(instrument.dimensions), options, masks
        )
        metadata.check_known(options.prompt_metadata, plan.meta_of)

        def write_records(splits: Splits) -> None:
            _write_records(session, scheme, codes, plan, options, splits, on_progress, masks)

        def manifest(files: FileInfo, split_records: SplitRecords) -> dict[str, Any]:
            return _manifest(options, scheme, instrument, counts, plan, files, split_records)

        return write_export(options, plan, write_records, manifest)


def _manifest(
    options: ExportOptions,
    scheme: MarkerScheme,
    instrument: records.InstrumentInfo,
    counts: MarkerCounts,
    plan: Plan,
    files: FileInfo,
    split_records: SplitRecords,
) -> dict[str, Any]:
    """The markers export's manifest: the shape of every export's, its own counts."""
    return {
        "tool": {"name": TOOL_NAME, "version": __version__},
        "format": "markers",
        "layout": LAYOUT,
        "target": "codes",
        "prompt_metadata": list(options.prompt_metadata),
        "versions": {
            "scheme": {"id": scheme.id, "version": scheme.version},
            "export_prompt": MARKERS_PROMPT_VERSION,
            "instrument": {"id": instrument.id, "version": instrument.version},
        },
        **(
            {"deidentification": manifest_entry(options.deidentify_mode)}
            if options.deidentify
            else {}
        ),
        "filters": {
            "scheme": scheme.id,
            "instrument": instrument.id,  # the fold table's scores, and --folds K
            "rule": RULE,
        },
        "folds": folds_section(options, plan.fold_count),
        "counts": {
            "sessions_in_store": counts.sessions_in_store,
            "codings": counts.codings,
            "records": counts.records,
            "records_without_codes": counts.records_without_codes,
            "clients": len(plan.overall.clients),
            "sessions": len(plan.overall.sessions),
            "codes": sum(counts.by_code.values()),
            "codes_by_family": dict(sorted(counts.by_family.items())),
            "codes_by_code": dict(sorted(counts.by_code.items())),
            "excluded": dict(sorted(counts.excluded.items())),
        },
        "all": all_section(options, plan.overall, counts.records),
        "fold_table": fold_table(plan.fold_tables, split_records),
        "warnings": warnings_section("markers", files),
        "files": dict(sorted(files.items())),
    }
