"""ruptures: marker schemes, turn codings with versions and reviews, marker drafts and
suggestions; items.binary_above; sessions.meta

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00

Moment-by-moment rupture coding (3RS by default): a coder's codes of a session's turns
are a ``coding`` whose every change is a ``coding_version``; models and the offline
hinter propose codes per turn (``marker_drafts`` and ``marker_suggestions``) which a
coder accepts or rejects (``suggestion_decisions``). An item may be binary
(``binary_above``: the rupture question counts any rating above 1), an instrument may
be rated without rationales (``instruments.rationales``), and a session may
carry string metadata such as its condition (``meta``). Existing rows get NULL.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "marker_schemes",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("families", sa.JSON(), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("cues", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "codings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("scheme_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("coder_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("lock_version", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coder_id"],
            ["annotators.id"],
        ),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["marker_schemes.id"],
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "scheme_id", "coder_id"),
    )
    with op.batch_alter_table("codings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codings_coder_id"), ["coder_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_codings_session_id"), ["session_id"], unique=False)

    op.create_table(
        "marker_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("scheme_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("base_url_host", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("prompt_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("prompt_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scheme_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("raw_reply", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scheme_id"],
            ["marker_schemes.id"],
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("marker_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marker_drafts_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "coding_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coding_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("coding_version", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["coding_id"],
            ["codings.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["annotators.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("coding_id", "reviewer_id"),
    )
    with op.batch_alter_table("coding_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coding_reviews_coding_id"), ["coding_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coding_reviews_reviewer_id"), ["reviewer_id"], unique=False
        )

    op.create_table(
        "coding_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coding_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("codes", sa.JSON(), nullable=False),
        sa.Column("author_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("scheme_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["annotators.id"],
        ),
        sa.ForeignKeyConstraint(
            ["coding_id"],
            ["codings.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("coding_id", "version"),
    )
    with op.batch_alter_table("coding_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coding_versions_coding_id"), ["coding_id"], unique=False
        )

    op.create_table(
        "marker_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("turn_number", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("quote", sa.Text(), nullable=True),
        sa.Column("grounded", sa.Boolean(), nullable=False),
        sa.Column("grounding_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["marker_drafts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("marker_suggestions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marker_suggestions_draft_id"), ["draft_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marker_suggestions_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "suggestion_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("coding_id", sa.Integer(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coding_id"],
            ["codings.id"],
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["marker_suggestions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("suggestion_id", "coding_id"),
    )
    with op.batch_alter_table("suggestion_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_suggestion_decisions_coding_id"), ["coding_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_suggestion_decisions_suggestion_id"), ["suggestion_id"], unique=False
        )

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("binary_above", sa.Integer(), nullable=True))

    # A plain ADD COLUMN (not a batch copy): on SQLite a copy of ``instruments`` would be
    # dropped while ``items`` still references it, which the foreign keys refuse.
    op.add_column(
        "instruments",
        sa.Column("rationales", sa.Boolean(), server_default=sa.true(), nullable=False),
    )

    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meta", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("meta")

    with op.batch_alter_table("instruments", schema=None) as batch_op:
        batch_op.drop_column("rationales")

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("binary_above")

    with op.batch_alter_table("suggestion_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestion_decisions_suggestion_id"))
        batch_op.drop_index(batch_op.f("ix_suggestion_decisions_coding_id"))

    op.drop_table("suggestion_decisions")
    with op.batch_alter_table("marker_suggestions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marker_suggestions_session_id"))
        batch_op.drop_index(batch_op.f("ix_marker_suggestions_draft_id"))

    op.drop_table("marker_suggestions")
    with op.batch_alter_table("coding_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coding_versions_coding_id"))

    op.drop_table("coding_versions")
    with op.batch_alter_table("coding_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coding_reviews_reviewer_id"))
        batch_op.drop_index(batch_op.f("ix_coding_reviews_coding_id"))

    op.drop_table("coding_reviews")
    with op.batch_alter_table("marker_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marker_drafts_session_id"))

    op.drop_table("marker_drafts")
    with op.batch_alter_table("codings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codings_session_id"))
        batch_op.drop_index(batch_op.f("ix_codings_coder_id"))

    op.drop_table("codings")
    op.drop_table("marker_schemes")
