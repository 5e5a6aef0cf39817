"""Flags for the project lead: the items experts marked, with their note, author and time."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from store.db import code_point_order, reader
from store.tables import ITEMS, RATIONALES


@dataclass(frozen=True)
class Flag:
    session_id: str
    item_id: str
    dimension: str
    author: str | None
    status: str
    note: str | None
    flagged_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["flagged_at"] = self.flagged_at.isoformat() if self.flagged_at else None
        return data


def flags(engine: Engine) -> list[Flag]:
    """Every flagged rationale, oldest flag first (then session and item)."""
    rationale, item = RATIONALES, ITEMS
    with reader(engine).connect() as connection:
        rows = connection.execute(
            select(
                rationale.c.session_id,
                rationale.c.item_id,
                item.c.dimension,
                rationale.c.author_id,
                rationale.c.status,
                rationale.c.flag_note,
                rationale.c.flagged_at,
            )
            .join(item, item.c.id == rationale.c.item_id)
            .where(rationale.c.flagged.is_(True))
            .order_by(
                rationale.c.flagged_at,
                code_point_order(rationale.c.session_id, connection.dialect),
                item.c.position,
            )
        ).all()
    return [Flag(*row) for row in rows]
