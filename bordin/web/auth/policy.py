"""Authorization: the one place that decides who may do what to which object.

Two layers, both here and nowhere else:

* **Capabilities** (function level, ASVS 8.2.1): :data:`CAPABILITIES` maps each
  thing the app does to the roles that may do it. Views declare the capability
  they need with :func:`allow`; nothing in a view compares roles.
* **Scopes** (object level, ASVS 8.2.2): :func:`episode_scope` is the SQL
  condition of the episodes a user may see: a clinician their own caseload (plus
  patients granted to them, or opened by breaking the glass, until the grant
  expires), a supervisor their organisation, a researcher none
  (researchers get pseudonymised exports only). Every loader of a patient-data
  object (:func:`load_episode`, :func:`load_alert`, ...) filters by that scope
  in the query itself, so an object outside it is indistinguishable from one
  that does not exist: both raise :class:`~bordin.web.errors.NotVisibleError` (404),
  never 403.

Break-glass (emergency access): :func:`break_glass_scope` is the SQL condition of
the episodes a clinician may open for themselves, with a stated reason, when the
patient's own clinician cannot be reached: any episode of their own organisation.
An episode of another organisation, or none at all, answers 404 like any object
out of scope. What they open becomes an expiring ``break_glass`` access grant,
which :func:`episode_scope` honours as it honours any grant; supervisors review
those grants (:func:`break_glass_review_scope`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from bordin.store.models.alerts import Alert
from bordin.store.models.auth import AccessGrant, User
from bordin.store.models.core import Administration, Episode, Patient
from bordin.web.auth.sessions import now
from bordin.web.errors import NotVisibleError

__all__ = ["CAPABILITIES", "allowed", "break_glass_review_scope", "break_glass_scope",
           "episode_scope", "load_administration", "load_alert", "load_episode",
           "load_episode_for_break_glass", "load_patient_by_code",
           "load_patient_for_break_glass", "organization_scope", "sees_identified_data",
           "visible_patient_ids"]

CLINICAL = frozenset({"clinician", "supervisor"})
EVERYONE = frozenset({"clinician", "supervisor", "researcher"})

#: capability -> roles that have it. Keep this table the single source.
CAPABILITIES: dict[str, frozenset[str]] = {
    "account.read": EVERYONE,
    "caseload.read": CLINICAL,
    "episode.read": CLINICAL,
    # Supervisors see their whole clinic already: only clinicians need the glass.
    "episode.break_glass": frozenset({"clinician"}),
    "break_glass.review": frozenset({"supervisor"}),
    "alert.acknowledge": CLINICAL,
    "schedule.write": CLINICAL,
    "link.create": CLINICAL,
    "supervision.read": frozenset({"supervisor"}),
    "research.export": frozenset({"researcher"}),
    "research.analyse": frozenset({"researcher"}),
    "fhir.questionnaire.read": EVERYONE,
    "fhir.response.read": CLINICAL,
    "fhir.response.write": CLINICAL,
}


def allowed(user: User, capability: str) -> bool:
    """Whether ``user``'s role has ``capability`` (an unknown capability: never)."""
    return user.is_active and user.role in CAPABILITIES.get(capability, frozenset())


def sees_identified_data(user: User) -> bool:
    """Whether the user may see patient codes (researchers see pseudonyms only)."""
    return user.role in CLINICAL


def episode_scope(user: User) -> ColumnElement[bool]:
    """SQL condition on :class:`Episode` rows the user may see."""
    if user.role == "supervisor":
        return Episode.organization_id == user.organization_id
    if user.role == "clinician" and user.clinician_id is not None:
        granted = select(AccessGrant.patient_id).where(
            AccessGrant.user_id == user.id,
            or_(AccessGrant.expires_at.is_(None), AccessGrant.expires_at > now()),
        )
        return (Episode.organization_id == user.organization_id) & or_(
            Episode.clinician_id == user.clinician_id, Episode.patient_id.in_(granted)
        )
    return false()


def break_glass_scope(user: User) -> ColumnElement[bool]:
    """SQL condition on :class:`Episode` rows the user may open by breaking the glass.

    A clinician (acting as a clinician) may open any episode of their own
    organisation; nobody else may open any.
    """
    if allowed(user, "episode.break_glass") and user.clinician_id is not None:
        return Episode.organization_id == user.organization_id
    return false()


def break_glass_review_scope(user: User) -> ColumnElement[bool]:
    """SQL condition on :class:`AccessGrant` rows: the break-glass accesses the user reviews.

    A supervisor reviews those to the patients of their own organisation.
    """
    if not allowed(user, "break_glass.review"):
        return false()
    own = select(Patient.id).where(Patient.organization_id == user.organization_id)
    return (AccessGrant.kind == "break_glass") & AccessGrant.patient_id.in_(own)


def organization_scope(user: User) -> int:
    """The organisation whose aggregate or pseudonymised data the user may see."""
    return user.organization_id


def _one(db: Session, stmt: Any, *, kind: str, ident: Any) -> Any:
    obj = db.execute(stmt).scalars().first()
    if obj is None:
        raise NotVisibleError(resource_type=kind, resource_id=str(ident))
    return obj


def load_episode(db: Session, *, user: User, episode_id: int) -> Episode:
    """The episode if it exists and is in the user's scope; else :class:`NotVisibleError`."""
    stmt = select(Episode).where(Episode.id == episode_id, episode_scope(user))
    return _one(db, stmt, kind="episode", ident=episode_id)


def load_alert(db: Session, *, user: User, alert_id: int) -> Alert:
    """The alert if its episode is in the user's scope; else :class:`NotVisibleError`."""
    stmt = (select(Alert).join(Episode, Episode.id == Alert.episode_id)
            .where(Alert.id == alert_id, episode_scope(user)))
    return _one(db, stmt, kind="alert", ident=alert_id)


def load_administration(db: Session, *, user: User, administration_id: int) -> Administration:
    """The administration if its episode is in the user's scope; else :class:`NotVisibleError`."""
    stmt = (select(Administration).join(Episode, Episode.id == Administration.episode_id)
            .where(Administration.id == administration_id, episode_scope(user)))
    return _one(db, stmt, kind="administration", ident=administration_id)


def load_episode_for_break_glass(db: Session, *, user: User, episode_id: int) -> Episode:
    """The episode if the user may break the glass for it; else :class:`NotVisibleError`.

    Another organisation's episode and a missing one raise the same error (404).
    """
    stmt = select(Episode).where(Episode.id == episode_id, break_glass_scope(user))
    return _one(db, stmt, kind="episode", ident=episode_id)


def load_patient_for_break_glass(db: Session, *, user: User, code: str) -> Patient:
    """The patient with ``code`` if the user may break the glass for one of their episodes.

    A code of another organisation and an unknown code raise the same
    :class:`NotVisibleError` (the code itself is not recorded).
    """
    episodes = select(Episode.patient_id).where(break_glass_scope(user))
    stmt = select(Patient).where(Patient.code == code, Patient.id.in_(episodes))
    return _one(db, stmt, kind="patient", ident="?")


def visible_patient_ids(user: User) -> Any:
    """A subquery of the patient ids the user may see."""
    return select(Episode.patient_id).where(episode_scope(user))


def load_patient_by_code(db: Session, *, user: User, code: str) -> Patient:
    """The patient with ``code`` if one of their episodes is in scope; else NotVisibleError."""
    stmt = select(Patient).where(Patient.code == code, Patient.id.in_(visible_patient_ids(user)))
    return _one(db, stmt, kind="patient", ident="?")


