"""Run the monitor on store data and store its alerts, once each.

The monitor (:func:`bordin.monitor.batch.monitor_frame`) decides what is an alert
and :func:`bordin.monitor.service.store_alerts` keeps them (dedupe keys: a re-run
inserts only new alerts and updates the evidence of moved ones; the rupture's own
state is ``evidence["state"]``, the alert's ``state`` is the clinician's). This
module only joins the store's item responses to their administrations, which the
monitor's risk rule reads.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from bordin.errors import BordinError
from bordin.monitor.batch import monitor_frame
from bordin.monitor.service import population_sd, store_alerts
from bordin.store.models.core import Episode
from bordin.store.queries import administrations_frame, responses_frame

__all__ = ["monitor_alerts", "update_episode"]


def monitor_alerts(adm: pd.DataFrame, resp: pd.DataFrame, *,
                   population_sd: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Run the monitor on store frames (item responses joined to their administrations).

    ``population_sd`` is the clinic's between-patient SD per scale
    (:func:`bordin.monitor.service.population_sd`): a run over a few episodes needs it
    for the combined rupture rule to judge them against the clinic.
    """
    if adm.empty:
        return pd.DataFrame()
    keys = adm[["administration_id", "episode", "session", "instrument"]]
    long = resp.merge(keys, on="administration_id", how="inner") if not resp.empty else None
    return monitor_frame(adm, responses=long, population_sd=population_sd or None)


def update_episode(db: Session, *, episode_id: int) -> int:
    """Run the monitor on one episode and store its alerts (commits); return how many new."""
    code = db.scalar(select(Episode.code).where(Episode.id == episode_id))
    adm = administrations_frame(db, episode=code)
    if adm.empty:
        return 0
    resp = responses_frame(db, episode=code)
    sd = population_sd(db)
    db.rollback()  # end the read transaction; store_alerts takes the write lock itself
    try:
        alerts = monitor_alerts(adm, resp, population_sd=sd)
    except BordinError:
        return 0
    return store_alerts(db, alerts).inserted
