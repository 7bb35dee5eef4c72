"""Engines, sessions and schema migrations.

SQLite is the embedded default: every connection runs in WAL mode with
``synchronous=FULL`` (an acknowledged commit survives a power loss, which
``NORMAL`` does not promise in WAL mode) and with foreign keys enforced.
PostgreSQL is reached through psycopg 3, with ``synchronous_commit`` on for
every connection. The schema is created and upgraded
only by the Alembic migrations in :mod:`bordin.store.migrations`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import InputError

__all__ = [
    "READ",
    "WRITE",
    "begin_read",
    "begin_write",
    "data_dir",
    "default_database_url",
    "init_db",
    "make_engine",
    "migration_config",
    "session_factory",
]

MIGRATIONS = Path(__file__).with_name("migrations")

#: Execution option that makes an SQLite transaction take the write lock at
#: ``BEGIN`` (``BEGIN IMMEDIATE``). This is the default on SQLite: a
#: transaction that first reads and then writes would otherwise fail with
#: "database is locked" when another writer got in between, because SQLite
#: cannot upgrade a stale read snapshot (and its busy timeout does not help).
#: PostgreSQL ignores it.
WRITE: dict[str, Any] = {"bordin_write": True}

#: Execution option for a transaction that only reads (an export, an
#: analysis): on SQLite it begins with a plain ``BEGIN`` and does not hold up
#: writers. Use as ``session.connection(execution_options=READ)`` before the
#: first statement; a write in such a transaction may fail under concurrency.
READ: dict[str, Any] = {"bordin_read": True}


def data_dir() -> Path:
    """Return the data folder: ``$BORDIN_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get("BORDIN_DATA_DIR") or "data")


def default_database_url() -> str:
    """Return ``$BORDIN_DATABASE_URL``, or an SQLite file ``bordin.sqlite`` in :func:`data_dir`."""
    env = os.environ.get("BORDIN_DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{(data_dir() / 'bordin.sqlite').resolve()}"


def _normalise(url: str) -> str:
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises its own ArgumentError
        raise InputError(
            field="database url",
            value=url,
            allowed="an SQLAlchemy URL such as sqlite:///data/bordin.sqlite "
            "or postgresql+psycopg://user@host/db",
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend not in {"sqlite", "postgresql"}:
        raise InputError(
            field="database url",
            value=parsed.render_as_string(hide_password=True),
            allowed="an sqlite:// or postgresql+psycopg:// URL",
        )
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with Bordin's connection settings.

    Parameters
    ----------
    url
        An SQLAlchemy URL: ``sqlite:///path`` or ``postgresql+psycopg://...``
        (a bare ``postgresql://`` is taken to mean psycopg 3).
    **kwargs
        Passed on to :func:`sqlalchemy.create_engine`.

    Returns
    -------
    Engine
        On SQLite every new connection is set to WAL journal,
        ``synchronous=FULL``, foreign keys on and a 30 s busy timeout, and
        transactions are begun explicitly with ``BEGIN IMMEDIATE`` (one writer
        at a time, the others wait), or a plain ``BEGIN`` under the
        :data:`READ` execution option.
    """
    url = _normalise(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", 30)
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # An acknowledged commit must be on disk, whatever the server default
        # (synchronous_commit=off can lose "committed" transactions).
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO on")
        finally:
            dbapi_connection.autocommit = autocommit


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions
        # begin (the module's implicit BEGIN would defeat BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("bordin_read"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def begin_write(db: Session) -> None:
    """Start ``db``'s transaction as a write transaction (SQLite: ``BEGIN IMMEDIATE``).

    Write transactions are the default on SQLite; this states the intent
    explicitly. Concurrent writers wait their turn (up to the 30 s busy
    timeout) instead of failing with "database is locked". Does nothing when a
    transaction is already open, and nothing on PostgreSQL.
    """
    if not db.in_transaction():
        db.connection(execution_options=WRITE)


def begin_read(db: Session) -> None:
    """Start ``db``'s transaction as a read-only one (SQLite: a plain ``BEGIN``).

    For long reads (exports, analyses) that should not hold up writers.
    Does nothing when a transaction is already open, and nothing on PostgreSQL.
    """
    if not db.in_transaction():
        db.connection(execution_options=READ)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def migration_config(engine: Engine | None = None) -> Config:
    """Return an Alembic configuration for Bordin's migrations, built in code.

    With ``engine`` the migrations run on a connection of that engine.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def init_db(url: str) -> Engine:
    """Create or upgrade the database at ``url`` to the newest schema.

    Runs the Alembic migrations to ``head`` and returns an engine made by
    :func:`make_engine`. Safe to call on a database that is already current.
    """
    engine = make_engine(url)
    command.upgrade(migration_config(engine), "head")
    return engine
