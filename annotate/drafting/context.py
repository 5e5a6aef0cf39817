"""What a draft is made from: one (session, item) with its transcript and the client's rating."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from annotate.core.errors import NotFoundError
from annotate.work.rationales.itemcontext import TurnText
from store.models import Instrument, Item, Rating, TherapySession, Turn


@dataclass(frozen=True)
class DraftContext:
    """Everything a provider needs for one draft (plain data, safe to pass between threads)."""

    session_id: str
    item_id: str
    language: str
    turns: tuple[TurnText, ...]
    item_text: str
    dimension: str
    dimension_name: str
    dimension_definition: str
    rating: int
    anchor: str
    anchors: tuple[tuple[int, str], ...]
    scale_min: int
    scale_max: int
    instrument_version: str
    # The turns are a de-identified copy (annotate.drafting.deidentify), fit to send off
    # this machine; the key and item stay the store's.
    deidentified: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.session_id, self.item_id)


def load_contexts(session: Session, pairs: list[tuple[str, str]]) -> list[DraftContext]:
    """Contexts for (session_id, item_id) pairs, in the given order; each transcript read once."""
    if not pairs:
        return []
    session_ids = sorted({s for s, _ in pairs})
    item_ids = sorted({i for _, i in pairs})
    sessions = {
        s.id: s
        for s in session.exec(
            select(TherapySession).where(col(TherapySession.id).in_(session_ids))
        ).all()
    }
    items = {i.id: i for i in session.exec(select(Item).where(col(Item.id).in_(item_ids))).all()}
    instruments = {i.id: i for i in session.exec(select(Instrument)).all()}
    ratings = {
        (r.session_id, r.item_id): r.value
        for r in session.exec(
            select(Rating)
            .where(col(Rating.session_id).in_(session_ids), Rating.rater_role == "client")
            .where(col(Rating.item_id).in_(item_ids))
        ).all()
    }
    turns: dict[str, list[TurnText]] = {s: [] for s in session_ids}
    rows = session.exec(
        select(Turn.session_id, Turn.number, Turn.speaker, Turn.text)
        .where(col(Turn.session_id).in_(session_ids))
        .order_by(col(Turn.session_id), col(Turn.number))
    ).all()
    for session_id, number, speaker, text in rows:
        turns[session_id].append(TurnText(number, speaker, text))
    frozen = {s: tuple(t) for s, t in turns.items()}
    contexts = []
    for session_id, item_id in pairs:
        therapy = sessions.get(session_id)
        item = items.get(item_id)
        if therapy is None:
            raise NotFoundError(f"no session {session_id!r}")
        if item is None:
            raise NotFoundError(f"no item {item_id!r}")
        rating = ratings.get((session_id, item_id))
        if rating is None:
            raise NotFoundError(f"session {session_id} has no client rating for {item_id}")
        instrument = instruments[item.instrument_id]
        anchors = tuple(sorted((int(k), v) for k, v in instrument.anchors.items()))
        dimension = instrument.dimensions.get(item.dimension, {})
        contexts.append(
            DraftContext(
                session_id=session_id,
                item_id=item_id,
                language=therapy.language or "en",
                turns=frozen[session_id],
                item_text=item.text,
                dimension=item.dimension,
                dimension_name=dimension.get("name", item.dimension),
                dimension_definition=dimension.get("definition", ""),
                rating=rating,
                anchor=dict(anchors).get(rating, str(rating)),
                anchors=anchors,
                scale_min=instrument.scale_min,
                scale_max=instrument.scale_max,
                instrument_version=instrument.version,
            )
        )
    return contexts
