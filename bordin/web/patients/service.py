"""Caseload and episode data for clinicians, in a fixed, small number of queries.

The caseload of any size is three SELECTs (episodes with their patients and
clinicians; open alerts; session counts), whatever the number of patients: no
query per row. It is ordered by what needs attention: risk alerts first, then
unrepaired ruptures, not-on-track courses, open ruptures, other alerts, then the
rest by patient code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from bordin.store.models.alerts import Alert
from bordin.store.models.auth import AccessGrant, User
from bordin.store.models.core import (
    Administration,
    Clinician,
    Episode,
    Patient,
    Score,
    TherapySession,
)
from bordin.web.alerts.evidence import summary
from bordin.web.auth.policy import episode_scope
from bordin.web.auth.sessions import now

__all__ = ["ATTENTION", "CaseRow", "attention_of", "caseload", "episode_alerts",
           "episode_scores"]

#: Attention classes, most urgent first (the rank is the index).
ATTENTION = ("risk", "unrepaired_rupture", "not_on_track", "open_rupture", "other_alert", "none")


def attention_of(*, kind: str, severity: str | None, evidence: dict[str, Any] | None) -> str:
    """Classify one open alert into an :data:`ATTENTION` class."""
    k = (kind or "").lower()
    ev = evidence or {}
    if k.startswith("risk") or (severity or "").lower() in {"critical", "risk"}:
        return "risk"
    if "rupture" in k:
        state = str(ev.get("state", "")).lower()
        if "unrepaired" in k or state == "unrepaired":
            return "unrepaired_rupture"
        return "other_alert" if state == "repaired" else "open_rupture"
    if "track" in k or "deterior" in k or k.startswith("not"):
        return "not_on_track"
    return "other_alert"


@dataclass
class CaseRow:
    """One episode on a caseload."""

    episode_id: int
    episode_code: str
    patient_id: int
    patient_code: str
    clinician_code: str
    treatment: str | None
    format: str
    diagnosis: str | None
    start: date | None
    sessions: int = 0
    last_session: int | None = None
    last_authored: datetime | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    attention: str = "none"
    #: When the caller's break-glass access to this patient ends (None: not by one).
    emergency_until: datetime | None = None

    @property
    def rank(self) -> int:
        return ATTENTION.index(self.attention)

    def to_dict(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id, "episode": self.episode_code,
            "patient_id": self.patient_id, "patient": self.patient_code,
            "clinician": self.clinician_code, "treatment": self.treatment,
            "format": self.format, "diagnosis": self.diagnosis,
            "start": self.start, "sessions": self.sessions, "last_session": self.last_session,
            "last_authored": self.last_authored, "attention": self.attention,
            "alerts": self.alerts,
            "emergency_until": self.emergency_until,
        }


def caseload(db: Session, *, user: User, include_closed: bool = False) -> list[CaseRow]:
    """The episodes the user may see, most urgent first (three queries)."""
    scope = episode_scope(user)
    # A patient opened by breaking the glass is on the caseload while the access lasts:
    # its end comes with the row (outer join, no extra statement).
    glass = and_(AccessGrant.patient_id == Episode.patient_id, AccessGrant.user_id == user.id,
                 AccessGrant.kind == "break_glass", AccessGrant.expires_at > now())
    q = (select(Episode.id, Episode.code, Episode.patient_id, Patient.code, Clinician.code,
                Episode.treatment, Episode.format, Episode.diagnosis, Episode.start,
                AccessGrant.expires_at)
         .join(Patient, Patient.id == Episode.patient_id)
         .join(Clinician, Clinician.id == Episode.clinician_id)
         .outerjoin(AccessGrant, glass)
         .where(scope))
    if not include_closed:
        q = q.where(Episode.end.is_(None))
    rows: dict[int, CaseRow] = {}
    for r in db.execute(q):
        rows[r[0]] = CaseRow(episode_id=r[0], episode_code=r[1], patient_id=r[2],
                             patient_code=r[3], clinician_code=r[4], treatment=r[5],
                             format=r[6], diagnosis=r[7], start=r[8], emergency_until=r[9])
    if not rows:
        return []
    ep_ids = select(Episode.id).where(scope)
    aq = (select(Alert.id, Alert.episode_id, Alert.kind, Alert.severity, Alert.evidence,
                 Alert.pathway, Alert.created_at, Alert.rule, Alert.params)
          .where(Alert.state == "open", Alert.episode_id.in_(ep_ids)))
    for a in db.execute(aq):
        row = rows.get(a.episode_id)
        if row is None:
            continue
        cls = attention_of(kind=a.kind, severity=a.severity, evidence=a.evidence)
        row.alerts.append({"id": a.id, "kind": a.kind, "severity": a.severity,
                           "pathway": a.pathway, "attention": cls,
                           "summary": summary({"kind": a.kind, "rule": a.rule,
                                               "params": a.params, "evidence": a.evidence})})
        if ATTENTION.index(cls) < row.rank:
            row.attention = cls
    sq = (select(TherapySession.episode_id, func.count(TherapySession.id),
                 func.max(TherapySession.number))
          .where(TherapySession.episode_id.in_(ep_ids))
          .group_by(TherapySession.episode_id))
    for s in db.execute(sq):
        row = rows.get(s[0])
        if row is not None:
            row.sessions, row.last_session = int(s[1]), s[2]
    out = list(rows.values())
    for row in out:
        row.alerts.sort(key=lambda a: ATTENTION.index(a["attention"]))
    out.sort(key=lambda r: (r.rank, -len(r.alerts), r.patient_code))
    return out


def episode_scores(db: Session, *, episode_id: int) -> list[dict[str, Any]]:
    """Every score of the episode, one row per administration and scale (one query)."""
    ts = aliased(TherapySession)
    q = (select(Administration.id, ts.number, Administration.instrument_id,
                Administration.rater, Administration.target, Administration.authored_at,
                Score.scale, Score.value, Score.band)
         .join(ts, ts.id == Administration.session_id)
         .join(Score, Score.administration_id == Administration.id)
         .where(Administration.episode_id == episode_id)
         .order_by(ts.number, Administration.id))
    return [{"administration_id": r[0], "session": r[1], "instrument": r[2], "rater": r[3],
             "target": r[4], "authored_at": r[5], "scale": r[6], "value": r[7], "band": r[8]}
            for r in db.execute(q)]


def episode_alerts(db: Session, *, episode_id: int) -> list[Alert]:
    """The episode's alerts, open first, most urgent first."""
    alerts = list(db.scalars(select(Alert).where(Alert.episode_id == episode_id)))
    alerts.sort(key=lambda a: (a.state != "open",
                               ATTENTION.index(attention_of(kind=a.kind, severity=a.severity,
                                                            evidence=a.evidence)),
                               -(a.id or 0)))
    return alerts
