"""turn_alliance; items.counselor_text

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 13:00:00

The turn-level alliance trace (``annotate trace``): for each turn, the mean similarity of
its text to each dimension's items (``scores``, JSON ``{dimension: value}``), by one method
(``embedding``: an OpenAI-compatible ``/v1/embeddings`` model; ``lexical``: offline
character n-grams, no model) and model, against one instrument version; ``params`` holds
the run's provenance (endpoint host, de-identification, the form used for the speaker).
One row per (session, turn, method, model, instrument, instrument version), so a rerun
resumes and another model keeps its own trace.

And an item's counselor-form wording (``items.counselor_text``, NULL when the
instrument carries only the client form): the counselor's turns are compared with it.
Existing rows are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "turn_alliance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("turn_number", sa.Integer(), nullable=False),
        sa.Column("speaker", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("instrument_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "instrument_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False
        ),  # fmt: skip
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.ForeignKeyConstraint(["instrument_id"], ["instruments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "session_id", "turn_number", "method", "model", "instrument_id", "instrument_version"
        ),  # fmt: skip
    )
    with op.batch_alter_table("turn_alliance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_turn_alliance_session_id"), ["session_id"],
                              unique=False)  # fmt: skip
    # Not a batch (which copies the table): ratings, drafts and rationales refer to items,
    # and SQLite adds and drops a plain column in place (3.35 and later).
    op.add_column("items", sa.Column("counselor_text", sa.Text(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE items DROP COLUMN counselor_text")
    else:
        op.drop_column("items", "counselor_text")
    with op.batch_alter_table("turn_alliance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_turn_alliance_session_id"))
    op.drop_table("turn_alliance")
