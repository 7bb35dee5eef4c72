"""Logging in (with throttling) and managing users.

Every attempt is written twice: to ``login_attempts`` (which throttling counts)
and to the audit chain (ASVS 16.3.1). More than ``max_failures`` failures for one
username, or ``10 * max_failures`` from one client, within ``window_minutes``
refuse further attempts, even with the right password, until the window passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bordin.errors import InputError, NotFoundError
from bordin.store.models.auth import ROLES, LoginAttempt, User
from bordin.web.audit.chain import append
from bordin.web.auth.passwords import hash_password, needs_rehash, verify_password
from bordin.web.auth.sessions import now, revoke_user_sessions

__all__ = ["LoginResult", "add_user", "authenticate", "disable_user", "set_password"]

MIN_PASSWORD = 10


@dataclass(frozen=True)
class LoginResult:
    """``user`` when the login succeeded; otherwise ``reason`` (``bad``, ``throttled``)."""

    user: User | None
    reason: str = ""


def _failures(db: Session, *, username: str, client: str, window: timedelta) -> tuple[int, int]:
    since = now() - window
    by_user = db.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == username, LoginAttempt.at >= since,
        LoginAttempt.success.is_(False)))
    by_client = db.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.client == client, LoginAttempt.at >= since,
        LoginAttempt.success.is_(False)))
    return int(by_user or 0), int(by_client or 0)


def authenticate(
    db: Session,
    *,
    username: str,
    password: str,
    client: str,
    max_failures: int,
    window_minutes: int,
    request_id: str | None = None,
) -> LoginResult:
    """Check a username and password, with throttling; record the attempt; commit."""
    username = username.strip()[:80]
    client = client[:64]
    by_user, by_client = _failures(db, username=username, client=client,
                                   window=timedelta(minutes=window_minutes))
    user = db.scalar(select(User).where(User.username == username))
    if by_user >= max_failures or by_client >= 10 * max_failures:
        verify_password(password=password, password_hash=None)  # same cost either way
        reason, ok = "throttled", False
    else:
        ok = verify_password(password=password,
                             password_hash=user.password_hash if user else None)
        ok = ok and user is not None and user.is_active
        reason = "" if ok else "bad"
    db.add(LoginAttempt(username=username, client=client, at=now(), success=ok))
    append(db, actor_kind="user" if user else "anonymous",
           actor_id=str(user.id) if user else None, action="login",
           outcome="success" if ok else ("throttled" if reason == "throttled" else "failure"),
           route="login", request_id=request_id, client=client)
    if ok and user is not None and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.commit()
    return LoginResult(user=user if ok else None, reason=reason)


def add_user(
    db: Session,
    *,
    username: str,
    password: str,
    role: str,
    organization_id: int,
    clinician_id: int | None = None,
) -> User:
    """Create a user (not committed)."""
    if role not in ROLES:
        raise InputError(field="role", value=role, allowed=f"one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InputError(field="password", value="<hidden>",
                         allowed=f"at least {MIN_PASSWORD} characters")
    if not username or len(username) > 80:
        raise InputError(field="username", value=username, allowed="1 to 80 characters")
    if role == "clinician" and clinician_id is None:
        raise InputError(field="clinician_id", value=None,
                         allowed="the clinician a clinician user acts as")
    if db.scalar(select(User.id).where(User.username == username)) is not None:
        raise InputError(field="username", value=username, allowed="a name not yet taken")
    user = User(username=username, password_hash=hash_password(password), role=role,
                organization_id=organization_id, clinician_id=clinician_id, is_active=True)
    db.add(user)
    db.flush()
    return user


def _get(db: Session, username: str) -> User:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    return user


def disable_user(db: Session, *, username: str) -> int:
    """Disable a user and end all their sessions at once; return the sessions ended."""
    user = _get(db, username)
    user.is_active = False
    user.disabled_at = now()
    return revoke_user_sessions(db, user_id=user.id)


def set_password(db: Session, *, username: str, password: str) -> None:
    """Set a new password and end the user's sessions."""
    if len(password) < MIN_PASSWORD:
        raise InputError(field="password", value="<hidden>",
                         allowed=f"at least {MIN_PASSWORD} characters")
    user = _get(db, username)
    user.password_hash = hash_password(password)
    revoke_user_sessions(db, user_id=user.id)
