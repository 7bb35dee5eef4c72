"""List every (method, path) the app answers, for the authorization table and docs.

FastAPI keeps included routers as nested objects; this flattens them, and
fails loudly if it meets a route kind it does not know, so that no route can
slip past the authorization test unseen.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount, Route

__all__ = ["iter_routes"]


def _walk(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    for r in routes:
        if hasattr(r, "effective_route_contexts"):
            for ctx in r.effective_route_contexts():
                for m in sorted(getattr(ctx.original_route, "methods", None) or {"GET"}):
                    yield m, ctx.path
        elif isinstance(r, Mount):
            yield "GET", r.path + "/{path}"
        elif isinstance(r, Route):
            for m in sorted(r.methods or {"GET"}):
                if m != "HEAD":
                    yield m, r.path
        elif hasattr(r, "path") and hasattr(r, "methods"):
            for m in sorted(r.methods or {"GET"}):
                yield m, r.path
        else:
            raise TypeError(f"unknown route kind {type(r).__name__}")


def iter_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (METHOD, path template) the app serves, sorted, HEAD left out."""
    return sorted({(m, p) for m, p in _walk(list(app.routes)) if m != "HEAD"})
