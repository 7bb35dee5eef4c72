"""Break-glass access: a clinician opens a patient of their own clinic in an emergency.

Who may open which episode is decided in :mod:`bordin.web.auth.policy`
(:func:`~bordin.web.auth.policy.break_glass_scope`); this module records the access
as an ``access_grants`` row of kind ``break_glass`` that expires by itself, and
lists those rows for supervisors to review.

One row per (user, patient) (a unique index): breaking the glass again on the
same patient renews that row (the new reason replaces the old one and the expiry
moves to ``hours`` from now); each break is its own audit event, so the history
of renewals stays in the audit log. ``created_at`` is the start of the current,
unbroken access: kept on a renewal before expiry, reset on one after it. A
standing grant that has expired becomes a break-glass grant; a record the caller
can already open (their own caseload, a standing grant) needs no glass breaking
and is refused with :class:`~bordin.errors.ConflictError`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bordin.errors import ConflictError, InputError
from bordin.store.models.auth import AccessGrant, User
from bordin.store.models.core import Episode, Patient
from bordin.web.auth import policy
from bordin.web.auth.sessions import now

__all__ = ["MAX_REASON", "MIN_REASON", "BreakGlass", "GrantRow", "break_glass",
           "break_glass_episodes", "break_glass_grant_id", "check_reason", "recent_break_glass"]

MIN_REASON = 10
MAX_REASON = 500


@dataclass(frozen=True)
class BreakGlass:
    """The outcome of breaking the glass: the grant, and whether it renewed one."""

    grant: AccessGrant
    renewed: bool


@dataclass(frozen=True)
class GrantRow:
    """One break-glass access, as supervisors review it."""

    grant_id: int
    username: str
    patient_code: str
    created_at: datetime
    expires_at: datetime
    reason: str
    active: bool


def _printable(text: str) -> bool:
    # No control characters but line breaks and tabs, and no lone surrogates (neither
    # can be stored as text on every backend: PostgreSQL refuses NUL, UTF-8 surrogates).
    return not any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n\r"
                   for ch in text)


def check_reason(reason: str) -> str:
    """The reason with surrounding blanks removed, if it is 10 to 500 printable characters.

    Raises
    ------
    InputError
        ``field="reason"``; the value is given as its length only, since the text may
        describe the patient.
    """
    text = reason.strip()
    if not MIN_REASON <= len(text) <= MAX_REASON or not _printable(text):
        raise InputError(field="reason", value=f"<{len(text)} characters>",
                         allowed=f"a reason of {MIN_REASON} to {MAX_REASON} characters, "
                         "without control characters, saying why the record is needed now")
    return text


def _grant_of(db: Session, *, user: User, patient_id: int) -> AccessGrant | None:
    return db.scalar(select(AccessGrant).where(AccessGrant.user_id == user.id,
                                               AccessGrant.patient_id == patient_id))


def break_glass_grant_id(db: Session, *, user: User, patient_id: int) -> int | None:
    """The id of the unexpired break-glass grant through which ``user`` sees the patient.

    ``None`` when there is none (the patient is the user's own, or granted otherwise):
    for the audit trail, which marks reads made under a broken glass.
    """
    return db.scalar(select(AccessGrant.id).where(
        AccessGrant.user_id == user.id, AccessGrant.patient_id == patient_id,
        AccessGrant.kind == "break_glass", AccessGrant.expires_at > now()))


def break_glass_episodes(db: Session, *, user: User, patient_id: int) -> list[Episode]:
    """The patient's episodes ``user`` may open by breaking the glass, newest first."""
    return list(db.scalars(
        select(Episode).where(Episode.patient_id == patient_id, policy.break_glass_scope(user))
        .order_by(Episode.start.desc().nulls_last(), Episode.id.desc())))


def break_glass(db: Session, *, user: User, patient_id: int, episode_ids: list[int],
                reason: str, hours: int) -> BreakGlass:
    """Open ``patient_id``'s record to ``user`` for ``hours``; not committed.

    Parameters
    ----------
    db
        The request's session.
    user
        The clinician breaking the glass. The caller has already checked with
        :func:`~bordin.web.auth.policy.load_episode_for_break_glass` (or
        ``load_patient_for_break_glass``) that they may.
    patient_id
        The patient whose episodes are opened (grants are per patient).
    episode_ids
        The episodes the clinician asked for; if all of them are open to them
        already without a break-glass grant, nothing is done.
    reason
        Why the record is needed now (:func:`check_reason`).
    hours
        How long the access lasts.

    Returns
    -------
    BreakGlass
        The grant and whether an earlier break-glass grant was renewed.

    Raises
    ------
    InputError
        The reason is missing, too short or too long.
    ConflictError
        The episodes are already open to the user (own caseload or a standing grant).
    """
    text = check_reason(reason)
    grant = _grant_of(db, user=user, patient_id=patient_id)
    renewed = grant is not None and grant.kind == "break_glass"
    if not renewed:
        open_ids = set(db.scalars(select(Episode.id).where(Episode.id.in_(episode_ids),
                                                           policy.episode_scope(user))))
        if open_ids >= set(episode_ids):
            raise ConflictError("this record is already open to you; no emergency access "
                                "is needed")
    t = now()
    if grant is None:
        try:
            with db.begin_nested():  # a second request of the same user may win the race
                grant = AccessGrant(user_id=user.id, patient_id=patient_id, kind="break_glass",
                                    reason=text, created_at=t, granted_by_id=user.id,
                                    expires_at=t + timedelta(hours=hours))
                db.add(grant)
        except IntegrityError:
            grant = _grant_of(db, user=user, patient_id=patient_id)
            if grant is None:  # pragma: no cover - the row that won the race is gone again
                raise
            renewed = True
    if not renewed or grant.expires_at is None or grant.expires_at <= t:
        grant.created_at = t  # a new period of access begins
    grant.kind = "break_glass"
    grant.reason = text
    grant.granted_by_id = user.id
    grant.expires_at = t + timedelta(hours=hours)
    db.flush()
    return BreakGlass(grant=grant, renewed=renewed)


def recent_break_glass(db: Session, *, user: User, limit: int = 100) -> list[GrantRow]:
    """The newest break-glass accesses ``user`` reviews (policy), newest first."""
    t = now()
    rows = db.execute(
        select(AccessGrant, User.username, Patient.code)
        .join(User, User.id == AccessGrant.user_id)
        .join(Patient, Patient.id == AccessGrant.patient_id)
        .where(policy.break_glass_review_scope(user))
        .order_by(AccessGrant.created_at.desc(), AccessGrant.id.desc())
        .limit(limit)
    ).all()
    out = []
    for g, username, code in rows:
        expires = g.expires_at or t  # a break-glass grant always has one (a check says so)
        out.append(GrantRow(grant_id=g.id, username=username, patient_code=code,
                            created_at=g.created_at, expires_at=expires, reason=g.reason or "",
                            active=expires > t))
    return out
