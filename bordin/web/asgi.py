"""An app factory for ``uvicorn --factory bordin.web.asgi:create`` (several workers).

Reads everything from the environment (``BORDIN_DATABASE_URL``, ``BORDIN_SECRET_KEY``,
``BORDIN_ENV``, ...), like :class:`~bordin.web.settings.WebSettings`.
"""

from __future__ import annotations

from fastapi import FastAPI

from bordin.web.app import create_app

__all__ = ["create"]


def create() -> FastAPI:
    """Build the app from environment settings (the schema must be current)."""
    return create_app()
