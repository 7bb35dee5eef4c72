"""The therapist–patient discrepancy signal for one episode.

Patient and clinician rate the same session; when the clinician rates the alliance
clearly higher than the patient does, the clinician may be missing a rupture the
patient feels (the clinically important direction). ``direction="either"`` flags a
divergence either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.monitor._series import as_series

__all__ = ["DiscrepancySignal", "discrepancy"]


@dataclass(frozen=True)
class DiscrepancySignal:
    """Paired sessions, their difference (clinician − patient) and the flag."""

    table: pd.DataFrame
    threshold: float
    direction: str

    @property
    def flagged(self) -> list[int]:
        """Session numbers where the ratings diverge beyond the threshold."""
        return [int(s) for s in self.table.loc[self.table["flag"], "session"]]

    def summary(self) -> pd.DataFrame:
        """One row per paired session."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {"threshold": self.threshold, "direction": self.direction,
                "flagged": self.flagged,
                "sessions": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                             for r in self.table.to_dict(orient="records")]}


def discrepancy(
    patient: Any,
    clinician: Any,
    *,
    threshold: float,
    direction: Literal["clinician_higher", "either"] = "clinician_higher",
) -> DiscrepancySignal:
    """Flag sessions where patient and clinician ratings diverge beyond ``threshold``.

    Parameters
    ----------
    patient, clinician
        Each one score per session (sequence with None for missed sessions, or a
        Series indexed by session number), on the same scale. Only sessions both rated
        are compared.
    threshold
        Points of difference beyond which the ratings diverge (e.g. one between-patient
        SD of the scale).
    direction
        ``"clinician_higher"`` (default) or ``"either"``.
    """
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and threshold >= 0):
        raise InputError(field="threshold", value=threshold, allowed="a number >= 0")
    if direction not in ("clinician_higher", "either"):
        raise InputError(field="direction", value=direction,
                         allowed="'clinician_higher' or 'either'")
    sp, vp = as_series(patient, field="patient")
    sc, vc = as_series(clinician, field="clinician")
    both, ip, ic = np.intersect1d(sp, sc, return_indices=True)
    diff = vc[ic] - vp[ip]
    flag = diff > threshold if direction == "clinician_higher" else np.abs(diff) > threshold
    table = pd.DataFrame({"session": both.astype(int), "patient": vp[ip],
                          "clinician": vc[ic], "difference": diff, "flag": flag})
    return DiscrepancySignal(table=table, threshold=float(threshold), direction=direction)
