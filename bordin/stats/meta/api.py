"""The Pythonic entry points: a data frame of studies in, a results object out.

``meta_analysis(data, r="r", n="n")`` pools correlations on the Fisher-z scale (the
default of the alliance literature) and reports on both scales; ``meta_regression`` adds
moderators; ``subgroup_analysis`` fits one model per subgroup and tests the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import InputError
from bordin.stats.effectsize import escalc
from bordin.stats.meta._inputs import ModsLike
from bordin.stats.meta._tau2 import Control
from bordin.stats.meta.univariate import RMAResult, rma

__all__ = ["SubgroupResult", "meta_analysis", "meta_regression", "subgroup_analysis"]


def _effects(data: pd.DataFrame, *, r: str | None, n: str | None, yi: str | None,
             vi: str | None, measure: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(field="data", value=type(data).__name__, allowed="a pandas DataFrame")
    if yi is not None:
        if vi is None:
            raise InputError(field="vi", value=None, allowed="a column of sampling variances")
        for c in (yi, vi):
            if c not in data.columns:
                raise InputError(field=c, value=c,
                                 allowed=f"a column of data: {list(data.columns)}")
        out = data.copy()
        out["yi"], out["vi"] = data[yi].astype(float), data[vi].astype(float)
        return out
    if r is None or n is None:
        raise InputError(field="r", value=r, allowed="columns r= and n=, or yi= and vi=")
    rows = data[[r, n]].notna().all(axis=1)
    out = data.copy()
    es = escalc(measure, ri=data.loc[rows, r], ni=data.loc[rows, n])
    out["yi"] = np.nan
    out["vi"] = np.nan
    out.loc[rows, "yi"] = es["yi"].to_numpy()
    out.loc[rows, "vi"] = es["vi"].to_numpy()
    return out


def meta_analysis(
    data: pd.DataFrame,
    *,
    r: str | None = "r",
    n: str | None = "n",
    yi: str | None = None,
    vi: str | None = None,
    measure: str = "ZCOR",
    method: str = "REML",
    test: str = "knha",
    mods: ModsLike = None,
    level: float = 95,
    slab: str | None = None,
    control: Control | None = None,
) -> RMAResult:
    """Random-effects meta-analysis of a study table.

    Parameters
    ----------
    data
        One row per study (``study, r, n, <moderators>`` by default).
    r, n
        Columns of correlations and sample sizes (used unless ``yi``/``vi`` are given).
    yi, vi
        Columns of effect sizes and sampling variances, for other measures.
    measure
        "ZCOR" (Fisher z; results back-transform with ``to_r()``) or "COR".
    method, test, mods, level, control
        As in :func:`bordin.stats.meta.rma`; the defaults are REML with Knapp–Hartung.
    slab
        Column of study labels for plots (default: a "study" column if present).
    """
    es = _effects(data, r=r if yi is None else None, n=n, yi=yi, vi=vi, measure=measure)
    if slab is None and "study" in data.columns:
        slab = "study"
    res = rma(yi="yi", vi="vi", data=es, method=method, test=test, mods=mods, level=level,
              slab=slab, control=control)
    res.effect = measure if yi is None else yi
    return res


def meta_regression(data: pd.DataFrame, *, mods: ModsLike, **kwargs: Any) -> RMAResult:
    """Meta-regression: :func:`meta_analysis` with moderators (formula or array)."""
    if mods is None:
        raise InputError(field="mods", value=None, allowed="a formula such as 'x + C(g)'")
    return meta_analysis(data, mods=mods, **kwargs)


@dataclass
class SubgroupResult:
    """Separate random-effects models per subgroup and a test of their difference.

    Attributes
    ----------
    fits : dict
        Level → :class:`RMAResult`.
    Qb, Qb_df, Qbp : float, int, float
        Test of between-subgroup differences: a fixed-effect Q over the subgroup
        estimates weighted by their inverse squared SEs (as recommended in metafor's
        documentation for separately estimated τ²).
    """

    by: str
    fits: dict[Any, RMAResult]
    Qb: float
    Qb_df: int
    Qbp: float

    def summary(self) -> pd.DataFrame:
        rows = {lv: {"k": f.k, "estimate": f.beta[0], "se": f.se[0], "ci_lb": f.ci_lb[0],
                     "ci_ub": f.ci_ub[0], "tau2": f.tau2, "I2": f.I2}
                for lv, f in self.fits.items()}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis(self.by)

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "Qb": self.Qb, "Qb_df": self.Qb_df, "Qbp": self.Qbp,
                "groups": {str(k): v.to_dict() for k, v in self.fits.items()}}

    def __repr__(self) -> str:
        return (f"Subgroups by {self.by}\n"
                + self.summary().to_string(float_format=lambda x: f"{x:.4f}")
                + f"\nTest of subgroup differences: Q({self.Qb_df}) = {self.Qb:.4f}, "
                  f"p = {self.Qbp:.4g}")


def subgroup_analysis(data: pd.DataFrame, *, by: str, **kwargs: Any) -> SubgroupResult:
    """Fit :func:`meta_analysis` within each level of ``by`` and test the difference."""
    if by not in data.columns:
        raise InputError(field="by", value=by, allowed=f"a column of data: {list(data.columns)}")
    levels = sorted(data[by].dropna().unique(), key=str)
    if len(levels) < 2:
        raise InputError(field="by", value=by, allowed="a column with at least two subgroups")
    fits = {lv: meta_analysis(data[data[by] == lv], **kwargs) for lv in levels}
    b = np.array([f.beta[0] for f in fits.values()])
    w = 1 / np.array([f.se[0] for f in fits.values()]) ** 2
    Qb = float(np.sum(w * (b - np.sum(w * b) / np.sum(w)) ** 2))
    df = len(levels) - 1
    return SubgroupResult(by=by, fits=fits, Qb=Qb, Qb_df=df, Qbp=float(stats.chi2.sf(Qb, df)))
