"""Append to and verify the hash-chained audit log.

Every event is ``hash = SHA-256(prev_hash || canonical JSON of the row)``, with
consecutive ``seq`` numbers. :func:`append` first *updates* the one-row
``audit_head`` table, which takes the write lock (SQLite) or the row lock
(PostgreSQL) so that concurrent writers extend the chain in turn; the event is
then part of the caller's transaction and commits or rolls back with it. On
PostgreSQL the head update and the insert are one statement, and the server
computes the hash (``sha256``); :func:`verify` recomputes every hash in Python.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import LargeBinary, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from bordin.store.base import utcnow
from bordin.store.models.audit import GENESIS_HASH, AuditEvent, AuditHead

__all__ = ["VerifyResult", "append", "event_hash", "verify"]

_FIELDS = ("seq", "at", "actor_kind", "actor_id", "action", "outcome", "resource_type",
           "resource_id", "patient_id", "route", "request_id", "client", "detail")


def _canonical(values: dict[str, Any]) -> bytes:
    at = values["at"]
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    row = [values[f] for f in _FIELDS]
    row[1] = at.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(*, prev_hash: str, values: dict[str, Any]) -> str:
    """Return the chain hash of a row with ``values`` following ``prev_hash``."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"|" + _canonical(values)).hexdigest()


def append(
    db: Session,
    *,
    actor_kind: str,
    action: str,
    outcome: str,
    actor_id: str | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    patient_id: int | None = None,
    route: str | None = None,
    request_id: str | None = None,
    client: str | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """Add one event to the chain inside ``db``'s transaction; return its ``seq``.

    ``detail`` must hold identifiers and codes only, never patient answers or names.
    """
    values: dict[str, Any] = {
        "seq": 0, "at": utcnow(), "actor_kind": actor_kind, "actor_id": actor_id,
        "action": action, "outcome": outcome, "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id),
        "patient_id": patient_id, "route": route, "request_id": request_id,
        "client": client, "detail": detail,
    }
    if db.get_bind().dialect.name == "postgresql":
        return _append_postgresql(db, values)
    # SQLite: one writer at a time holds the database anyway; the head update comes
    # first and takes the write lock, RETURNING gives the new number and previous hash.
    seq, prev = db.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.hash)
    ).one()
    values["seq"] = seq
    digest = event_hash(prev_hash=prev, values=values)
    db.execute(insert(AuditEvent).values(**values, prev_hash=prev, hash=digest))
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=digest, prev_hash=prev))
    return int(seq)


# The whole append as one statement: the head's row lock is taken by the UPDATE and held
# only for this statement and the commit that follows, instead of for three round trips
# (the one lock every writer of the clinic waits on). The server computes the same hash
# as event_hash: the canonical row is "[<seq>," + the rest, and only seq is known there.
_PG_APPEND = text("""
WITH head AS (
    UPDATE audit_head
       SET seq = seq + 1,
           prev_hash = hash,
           hash = encode(sha256(convert_to(hash || '|[' || (seq + 1)::text || ',', 'UTF8')
                                || :tail), 'hex')
     WHERE id = 1
 RETURNING seq, prev_hash, hash
)
INSERT INTO audit_events (seq, at, actor_kind, actor_id, action, outcome, resource_type,
                          resource_id, patient_id, route, request_id, client, detail,
                          prev_hash, hash)
SELECT seq, :at, :actor_kind, :actor_id, :action, :outcome, :resource_type, :resource_id,
       :patient_id, :route, :request_id, :client, :detail, prev_hash, hash
  FROM head
RETURNING seq
""").bindparams(bindparam("tail", type_=LargeBinary),
                bindparam("at", type_=AuditEvent.__table__.c.at.type),
                bindparam("detail", type_=AuditEvent.__table__.c.detail.type))


def _append_postgresql(db: Session, values: dict[str, Any]) -> int:
    body = _canonical(values)  # with seq 0: b"[0," + the rest
    params = {k: v for k, v in values.items() if k != "seq"}
    conn = db.connection()  # Core on the session's connection: no ORM work per event
    return int(conn.execute(_PG_APPEND, {**params, "tail": body[3:]}).scalar_one())


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    ok
        Whether the whole chain is intact.
    checked
        Rows read.
    first_bad_seq
        ``seq`` of the first row whose hash, link or number is wrong (``None`` if ok).
    reason
        What is wrong with that row.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "first_bad_seq": self.first_bad_seq,
                "reason": self.reason}


def verify(db: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain in ``seq`` order and report the first broken row."""
    expected_seq = 1
    prev = GENESIS_HASH
    checked = 0
    cols = [getattr(AuditEvent, f) for f in _FIELDS] + [AuditEvent.prev_hash, AuditEvent.hash]
    stmt = select(*cols).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    for row in db.execute(stmt):
        checked += 1
        values = dict(zip(_FIELDS, row[: len(_FIELDS)], strict=True))
        seq = int(values["seq"])
        if seq != expected_seq:
            return VerifyResult(False, checked, seq,
                                f"expected seq {expected_seq}: rows are missing before it")
        if row.prev_hash != prev:
            return VerifyResult(False, checked, seq, "prev_hash does not match the previous row")
        if event_hash(prev_hash=prev, values=values) != row.hash:
            return VerifyResult(False, checked, seq, "the row's content does not match its hash")
        prev = row.hash
        expected_seq += 1
    head = db.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    if head is not None and (int(head.seq) != expected_seq - 1 or head.hash != prev):
        return VerifyResult(False, checked, expected_seq,
                            f"the head says {head.seq} rows: rows after {expected_seq - 1} "
                            "were removed")
    return VerifyResult(True, checked)

