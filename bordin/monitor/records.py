"""Alerts as JSON-safe records: what the store, the CLI and the web app carry."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bordin.monitor.feedback import suggestions as _suggestions

__all__ = ["EVIDENCE", "alert_record", "alert_records", "flat_frame"]

EVIDENCE = ("start", "session", "state", "observed", "baseline", "threshold", "depth",
            "lowest", "lowest_score", "repaired_at", "scales")
_INT = {"start", "session", "lowest", "repaired_at"}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def alert_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One alert (a row of :func:`~bordin.monitor.monitor_frame` or of
    :meth:`~bordin.monitor.EpisodeMonitor.alerts`) as a JSON-safe dict with ``evidence``
    and the full ``suggestions`` (id, text, citations)."""
    table = _suggestions()
    ev = {}
    for k in EVIDENCE:
        v = _plain(row.get(k))
        if k in _INT and isinstance(v, float):
            v = int(v)
        if k == "lowest" and v == -1:
            v = None
        ev[k] = v
    ids = row.get("suggestions") or ()
    return {
        "dedupe_key": str(row["dedupe_key"]),
        "organization": _plain(row.get("organization")),
        "clinician": _plain(row.get("clinician")),
        "patient": _plain(row.get("patient")),
        "episode": _plain(row["episode"]),
        "instrument": str(row["instrument"]),
        "rater": str(row["rater"]),
        "target": _plain(row.get("target")),
        "scale": str(row["scale"]),
        "kind": str(row["kind"]),
        "rule": str(row["rule"]),
        "severity": str(row["severity"]),
        "pathway": str(row["pathway"]),
        "params": _plain(row.get("params") or {}),
        "evidence": ev,
        "suggestions": [table[i].to_dict() for i in ids if i in table],
    }


def alert_records(alerts: pd.DataFrame) -> list[dict[str, Any]]:
    """Every alert of a frame as :func:`alert_record` dicts."""
    return [alert_record(r) for r in alerts.to_dict(orient="records")]


def flat_frame(alerts: pd.DataFrame) -> pd.DataFrame:
    """The alerts with ``params``, ``scales`` and ``suggestions`` as text (for CSV/Parquet)."""
    out = alerts.copy()
    out["params"] = [json.dumps(_plain(p or {}), sort_keys=True) for p in out["params"]]
    if "scales" in out.columns:
        out["scales"] = [None if s is None else json.dumps(_plain(s)) for s in out["scales"]]
    out["suggestions"] = [",".join(s or ()) for s in out["suggestions"]]
    return out
