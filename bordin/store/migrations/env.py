"""Alembic environment: runs on the engine handed in by :func:`bordin.store.db.init_db`."""

from __future__ import annotations

from alembic import context

from bordin.store import models
from bordin.store.base import Base

models.load_all()
target_metadata = Base.metadata


def _run() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        from bordin.store.db import default_database_url, make_engine

        url = context.config.get_main_option("sqlalchemy.url") or default_database_url()
        engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("Bordin's migrations run online only (bordin init)")
_run()
