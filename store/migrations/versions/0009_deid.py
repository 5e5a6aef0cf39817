"""deid_clients, deid_surrogates, deid_roster, deid_corrections; marker_drafts.params

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00

Text that leaves the machine (a request to a model, an export) is de-identified
(``annotate.deid``). What that needs to last lives here: each client's date shift,
chosen once (``deid_clients``); each client's map from an identifier to its surrogate or
tag (``deid_surrogates``, one row per (client, mode, category, original), so every text
of a client gets the same surrogate; the map never leaves the store); the names and
places a lead listed (``deid_roster``, for one client or for all); and people's
corrections of the detector (``deid_corrections``: ``mark`` a miss, ``unmark`` a false
hit). And a marker draft's parameters (``marker_drafts.params``, JSON, NULL for the
offline hinter and for drafts made before): what was asked, with what was done about
identifiers (``{"deidentify": {...}}`` or ``{"deidentify": {"off": "explicit"}}``), as a
rationale draft's ``params`` records. Existing rows are untouched (their ``params`` NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deid_clients",
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("date_shift_days", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"]),
        sa.PrimaryKeyConstraint("client_id"),
    )
    op.create_table(
        "deid_surrogates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("surrogate", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "mode", "category", "original"),
    )
    op.create_table(
        "deid_roster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("loaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deid_roster", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deid_roster_client_id"), ["client_id"], unique=False)
    op.create_table(
        "deid_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("made_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deid_corrections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deid_corrections_client_id"), ["client_id"], unique=False
        )
    with op.batch_alter_table("marker_drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("marker_drafts", schema=None) as batch_op:
        batch_op.drop_column("params")
    with op.batch_alter_table("deid_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deid_corrections_client_id"))
    op.drop_table("deid_corrections")
    with op.batch_alter_table("deid_roster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deid_roster_client_id"))
    op.drop_table("deid_roster")
    op.drop_table("deid_surrogates")
    op.drop_table("deid_clients")
