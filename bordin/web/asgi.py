"""An app factory for ``uvicorn --factory bordin.web.asgi:create`` (several workers).

Reads everything from the environment (``BORDIN_DATABASE_URL``, ``BORDIN_SECRET_KEY``,
``BORDIN_ENV``, ...), like :class:`~bordin.web.settings.WebSettings`.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from bordin.web.app import create_app

__all__ = ["create", "settle_gc"]


def create() -> FastAPI:
    """Build the app from environment settings (the schema must be current)."""
    app = create_app()
    settle_gc()
    return app


def settle_gc() -> None:
    """Tune the garbage collector of a server process that is about to take requests.

    Everything built so far (modules, specs, the app) lives as long as the process:
    ``gc.freeze`` keeps the collector from walking it again and again, and a larger
    first-generation threshold lets requests, which make short-lived objects by the
    thousand, trigger a collection less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
