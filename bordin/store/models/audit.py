"""The append-only, hash-chained audit log.

Every read and write of patient data, every login attempt and every denied
request adds one :class:`AuditEvent`. Rows are numbered consecutively (``seq``)
and each carries ``hash = SHA-256(prev_hash || canonical row)``, so changing,
deleting or inserting a row breaks the chain from that row on; ``bordin audit
verify`` names the first broken row. The database refuses UPDATE and DELETE on
``audit_events`` by trigger (SQLite ``RAISE(ABORT)``, a PostgreSQL trigger
function), created in the web app's migration.

:class:`AuditHead` is a one-row table holding the last ``seq`` and ``hash``. A
writer first *updates* it, which takes the write lock (SQLite) or the row lock
(PostgreSQL) before reading the previous hash, so concurrent writers chain in
order instead of forking the chain (on PostgreSQL the head update and the event
insert can be one statement: the head keeps ``prev_hash``). The columns mirror the
IHE Basic Audit Log Patterns (who, what, when, which patient, outcome) and hold identifiers only,
never patient answers or names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bordin.store.base import Base, utcnow

__all__ = ["GENESIS_HASH", "AuditEvent", "AuditHead"]

#: ``prev_hash`` of the first row.
GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One audited action."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                     primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(20))  # user, link, anonymous, system
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(40))  # read, create, update, login, ...
    outcome: Mapped[str] = mapped_column(String(20))  # success, failure, denied
    resource_type: Mapped[str | None] = mapped_column(String(40), default=None)
    resource_id: Mapped[str | None] = mapped_column(String(64), default=None)
    patient_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    route: Mapped[str | None] = mapped_column(String(200), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    client: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's head: one row (``id = 1``) with the last sequence number and hash."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    #: The hash before the last event (lets PostgreSQL chain in one statement).
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
