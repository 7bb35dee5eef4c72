"""A small clinic world for the web tests: two clinics, their people, patients and links."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from bordin.store.models.alerts import Alert
from bordin.store.models.core import Clinician, Episode, Organization, Patient
from bordin.store.submit import submit_administration
from bordin.web.auth.service import add_user
from bordin.web.forms.service import create_link

PASSWORD = "correct horse battery"
WAI_LOW = {i: 2 for i in range(1, 13)}


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # patient link tokens


def wai(level: int) -> dict[int, int]:
    return {i: level for i in range(1, 13)}


def build(db: Session) -> World:
    """Clinic A (own clinician, other clinician, supervisor, researcher, disabled user)
    and clinic B (one clinician); patient A (own clinician's), patient B (other clinician's)."""
    w = World()
    org_a = Organization(code="clinic-a", name="Clinic A")
    org_b = Organization(code="clinic-b", name="Clinic B")
    db.add_all([org_a, org_b])
    db.flush()
    c_own = Clinician(code="c-own", organization_id=org_a.id, role="therapist")
    c_other = Clinician(code="c-other", organization_id=org_a.id, role="therapist")
    c_b = Clinician(code="c-b", organization_id=org_b.id, role="therapist")
    db.add_all([c_own, c_other, c_b])
    db.flush()
    p_a = Patient(code="PA-001", organization_id=org_a.id)
    p_b = Patient(code="PB-002", organization_id=org_a.id)
    p_c = Patient(code="PC-003", organization_id=org_b.id)
    db.add_all([p_a, p_b, p_c])
    db.flush()
    e_a = Episode(code="EA", patient_id=p_a.id, clinician_id=c_own.id, organization_id=org_a.id,
                  treatment="CBT", format="individual", diagnosis="F32", start=date(2026, 1, 5))
    e_b = Episode(code="EB", patient_id=p_b.id, clinician_id=c_other.id,
                  organization_id=org_a.id, treatment="PDT", format="individual",
                  diagnosis="F41", start=date(2026, 1, 6))
    e_c = Episode(code="EC", patient_id=p_c.id, clinician_id=c_b.id, organization_id=org_b.id,
                  treatment="CBT", format="group", diagnosis="F32", start=date(2026, 1, 7))
    db.add_all([e_a, e_b, e_c])
    db.flush()
    t0 = datetime(2026, 1, 5, 10, tzinfo=UTC)
    for ep in (e_a, e_b, e_c):
        for s, (lvl, phq) in enumerate([(4, 2), (4, 2), (4, 2), (2, 3), (4, 1)], start=1):
            submit_administration(db, episode_id=ep.id, session_number=s, instrument_id="wai_sr",
                                  rater="patient", target=None, responses=wai(lvl),
                                  authored_at=t0 + timedelta(days=7 * s),
                                  idempotency_key=f"seed-{ep.code}-{s}-wai", commit=False)
            submit_administration(db, episode_id=ep.id, session_number=s, instrument_id="phq9",
                                  rater="patient", target=None,
                                  responses={i: phq for i in range(1, 10)},
                                  authored_at=t0 + timedelta(days=7 * s),
                                  idempotency_key=f"seed-{ep.code}-{s}-phq", commit=False)
    alerts = {}
    for ep in (e_a, e_b, e_c):
        a = Alert(episode_id=ep.id, kind="risk", rule="risk_item", params={},
                  evidence={"item": "phq9 item 9", "value": 2}, severity="critical",
                  pathway=None, suggestions=["Assess risk today and follow the safety plan."],
                  dedupe_key=f"risk-{ep.code}", state="open")
        db.add(a)
        alerts[ep.code] = a
    db.flush()
    users = {
        "own_clinician": add_user(db, username="own", password=PASSWORD, role="clinician",
                                  organization_id=org_a.id, clinician_id=c_own.id),
        "other_clinician": add_user(db, username="other", password=PASSWORD, role="clinician",
                                    organization_id=org_a.id, clinician_id=c_other.id),
        "other_clinic": add_user(db, username="elsewhere", password=PASSWORD, role="clinician",
                                 organization_id=org_b.id, clinician_id=c_b.id),
        "supervisor": add_user(db, username="lead", password=PASSWORD, role="supervisor",
                               organization_id=org_a.id),
        "researcher": add_user(db, username="research", password=PASSWORD, role="researcher",
                               organization_id=org_a.id),
        "disabled": add_user(db, username="gone", password=PASSWORD, role="clinician",
                             organization_id=org_a.id, clinician_id=c_own.id),
    }
    tok_a, link_a = create_link(db, episode=e_a, session_number=6, instruments=["wai_sr", "phq9"],
                                created_by_id=None, ttl_hours=24)
    tok_b, link_b = create_link(db, episode=e_b, session_number=6, instruments=["wai_sr"],
                                created_by_id=None, ttl_hours=24)
    db.commit()
    w.ids.update(org_a=org_a.id, org_b=org_b.id, episode_a=e_a.id, episode_b=e_b.id,
                 episode_c=e_c.id, patient_a=p_a.id, patient_b=p_b.id,
                 alert_a=alerts["EA"].id, alert_b=alerts["EB"].id, alert_c=alerts["EC"].id,
                 link_a=link_a.id, link_b=link_b.id,
                 administration_a=_first_adm(db, e_a.id))
    w.ids.update({f"user_{k}": u.id for k, u in users.items()})
    w.tokens.update(patient_a=tok_a, patient_b=tok_b)
    return w


def _first_adm(db: Session, episode_id: int) -> int:
    from sqlalchemy import select

    from bordin.store.models.core import Administration

    return db.scalar(select(Administration.id).where(Administration.episode_id == episode_id)
                     .order_by(Administration.id))
