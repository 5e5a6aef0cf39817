"""review_scores, prediction_review_scores and rubrics: review criteria are data

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:00:00

A review's scores were three columns (``faithfulness``, ``relevance``,
``informativeness``) of ``reviews`` and ``prediction_reviews``, so a rubric naming other
criteria could not be stored. Each score is now a row (review, criterion, score) of
``review_scores`` / ``prediction_review_scores``, one per criterion of the rubric the
review was scored on (``rubric_version``). Every stored review keeps its three scores,
copied into rows under their column names; the columns are then dropped. ``rubrics``
holds the rubrics a lead loads (none: the packaged rubric is used).

The old scores are read before the columns go and written after, so SQLite's table
rebuild (batch mode) never drops a table that a score row refers to.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CRITERIA = ("faithfulness", "relevance", "informativeness")
# (review table, score table, the score table's key column)
TABLES = (
    ("reviews", "review_scores", "review_id"),
    ("prediction_reviews", "prediction_review_scores", "prediction_review_id"),
)


def upgrade() -> None:
    bind = op.get_bind()
    kept: dict[str, list[dict[str, object]]] = {}
    for reviews, scores, key in TABLES:
        rows = bind.execute(
            sa.text(f"SELECT id, {', '.join(CRITERIA)} FROM {reviews} ORDER BY id")
        ).all()
        kept[scores] = [
            {key: row[0], "criterion": name, "score": row[1 + index]}
            for row in rows
            for index, name in enumerate(CRITERIA)
        ]
        with op.batch_alter_table(reviews, schema=None) as batch_op:
            for name in CRITERIA:
                batch_op.drop_column(name)
    for reviews, scores, key in TABLES:
        table = op.create_table(
            scores,
            sa.Column(key, sa.Integer(), nullable=False),
            sa.Column("criterion", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("score", sa.Integer(), nullable=False),
            sa.ForeignKeyConstraint([key], [f"{reviews}.id"]),
            sa.PrimaryKeyConstraint(key, "criterion"),
        )
        if kept[scores]:
            op.bulk_insert(table, kept[scores])
    op.create_table(
        "rubrics",
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("scale_min", sa.Integer(), nullable=False),
        sa.Column("scale_max", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )


def downgrade() -> None:
    """Back to three columns: a review scored on other criteria gets 0 for a missing one."""
    bind = op.get_bind()
    op.drop_table("rubrics")
    for reviews, scores, key in TABLES:
        kept = bind.execute(sa.text(f"SELECT {key}, criterion, score FROM {scores}")).all()
        op.drop_table(scores)
        with op.batch_alter_table(reviews, schema=None) as batch_op:
            for name in CRITERIA:
                batch_op.add_column(
                    sa.Column(name, sa.Integer(), nullable=False, server_default="0")
                )
        for name in CRITERIA:
            values = [{"id": row[0], "score": row[2]} for row in kept if row[1] == name]
            if values:
                bind.execute(sa.text(f"UPDATE {reviews} SET {name} = :score WHERE id = :id"),
                             values)  # fmt: skip
        with op.batch_alter_table(reviews, schema=None) as batch_op:
            for name in CRITERIA:
                batch_op.alter_column(name, server_default=None)
