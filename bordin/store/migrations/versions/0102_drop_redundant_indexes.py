"""Drop the indexes on item_responses and scores that duplicate their primary keys

Both primary keys begin with ``administration_id``, so their indexes already serve
look-ups by administration; the extra indexes only cost every submission a write.

Revision ID: 0102_redundant_ix
Revises: 0101_audit_head
Create Date: 2026-11-26 16:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0102_redundant_ix"
down_revision: str | None = "0101_audit_head"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_item_responses_administration_id", table_name="item_responses")
    op.drop_index("ix_scores_administration_id", table_name="scores")


def downgrade() -> None:
    op.create_index("ix_scores_administration_id", "scores", ["administration_id"])
    op.create_index("ix_item_responses_administration_id", "item_responses",
                    ["administration_id"])
