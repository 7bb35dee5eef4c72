"""Server-side login sessions.

The browser (or API client) holds a 256-bit token from :func:`secrets.token_urlsafe`;
the database holds its SHA-256 only. A session is valid while its row exists, its
user is active, it has been used within the idle timeout and it is younger than
the absolute lifetime (ASVS 7.3.1/7.3.2). Logout deletes the row and disabling a
user deletes all of theirs, so both take effect on the very next request (7.4.1,
7.4.2); every login makes a new token (7.2.4).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bordin.store.base import utcnow
from bordin.store.models.auth import User, WebSession

__all__ = ["LiveSession", "create_session", "hash_token", "lookup_session", "now",
           "revoke_session", "revoke_user_sessions"]

# Refresh last_seen_at at most this often, so reads do not write on every request.
_TOUCH_EVERY = timedelta(seconds=60)


def now() -> datetime:
    """The sessions' clock (UTC); tests replace it to travel in time."""
    return utcnow()


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a bearer token (sessions and questionnaire links)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LiveSession:
    """A valid session and its user."""

    token_hash: str
    csrf_token: str
    user: User


def create_session(db: Session, *, user: User, absolute_hours: int) -> tuple[str, WebSession]:
    """Start a session for ``user``; return the token (shown once) and the row."""
    token = secrets.token_urlsafe(32)
    t = now()
    row = WebSession(token_hash=hash_token(token), user_id=user.id,
                     csrf_token=secrets.token_urlsafe(32), created_at=t, last_seen_at=t,
                     expires_at=t + timedelta(hours=absolute_hours))
    db.add(row)
    db.flush()
    return token, row


def lookup_session(db: Session, *, token: str, idle_minutes: int) -> LiveSession | None:
    """The live session for ``token``, or ``None`` if it is unknown, ended or its user disabled."""
    if not token or len(token) > 200:
        return None
    th = hash_token(token)
    row = db.execute(
        select(WebSession, User).join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == th)
    ).first()
    if row is None:
        return None
    ws, user = row
    t = now()
    if not user.is_active or t >= ws.expires_at or t - ws.last_seen_at > timedelta(
        minutes=idle_minutes
    ):
        db.execute(delete(WebSession).where(WebSession.token_hash == th))
        db.commit()
        return None
    if t - ws.last_seen_at > _TOUCH_EVERY:
        db.execute(update(WebSession).where(WebSession.token_hash == th).values(last_seen_at=t))
        db.commit()
    return LiveSession(token_hash=th, csrf_token=ws.csrf_token, user=user)


def revoke_session(db: Session, *, token_hash: str) -> None:
    """End one session (logout)."""
    db.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def revoke_user_sessions(db: Session, *, user_id: int) -> int:
    """End every session of a user (disabling, password change); return how many."""
    res = db.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(res.rowcount or 0)
