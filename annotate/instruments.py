"""Instruments in the database: install one from a guideline file, read the catalog back."""

from __future__ import annotations

from sqlalchemy import Select
from sqlmodel import Session, col, select

from annotate.catalog import ItemCatalog
from annotate.guidelines import InstrumentSpec
from store.models import Instrument, Item


def explained_items() -> Select:  # type: ignore[type-arg]
    """The ids of items whose ratings get rationales (their instrument asks for them):
    drafting, authoring assignment and progress take their units from these."""
    return (
        select(col(Item.id))
        .join(Instrument, col(Instrument.id) == col(Item.instrument_id))
        .where(col(Instrument.rationales))
    )


def install_instrument(session: Session, spec: InstrumentSpec) -> bool:
    """Insert or update an instrument and its items; True when anything changed."""
    existing = session.get(Instrument, spec.id)
    anchors = {str(value): label for value, label in spec.anchors.items()}
    dimensions = {key: dim.model_dump() for key, dim in spec.dimensions.items()}
    changed = False
    if existing is None:
        session.add(
            Instrument(
                id=spec.id,
                name=spec.name,
                version=spec.version,
                scale_min=spec.scale_min,
                scale_max=spec.scale_max,
                anchors=anchors,
                dimensions=dimensions,
                rationales=spec.rationales,
            )
        )
        session.flush()
        changed = True
    else:
        new = (spec.name, spec.version, spec.scale_min, spec.scale_max, anchors, dimensions,
               spec.rationales)  # fmt: skip
        old = (
            existing.name,
            existing.version,
            existing.scale_min,
            existing.scale_max,
            existing.anchors,
            existing.dimensions,
            existing.rationales,
        )
        if new != old:
            existing.name, existing.version = spec.name, spec.version
            existing.scale_min, existing.scale_max = spec.scale_min, spec.scale_max
            existing.anchors, existing.dimensions = anchors, dimensions
            existing.rationales = spec.rationales
            session.add(existing)
            changed = True
    for position, spec_item in enumerate(spec.items, start=1):
        item = session.get(Item, spec_item.id)
        if item is None:
            session.add(
                Item(
                    id=spec_item.id,
                    instrument_id=spec.id,
                    dimension=spec_item.dimension,
                    position=position,
                    text=spec_item.text,
                    binary_above=spec_item.binary_above,
                )
            )
            changed = True
        elif (item.instrument_id, item.dimension, item.position, item.text, item.binary_above) != (
            spec.id,
            spec_item.dimension,
            position,
            spec_item.text,
            spec_item.binary_above,
        ):
            item.instrument_id, item.dimension = spec.id, spec_item.dimension
            item.position, item.text = position, spec_item.text
            item.binary_above = spec_item.binary_above
            session.add(item)
            changed = True
    session.flush()
    return changed


def item_catalog(session: Session) -> ItemCatalog:
    """The items and scales that imports are validated against."""
    instruments = session.exec(select(Instrument)).all()
    items = session.exec(select(Item)).all()
    by_instrument: dict[str, set[str]] = {instrument.id: set() for instrument in instruments}
    for item in items:
        by_instrument[item.instrument_id].add(item.id)
    return ItemCatalog(
        item_instrument={item.id: item.instrument_id for item in items},
        instrument_items={key: frozenset(value) for key, value in by_instrument.items()},
        scales={i.id: (i.scale_min, i.scale_max) for i in instruments},
    )
