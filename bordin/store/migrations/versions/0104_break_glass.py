"""Break-glass access: access grants get a kind (granted / break_glass) and a reason

A clinician may open a patient of their own clinic outside their caseload in an
emergency, stating a reason; the access is an ``access_grants`` row of kind
``break_glass`` that expires by itself. Existing rows become kind ``granted`` (the
server default) with no reason. A break-glass row must have a reason and an expiry.

Revision ID: 0104_break_glass
Revises: 0103_see_alliance
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0104_break_glass"
down_revision: str | None = "0103_see_alliance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_grants") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=False,
                                   server_default="granted"))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.create_check_constraint("kind", "kind IN ('granted', 'break_glass')")
        batch.create_check_constraint(
            "break_glass",
            "kind <> 'break_glass' OR (reason IS NOT NULL AND expires_at IS NOT NULL)")


def downgrade() -> None:
    # Break-glass rows are emergency accesses, not grants anyone gave: they go.
    op.execute("DELETE FROM access_grants WHERE kind = 'break_glass'")
    with op.batch_alter_table("access_grants") as batch:
        batch.drop_constraint(op.f("ck_access_grants_break_glass"), type_="check")
        batch.drop_constraint(op.f("ck_access_grants_kind"), type_="check")
        batch.drop_column("reason")
        batch.drop_column("kind")
