"""Instruments in the database: install one from a guideline file, read the catalog back."""

from __future__ import annotations

from sqlalchemy import Select
from sqlmodel import Session, col, select

from annotate.core.errors import ConfigError
from annotate.core.guidelines import InstrumentSpec
from store.models import Instrument, Item


def explained_items() -> Select:
    """The ids of items whose ratings get rationales (their instrument asks for them):
    drafting, authoring assignment and progress take their units from these."""
    return (
        select(col(Item.id))
        .join(Instrument, col(Instrument.id) == col(Item.instrument_id))
        .where(col(Instrument.rationales))
    )


def install_instrument(session: Session, spec: InstrumentSpec) -> bool:
    """Insert or update an instrument and its items; True when anything changed.

    A version names one content: a file that changes a stored instrument (its scale,
    anchors, dimensions, items or their texts) under the stored version is refused, and
    under a new version an item left out of the file goes only if nothing refers to it.
    """
    existing = session.get(Instrument, spec.id)
    anchors = {str(value): label for value, label in spec.anchors.items()}
    dimensions = {key: dim.model_dump() for key, dim in spec.dimensions.items()}
    stored_items = {
        item.id: item
        for item in session.exec(select(Item).where(col(Item.instrument_id) == spec.id)).all()
    }
    wanted = {
        spec_item.id: (
            spec.id,
            spec_item.dimension,
            position,
            spec_item.text,
            spec_item.binary_above,
            spec_item.counselor_text,
        )  # fmt: skip
        for position, spec_item in enumerate(spec.items, start=1)
    }
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
        items_now = {item_id: _item_row(item) for item_id, item in stored_items.items()}
        if existing.version == spec.version and (new != old or items_now != wanted):
            raise ConfigError(
                f"instrument {spec.id} {spec.version} is stored with other content "
                f"({_difference(old, new, items_now, wanted)}): bump the version in the "
                "file to load the change"
            )
        if new != old:
            existing.name, existing.version = spec.name, spec.version
            existing.scale_min, existing.scale_max = spec.scale_min, spec.scale_max
            existing.anchors, existing.dimensions = anchors, dimensions
            existing.rationales = spec.rationales
            session.add(existing)
            changed = True
    for item_id in sorted(set(stored_items) - set(wanted)):
        _drop_unused(session, stored_items[item_id], spec)
        changed = True
    for item_id, row in wanted.items():
        item = session.get(Item, item_id)
        if item is None:
            session.add(
                Item(
                    id=item_id,
                    instrument_id=row[0],
                    dimension=row[1],
                    position=row[2],
                    text=row[3],
                    binary_above=row[4],
                    counselor_text=row[5],
                )
            )
            changed = True
        elif _item_row(item) != row:
            if item.instrument_id != spec.id:
                raise ConfigError(
                    f"item {item_id} belongs to instrument {item.instrument_id}: "
                    "item ids are unique across instruments"
                )
            (item.dimension, item.position, item.text, item.binary_above,
             item.counselor_text) = row[1:]  # fmt: skip
            session.add(item)
            changed = True
    session.flush()
    return changed


def _item_row(item: Item) -> tuple[str, str, int, str, int | None, str | None]:
    return (item.instrument_id, item.dimension, item.position, item.text, item.binary_above,
            item.counselor_text)  # fmt: skip


def _difference(old: tuple, new: tuple, items_now: dict, wanted: dict) -> str:
    """What a same-version file changes, in a few words."""
    fields = ("name", "version", "scale_min", "scale_max", "anchors", "dimensions", "rationales")
    changed = [name for name, a, b in zip(fields, old, new, strict=True) if a != b]
    added, removed = sorted(set(wanted) - set(items_now)), sorted(set(items_now) - set(wanted))
    if added:
        changed.append(f"new item(s) {', '.join(added[:3])}")
    if removed:
        changed.append(f"no item(s) {', '.join(removed[:3])}")
    edited = sorted(i for i in set(wanted) & set(items_now) if wanted[i] != items_now[i])
    if edited:
        changed.append(f"changed item(s) {', '.join(edited[:3])}")
    return "; ".join(changed)


def _drop_unused(session: Session, item: Item, spec: InstrumentSpec) -> None:
    """Remove an item a new version left out, unless ratings or work refer to it."""
    from sqlalchemy import func

    from store.models import Draft, Prediction, Rating, Rationale

    for table, what in ((Rating, "ratings"), (Rationale, "rationales"), (Draft, "drafts"),
                        (Prediction, "predictions")):  # fmt: skip
        count = session.exec(
            select(func.count()).select_from(table).where(col(table.item_id) == item.id)
        ).one()
        if count:
            raise ConfigError(
                f"instrument {spec.id} {spec.version} leaves out item {item.id}, which has "
                f"{count} {what}: keep the item in the file (its text may change)"
            )
    session.delete(item)
    session.flush()
