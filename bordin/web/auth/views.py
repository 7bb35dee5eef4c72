"""Login, logout and the caller's own account: pages and API."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from bordin.store.models.auth import User
from bordin.web.auth import service
from bordin.web.auth.schemas import LoginIn, LoginOut, MeOut
from bordin.web.auth.sessions import create_session, revoke_session
from bordin.web.deps import COOKIE, DbDep, SettingsDep, allow, client_of, optional_caller
from bordin.web.errors import CsrfError, ThrottledError
from bordin.web.templating import render

__all__ = ["routers"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["auth"])
LOGIN_CSRF = "bordin_login_csrf"

HOME = {"clinician": "/caseload", "supervisor": "/supervisor", "researcher": "/research"}


def routers() -> list[APIRouter]:
    return [pages, api]


def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@pages.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@pages.get("/")
def home(caller: Annotated[object, Depends(optional_caller)]) -> Response:
    if caller is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME.get(caller.user.role, "/login"), status_code=303)


@pages.get("/login")
def login_page(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    resp = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next) or "",
                                          "message": ""})
    resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict",
                    secure=settings.secure_cookies, path="/login")
    return resp


@pages.post("/login")
def login_submit(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        raise CsrfError("login form")
    result = service.authenticate(
        db, username=username, password=password, client=client_of(request),
        max_failures=settings.login_max_failures,
        window_minutes=settings.login_window_minutes,
        request_id=getattr(request.state, "request_id", None))
    if result.user is None:
        msg = ("Too many failed attempts. Wait 15 minutes and try again."
               if result.reason == "throttled" else "Wrong username or password.")
        token = secrets.token_urlsafe(32)
        resp = render(request, "login.html", {"login_csrf": token, "next": _safe_next(next) or "",
                                              "message": msg},
                      status_code=429 if result.reason == "throttled" else 401)
        resp.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict",
                        secure=settings.secure_cookies, path="/login")
        return resp
    token, _ = create_session(db, user=result.user,
                              absolute_hours=settings.session_absolute_hours)
    db.commit()
    target = _safe_next(next) or HOME.get(result.user.role, "/")
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                    path="/", max_age=settings.session_absolute_hours * 3600)
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    return resp


@pages.post("/logout")
def logout_page(request: Request, db: DbDep,
                user: Annotated[User, Depends(allow("account.read"))]) -> Response:
    revoke_session(db, token_hash=request.state.caller.live.token_hash)
    db.commit()
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@api.post("/auth/login", responses={401: {"description": "Wrong username or password"},
                                    429: {"description": "Too many failed attempts"}})
def api_login(request: Request, body: LoginIn, db: DbDep, settings: SettingsDep) -> LoginOut:
    """Log in; the token authenticates later calls as ``Authorization: Bearer <token>``."""
    result = service.authenticate(
        db, username=body.username, password=body.password, client=client_of(request),
        max_failures=settings.login_max_failures,
        window_minutes=settings.login_window_minutes,
        request_id=getattr(request.state, "request_id", None))
    if result.user is None:
        if result.reason == "throttled":
            raise ThrottledError("too many failed attempts; wait and try again")
        return JSONResponse({"detail": "wrong username or password"}, status_code=401)  # type: ignore[return-value]
    token, ws = create_session(db, user=result.user,
                               absolute_hours=settings.session_absolute_hours)
    db.commit()
    return LoginOut(token=token, csrf_token=ws.csrf_token, expires_at=ws.expires_at,
                    role=result.user.role)


@api.post("/auth/logout", status_code=204, responses={401: {"description": "Not logged in"}})
def api_logout(request: Request, db: DbDep,
               user: Annotated[User, Depends(allow("account.read"))]) -> Response:
    """End the calling session at once."""
    revoke_session(db, token_hash=request.state.caller.live.token_hash)
    db.commit()
    return Response(status_code=204)


@api.get("/me", responses={401: {"description": "Not logged in"}})
def me(user: Annotated[User, Depends(allow("account.read"))]) -> MeOut:
    """The calling user."""
    return MeOut(username=user.username, role=user.role, organization_id=user.organization_id,
                 clinician_id=user.clinician_id)
