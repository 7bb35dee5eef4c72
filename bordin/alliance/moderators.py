"""Moderators of the alliance-outcome correlation across studies (meta-regression).

The worked example is Del Re et al. (2012, 2021): the patient-to-therapist ratio
(patients in a study divided by its therapists) moderates the alliance-outcome
correlation -- the lower the ratio, the higher the correlation -- which points to
the therapist's contribution. Correlations are analysed as Fisher z with
sampling variance 1 / (n - 3) in a random-effects meta-regression (REML) fitted
by :func:`bordin.stats.meta.rma`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from bordin.alliance._common import check_level, json_safe, require_columns, require_frame
from bordin.errors import InputError
from bordin.stats.meta import RMAResult, rma

__all__ = ["ModeratorResult", "moderator_analysis"]


@dataclass(frozen=True)
class ModeratorResult:
    """A meta-regression of study correlations on study-level moderators.

    Attributes
    ----------
    fit
        The :class:`~bordin.stats.meta.RMAResult` (Fisher-z scale).
    coefficients
        estimate, se, statistic, p, ci_lower, ci_upper per term (Fisher-z scale).
    tau2, tau2_null
        Residual heterogeneity, and that of the model without moderators.
    R2
        Proportion of heterogeneity accounted for, in percent (as metafor's R2).
    QM, QMp, QE, QEp, I2
        Moderator test, residual heterogeneity test, residual I² (%).
    """

    fit: RMAResult
    null: RMAResult
    coefficients: pd.DataFrame
    moderators: list[str]
    tau2: float
    tau2_null: float
    R2: float
    QM: float
    QMp: float
    QE: float
    QEp: float
    I2: float
    k: int
    test: str
    studies: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """Coefficient table (Fisher-z scale) with heterogeneity in ``attrs``."""
        out = self.coefficients.copy()
        out.attrs.update(tau2=self.tau2, R2=self.R2, QM=self.QM, QMp=self.QMp, QE=self.QE,
                         I2=self.I2, k=self.k)
        return out

    def predict_r(self, values: Any) -> pd.DataFrame:
        """Predicted correlation (back-transformed) at moderator values."""
        return self.fit.predict(values, transf="z2r")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "coefficients": self.coefficients, "moderators": self.moderators,
            "tau2": self.tau2, "tau2_null": self.tau2_null, "R2": self.R2, "QM": self.QM,
            "QMp": self.QMp, "QE": self.QE, "QEp": self.QEp, "I2": self.I2, "k": self.k,
            "test": self.test, "scale": "Fisher z",
        })

    def plot(self, moderator: str | None = None) -> matplotlib.figure.Figure:
        """Bubble plot: study correlations against a moderator, with the fitted line."""
        mod = moderator or self.moderators[0]
        if mod not in self.moderators:
            raise InputError(field="moderator", value=mod, allowed=f"one of {self.moderators}")
        s = self.studies
        x = s[mod].to_numpy(dtype=float)
        w = 1.0 / (self.fit.vi + self.tau2)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter(x, np.tanh(self.fit.yi), s=15 + 300 * w / w.max(), alpha=0.5,
                   edgecolor="k", lw=0.5)
        grid = np.linspace(np.nanmin(x), np.nanmax(x), 100)
        newmods = np.tile(s[self.moderators].mean().to_numpy(dtype=float), (100, 1))
        newmods[:, self.moderators.index(mod)] = grid
        pred = self.fit.predict(newmods, transf="z2r")
        ax.plot(grid, pred["pred"], color="tab:red")
        ax.fill_between(grid, pred["ci_lb"], pred["ci_ub"], color="tab:red", alpha=0.15)
        ax.set_xlabel(mod)
        ax.set_ylabel("alliance-outcome r")
        ax.set_title(f"Meta-regression on {mod}: slope {self.coefficients.loc[mod, 'estimate']:.4f}"
                     f" (p = {self.coefficients.loc[mod, 'p']:.3g})", fontsize=9)
        fig.tight_layout()
        return fig


def moderator_analysis(
    studies: pd.DataFrame,
    *,
    moderators: Sequence[str] = ("ratio",),
    r: str = "r",
    n: str = "n",
    n_therapists: str | None = "n_therapists",
    study: str | None = "study",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> ModeratorResult:
    """Meta-regression of alliance-outcome correlations on study-level moderators.

    Parameters
    ----------
    studies
        One row per study: correlation, sample size, moderators.
    moderators
        Moderator columns. ``"ratio"`` (the patient-to-therapist ratio) is
        computed as ``n / n_therapists`` when the table has no such column.
    r, n
        Columns of the correlation and the number of patients.
    n_therapists
        Column of the number of therapists (for the ratio).
    study
        Column of study labels, if any.
    method, test
        τ² estimator and test (``"z"`` or ``"knha"``), as in :func:`bordin.stats.meta.rma`.
    level
        Confidence level.
    """
    studies = require_frame(studies, "studies")
    level = check_level(level)
    moderators = list(moderators)
    if not moderators:
        raise InputError(field="moderators", value=moderators, allowed="at least one column")
    require_columns(studies, {"r": r, "n": n})
    s = studies.copy()
    if "ratio" in moderators and "ratio" not in s.columns:
        if n_therapists is None or n_therapists not in s.columns:
            raise InputError(
                field="n_therapists", value=n_therapists,
                allowed="a column of therapist counts (to compute the patient-to-therapist "
                        "ratio), or a 'ratio' column",
            )
        if (s[n_therapists] <= 0).any():
            raise InputError(field=n_therapists, value=s[n_therapists].min(),
                             allowed="positive therapist counts")
        s["ratio"] = s[n] / s[n_therapists]
    require_columns(s, {f"moderators[{i}]": m for i, m in enumerate(moderators)})
    for m in moderators:
        if not pd.api.types.is_numeric_dtype(s[m]):
            raise InputError(field=m, value=str(s[m].dtype),
                             allowed="a numeric moderator (code categories as dummies)")
    rv = s[r].to_numpy(dtype=float)
    nv = s[n].to_numpy(dtype=float)
    bad = ~((np.abs(rv) < 1) | np.isnan(rv))
    if bad.any():
        raise InputError(field=r, value=rv[bad][0].item(), allowed="correlations in (-1, 1)")
    if (nv[~np.isnan(nv)] <= 3).any():
        raise InputError(field=n, value=float(np.nanmin(nv)), allowed="sample sizes above 3")
    keep = ~np.isnan(rv) & ~np.isnan(nv) & s[moderators].notna().all(axis=1).to_numpy()
    s = s.loc[keep].reset_index(drop=True)
    k = len(s)
    if k < len(moderators) + 3:
        raise InputError(field="studies", value=f"{k} complete studies",
                         allowed=f"at least {len(moderators) + 3} studies")
    s["yi"] = np.arctanh(s[r].to_numpy(dtype=float))
    s["vi"] = 1.0 / (s[n].to_numpy(dtype=float) - 3.0)
    slab = s[study].astype(str).to_numpy() if study and study in s.columns else None
    fit = rma(yi=s["yi"].to_numpy(), vi=s["vi"].to_numpy(), mods=s[moderators],
              method=method, test=test, level=level, slab=slab)
    null = rma(yi=s["yi"].to_numpy(), vi=s["vi"].to_numpy(), method=method, test=test,
               level=level, slab=slab)
    r2 = max(0.0, 100.0 * (null.tau2 - fit.tau2) / null.tau2) if null.tau2 > 0 else 0.0
    names = ["intercept", *moderators]
    coef = pd.DataFrame({
        "estimate": fit.beta, "se": fit.se, "statistic": fit.zval, "p": fit.pval,
        "ci_lower": fit.ci_lb, "ci_upper": fit.ci_ub,
    }, index=pd.Index(names, name="term"))
    return ModeratorResult(
        fit=fit, null=null, coefficients=coef, moderators=moderators, tau2=float(fit.tau2),
        tau2_null=float(null.tau2), R2=float(r2), QM=float(fit.QM), QMp=float(fit.QMp),
        QE=float(fit.QE), QEp=float(fit.QEp), I2=float(fit.I2), k=k, test=test, studies=s,
    )
