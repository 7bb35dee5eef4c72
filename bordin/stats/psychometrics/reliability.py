"""Internal consistency: Cronbach's alpha and McDonald's omega, each with a CI.

Alpha follows psych::alpha: raw alpha from the item covariances, standardized
alpha from the correlations, the Feldt (1965) F-based interval (the one psych
prints as "confidence boundaries (Feldt)") and Duhachek & Iacobucci's (2004)
asymptotic standard error (psych's ``ase``), with alpha-if-item-dropped and
the corrected item-total correlations.

Omega is computed from a confirmatory factor model fitted by maximum likelihood
(as lavaan's ``cfa(std.lv=TRUE)``): omega total from a one-factor (congeneric)
model, (sum of loadings)^2 / ((sum of loadings)^2 + sum of residual variances);
with item groups (subscales), omega hierarchical and omega total from an
orthogonal bifactor model, over the model-implied variance of the sum score.
The CI is the delta-method Wald interval from the expected information, the
same interval lavaan gives for a ``:=`` defined parameter. This is *not*
psych::omega's Schmid-Leiman omega from an exploratory solution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import InputError
from bordin.stats._results import json_safe
from bordin.stats.psychometrics._factor import fit_orthogonal
from bordin.stats.psychometrics._input import check_level, item_frame

__all__ = ["AlphaResult", "OmegaResult", "cronbach_alpha", "mcdonald_omega"]


def _alpha_of_cov(c: np.ndarray) -> float:
    k = c.shape[0]
    return k / (k - 1) * (1.0 - np.trace(c) / c.sum())


@dataclass(frozen=True)
class AlphaResult:
    """Cronbach's alpha with its Feldt and Duhachek intervals.

    Attributes
    ----------
    alpha, std_alpha
        Raw (covariance) and standardized (correlation) alpha.
    ci_lower, ci_upper
        Feldt interval at ``level``.
    ase, ase_lower, ase_upper
        Duhachek & Iacobucci asymptotic SE and the Wald interval it gives.
    average_r
        Mean inter-item correlation.
    items
        Per item: alpha if dropped, corrected item-total correlation.
    """

    alpha: float
    std_alpha: float
    ci_lower: float
    ci_upper: float
    ase: float
    ase_lower: float
    ase_upper: float
    average_r: float
    n: int
    k: int
    level: float
    items: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """One-row table of alpha and its intervals."""
        return pd.DataFrame(
            [{
                "alpha": self.alpha, "std_alpha": self.std_alpha,
                "ci_lower (Feldt)": self.ci_lower, "ci_upper (Feldt)": self.ci_upper,
                "ase": self.ase, "average_r": self.average_r, "n": self.n, "items": self.k,
            }]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        d = {k: getattr(self, k) for k in (
            "alpha", "std_alpha", "ci_lower", "ci_upper", "ase", "ase_lower", "ase_upper",
            "average_r", "n", "k", "level")}
        d["ci_method"] = "Feldt"
        d["items"] = self.items
        return json_safe(d)

    def plot(self) -> matplotlib.figure.Figure:
        """Alpha if each item is dropped, against the scale's alpha."""
        fig, ax = plt.subplots(figsize=(5, 0.35 * self.k + 1.2))
        y = np.arange(self.k)
        drop = self.items["alpha_if_dropped"].to_numpy(dtype=float)
        ax.barh(y, drop, color="#8aa9c7")
        ax.axvline(self.alpha, color="k", lw=1, label=f"alpha = {self.alpha:.3f}")
        vals = np.append(drop[np.isfinite(drop)], self.alpha)
        span = max(0.02, float(vals.max() - vals.min()))
        ax.set_xlim(float(vals.min()) - span, min(1.0, float(vals.max()) + span / 2))
        ax.set_yticks(y, self.items.index)
        ax.set_xlabel("alpha if item dropped")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        return fig


def cronbach_alpha(
    data: pd.DataFrame, *, items: Sequence[str] | None = None, level: float = 0.95
) -> AlphaResult:
    """Cronbach's alpha for the item columns of a data frame (complete cases).

    Parameters
    ----------
    data
        One row per respondent (or administration), one column per item.
    items
        Item columns (default: every column). Reverse-keyed items must already
        be reversed.
    level
        Confidence level of the intervals.

    Returns
    -------
    AlphaResult
    """
    level = check_level(level)
    frame = item_frame(data, items)
    x = frame.to_numpy()
    n, k = x.shape
    c = np.cov(x, rowvar=False, ddof=1)
    r = np.corrcoef(x, rowvar=False)
    alpha = _alpha_of_cov(c)
    std_alpha = _alpha_of_cov(r)
    average_r = float((r.sum() - k) / (k * (k - 1)))
    # Feldt: (1 - alpha_hat) / (1 - alpha) ~ F(n - 1, (n - 1)(k - 1)).
    df1, df2 = n - 1, (n - 1) * (k - 1)
    g = 1.0 - level
    lo = 1.0 - (1.0 - alpha) * stats.f.ppf(1 - g / 2, df1, df2)
    hi = 1.0 - (1.0 - alpha) * stats.f.ppf(g / 2, df1, df2)
    # Duhachek & Iacobucci (2004) asymptotic variance of alpha.
    j = np.ones(k)
    s1 = j @ c @ j
    trc, trc2 = np.trace(c), np.trace(c @ c)
    q = (2 * k**2 / ((k - 1) ** 2 * s1**3)) * (
        s1 * (trc2 + trc**2) - 2 * trc * (j @ c @ c @ j)
    )
    ase = float(np.sqrt(q / n))
    z = stats.norm.ppf(1 - g / 2)
    rows = []
    total = x.sum(axis=1)
    for i, name in enumerate(frame.columns):
        keep = [m for m in range(k) if m != i]
        a_drop = _alpha_of_cov(c[np.ix_(keep, keep)]) if k > 2 else float("nan")
        r_drop = float(np.corrcoef(x[:, i], total - x[:, i])[0, 1])
        rows.append({"item": name, "alpha_if_dropped": a_drop, "r_drop": r_drop})
    return AlphaResult(
        alpha=float(alpha), std_alpha=float(std_alpha), ci_lower=float(lo), ci_upper=float(hi),
        ase=ase, ase_lower=float(alpha - z * ase), ase_upper=float(alpha + z * ase),
        average_r=average_r, n=n, k=k, level=level,
        items=pd.DataFrame(rows).set_index("item"),
    )


@dataclass(frozen=True)
class OmegaResult:
    """McDonald's omega with delta-method CIs.

    Attributes
    ----------
    omega_total, omega_total_se, omega_total_ci
        Omega total (one-factor model, or bifactor when groups are given).
    omega_hierarchical, omega_hierarchical_se, omega_hierarchical_ci
        Omega hierarchical (bifactor only; None otherwise).
    loadings
        Standardized-latent loadings (general factor first) and residual variances.
    model
        ``"one-factor"`` or ``"bifactor"``.
    """

    omega_total: float
    omega_total_se: float
    omega_total_ci: tuple[float, float]
    omega_hierarchical: float | None
    omega_hierarchical_se: float | None
    omega_hierarchical_ci: tuple[float, float] | None
    loadings: pd.DataFrame = field(repr=False)
    model: str
    n: int
    k: int
    level: float
    loglik: float
    converged: bool

    def summary(self) -> pd.DataFrame:
        """Omega total (and hierarchical) with SE and CI."""
        rows = [{
            "coefficient": "omega_total", "estimate": self.omega_total,
            "se": self.omega_total_se, "ci_lower": self.omega_total_ci[0],
            "ci_upper": self.omega_total_ci[1],
        }]
        if self.omega_hierarchical is not None:
            assert self.omega_hierarchical_ci is not None  # set together with the estimate
            rows.append({
                "coefficient": "omega_hierarchical", "estimate": self.omega_hierarchical,
                "se": self.omega_hierarchical_se, "ci_lower": self.omega_hierarchical_ci[0],
                "ci_upper": self.omega_hierarchical_ci[1],
            })
        out = pd.DataFrame(rows).set_index("coefficient")
        out.attrs["model"] = self.model
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "omega_total": self.omega_total, "omega_total_se": self.omega_total_se,
            "omega_total_ci": self.omega_total_ci,
            "omega_hierarchical": self.omega_hierarchical,
            "omega_hierarchical_se": self.omega_hierarchical_se,
            "omega_hierarchical_ci": self.omega_hierarchical_ci,
            "model": self.model, "n": self.n, "k": self.k, "level": self.level,
            "ci_method": "delta method (expected information)",
            "loglik": self.loglik, "converged": self.converged, "loadings": self.loadings,
        })

    def plot(self) -> matplotlib.figure.Figure:
        """Loadings of each item on each factor."""
        lam = self.loadings.drop(columns=["residual"])
        fig, ax = plt.subplots(figsize=(5, 0.35 * self.k + 1.2))
        y = np.arange(self.k)
        h = 0.8 / lam.shape[1]
        for i, col in enumerate(lam.columns):
            ax.barh(y + i * h, lam[col].fillna(0.0), height=h, label=col)
        ax.set_yticks(y + 0.4 - h / 2, lam.index)
        ax.set_xlabel("loading (latent variance 1)")
        ax.set_title(f"omega total = {self.omega_total:.3f}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def mcdonald_omega(
    data: pd.DataFrame,
    *,
    items: Sequence[str] | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    level: float = 0.95,
) -> OmegaResult:
    """McDonald's omega total (and hierarchical, given subscales) with CIs.

    Parameters
    ----------
    data
        One row per respondent, one column per item.
    items
        Item columns (default: every column, or the union of ``groups``).
    groups
        Optional subscales, e.g. ``{"goal": [...], "task": [...], "bond": [...]}``:
        fits a bifactor model (a general factor plus one orthogonal factor per
        subscale) and reports omega hierarchical. Needs at least 3 subscales of
        at least 3 items each, every item in exactly one subscale.
    level
        Confidence level of the delta-method intervals.

    Returns
    -------
    OmegaResult
    """
    level = check_level(level)
    if groups is not None:
        if not isinstance(groups, Mapping) or len(groups) < 3:
            raise InputError(
                field="groups", value=groups,
                allowed="a mapping of at least 3 subscale names to item lists",
            )
        flat = [i for g in groups.values() for i in g]
        if len(set(flat)) != len(flat):
            raise InputError(field="groups", value=groups, allowed="each item in one subscale")
        small = {g: list(v) for g, v in groups.items() if len(v) < 3}
        if small:
            raise InputError(field="groups", value=small, allowed="at least 3 items per subscale")
        if items is not None and set(items) != set(flat):
            raise InputError(
                field="items", value=list(items), allowed=f"the items of groups: {flat}"
            )
        items = flat
    frame = item_frame(data, items, min_items=3, min_rows=10)
    x = frame.to_numpy()
    n, k = x.shape
    names = list(frame.columns)
    if groups is None:
        pattern = np.ones((k, 1), dtype=bool)
        cols = ["general"]
    else:
        gnames = list(groups)
        pattern = np.zeros((k, 1 + len(gnames)), dtype=bool)
        pattern[:, 0] = True
        for gi, g in enumerate(gnames):
            for it in groups[g]:
                pattern[names.index(it), gi + 1] = True
        cols = ["general", *gnames]
    fit = fit_orthogonal(x, pattern)
    lam = fit.loadings.copy()
    # The sign of each factor is arbitrary; report loadings that sum positive.
    lam *= np.where(lam.sum(axis=0) < 0, -1.0, 1.0)
    free = np.argwhere(pattern)
    nl = len(free)

    def omegas(par: np.ndarray) -> tuple[float, float]:
        lm = np.zeros(pattern.shape)
        lm[free[:, 0], free[:, 1]] = par[:nl]
        sums2 = lm.sum(axis=0) ** 2
        total = sums2.sum() + par[nl:].sum()
        return float(sums2.sum() / total), float(sums2[0] / total)

    par = np.concatenate([fit.loadings[free[:, 0], free[:, 1]], fit.residuals])
    ot, oh = omegas(par)
    # Delta method with a central-difference gradient (omega is smooth in the parameters).
    grad = np.zeros((2, len(par)))
    for i in range(len(par)):
        h = 1e-6 * max(1.0, abs(par[i]))
        up, dn = par.copy(), par.copy()
        up[i] += h
        dn[i] -= h
        grad[:, i] = (np.array(omegas(up)) - np.array(omegas(dn))) / (2 * h)
    se_t, se_h = np.sqrt(np.einsum("ij,jk,ik->i", grad, fit.cov, grad))
    z = stats.norm.ppf(0.5 + level / 2)
    table = pd.DataFrame(np.where(pattern, lam, np.nan), index=names, columns=cols)
    table["residual"] = fit.residuals
    bif = groups is not None
    return OmegaResult(
        omega_total=ot, omega_total_se=float(se_t),
        omega_total_ci=(ot - z * float(se_t), ot + z * float(se_t)),
        omega_hierarchical=oh if bif else None,
        omega_hierarchical_se=float(se_h) if bif else None,
        omega_hierarchical_ci=(oh - z * float(se_h), oh + z * float(se_h)) if bif else None,
        loadings=table, model="bifactor" if bif else "one-factor", n=n, k=k, level=level,
        loglik=fit.loglik, converged=fit.converged,
    )
