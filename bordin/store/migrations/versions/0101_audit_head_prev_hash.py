"""Audit chain head keeps the previous hash, so PostgreSQL can chain in one statement

With ``prev_hash`` on the head row, one ``UPDATE audit_head SET prev_hash = hash,
hash = sha256(...), seq = seq + 1 RETURNING ...`` inside the event's INSERT both
takes the head's row lock and returns what the new event row needs: the lock is
held for that statement and the commit only. The chain's format is unchanged.

Revision ID: 0101_audit_head
Revises: 0100_web
Create Date: 2026-11-26 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0101_audit_head"
down_revision: str | None = "0100_web"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("prev_hash")
