"""Fixtures of the exchange tests: migrated databases and the sample clinic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bordin.data import sample_dir
from bordin.exchange.tidy import import_tidy
from bordin.store.db import init_db, session_factory


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = init_db(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def sample(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with factory() as db:
        import_tidy(db, sample_dir())
    return factory


@pytest.fixture
def empty_sqlite(tmp_path) -> Iterator[sessionmaker[Session]]:
    engine = init_db(f"sqlite:///{tmp_path / 'second.sqlite'}")
    yield session_factory(engine)
    engine.dispose()
