"""Typed dependencies: the database session, the caller, capabilities, CSRF, audit.

Views ask for what they need as annotated types (the FastAPI template's pattern)::

    def page(db: DbDep, user: Annotated[User, Depends(allow("caseload.read"))]) -> ...

* :data:`DbDep` is one SQLAlchemy session per request. On SQLite its transactions
  begin with ``BEGIN IMMEDIATE``, because nearly every request writes an audit row
  after reading, and SQLite cannot upgrade a stale read snapshot to a write.
* :func:`allow` resolves the caller from a server-side session (cookie, or
  ``Authorization: Bearer`` for API clients), checks the capability in
  :mod:`bordin.web.auth.policy`, and for cookie-authenticated unsafe methods checks
  the CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field).
* :class:`Auditor` appends audit events with the request's id, route and client.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from bordin.store.models.auth import User
from bordin.web.audit.chain import append
from bordin.web.auth import policy
from bordin.web.auth.sessions import LiveSession, lookup_session
from bordin.web.errors import CsrfError, NotVisibleError, UnauthenticatedError
from bordin.web.fifo_lock import FifoLock
from bordin.web.settings import WebSettings

__all__ = ["COOKIE", "Auditor", "AuditorDep", "Caller", "DbDep", "SettingsDep", "allow",
           "client_of", "get_db", "optional_caller"]

COOKIE = "bordin_session"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_bearer = HTTPBearer(auto_error=False, description="A session token from POST /api/v1/auth/login")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="The browser's session cookie")


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed at the end (views commit what they write).

    On SQLite, where one writer at a time holds the database anyway, requests queue
    on a lock in this process instead of polling SQLite's busy handler, which sleeps
    in growing steps and lets unlucky requests starve for seconds. The lock is taken
    in arrival order (:class:`~bordin.web.fifo_lock.FifoLock`); a free one is taken
    on the event loop, without a thread hand-off.

    An ``async`` dependency: making a session does no I/O, so it needs no worker
    thread (a sync dependency costs two thread hand-offs per request). Waiting for
    the SQLite lock, and a close that must roll back an open transaction, are done
    in a worker thread; a close after the view's commit only returns the
    connection to the pool.
    """
    lock: FifoLock | None = request.app.state.write_lock
    if lock is not None and not lock.try_acquire():
        # Waiting threads get their own limiter: parked in the default pool they could
        # take every worker thread and leave none for the request holding the lock.
        await anyio.to_thread.run_sync(lock.acquire, limiter=anyio.CapacityLimiter(1))
    try:
        db: Session = request.app.state.sessions()
        try:
            yield db
        finally:
            if db.in_transaction():
                await run_in_threadpool(db.close)
            else:
                db.close()
    finally:
        if lock is not None:
            lock.release()


def get_settings(request: Request) -> WebSettings:
    return request.app.state.settings


DbDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[WebSettings, Depends(get_settings)]


def client_of(request: Request) -> str:
    """The client address (for throttling and audit), at most 64 characters."""
    return (request.client.host if request.client else "unknown")[:64]


def route_of(request: Request) -> str:
    """The route template (``/episodes/{episode_id}``), never the raw path (it may hold a token)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or "?"
    return f"{request.method} {path}"[:200]


@dataclass
class Caller:
    """The authenticated caller: the user and how they came in."""

    user: User
    live: LiveSession
    via: str  # "cookie" or "bearer"

    @property
    def csrf_token(self) -> str:
        return self.live.csrf_token


def _resolve(request: Request, db: Session, bearer: HTTPAuthorizationCredentials | None,
             cookie: str | None) -> Caller | None:
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    settings: WebSettings = request.app.state.settings
    token, via = (bearer.credentials, "bearer") if bearer else (cookie, "cookie")
    if not token:
        return None
    live = lookup_session(db, token=token, idle_minutes=settings.session_idle_minutes)
    if live is None:
        return None
    caller = Caller(user=live.user, live=live, via=via)
    request.state.caller = caller
    return caller


def optional_caller(
    request: Request,
    db: DbDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Caller | None:
    """The caller if there is a valid session, else ``None`` (for public pages)."""
    return _resolve(request, db, bearer, cookie)


async def _check_csrf(request: Request, caller: Caller) -> None:
    if caller.via != "cookie" or request.method not in UNSAFE:
        return
    sent = request.headers.get("x-csrf-token")
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), caller.csrf_token.encode()):
        raise CsrfError("missing or wrong CSRF token")


def allow(capability: str) -> Callable[..., Any]:
    """A dependency that returns the calling :class:`User` if they have ``capability``.

    No valid session raises :class:`UnauthenticatedError`; a role without the capability
    raises :class:`NotVisibleError` (404), like an object out of scope.
    """
    if capability not in policy.CAPABILITIES:
        raise KeyError(f"unknown capability {capability!r}")

    async def dependency(
        request: Request,
        db: DbDep,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie: Annotated[str | None, Depends(_cookie)],
    ) -> User:
        caller = getattr(request.state, "caller", None) or await run_in_threadpool(
            _resolve, request, db, bearer, cookie)  # a query: not on the event loop
        if caller is None:
            raise UnauthenticatedError("log in first")
        await _check_csrf(request, caller)
        if not policy.allowed(caller.user, capability):
            raise NotVisibleError(reason=f"role lacks {capability}")
        return caller.user

    dependency.__name__ = f"allow_{capability.replace('.', '_')}"
    return dependency


class Auditor:
    """Appends audit events stamped with the request's id, route and client."""

    def __init__(self, request: Request, db: Session) -> None:
        self.request = request
        self.db = db

    def __call__(
        self,
        *,
        action: str,
        outcome: str = "success",
        resource_type: str | None = None,
        resource_id: Any = None,
        patient_id: int | None = None,
        detail: dict[str, Any] | None = None,
        actor_kind: str | None = None,
        actor_id: str | None = None,
    ) -> int:
        caller = getattr(self.request.state, "caller", None)
        if actor_kind is None:
            actor_kind, actor_id = ("user", str(caller.user.id)) if caller else ("anonymous", None)
        return append(
            self.db, actor_kind=actor_kind, actor_id=actor_id, action=action, outcome=outcome,
            resource_type=resource_type,
            resource_id=None if resource_id is None else str(resource_id),
            patient_id=patient_id, route=route_of(self.request),
            request_id=getattr(self.request.state, "request_id", None),
            client=client_of(self.request), detail=detail,
        )


async def _auditor(request: Request, db: DbDep) -> Auditor:  # no I/O: no worker thread
    return Auditor(request, db)


AuditorDep = Annotated[Auditor, Depends(_auditor)]
