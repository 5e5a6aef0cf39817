"""rationales.flagged_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 00:40:00

When the author flagged a rationale, for the project lead's list of flags. Stores of
earlier revisions did not record it: a flagged rationale gets its ``updated_at`` (the
time of its last change, the flag's or a later save's), the best that is known.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rationales", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("flagged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.execute("UPDATE rationales SET flagged_at = updated_at WHERE flagged")


def downgrade() -> None:
    with op.batch_alter_table("rationales", schema=None) as batch_op:
        batch_op.drop_column("flagged_at")
