"""Confirmatory factor analysis of relationship instruments, through semopy.

Fits a simple-structure CFA (each item on one factor, factors correlated, the
first loading of each factor fixed to 1 as lavaan does by default) by maximum
likelihood with semopy's ``MLW`` objective, and reports loadings (raw and fully
standardized), the fit indices (chi-square, CFI, TLI, RMSEA, SRMR) and
regression-method factor scores. SRMR is computed here (Bentler's definition,
as lavaan's ``srmr``) because semopy does not report it.

Two structures of the source paper have helpers: Bordin's goal/task/bond
(:func:`goal_task_bond`) and Finsrud et al.'s "confidence in the therapist" /
"confidence in the treatment" (:func:`finsrud_two_factor`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import ConvergenceWarning, EstimationError, InputError, StatisticalWarning
from bordin.stats._results import json_safe
from bordin.stats.psychometrics._input import item_frame

__all__ = ["CFAResult", "cfa", "finsrud_two_factor", "goal_task_bond"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def goal_task_bond(
    *, goal: Sequence[str], task: Sequence[str], bond: Sequence[str]
) -> dict[str, list[str]]:
    """Bordin's three-factor structure of the working alliance."""
    return {"goal": list(goal), "task": list(task), "bond": list(bond)}


def finsrud_two_factor(
    *, therapist: Sequence[str], treatment: Sequence[str]
) -> dict[str, list[str]]:
    """Finsrud et al.'s two relationship factors: confidence in the therapist / treatment."""
    return {"confidence_therapist": list(therapist), "confidence_treatment": list(treatment)}


@dataclass(frozen=True)
class CFAResult:
    """A fitted CFA.

    Attributes
    ----------
    loadings
        factor, item, estimate, se, z, p, std (fully standardized).
    factor_covariances
        Covariances of the factors (and variances on the diagonal).
    factor_correlations
        The same as correlations.
    fit
        chi2, df, p, CFI, TLI, RMSEA, SRMR, n, and ``improper`` (a Heywood case:
        a factor correlation beyond +-1 or a negative residual variance).
    """

    factors: dict[str, list[str]]
    loadings: pd.DataFrame
    residual_variances: pd.Series
    factor_covariances: pd.DataFrame
    factor_correlations: pd.DataFrame
    fit: dict[str, float]
    n: int
    _model: Any = field(repr=False)
    _data: pd.DataFrame = field(repr=False)

    def factor_scores(self, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Regression-method (Thurstone) factor scores for the fitted data or new data."""
        x = self._data if data is None else item_frame(data, self._data.columns, min_rows=1)
        lam = np.zeros((x.shape[1], len(self.factors)))
        items = list(self._data.columns)
        names = list(self.factors)
        for _, row in self.loadings.iterrows():
            lam[items.index(row["item"]), names.index(row["factor"])] = row["estimate"]
        phi = self.factor_covariances.loc[names, names].to_numpy()
        theta = np.diag(self.residual_variances.loc[items].to_numpy())
        sigma = lam @ phi @ lam.T + theta
        mean = self._data.mean().to_numpy()
        scores = (x.to_numpy() - mean) @ np.linalg.solve(sigma, lam @ phi)
        return pd.DataFrame(scores, index=x.index, columns=names)

    def summary(self) -> pd.DataFrame:
        """Loadings table; the fit indices are in ``attrs['fit']``."""
        out = self.loadings.copy()
        out.attrs["fit"] = dict(self.fit)
        return out

    def fit_table(self) -> pd.DataFrame:
        """The fit indices as a one-row table."""
        return pd.DataFrame([self.fit])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "factors": self.factors, "loadings": self.loadings,
            "residual_variances": self.residual_variances,
            "factor_correlations": self.factor_correlations.to_dict(),
            "fit": self.fit, "n": self.n, "estimator": "ML (semopy MLW)",
        })

    def plot(self) -> matplotlib.figure.Figure:
        """Standardized loadings by factor."""
        lo = self.loadings
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(lo) + 1.3))
        colors = plt.get_cmap("tab10")
        names = list(self.factors)
        y = np.arange(len(lo))
        ax.barh(y, lo["std"], color=[colors(names.index(f) % 10) for f in lo["factor"]])
        ax.set_yticks(y, [f"{f}: {i}" for f, i in zip(lo["factor"], lo["item"], strict=True)])
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("standardized loading")
        f = self.fit
        ax.set_title(
            f"CFI {f['CFI']:.3f}  TLI {f['TLI']:.3f}  RMSEA {f['RMSEA']:.3f}  SRMR {f['SRMR']:.3f}",
            fontsize=9,
        )
        fig.tight_layout()
        return fig


def _srmr(s: np.ndarray, sigma: np.ndarray) -> float:
    ds, dm = np.sqrt(np.diag(s)), np.sqrt(np.diag(sigma))
    res = s / np.outer(ds, ds) - sigma / np.outer(dm, dm)
    low = res[np.tril_indices_from(res)]
    return float(np.sqrt(np.mean(low**2)))


def cfa(
    data: pd.DataFrame,
    *,
    factors: Mapping[str, Sequence[str]],
) -> CFAResult:
    """Fit a simple-structure confirmatory factor model by maximum likelihood.

    Parameters
    ----------
    data
        One row per respondent (administration), one column per item.
    factors
        Factor name -> its items; every item loads on one factor only; at least
        2 items per factor (3 for a one-factor model). Names must be identifiers.

    Returns
    -------
    CFAResult
    """
    import semopy  # imported here: slow to import, only needed for a fit

    if not isinstance(factors, Mapping) or not factors:
        raise InputError(field="factors", value=factors, allowed="a mapping factor -> items")
    items: list[str] = []
    for fname, its in factors.items():
        if not isinstance(fname, str) or not _NAME.match(fname):
            raise InputError(field="factors", value=fname, allowed="identifier factor names")
        its = list(its)
        need = 3 if len(factors) == 1 else 2
        if len(its) < need:
            raise InputError(
                field=f"factors[{fname!r}]", value=its, allowed=f"at least {need} items"
            )
        items.extend(its)
    if len(set(items)) != len(items):
        raise InputError(field="factors", value=dict(factors), allowed="each item on one factor")
    for it in items:
        if not _NAME.match(str(it)):
            raise InputError(field="item", value=it, allowed="identifier column names")
        if str(it) in factors:
            raise InputError(field="item", value=it, allowed="item names distinct from factors")
    frame = item_frame(data, items, min_items=2, min_rows=len(items) + 2)
    desc = "\n".join(f"{f} =~ " + " + ".join(its) for f, its in factors.items())
    model = semopy.Model(desc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # semopy's default SLSQP tolerance stops ~1e-3 from the optimum; tighten it.
        res = model.fit(frame, obj="MLW", solver="SLSQP",
                        options={"ftol": 1e-12, "maxiter": 10000})
    if not res.success:
        warnings.warn(f"CFA optimizer: {res.message}", ConvergenceWarning, stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ins = model.inspect(std_est=True)
        st = semopy.calc_stats(model).T.iloc[:, 0]
    n = len(frame)
    lo = ins[(ins["op"] == "~") & ins["rval"].isin(list(factors))].copy()
    if lo.empty:
        raise EstimationError("semopy returned no loadings for this model")
    est = pd.to_numeric(lo["Estimate"])
    se = pd.to_numeric(lo["Std. Err"], errors="coerce")
    zv = est / se
    loadings = pd.DataFrame({
        "factor": lo["rval"].to_numpy(), "item": lo["lval"].to_numpy(),
        "estimate": est.to_numpy(), "se": se.to_numpy(), "z": zv.to_numpy(),
        "p": 2 * stats.norm.sf(np.abs(zv.to_numpy())),
        "std": pd.to_numeric(lo["Est. Std"]).to_numpy(),
    })
    order = {(f, i): k for k, (f, its) in enumerate(factors.items()) for i in its}
    loadings["_o"] = [order[(f, i)] for f, i in zip(loadings["factor"], loadings["item"],
                                                     strict=True)]
    loadings = loadings.sort_values(["_o", "item"], key=lambda s: s.map(
        lambda v: v if isinstance(v, int | np.integer) else items.index(v)
    )).drop(columns="_o").reset_index(drop=True)
    cov = ins[ins["op"] == "~~"]
    names = list(factors)
    phi = pd.DataFrame(np.zeros((len(names), len(names))), index=names, columns=names)
    theta = pd.Series(np.nan, index=items)
    for _, r in cov.iterrows():
        a, b, v = r["lval"], r["rval"], float(r["Estimate"])
        if a in names and b in names:
            phi.loc[a, b] = phi.loc[b, a] = v
        elif a == b and a in theta.index:
            theta[a] = v
    sd = np.sqrt(np.diag(phi.to_numpy()))
    corr = pd.DataFrame(phi.to_numpy() / np.outer(sd, sd), index=names, columns=names)
    s = np.cov(frame.to_numpy(), rowvar=False, ddof=0)
    sigma_full = model.calc_sigma()[0]
    obs = model.vars["observed"]
    idx = [obs.index(i) for i in items]
    sigma = sigma_full[np.ix_(idx, idx)]
    chi2, df = float(st["chi2"]), float(st["DoF"])
    chi2b, dfb = float(st["chi2 Baseline"]), float(st["DoF Baseline"])
    # CFI bounded to [0, 1] and RMSEA with divisor N, the conventions of lavaan
    # (semopy leaves CFI unbounded and divides by N - 1).
    denom = max(chi2 - df, chi2b - dfb, 0.0)
    cfi = 1.0 - max(chi2 - df, 0.0) / denom if denom > 0 else 1.0
    rmsea = float(np.sqrt(max(chi2 - df, 0.0) / (df * n))) if df > 0 else 0.0
    # An improper (Heywood) solution: a factor correlation beyond +-1 or a negative
    # residual variance. The numbers are still reported, with a warning.
    off = corr.to_numpy()[~np.eye(len(names), dtype=bool)]
    improper = bool((np.abs(off) > 1).any() or (theta.to_numpy() < 0).any())
    if improper:
        warnings.warn(
            "improper CFA solution (a factor correlation beyond +-1 or a negative residual "
            "variance): the model does not fit these items as specified",
            StatisticalWarning, stacklevel=2,
        )
    fit = {
        "improper": improper,
        "chi2": chi2, "df": df, "p": float(stats.chi2.sf(chi2, df)) if df > 0 else float("nan"),
        "CFI": cfi, "TLI": float(st["TLI"]), "RMSEA": rmsea,
        "SRMR": _srmr(s, sigma), "n": n,
    }
    return CFAResult(
        factors={f: list(v) for f, v in factors.items()}, loadings=loadings,
        residual_variances=theta, factor_covariances=phi, factor_correlations=corr,
        fit=fit, n=n, _model=model, _data=frame,
    )
