"""Clinic setting: whether patients also see their alliance ratings' totals

A clinic that shows patients their results may show the symptom measures only (the
default) or the alliance ratings too (as the SRS is shared in session under PCOMS).

Revision ID: 0103_see_alliance
Revises: 0102_redundant_ix
Create Date: 2026-11-26 19:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0103_see_alliance"
down_revision: str | None = "0102_redundant_ix"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic_settings") as batch:
        batch.add_column(sa.Column("patients_see_alliance", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("clinic_settings") as batch:
        batch.drop_column("patients_see_alliance")
