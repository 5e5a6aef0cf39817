"""rationales.current_version, the draft link, autosaves.draft_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 23:10:00

The rationale's current version becomes a stored fact: ``rationales.current_version``
is filled with the newest version that is not a ``conflict`` (None when there is
none). ``rationales.draft_id`` now means "the draft the current text began from". In
revision 0001 only Ctrl+R set it, although the editor opened pre-filled with the
newest draft; so where it is empty and the rationale's versions up to the current one
are all the expert's own saves (no import), it is filled with the newest usable draft
of the item made before the first of those saves: the draft that editor showed. A
rationale whose current text was imported links no draft. Autosaves gain the draft
their text began from (empty for rows made before this revision).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CURRENT = """
UPDATE rationales SET current_version = (
    SELECT max(v.version) FROM rationale_versions v
    WHERE v.rationale_id = rationales.id AND v.kind <> 'conflict'
)
"""

IMPORTED_CURRENT_HAS_NO_DRAFT = """
UPDATE rationales SET draft_id = NULL
WHERE draft_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM rationale_versions v
    WHERE v.rationale_id = rationales.id AND v.version = rationales.current_version
      AND v.kind = 'import'
)
"""

PREFILLED_DRAFT = """
UPDATE rationales SET draft_id = (
    SELECT d.id FROM drafts d
    WHERE d.session_id = rationales.session_id AND d.item_id = rationales.item_id
      AND d.status <> 'failed' AND d.text IS NOT NULL
      AND d.created_at <= (
          SELECT min(v.created_at) FROM rationale_versions v
          WHERE v.rationale_id = rationales.id AND v.kind IN ('save', 'accept')
      )
    ORDER BY d.id DESC LIMIT 1
)
WHERE draft_id IS NULL AND current_version IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM rationale_versions v
    WHERE v.rationale_id = rationales.id AND v.version <= rationales.current_version
      AND v.kind = 'import'
)
"""


def upgrade() -> None:
    with op.batch_alter_table("rationales", schema=None) as batch_op:
        batch_op.add_column(sa.Column("current_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("autosaves", schema=None) as batch_op:
        batch_op.add_column(sa.Column("draft_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_autosaves_draft_id_drafts", "drafts", ["draft_id"], ["id"])
    op.execute(CURRENT)
    op.execute(IMPORTED_CURRENT_HAS_NO_DRAFT)
    op.execute(PREFILLED_DRAFT)


def downgrade() -> None:
    with op.batch_alter_table("autosaves", schema=None) as batch_op:
        batch_op.drop_constraint("fk_autosaves_draft_id_drafts", type_="foreignkey")
        batch_op.drop_column("draft_id")
    with op.batch_alter_table("rationales", schema=None) as batch_op:
        batch_op.drop_column("current_version")
