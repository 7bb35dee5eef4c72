"""Fixtures of the store tests: a migrated database on each backend and a small clinic."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bordin.store.db import init_db, session_factory
from bordin.store.models.core import Clinician, Episode, Organization, Patient


@dataclass
class Clinic:
    organization_id: int
    therapist_id: int
    observer_id: int
    patient_id: int
    episode_id: int


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = init_db(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def clinic(factory: sessionmaker[Session]) -> Clinic:
    with factory() as db:
        org = Organization(code="ORG1", name="Test clinic")
        db.add(org)
        db.flush()
        th = Clinician(code="T1", organization_id=org.id, role="therapist")
        ob = Clinician(code="O1", organization_id=org.id, role="observer")
        pt = Patient(code="P1", organization_id=org.id)
        db.add_all([th, ob, pt])
        db.flush()
        ep = Episode(
            code="E1", patient_id=pt.id, clinician_id=th.id, organization_id=org.id,
            treatment="CBT", format="individual", diagnosis="F32.1", start=date(2024, 1, 8),
        )
        db.add(ep)
        db.commit()
        return Clinic(org.id, th.id, ob.id, pt.id, ep.id)
