"""The items and scales that imports are checked against, read with plain SQL.

Kept apart from ``annotate.core.instruments`` (which needs the ORM models) so that an import
loads only SQLAlchemy Core.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from annotate.core.guidelines import Rubric


@dataclass
class ItemCatalog:
    """What the database's instruments allow: item -> (instrument, scale)."""

    item_instrument: dict[str, str]
    instrument_items: dict[str, frozenset[str]]
    scales: dict[str, tuple[int, int]]
    # The store's loaded rubric (version, threshold, scale_min, scale_max, criteria), or
    # None for the packaged one: review imports check scores against its criteria.
    rubric_row: tuple[Any, ...] | None = None

    @cached_property
    def rubric(self) -> Rubric:
        from annotate.core.guidelines import rubric_from_row

        return rubric_from_row(self.rubric_row)

    @cached_property
    def item_scales(self) -> dict[str, tuple[int, int]]:
        return {item: self.scales[inst] for item, inst in self.item_instrument.items()}


def read_catalog(connection: Connection) -> ItemCatalog:
    """The catalog of the store behind ``connection``: its items, instruments and scales."""
    scales = {
        name: (low, high)
        for name, low, high in connection.execute(
            text("SELECT id, scale_min, scale_max FROM instruments")
        )
    }
    items = list(connection.execute(text("SELECT id, instrument_id FROM items")))
    by_instrument: dict[str, set[str]] = {name: set() for name in scales}
    for item_id, instrument_id in items:
        by_instrument[instrument_id].add(item_id)
    return ItemCatalog(
        item_instrument={item_id: instrument_id for item_id, instrument_id in items},
        instrument_items={key: frozenset(value) for key, value in by_instrument.items()},
        scales=scales,
        rubric_row=stored_rubric_row(connection),
    )


def stored_rubric_row(connection: Connection) -> tuple[Any, ...] | None:
    if not inspect(connection).has_table("rubrics"):  # a store not yet upgraded
        return None
    row = connection.execute(
        text(
            "SELECT version, threshold, scale_min, scale_max, criteria FROM rubrics"
            " ORDER BY loaded_at DESC, version DESC LIMIT 1"
        )
    ).first()
    return None if row is None else tuple(row)
