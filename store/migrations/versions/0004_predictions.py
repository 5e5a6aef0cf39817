"""predictions, prediction_reviews, review_assignments.prediction_id

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:40:00

Model rationales imported for blind human evaluation live in ``predictions``, their
scores in ``prediction_reviews``; a review assignment names a rationale or a
prediction, so ``review_assignments.rationale_id`` becomes nullable. Existing rows are
all rationale assignments and keep their values.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("item_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"]),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "session_id", "item_id"),
    )
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_predictions_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_predictions_session_id"), ["session_id"], unique=False)
    op.create_table(
        "prediction_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("faithfulness", sa.Integer(), nullable=False),
        sa.Column("relevance", sa.Integer(), nullable=False),
        sa.Column("informativeness", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("rubric_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"]),
        sa.ForeignKeyConstraint(["reviewer_id"], ["annotators.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prediction_id", "reviewer_id"),
    )
    with op.batch_alter_table("prediction_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prediction_reviews_prediction_id"), ["prediction_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_prediction_reviews_reviewer_id"), ["reviewer_id"], unique=False
        )
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.alter_column("rationale_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("prediction_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_review_assignments_prediction_id", "predictions", ["prediction_id"], ["id"]
        )
        batch_op.create_unique_constraint(
            "uq_review_assignments_prediction_id", ["prediction_id", "reviewer_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_review_assignments_prediction_id"), ["prediction_id"], unique=False
        )


def downgrade() -> None:
    op.execute("DELETE FROM review_assignments WHERE prediction_id IS NOT NULL")
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_assignments_prediction_id"))
        batch_op.drop_constraint("uq_review_assignments_prediction_id", type_="unique")
        batch_op.drop_constraint("fk_review_assignments_prediction_id", type_="foreignkey")
        batch_op.drop_column("prediction_id")
        batch_op.alter_column("rationale_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("prediction_reviews")
    op.drop_table("predictions")
