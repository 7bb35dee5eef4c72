"""Schema, migrations and connection settings on each backend."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bordin.errors import InputError
from bordin.store.base import Base
from bordin.store.db import init_db, make_engine, migration_config
from bordin.store.models.alerts import Alert
from bordin.store.models.core import Clinician, Episode

MY_TABLES = {
    "organizations", "clinicians", "patients", "episodes", "therapy_sessions",
    "administrations", "item_responses", "scores", "alerts",
}


def test_migrations_have_a_single_head() -> None:
    heads = ScriptDirectory.from_config(migration_config()).get_heads()
    assert len(heads) == 1, heads


def test_init_db_is_repeatable_and_at_head(database_url: str) -> None:
    init_db(database_url).dispose()
    engine = init_db(database_url)
    head = ScriptDirectory.from_config(migration_config()).get_current_head()
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        assert set(inspect(conn).get_table_names()) >= MY_TABLES
    engine.dispose()


def _drift(engine: Engine) -> list[object]:
    """Differences between the models and the migrated database, for the core tables."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if isinstance(part, str) and part in MY_TABLES:
                return part
            if getattr(part, "name", None) in MY_TABLES and hasattr(part, "columns"):
                return part.name
        return None

    return [d for d in diffs if table_of(d) in MY_TABLES]


def test_migrations_match_the_models(engine: Engine) -> None:
    """No drift between the ORM models and what the migrations build (core and alerts)."""
    assert _drift(engine) == []


def test_drift_check_sees_a_missing_index(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_administrations_session_id")
    assert len(_drift(engine)) == 1


def test_every_foreign_key_is_indexed(engine: Engine) -> None:
    insp = inspect(engine)
    missing = []
    for table in MY_TABLES:
        indexed = {tuple(ix["column_names"]) for ix in insp.get_indexes(table)}
        pk = tuple(insp.get_pk_constraint(table)["constrained_columns"])
        for fk in insp.get_foreign_keys(table):
            cols = tuple(fk["constrained_columns"])
            if not any(ix[: len(cols)] == cols for ix in indexed) and pk[: len(cols)] != cols:
                missing.append((table, cols))
    assert missing == []


def test_sqlite_connections_are_durable_and_enforce_foreign_keys(sqlite_url: str) -> None:
    engine = init_db(sqlite_url)
    for _ in range(2):  # every pooled connection, not only the first
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with Session(engine) as db:
        db.add(Clinician(code="X", organization_id=12345, role="therapist"))
        with pytest.raises(IntegrityError):
            db.commit()
    engine.dispose()


def test_check_constraints(factory: sessionmaker[Session], clinic) -> None:
    with factory() as db:
        db.add(Clinician(code="Y", organization_id=clinic.organization_id, role="wizard"))
        with pytest.raises(IntegrityError):
            db.commit()
    with factory() as db:
        db.add(Episode(code="E9", patient_id=clinic.patient_id, clinician_id=clinic.therapist_id,
                       organization_id=clinic.organization_id, format="individual",
                       start=date(2024, 5, 1), end=date(2024, 4, 1)))
        with pytest.raises(IntegrityError):
            db.commit()


def test_bad_database_url_is_an_input_error() -> None:
    with pytest.raises(InputError, match="database url"):
        make_engine("mysql://x@y/z")


def test_alert_version_stops_lost_updates(factory: sessionmaker[Session], clinic) -> None:
    with factory() as db:
        db.add(Alert(episode_id=clinic.episode_id, kind="rupture", rule="personal_sd",
                     dedupe_key="E1:rupture:4"))
        db.commit()
    # Two clinicians open the same alert (each read ends its transaction, as a web
    # request does); the first acknowledges it; the second's write is refused.
    with factory() as a, factory() as b:
        first = a.scalars(select(Alert)).one()
        a.commit()
        second = b.scalars(select(Alert)).one()
        b.commit()
        first.state = "acknowledged"
        a.commit()
        second.state = "resolved"
        with pytest.raises(StaleDataError):
            b.commit()
    with factory() as db:
        alert = db.scalars(select(Alert)).one()
        assert (alert.state, alert.version) == ("acknowledged", 2)


def test_alert_dedupe_key_is_unique(factory: sessionmaker[Session], clinic) -> None:
    with factory() as db:
        for _ in range(2):
            db.add(Alert(episode_id=clinic.episode_id, kind="risk", rule="phq9_9",
                         dedupe_key="same"))
        with pytest.raises(IntegrityError):
            db.commit()


@pytest.mark.postgres
def test_postgresql_commits_are_synchronous() -> None:
    """Even a connection whose server default is synchronous_commit=off gets it on."""
    import os

    url = os.environ.get("BORDIN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BORDIN_TEST_POSTGRES_URL is not set")
    sep = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{sep}options=-csynchronous_commit%3Doff")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    engine.dispose()
    raw = sa.create_engine(f"{url}{sep}options=-csynchronous_commit%3Doff")
    with raw.connect() as conn:  # the control: without Bordin's setting it is off
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
    raw.dispose()


def test_read_then_write_transactions_wait_their_turn(sqlite_url: str) -> None:
    """Four concurrent read-then-write transactions on SQLite queue for the write lock
    (BEGIN IMMEDIATE by default) instead of three failing with "database is locked",
    which is what plain deferred transactions do here."""
    import threading

    from bordin.store.db import session_factory
    from bordin.store.models.core import Organization

    engine = init_db(sqlite_url)
    factory = session_factory(engine)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with factory() as db:
                barrier.wait()
                n = len(db.scalars(select(Organization)).all())  # read ...
                db.add(Organization(code=f"O{i}", name=str(n)))  # ... then write
                db.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with factory() as db:
        names = sorted(o.name for o in db.scalars(select(Organization)))
    assert names == ["0", "1", "2", "3"]  # each saw all earlier commits: fully serialised
    engine.dispose()


def test_read_transactions_do_not_take_the_write_lock(sqlite_url: str) -> None:
    from bordin.store.db import begin_read, session_factory
    from bordin.store.models.core import Organization

    engine = init_db(sqlite_url)
    factory = session_factory(engine)
    with factory() as reader, factory() as writer:
        begin_read(reader)
        reader.scalars(select(Organization)).all()
        writer.add(Organization(code="W"))
        writer.commit()  # not blocked by the open read transaction
        assert reader.in_transaction()
    engine.dispose()
