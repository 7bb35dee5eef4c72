"""Two-stage individual-participant-data (IPD) meta-analysis.

Stage 1 runs an analysis within each study (or site, or organisation): the
within-patient lagged effect of alliance on next-session symptoms
(:func:`bordin.alliance.within_between`, as in Flückiger et al. 2020) or the
alliance-outcome correlation (:func:`bordin.alliance.alliance_outcome`).
Stage 2 pools the per-study estimates with a random-effects meta-analysis
(:func:`bordin.stats.meta.rma`, REML): coefficients with their standard
errors, correlations as Fisher z with variance 1 / (n - 3 - k).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd

from bordin.alliance._common import check_level, json_safe, require_columns, require_frame
from bordin.alliance.association import alliance_outcome
from bordin.alliance.longitudinal import within_between
from bordin.alliance.tidy import COLUMNS, Columns
from bordin.errors import BordinError, InputError, StatisticalWarning
from bordin.stats.meta import RMAResult, rma

__all__ = ["IPDResult", "two_stage_ipd"]

STAGES = ("longitudinal", "association")


@dataclass(frozen=True)
class IPDResult:
    """Per-study estimates and their random-effects pooling.

    Attributes
    ----------
    studies
        One row per study: estimate, se (or r, n), and a note when it was skipped.
    pooled
        estimate, se, ci_lower, ci_upper, p, pi_lower, pi_upper (on the reported
        scale: r for correlations), tau2, I2, QE, QEp, k.
    fit
        The :class:`~bordin.stats.meta.RMAResult` (Fisher-z scale for correlations).
    """

    stage: str
    effect: str
    studies: pd.DataFrame
    pooled: dict[str, float]
    fit: RMAResult = field(repr=False)
    level: float = 0.95

    def summary(self) -> pd.DataFrame:
        """Per-study rows and a pooled row."""
        pooled = pd.DataFrame([{"estimate": self.pooled["estimate"],
                                "ci_lower": self.pooled["ci_lower"],
                                "ci_upper": self.pooled["ci_upper"]}], index=["pooled (RE)"])
        return pd.concat([self.studies, pooled])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({"stage": self.stage, "effect": self.effect,
                          "studies": self.studies.reset_index(), "pooled": self.pooled,
                          "level": self.level})

    def plot(self) -> matplotlib.figure.Figure:
        """Forest plot of the per-study estimates and the pooled estimate."""
        transf = "z2r" if self.stage == "association" else "none"
        fig = self.fit.forest_plot(transf=transf, title=f"Two-stage IPD: {self.effect}")
        return fig


def two_stage_ipd(
    data: pd.DataFrame,
    *,
    alliance_instrument: str | Sequence[str],
    outcome_instrument: str,
    study: str = "organization",
    stage: str = "longitudinal",
    alliance_rater: str = "patient",
    control: str = "none",
    window: str | tuple[int, int] = "early",
    outcome_lower_is_better: bool = True,
    max_session: int | None = None,
    method: str = "REML",
    level: float = 0.95,
    columns: Columns = COLUMNS,
) -> IPDResult:
    """Run an alliance analysis within each study and pool the results.

    Parameters
    ----------
    data
        Tidy administrations with a study (site, organisation) column.
    alliance_instrument, outcome_instrument
        Instrument names.
    study
        Column identifying the study.
    stage
        ``"longitudinal"``: the within-patient effect of alliance(t) on symptoms(t+1);
        ``"association"``: the alliance-outcome correlation (oriented so that
        positive = better outcome when lower is better).
    alliance_rater
        Alliance rater.
    control
        For ``"association"``: ``"none"``, ``"baseline"`` or ``"baseline + prior change"``.
    window, outcome_lower_is_better
        For ``"association"``, as in :func:`bordin.alliance.alliance_outcome`.
    max_session
        For ``"longitudinal"``: first sessions only (e.g. 7).
    method
        τ² estimator of the pooling model.
    level
        Confidence level.
    columns
        Column names of the administrations table.
    """
    data = require_frame(data)
    level = check_level(level)
    if stage not in STAGES:
        raise InputError(field="stage", value=stage, allowed=f"one of {list(STAGES)}")
    require_columns(data, {"study": study})
    rows = []
    for sid, sub in data.groupby(study, sort=True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StatisticalWarning)
                if stage == "longitudinal":
                    res = within_between(sub, alliance_instrument=alliance_instrument,
                                         outcome_instrument=outcome_instrument,
                                         alliance_rater=alliance_rater,
                                         max_session=max_session, level=level, columns=columns)
                    e = res.effect("alliance_to_symptoms", "within")
                    rows.append({"study": sid, "estimate": e["estimate"], "se": e["se"],
                                 "n_patients": res.n_patients, "note": ""})
                else:
                    res_a = alliance_outcome(sub, alliance_instrument=alliance_instrument,
                                             outcome_instrument=outcome_instrument,
                                             window=window, raters=[alliance_rater],
                                             scores=["total"],
                                             outcome_lower_is_better=outcome_lower_is_better,
                                             level=level, columns=columns)
                    c = res_a.get(rater=alliance_rater, score="total", control=control)
                    rows.append({"study": sid, "estimate": c.r, "se": np.nan, "n_patients": c.n,
                                 "k": c.k, "note": ""})
        except (BordinError, KeyError) as exc:
            # A study that cannot support the stage-1 model is listed, not pooled.
            rows.append({"study": sid, "estimate": np.nan, "se": np.nan, "n_patients": 0,
                         "note": f"skipped: {exc}"})
    studies = pd.DataFrame(rows).set_index("study")
    ok = studies["estimate"].notna()
    if ok.sum() < 2:
        raise InputError(field=study, value=f"{int(ok.sum())} usable studies",
                         allowed="at least 2 studies that support the stage-1 analysis")
    s = studies[ok]
    labels = s.index.astype(str).to_numpy()
    if stage == "longitudinal":
        fit = rma(yi=s["estimate"].to_numpy(), sei=s["se"].to_numpy(), method=method,
                  level=level, slab=labels)
        b, lo, hi = fit.beta[0], fit.ci_lb[0], fit.ci_ub[0]
        plo, phi_ = fit.pi_lb, fit.pi_ub
        effect = "within-patient effect of alliance(t) on symptoms(t+1)"
    else:
        k = s["k"].to_numpy(dtype=float)
        yi = np.arctanh(s["estimate"].to_numpy(dtype=float))
        vi = 1.0 / (s["n_patients"].to_numpy(dtype=float) - 3.0 - k)
        studies.loc[ok, "se"] = np.sqrt(vi)  # on the Fisher-z scale
        fit = rma(yi=yi, vi=vi, method=method, level=level, slab=labels)
        fit.effect = "ZCOR"
        b, lo, hi = (float(np.tanh(v)) for v in (fit.beta[0], fit.ci_lb[0], fit.ci_ub[0]))
        plo, phi_ = float(np.tanh(fit.pi_lb)), float(np.tanh(fit.pi_ub))
        effect = f"alliance-outcome r ({control})"
    pooled = {"estimate": float(b), "ci_lower": float(lo), "ci_upper": float(hi),
              "se": float(fit.se[0]), "p": float(fit.pval[0]), "pi_lower": float(plo),
              "pi_upper": float(phi_), "tau2": float(fit.tau2), "I2": float(fit.I2),
              "QE": float(fit.QE), "QEp": float(fit.QEp), "k": int(fit.k)}
    return IPDResult(stage=stage, effect=effect, studies=studies, pooled=pooled, fit=fit,
                     level=level)
