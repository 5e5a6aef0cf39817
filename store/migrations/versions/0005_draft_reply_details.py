"""drafts: finish_reason, cached_tokens, server_timings, raw_reply; draft_batches

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00

What real servers report with a reply: why it stopped (``length``: cut at max_tokens),
how many prompt tokens came from the prefix cache, llama-server's timings; and the raw
reply of a draft that failed or was ungrounded, for the expert and the lead to read.
Earlier drafts have none of these (NULL). ``draft_batches`` records each batch handed
to a batch interface, so a killed ``draft --batch-api`` resumes it.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("finish_reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(sa.Column("cached_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("server_timings", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("raw_reply", sa.Text(), nullable=True))
    op.create_table(
        "draft_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("input_file_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("output_file_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("base_url_host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("prompt_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("prompt_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ingested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("draft_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_draft_batches_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    op.drop_table("draft_batches")
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_column("raw_reply")
        batch_op.drop_column("server_timings")
        batch_op.drop_column("cached_tokens")
        batch_op.drop_column("finish_reason")
