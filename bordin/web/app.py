"""The application factory: :func:`create_app`.

Routers are organised by domain (auth, patients, alerts, forms, supervisor,
research, fhir), each a thin ``views.py`` over a ``service.py``. This module wires
them to the database, adds security headers and request ids, and turns errors
into responses (see :mod:`bordin.web.errors`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bordin.errors import BordinError, ConflictError, InputError, NotFoundError
from bordin.store.db import make_engine, session_factory
from bordin.web.alerts.queue import MonitorQueue
from bordin.web.audit.chain import append
from bordin.web.deps import client_of, route_of
from bordin.web.errors import (
    CsrfError,
    NotVisibleError,
    ThrottledError,
    UnauthenticatedError,
    input_error_body,
)
from bordin.web.fifo_lock import FifoLock
from bordin.web.settings import WebSettings
from bordin.web.templating import render

__all__ = ["create_app", "web_engine"]

log = logging.getLogger("bordin.web")

_CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class _Headers:
    """Request ids and security headers, as plain ASGI middleware (no per-request task)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        static = scope["path"].startswith("/static/")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-request-id", rid.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", _CSP.encode()),
                ]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/fhir"))


def _audit_denied(request: Request, *, reason: str, resource_type: str | None = None,
                  resource_id: str | None = None) -> None:
    caller = getattr(request.state, "caller", None)
    db = request.app.state.sessions()
    try:
        append(db, actor_kind="user" if caller else "anonymous",
               actor_id=str(caller.user.id) if caller else None, action="access",
               outcome="denied", resource_type=resource_type, resource_id=resource_id,
               route=route_of(request), request_id=getattr(request.state, "request_id", None),
               client=client_of(request), detail={"reason": reason[:100]})
        db.commit()
    except Exception as exc:  # the denial stands even if the audit write fails
        log.error("audit write failed: %s", type(exc).__name__)
        db.rollback()
    finally:
        db.close()


def _error(request: Request, status: int, message: str,
           headers: dict[str, str] | None = None, **extra: Any) -> Response:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if _wants_json(request):
        return JSONResponse({"detail": message, **extra}, status_code=status, headers=headers)
    resp = render(request, "error.html", {"status": status, "message": message},
                  status_code=status)
    resp.headers.update(headers)
    return resp


def _methods_for(app: FastAPI, path: str) -> list[str]:
    table = getattr(app.state, "route_patterns", None)
    if table is None:
        from bordin.web.routes import iter_routes

        table = [(m, re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(p)) + "$"))
                 for m, p in iter_routes(app)]
        app.state.route_patterns = table
    return sorted({m for m, rx in table if rx.match(path)})


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnauthenticatedError)
    async def _unauth(request: Request, exc: UnauthenticatedError) -> Response:
        _audit_denied(request, reason="unauthenticated")
        if _wants_json(request):
            return _error(request, 401, "authentication required")
        nxt = quote(request.url.path, safe="/") if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={nxt}", status_code=303)

    @app.exception_handler(NotVisibleError)
    async def _not_visible(request: Request, exc: NotVisibleError) -> Response:
        _audit_denied(request, reason=exc.reason, resource_type=exc.resource_type,
                      resource_id=exc.resource_id)
        return _error(request, 404, "not found")

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, exc: CsrfError) -> Response:
        _audit_denied(request, reason="csrf")
        return _error(request, 403, "the form expired or was not sent by this site; reload it")

    @app.exception_handler(ThrottledError)
    async def _throttled(request: Request, exc: ThrottledError) -> Response:
        return _error(request, 429, str(exc))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        if _wants_json(request):
            return JSONResponse(input_error_body(field=exc.field, message=str(exc)),
                                status_code=422)
        return _error(request, 422, str(exc))

    @app.exception_handler(NotFoundError)
    async def _notfound(request: Request, exc: NotFoundError) -> Response:
        return _error(request, 404, "not found")

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> Response:
        return _error(request, 409, str(exc))

    @app.exception_handler(BordinError)
    async def _bordin(request: Request, exc: BordinError) -> Response:
        # An estimate the data cannot support, or another failure of the layers below
        # that is about the request's data: the class name only, never values.
        return _error(request, 422, f"cannot be computed on these data ({type(exc).__name__})")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette lists only the first matching route's methods; list them all.
            headers["Allow"] = ", ".join(_methods_for(request.app, request.url.path))
        return _error(request, exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # Field locations and messages only: the rejected values are not echoed.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        if _wants_json(request):
            return JSONResponse({"detail": errors}, status_code=422)
        return _error(request, 422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                              for e in errors))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        rid = getattr(request.state, "request_id", "")
        log.error("request %s failed: %s", rid, type(exc).__name__)
        return _error(request, 500, f"internal error (request {rid})")


def create_app(
    settings: WebSettings | None = None,
    *,
    engine: Engine | None = None,
) -> FastAPI:
    """Build the Bordin web app.

    Parameters
    ----------
    settings
        Defaults to :class:`WebSettings` read from the environment.
    engine
        Defaults to an engine on ``settings.database_url`` (or the store's default).
        The schema must be current (``bordin.store.db.init_db``).
    """
    from bordin.store.db import default_database_url

    settings = settings or WebSettings()
    engine = engine or web_engine(settings.database_url or default_database_url())
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The worker-thread pool of this process (see WebSettings.worker_threads).
        anyio.to_thread.current_default_thread_limiter().total_tokens = \
            settings.worker_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Bordin",
        version="0.1.0",
        summary="Alliance-informed feedback for clinics: pages, JSON API and FHIR R4 API.",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = engine
    bind = engine.execution_options(bordin_write=True) if engine.dialect.name == "sqlite" \
        else engine
    sessions: sessionmaker[Any] = session_factory(bind)  # type: ignore[arg-type]
    app.state.sessions = sessions
    app.state.write_lock = FifoLock() if engine.dialect.name == "sqlite" else None
    app.state.monitor = MonitorQueue(sessions, readers=session_factory(engine),
                                     interval=settings.monitor_interval_seconds,
                                     enabled=settings.monitor_in_process)
    _install_handlers(app)
    app.add_middleware(_Headers, hsts=settings.env == "production")
    app.mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))),
              name="static")
    _include_routers(app)
    _document_common_responses(app)
    return app


def web_engine(url: str) -> Engine:
    """The engine a server process uses.

    On PostgreSQL without ``pool_pre_ping``: a ping is one more round trip on every
    request. A connection the server dropped (a restart) fails the request that
    meets it, SQLAlchemy then discards the whole pool, and the client's retry (every
    submission carries an idempotency key) goes through on a new connection.
    """
    if url.startswith("sqlite"):
        return make_engine(url)
    return make_engine(url, pool_pre_ping=False)


def _document_common_responses(app: FastAPI) -> None:
    """Add to the OpenAPI schema what every operation may answer: 400 for a body that
    cannot be parsed, and FHIR's media type on the FHIR endpoints."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, summary=app.summary,
                           routes=app.routes)
        for path, ops in spec.get("paths", {}).items():
            for op in ops.values():
                responses = op.setdefault("responses", {})
                if "requestBody" in op:
                    responses.setdefault("400", {"description": "The body cannot be parsed"})
                if path.startswith("/fhir"):
                    for resp in responses.values():
                        content = resp.get("content")
                        if content and "application/json" in content:
                            content["application/fhir+json"] = content["application/json"]
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _include_routers(app: FastAPI) -> None:
    from bordin.web.access import views as access
    from bordin.web.alerts import views as alerts
    from bordin.web.auth import views as auth
    from bordin.web.fhir import views as fhir
    from bordin.web.forms import views as forms
    from bordin.web.patients import views as patients
    from bordin.web.research import views as research
    from bordin.web.supervisor import views as supervisor

    # Routes are matched in order: the patients' questionnaires, the busiest routes by
    # far, come first (no two routers share a path, so the order changes nothing else).
    for module in (forms, auth, patients, alerts, supervisor, research, fhir, access):
        for router in module.routers():
            app.include_router(router)
