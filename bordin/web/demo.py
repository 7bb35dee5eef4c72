"""Seed a simulated clinic for ``bordin serve --demo``: data, alerts, logins, one link.

The clinic comes from :func:`bordin.simulate.clinic`; episodes are left open so
that caseloads are populated; the monitor's alerts are stored; one user per role
is made with a random password (printed once, never stored in clear), and one
questionnaire link is made for the demo clinician's most urgent patient.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bordin.exchange.frames import TidyData, to_batch
from bordin.monitor.service import store_alerts
from bordin.store.bulk import import_batch
from bordin.store.models.auth import User
from bordin.store.models.core import Clinician, Episode, Organization
from bordin.store.queries import administrations_frame, responses_frame
from bordin.web.alerts.raise_alerts import monitor_alerts
from bordin.web.auth.service import add_user
from bordin.web.forms.service import create_link
from bordin.web.patients.service import caseload

__all__ = ["DemoLogins", "seed_demo"]


@dataclass
class DemoLogins:
    """What ``bordin serve --demo`` prints."""

    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (name, password)
    link_path: str | None = None
    created: bool = False


def seed_demo(db: Session, *, seed: int = 0, n_episodes: int = 60) -> DemoLogins:
    """Fill an empty database with a simulated clinic and demo users (commits)."""
    out = DemoLogins()
    if db.scalar(select(func.count()).select_from(User)):
        return out  # already seeded: passwords were printed the first time
    if not db.scalar(select(func.count()).select_from(Organization)):
        import bordin.simulate as sim

        # One organisation: every seeded episode is then visible to the demo users, and
        # the clinic has enough courses of its own for the expected-recovery bands.
        data = sim.clinic("clinic", seed=seed, n_episodes=n_episodes, n_organizations=1)
        episodes = data.episodes.copy()
        episodes["end"] = None  # still in care, so caseloads are populated
        # The simulator writes what the store accepts (its formats, only scoreable
        # questionnaires, a session number on every row): imported as it comes.
        tidy = TidyData(administrations=data.administrations, responses=data.responses,
                        episodes=episodes, clinicians=data.clinicians)
        import_batch(db, to_batch(tidy, source="simulated clinic"), source="simulated clinic")
        db.commit()
        adm = administrations_frame(db)
        resp = responses_frame(db)
        db.rollback()
        store_alerts(db, monitor_alerts(adm, resp))
    org = db.scalars(select(Organization).order_by(Organization.id)).first()
    # The demo clinician: the therapist of the organisation with the most episodes.
    top = db.execute(select(Episode.clinician_id, func.count()).where(
        Episode.organization_id == org.id).group_by(Episode.clinician_id)
        .order_by(func.count().desc(), Episode.clinician_id)).first()
    clin = db.get(Clinician, top[0])
    for role, name in (("clinician", "clinician"), ("supervisor", "supervisor"),
                       ("researcher", "researcher")):
        password = secrets.token_urlsafe(12)
        add_user(db, username=name, password=password, role=role, organization_id=org.id,
                 clinician_id=clin.id if role == "clinician" else None)
        out.users[role] = (name, password)
    db.flush()
    user = db.scalar(select(User).where(User.username == "clinician"))
    rows = caseload(db, user=user)
    if rows:
        ep = db.get(Episode, rows[-1].episode_id)
        token, _ = create_link(db, episode=ep, session_number=(rows[-1].last_session or 0) + 1,
                               instruments=None, created_by_id=user.id, ttl_hours=168)
        out.link_path = f"/q/{token}"
    db.commit()
    out.created = True
    return out

