"""``bordin init``: create or upgrade a database; shared database options of the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bordin.cli import app

if TYPE_CHECKING:  # the store (SQLAlchemy, Alembic) is imported when a command runs
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["DbOption", "open_store", "shown_url"]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///path or postgresql+psycopg://user@host/db). "
        "Default: $BORDIN_DATABASE_URL, else data/bordin.sqlite under $BORDIN_DATA_DIR.",
        show_default=False,
    ),
]


def shown_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by make_engine
        return url


def open_store(url: str | None) -> tuple[Engine, sessionmaker[Session], str]:
    """Migrate the database at ``url`` (or the default) to head; return engine, factory, URL."""
    from bordin.store.db import default_database_url, init_db, session_factory

    resolved = url or default_database_url()
    engine = init_db(resolved)
    return engine, session_factory(engine), resolved


@app.command()
def init(db: DbOption = None) -> None:
    """Create the database, or upgrade it to the newest schema (safe to repeat)."""
    engine, _factory, url = open_store(db)
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    typer.echo(f"database ready: {shown_url(url)} (schema revision {revision})")
