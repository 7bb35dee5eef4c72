"""Helpers of the exchange tests: row counts and code-keyed snapshots of a store."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bordin.store.models.core import (
    Administration,
    Clinician,
    Episode,
    ItemResponse,
    Organization,
    Patient,
    Score,
    TherapySession,
)
from bordin.store.queries import administrations_frame, episodes_frame, responses_frame

TABLES = (Organization, Clinician, Patient, Episode, TherapySession, Administration,
          ItemResponse, Score)


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as db:
        return {m.__tablename__: db.scalar(select(func.count()).select_from(m)) for m in TABLES}


def snapshot(factory: sessionmaker[Session]) -> dict[str, pd.DataFrame]:
    """Everything stored, keyed by codes (database ids dropped), for comparisons."""
    with factory() as db:
        adm = administrations_frame(db)
        resp = responses_frame(db)
        eps = episodes_frame(db)
    keys = adm.set_index("administration_id")["idempotency_key"]
    resp = resp.assign(key=resp["administration_id"].map(keys)).drop(columns="administration_id")
    resp = resp.sort_values(["key", "item"]).reset_index(drop=True)
    adm = adm.drop(columns="administration_id").sort_values("idempotency_key")
    return {"administrations": adm.reset_index(drop=True), "responses": resp, "episodes": eps}


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False, obj=name)
