"""Acknowledging an alert: a state changed since it was read is a conflict, never a silent
overwrite."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bordin.errors import ConflictError
from bordin.store.models.alerts import Alert
from bordin.store.models.auth import User
from bordin.web.alerts.evidence import summary
from bordin.web.auth import policy
from bordin.web.auth.sessions import now

__all__ = ["acknowledge", "alert_dict"]


def alert_dict(a: Alert) -> dict[str, Any]:
    """The JSON form of an alert, with its evidence in words (``summary``)."""
    return {"id": a.id, "kind": a.kind, "rule": a.rule, "severity": a.severity,
            "pathway": a.pathway, "state": a.state, "summary": summary(a),
            "evidence": a.evidence or {},
            "suggestions": a.suggestions or [], "created_at": a.created_at,
            "acknowledged_at": a.acknowledged_at, "version": a.version}


def acknowledge(db: Session, *, user: User, alert_id: int, version: int) -> Alert:
    """Mark an open alert acknowledged (else :class:`ConflictError`).

    ``version`` is the alert's version as the caller read it. A state changed since
    (acknowledged, resolved) is a conflict; a monitor refresh of the evidence of an
    alert still open is not. The caller commits. Two clinicians acknowledging at
    once: one succeeds, the other gets :class:`ConflictError` (the version column
    guards the UPDATE).
    """
    alert = policy.load_alert(db, user=user, alert_id=alert_id)
    if alert.state != "open":
        raise ConflictError(f"alert {alert_id} is already {alert.state}")
    # An alert still open at a newer version than the one read has had its evidence
    # refreshed by the monitor (only people change an alert's state): acknowledging it
    # is not acting on a stale decision (as bordin.monitor.service.acknowledge).
    if version > alert.version:
        raise ConflictError(f"alert {alert_id} has no version {version} (it is at "
                            f"{alert.version}); reload and try again")
    alert.state = "acknowledged"
    alert.acknowledged_at = now()
    alert.acknowledged_by_id = user.clinician_id
    try:
        db.flush()
    except StaleDataError as exc:
        db.rollback()
        raise ConflictError(f"alert {alert_id} changed meanwhile; reload and try again") from exc
    return alert
