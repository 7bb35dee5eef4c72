"""Fixtures of the monitor's tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bordin.store.db import init_db, session_factory
from bordin.store.models.core import Clinician, Episode, Organization, Patient


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A store with one clinic, one therapist and two episodes (E1, E2)."""
    eng: Engine = init_db(database_url)
    f = session_factory(eng)
    with f() as db:
        org = Organization(code="ORG1", name="Test clinic")
        db.add(org)
        db.flush()
        th = Clinician(code="T1", organization_id=org.id, role="therapist")
        db.add(th)
        for i in (1, 2):
            pt = Patient(code=f"P{i}", organization_id=org.id)
            db.add(pt)
            db.flush()
            db.add(Episode(code=f"E{i}", patient_id=pt.id, clinician_id=th.id,
                           organization_id=org.id, format="individual",
                           start=date(2024, 1, 8)))
        db.commit()
    yield f
    eng.dispose()
