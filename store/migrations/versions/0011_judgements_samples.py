"""judgements, judgement_scores and draft_samples; rationales.queue_rank

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:30:00

A rubric judge (``annotate judge``): a model scores the current version of an accepted
rationale, or an imported prediction, on the rubric's criteria. ``judgements`` holds one
row per judged text (which text, its SHA-256, status, reason, cited turns and quotes, the
provenance of the call as a draft has it, the rubric version); ``judgement_scores`` one
row per criterion, as ``review_scores`` does for a human review.

Uncertainty (``annotate draft --samples K``): ``draft_samples`` groups the K drafts asked
for one (session, item) together, with their disagreement and the method that measured it;
``rationales.queue_rank`` (NULL for every existing row) is a rationale's place in its
author's queue when ``assign --order uncertainty`` set one. Existing rows are untouched.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "judgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rationale_id", sa.Integer(), nullable=True),
        sa.Column("rationale_version", sa.Integer(), nullable=True),
        sa.Column("prediction_id", sa.Integer(), nullable=True),
        sa.Column("text_hash", _text(64), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("quotes", sa.JSON(), nullable=False),
        sa.Column("grounding_error", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("provider", _text(32), nullable=False),
        sa.Column("model", _text(128), nullable=False),
        sa.Column("base_url_host", _text(255), nullable=True),
        sa.Column("prompt_version", _text(32), nullable=False),
        sa.Column("prompt_hash", _text(64), nullable=False),
        sa.Column("rubric_version", _text(32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("raw_reply", sa.Text(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["rationale_id"], ["rationales.id"]),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_judgements_rationale_id", "judgements", ["rationale_id"])
    op.create_index("ix_judgements_prediction_id", "judgements", ["prediction_id"])
    op.create_table(
        "judgement_scores",
        sa.Column("judgement_id", sa.Integer(), nullable=False),
        sa.Column("criterion", _text(64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["judgement_id"], ["judgements.id"]),
        sa.PrimaryKeyConstraint("judgement_id", "criterion"),
    )
    op.create_table(
        "draft_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", _text(128), nullable=False),
        sa.Column("item_id", _text(64), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("draft_ids", sa.JSON(), nullable=False),
        sa.Column("method", _text(64), nullable=False),
        sa.Column("uncertainty", sa.Float(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_draft_samples_session_id", "draft_samples", ["session_id"])
    # In place, not a batch copy: drafts, versions and reviews refer to rationales.
    op.add_column("rationales", sa.Column("queue_rank", sa.Integer(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE rationales DROP COLUMN queue_rank")
    else:
        op.drop_column("rationales", "queue_rank")
    op.drop_index("ix_draft_samples_session_id", table_name="draft_samples")
    op.drop_table("draft_samples")
    op.drop_table("judgement_scores")
    op.drop_index("ix_judgements_prediction_id", table_name="judgements")
    op.drop_index("ix_judgements_rationale_id", table_name="judgements")
    op.drop_table("judgements")
