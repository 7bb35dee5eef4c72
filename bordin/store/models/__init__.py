"""The store's tables.

Importing this package imports every module in it, so that every table is
registered on :data:`bordin.store.base.Base.metadata` (Alembic's autogenerate
and the migration checks compare against that metadata). A new module of
tables only has to be placed in this folder.
"""

from __future__ import annotations

import importlib
import pkgutil

from bordin.store.models import alerts, core

__all__ = ["alerts", "core", "load_all"]


def load_all() -> None:
    """Import every table module of this package (idempotent)."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


load_all()
