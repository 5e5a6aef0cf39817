"""What an expert sees beside a rationale: the transcript, the item and both ratings.

Shared by the editor and the blind review; it carries no author, so a view built from
it can never show who wrote the rationale.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from annotate.core.errors import NotFoundError
from store.models import Instrument, Item, Rating, TherapySession, Turn


@dataclass(frozen=True)
class TurnText:
    """One turn of a transcript as every room reads it (the editor, review, drafting)."""

    number: int
    speaker: str  # client | counselor
    text: str


@dataclass(frozen=True)
class ItemContext:
    """One (session, item) with everything needed to explain the client's rating."""

    session_id: str
    item_id: str
    dimension: str
    dimension_name: str
    dimension_definition: str
    item_text: str
    client_rating: int | None
    client_anchor: str | None
    counselor_rating: int | None
    counselor_anchor: str | None
    language: str | None
    turns: tuple[TurnText, ...]
    # The session's metadata (condition, modality, ...): shown to the expert, never drafted.
    metadata: tuple[tuple[str, str], ...] = ()


def load_context(session: Session, session_id: str, item_id: str) -> ItemContext:
    """Read the transcript, item and ratings of one unit of work in four small queries."""
    therapy = session.get(TherapySession, session_id)
    item = session.get(Item, item_id)
    if therapy is None or item is None:
        raise NotFoundError(f"no session {session_id!r} with item {item_id!r}")
    instrument = session.get(Instrument, item.instrument_id)
    anchors = dict(instrument.anchors) if instrument else {}
    dimensions = dict(instrument.dimensions) if instrument else {}
    ratings: dict[str, int] = {
        role: value
        for role, value in session.execute(
            select(col(Rating.rater_role), col(Rating.value)).where(
                col(Rating.session_id) == session_id, col(Rating.item_id) == item_id
            )
        ).all()
    }
    turn_rows = session.execute(
        select(col(Turn.number), col(Turn.speaker), col(Turn.text))
        .where(col(Turn.session_id) == session_id)
        .order_by(col(Turn.number))
    ).all()
    dimension = dimensions.get(item.dimension, {})
    client, counselor = ratings.get("client"), ratings.get("counselor")
    return ItemContext(
        session_id=session_id,
        item_id=item_id,
        dimension=item.dimension,
        dimension_name=dimension.get("name", item.dimension),
        dimension_definition=dimension.get("definition", ""),
        item_text=item.text,
        client_rating=client,
        client_anchor=anchors.get(str(client)) if client is not None else None,
        counselor_rating=counselor,
        counselor_anchor=anchors.get(str(counselor)) if counselor is not None else None,
        language=therapy.language,
        turns=tuple(TurnText(number, speaker, text) for number, speaker, text in turn_rows),
        metadata=tuple(sorted((therapy.meta or {}).items())),
    )
