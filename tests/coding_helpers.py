"""Turn codings for export tests, made through the lifecycle as a coder would make them."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from annotate.work import codings
from store.db import session_scope
from store.models import Coding, TherapySession


def primary_coding(engine: Engine, session_id: str) -> tuple[int, str]:
    """(coding id, coder) of a session's primary coding."""
    with session_scope(engine) as session:
        coding = session.execute(
            select(Coding).where(Coding.session_id == session_id, Coding.role == "primary")  # type: ignore[arg-type]
        ).scalar_one()
        return int(coding.id), coding.coder_id  # type: ignore[arg-type]


def code_session(
    engine: Engine,
    coding_id: int,
    coder: str,
    marks: list[tuple[int, str]],
    *,
    submit: bool = True,
    toggled_off: tuple[tuple[int, str], ...] = (),
) -> None:
    """Toggle each (turn, code) on; toggle the ``toggled_off`` ones on and off again."""
    state = codings.read_coding(engine, coding_id, coder)
    for turn, code in [*marks, *toggled_off, *toggled_off]:
        state = codings.toggle_code(engine, coding_id, coder, turn, code, state.lock_version)
    if submit:
        codings.submit_coding(engine, coding_id, coder, state.lock_version)


def code_primaries(
    engine: Engine, plan: dict[str, list[tuple[int, str]]], coders: list[str] | None = None
) -> None:
    """Assign the sessions of ``plan`` (primary codings only) and code and submit each."""
    codings.assign_codings(engine, coders or ["ana"], sessions=sorted(plan))
    for session_id, marks in plan.items():
        coding_id, coder = primary_coding(engine, session_id)
        code_session(engine, coding_id, coder, marks)


def set_metadata(engine: Engine, meta_of: dict[str, dict[str, str] | None]) -> None:
    """Give sessions metadata (as an import would store it)."""
    with session_scope(engine) as session:
        for session_id, meta in meta_of.items():
            session.execute(
                update(TherapySession).where(TherapySession.id == session_id).values(meta=meta)  # type: ignore[arg-type]
            )
