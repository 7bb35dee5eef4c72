"""Tidy pandas frames read from the store, following DESIGN.md's data contracts.

* :func:`episodes_frame`: ``episode, patient, clinician, organization, treatment,
  format, diagnosis, start, end``.
* :func:`administrations_frame`: ``organization, clinician, patient, episode,
  session, date, instrument, rater, target, total, <subscale>...`` and, after
  those, ``administration_id, instrument_version, target_ref, rater_clinician,
  authored_at, band, prorated, risk_items, idempotency_key``.
* :func:`responses_frame`: ``administration_id, item, value``.

Identifiers are the codes people use (``P012``), never database ids, except
``administration_id``, which links the administrations and responses frames.
``clinician`` is the episode's treating clinician; who rated is ``rater`` (and
``rater_clinician`` for a clinician or observer rating). Each frame is built
with a fixed, small number of queries, whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

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

__all__ = [
    "ADMINISTRATION_COLUMNS",
    "ADMINISTRATION_EXTRA_COLUMNS",
    "EPISODE_COLUMNS",
    "RESPONSE_COLUMNS",
    "administrations_frame",
    "clinicians_frame",
    "episodes_frame",
    "organizations_frame",
    "responses_frame",
]

EPISODE_COLUMNS = (
    "episode", "patient", "clinician", "organization", "treatment", "format", "diagnosis",
    "start", "end",
)
ADMINISTRATION_COLUMNS = (
    "organization", "clinician", "patient", "episode", "session", "date", "instrument",
    "rater", "target", "total",
)
ADMINISTRATION_EXTRA_COLUMNS = (
    "administration_id", "instrument_version", "target_ref", "rater_clinician",
    "authored_at", "band", "prorated", "risk_items", "idempotency_key",
)
RESPONSE_COLUMNS = ("administration_id", "item", "value")


def _codes(values: str | Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return list(values)


def organizations_frame(db: Session) -> pd.DataFrame:
    """Every organization: ``organization, name``."""
    rows = db.execute(select(Organization.code, Organization.name).order_by(Organization.code))
    return pd.DataFrame(rows.all(), columns=["organization", "name"])


def clinicians_frame(db: Session) -> pd.DataFrame:
    """Every clinician: ``clinician, organization, role, name``."""
    rows = db.execute(
        select(Clinician.code, Organization.code, Clinician.role, Clinician.name)
        .join(Organization, Clinician.organization_id == Organization.id)
        .order_by(Clinician.code)
    )
    return pd.DataFrame(rows.all(), columns=["clinician", "organization", "role", "name"])


def episodes_frame(
    db: Session,
    *,
    organization: str | Iterable[str] | None = None,
    clinician: str | Iterable[str] | None = None,
    patient: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Episodes of care as a tidy frame (columns :data:`EPISODE_COLUMNS`).

    Parameters
    ----------
    db
        An open session.
    organization, clinician, patient
        Keep only these codes (one or several).
    """
    stmt = (
        select(
            Episode.code, Patient.code, Clinician.code, Organization.code, Episode.treatment,
            Episode.format, Episode.diagnosis, Episode.start, Episode.end,
        )
        .join(Patient, Episode.patient_id == Patient.id)
        .join(Clinician, Episode.clinician_id == Clinician.id)
        .join(Organization, Episode.organization_id == Organization.id)
        .order_by(Episode.code)
    )
    stmt = _filter(stmt, organization=organization, clinician=clinician, patient=patient)
    df = pd.DataFrame(db.execute(stmt).all(), columns=list(EPISODE_COLUMNS))
    for col in ("start", "end"):
        df[col] = pd.to_datetime(df[col])
    return df


def _filter(
    stmt: Select[Any],
    *,
    organization: Any = None,
    clinician: Any = None,
    patient: Any = None,
    episode: Any = None,
) -> Select[Any]:
    if (codes := _codes(organization)) is not None:
        stmt = stmt.where(Organization.code.in_(codes))
    if (codes := _codes(clinician)) is not None:
        stmt = stmt.where(Clinician.code.in_(codes))
    if (codes := _codes(patient)) is not None:
        stmt = stmt.where(Patient.code.in_(codes))
    if (codes := _codes(episode)) is not None:
        stmt = stmt.where(Episode.code.in_(codes))
    return stmt


def _administration_select(
    *,
    organization: Any,
    clinician: Any,
    patient: Any,
    episode: Any,
    instrument: Any,
    rater: Any,
) -> Select[Any]:
    rater_clin = aliased(Clinician)
    stmt = (
        select(
            Organization.code, Clinician.code, Patient.code, Episode.code,
            TherapySession.number, TherapySession.date, Administration.instrument_id,
            Administration.rater, Administration.target, Administration.id,
            Administration.instrument_version, Administration.target_ref, rater_clin.code,
            Administration.authored_at, Administration.risk_items,
            Administration.idempotency_key,
        )
        .join(TherapySession, Administration.session_id == TherapySession.id)
        .join(Episode, Administration.episode_id == Episode.id)
        .join(Patient, Episode.patient_id == Patient.id)
        .join(Clinician, Episode.clinician_id == Clinician.id)
        .join(Organization, Episode.organization_id == Organization.id)
        .outerjoin(rater_clin, Administration.rater_clinician_id == rater_clin.id)
        .order_by(Episode.code, TherapySession.number, Administration.authored_at,
                  Administration.id)
    )
    stmt = _filter(stmt, organization=organization, clinician=clinician, patient=patient,
                   episode=episode)
    if (codes := _codes(instrument)) is not None:
        stmt = stmt.where(Administration.instrument_id.in_(codes))
    if (codes := _codes(rater)) is not None:
        stmt = stmt.where(Administration.rater.in_(codes))
    return stmt


def administrations_frame(
    db: Session,
    *,
    organization: str | Iterable[str] | None = None,
    clinician: str | Iterable[str] | None = None,
    patient: str | Iterable[str] | None = None,
    episode: str | Iterable[str] | None = None,
    instrument: str | Iterable[str] | None = None,
    rater: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per completed questionnaire, with its total and subscale scores.

    Parameters
    ----------
    db
        An open session.
    organization, clinician, patient, episode, instrument, rater
        Keep only these codes or values (one or several).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ADMINISTRATION_COLUMNS`, then one column per subscale of
        the instruments present (in their specs' order; empty where an
        instrument has no such subscale), then
        :data:`ADMINISTRATION_EXTRA_COLUMNS`. ``date`` is the session's date,
        or the day the questionnaire was authored when the session has none.
    """
    base = _administration_select(
        organization=organization, clinician=clinician, patient=patient, episode=episode,
        instrument=instrument, rater=rater,
    )
    head = [
        "organization", "clinician", "patient", "episode", "session", "session_date",
        "instrument", "rater", "target", "administration_id", "instrument_version",
        "target_ref", "rater_clinician", "authored_at", "risk_items", "idempotency_key",
    ]
    df = pd.DataFrame(db.execute(base).all(), columns=head)
    ids = base.with_only_columns(Administration.id).order_by(None).scalar_subquery()
    scores = pd.DataFrame(
        db.execute(
            select(Score.administration_id, Score.scale, Score.value, Score.band, Score.prorated)
            .where(Score.administration_id.in_(ids))
        ).all(),
        columns=["administration_id", "scale", "value", "band", "prorated"],
    )
    return _assemble(df, scores)


def _subscale_order(instruments: Iterable[str], present: set[str]) -> list[str]:
    from bordin.instruments import registry

    order: list[str] = []
    for inst in sorted(set(instruments)):
        if inst in registry:
            for name in registry.get(inst).subscales:
                if name in present and name not in order:
                    order.append(name)
    order.extend(sorted(present - set(order)))
    return order


def _assemble(df: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    authored = pd.to_datetime(df["authored_at"], utc=True)
    df["authored_at"] = authored
    session_date = pd.to_datetime(df["session_date"])
    df["date"] = session_date.fillna(authored.dt.tz_localize(None).dt.normalize())
    df["session"] = df["session"].astype("int64")
    totals = scores[scores["scale"] == "total"].set_index("administration_id")
    df["total"] = df["administration_id"].map(totals["value"]).astype("float64")
    df["band"] = df["administration_id"].map(totals["band"])
    df["prorated"] = df["administration_id"].map(totals["prorated"]).astype("boolean")
    subs = scores[scores["scale"] != "total"]
    names = _subscale_order(df["instrument"], set(subs["scale"]))
    if names:
        wide = subs.pivot(index="administration_id", columns="scale", values="value")
        for name in names:
            df[name] = df["administration_id"].map(wide[name]).astype("float64")
    df["risk_items"] = df["risk_items"].map(lambda x: ";".join(x) if x else "")
    cols = [*ADMINISTRATION_COLUMNS, *names, *ADMINISTRATION_EXTRA_COLUMNS]
    return df[cols].reset_index(drop=True)


def responses_frame(
    db: Session,
    *,
    organization: str | Iterable[str] | None = None,
    clinician: str | Iterable[str] | None = None,
    patient: str | Iterable[str] | None = None,
    episode: str | Iterable[str] | None = None,
    instrument: str | Iterable[str] | None = None,
    rater: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Item responses (``administration_id, item, value``), NaN for a skipped item.

    Takes the same filters as :func:`administrations_frame`.
    """
    base = _administration_select(
        organization=organization, clinician=clinician, patient=patient, episode=episode,
        instrument=instrument, rater=rater,
    )
    ids = base.with_only_columns(Administration.id).order_by(None).scalar_subquery()
    stmt = (
        select(ItemResponse.administration_id, ItemResponse.item, ItemResponse.value)
        .where(ItemResponse.administration_id.in_(ids))
        .order_by(ItemResponse.administration_id, ItemResponse.item)
    )
    df = pd.DataFrame(db.execute(stmt).all(), columns=list(RESPONSE_COLUMNS))
    df["value"] = df["value"].astype("float64")
    return _order_items(df)


def _order_items(df: pd.DataFrame) -> pd.DataFrame:
    # Item ids end in their number ("wai_sr_10"); order 2 before 10.
    if df.empty:
        return df
    num = pd.to_numeric(df["item"].str.extract(r"(\d+)$")[0], errors="coerce")
    return (
        df.assign(_n=num)
        .sort_values(["administration_id", "_n", "item"], kind="stable")
        .drop(columns="_n")
        .reset_index(drop=True)
    )
