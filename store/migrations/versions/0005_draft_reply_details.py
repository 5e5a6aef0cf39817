"""drafts: finish_reason, cached_tokens, server_timings, raw_reply

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00

What real servers report with a reply: why it stopped (``length``: cut at max_tokens),
how many prompt tokens came from the prefix cache, llama-server's timings; and the raw
reply of a draft that failed or was ungrounded, for the expert and the lead to read.
Earlier drafts have none of these (NULL).
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


def downgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_column("raw_reply")
        batch_op.drop_column("server_timings")
        batch_op.drop_column("cached_tokens")
        batch_op.drop_column("finish_reason")
