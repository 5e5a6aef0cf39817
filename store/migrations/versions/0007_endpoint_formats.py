"""endpoint_formats: the response format each endpoint and model answered; drafts'
absent server timings as SQL NULL

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 05:00:00

``endpoint_formats`` remembers, per (base_url_host, model), the structured-output mode
the server last answered, so a run, a rerun, ``draft --markers`` and every concurrent
request use it from the first request instead of asking each refused mode again.
``drafts.server_timings`` held the JSON text ``null`` where a server sent no timings;
those become SQL NULL (the column now stores absent values as NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoint_formats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("base_url_host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("response_format", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("base_url_host", "model"),
    )
    json_null = (
        "server_timings::text = 'null'"
        if op.get_bind().dialect.name == "postgresql"
        else "server_timings = 'null'"
    )
    op.execute(f"UPDATE drafts SET server_timings = NULL WHERE {json_null}")


def downgrade() -> None:
    op.drop_table("endpoint_formats")
