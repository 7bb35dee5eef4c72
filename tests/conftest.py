"""Shared fixtures.

``database_url`` gives every test that asks for it an empty database on each
backend: a fresh SQLite file always, and a fresh PostgreSQL schema when
``BORDIN_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it). In CI a skipped
PostgreSQL test fails the run, so the PostgreSQL suite cannot silently vanish.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("BORDIN_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _backends() -> list[object]:
    return [
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on SQLite, and on PostgreSQL when it is configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bordin.sqlite'}"
        return
    if not POSTGRES_URL:
        pytest.skip("BORDIN_TEST_POSTGRES_URL is not set")
    import sqlalchemy as sa

    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database file, for tests that need only the embedded default."""
    return f"sqlite:///{tmp_path / 'bordin.sqlite'}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if IN_CI and report.skipped and "postgres" in report.keywords:
        report.outcome = "failed"
        report.longrepr = (
            "PostgreSQL test skipped in CI: set BORDIN_TEST_POSTGRES_URL "
            "(.ci/run starts the server and sets it)"
        )
