"""How far the work has come: counts of everything in the store.

Written with lightweight table references rather than the SQLModel classes so that
``annotate progress`` starts quickly (it is what scripts poll).
"""

from __future__ import annotations

from sqlalchemy import column, func, select, table
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import ColumnClause

COUNTED = {
    "sessions": ("sessions", None),
    "clients": ("clients", None),
    "counselors": ("counselors", None),
    "turns": ("turns", None),
    "instrument_items": ("items", None),
    "items": ("ratings", "client"),
    "ratings": ("ratings", None),
    "client_ratings": ("ratings", "client"),
    "counselor_ratings": ("ratings", "counselor"),
    "drafts": ("drafts", None),
    "rationales": ("rationales", None),
    "rationale_versions": ("rationale_versions", None),
    "reviews": ("reviews", None),
    "annotators": ("annotators", None),
}


def counts(engine: Engine) -> dict[str, int]:
    """The store's totals; ``items`` counts (session, item) units that have a client rating."""
    figures: dict[str, int] = {}
    with engine.connect() as connection:
        for key, (table_name, rater_role) in COUNTED.items():
            role: ColumnClause[str] = column("rater_role")
            query = select(func.count()).select_from(table(table_name, role))
            if rater_role is not None:
                query = query.where(role == rater_role)
            figures[key] = int(connection.execute(query).scalar_one())
    return figures
