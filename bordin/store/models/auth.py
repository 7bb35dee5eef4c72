"""Tables of the web app's people and their sessions.

``users`` are the people who log in (clinicians, supervisors, researchers,
administrators); a clinician's user points at the :class:`Clinician` row that
owns a caseload. ``web_sessions`` are server-side sessions: the browser holds a
random token, the database holds only its SHA-256, so a stolen database does not
yield live sessions, and deleting the row (logout) or disabling the user ends the
session at once. ``login_attempts`` feed login throttling. ``access_grants``
widen a clinician's view beyond their own caseload, one patient at a time: given
by someone (``kind`` ``granted``) or taken by the clinician themselves in an
emergency, with a stated reason and a short expiry (``kind`` ``break_glass``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bordin.store.base import Base, utcnow

__all__ = ["GRANT_KINDS", "ROLES", "AccessGrant", "LoginAttempt", "User", "WebSession"]

#: Roles a user can hold. Scope: a clinician sees the episodes they treat (plus
#: grants), a supervisor sees their organisation, a researcher sees pseudonymised
#: exports of their organisation only. Users are managed with `bordin user`.
ROLES: tuple[str, ...] = ("clinician", "supervisor", "researcher")

#: How an access grant came about: given to the user, or break-glass (emergency access
#: a clinician takes themselves, with a reason, reviewed by supervisors afterwards).
GRANT_KINDS: tuple[str, ...] = ("granted", "break_glass")


class User(Base):
    """A person who logs in to the web app."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id"), index=True, default=None
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class WebSession(Base):
    """A server-side login session; the token itself is never stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class LoginAttempt(Base):
    """One attempt to log in, kept for throttling (the audit log keeps its own row)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    success: Mapped[bool] = mapped_column(Boolean)


class AccessGrant(Base):
    """Permission for one clinician user to see one more patient's episodes.

    One row per (user, patient): a second break-glass on the same patient renews
    this row (new reason and expiry) rather than adding one. ``reason`` is free text
    that may name the patient's circumstances, so it is kept here, with the patient
    data, and never in the audit log.
    """

    __tablename__ = "access_grants"
    __table_args__ = (
        Index("ix_access_grants_user_id_patient_id", "user_id", "patient_id", unique=True),
        CheckConstraint("kind IN ('granted', 'break_glass')", name="kind"),
        # A break-glass access always has its reason and always ends.
        CheckConstraint("kind <> 'break_glass' OR "
                        "(reason IS NOT NULL AND expires_at IS NOT NULL)", name="break_glass"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    kind: Mapped[str] = mapped_column(String(20), default="granted", server_default="granted")
    reason: Mapped[str | None] = mapped_column(Text, default=None)
