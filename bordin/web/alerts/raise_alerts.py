"""Store the monitor's alerts for an episode or a clinic, once each.

The monitor (:func:`bordin.monitor.batch.monitor_frame`) decides what is an
alert; this module turns its rows into :class:`~bordin.store.models.alerts.Alert`
rows, skipping any whose ``dedupe_key`` is already stored, so re-running never
duplicates an alert. The rupture's own state (open, repaired, unrepaired) goes
into ``evidence["state"]``; the alert's ``state`` is the clinician's (open,
acknowledged). Used after each patient submission and to seed the demo.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from bordin.errors import BordinError
from bordin.monitor.batch import monitor_frame
from bordin.store.models.alerts import ALERT_PATHWAYS, Alert
from bordin.store.models.core import Episode
from bordin.store.queries import administrations_frame, responses_frame

__all__ = ["monitor_alerts", "store_alerts", "update_episode"]

_EVIDENCE = ("instrument", "rater", "target", "scale", "start", "session", "state", "observed",
             "baseline", "threshold", "depth", "lowest", "lowest_score", "repaired_at")


def _safe(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_safe(x) for x in v]
    if isinstance(v, str | int | float | bool):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def store_alerts(db: Session, alerts: pd.DataFrame) -> int:
    """Insert monitor alert rows not yet stored; return how many were added (caller commits)."""
    if alerts.empty:
        return 0
    keys = [str(k)[:200] for k in alerts["dedupe_key"]]
    have = set(db.scalars(select(Alert.dedupe_key).where(Alert.dedupe_key.in_(keys))))
    codes = {str(c) for c in alerts["episode"].unique()}
    ep_ids = dict(db.execute(select(Episode.code, Episode.id).where(Episode.code.in_(codes))).all())
    added = 0
    for row, key in zip(alerts.to_dict(orient="records"), keys, strict=True):
        ep = ep_ids.get(str(row["episode"]))
        if key in have or ep is None:
            continue
        pathways = [p for p in str(row.get("pathway") or "").split(",") if p in ALERT_PATHWAYS]
        evidence = {k: _safe(row.get(k)) for k in _EVIDENCE if _safe(row.get(k)) is not None}
        if len(pathways) > 1:
            evidence["pathways"] = pathways
        suggestions = _safe(row.get("suggestions")) or []
        db.add(Alert(episode_id=ep, kind=str(row["kind"]), rule=str(row["rule"])[:100],
                     params=_safe(row.get("params")) or {}, evidence=evidence,
                     severity=str(row.get("severity") or "medium"),
                     pathway=pathways[0] if pathways else None,
                     suggestions=suggestions if isinstance(suggestions, list) else [suggestions],
                     dedupe_key=key, state="open"))
        have.add(key)
        added += 1
    db.flush()
    return added


def monitor_alerts(adm: pd.DataFrame, resp: pd.DataFrame) -> pd.DataFrame:
    """Run the monitor on store frames (item responses joined to their administrations)."""
    if adm.empty:
        return pd.DataFrame()
    keys = adm[["administration_id", "episode", "session", "instrument"]]
    long = resp.merge(keys, on="administration_id", how="inner") if not resp.empty else None
    return monitor_frame(adm, responses=long)


def update_episode(db: Session, *, episode_id: int) -> int:
    """Run the monitor on one episode and store its new alerts (caller commits)."""
    code = db.scalar(select(Episode.code).where(Episode.id == episode_id))
    adm = administrations_frame(db, episode=code)
    if adm.empty:
        return 0
    resp = responses_frame(db, episode=code)
    try:
        alerts = monitor_alerts(adm, resp)
    except BordinError:
        return 0
    return store_alerts(db, alerts)
