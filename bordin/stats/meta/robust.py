"""Cluster-robust (sandwich) inference for meta-analytic models, as metafor's ``robust``.

``vb_robust = c · B (Σ_c u_c u_c') B`` with ``B`` the model's ``vb``, ``u_c = Σ_{i∈c}
(V⁻¹X)_i e_i`` and, by default, ``c = n / (n − p)`` for ``n`` clusters (metafor's
``adjust=TRUE``, "CR1"). Tests use t with ``n − p`` df and the omnibus test an F with
``(m, n − p)`` df. The per-cluster sums are one ``bincount`` per coefficient, O(k·p).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import InputError
from bordin.stats.meta.univariate import wald_block


@dataclass
class RobustResult:
    """Cluster-robust inference for a fitted model (names as metafor).

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : ndarray
        Estimates, robust SEs, t statistics, p-values (t with ``dfs`` df) and CIs.
    vb : ndarray
        Robust variance–covariance matrix.
    dfs, n : int
        Degrees of freedom (``n − p``) and the number of clusters.
    QM, QMp : float
        Robust omnibus F test of the moderators (or of the intercept alone).
    vbest : str
        "CR1" (small-sample adjusted) or "CR0".
    """

    model: Any
    names: list[str]
    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    dfs: int
    n: int
    QM: float
    QMp: float
    QMdf: tuple[int, float | None]
    vbest: str

    def summary(self) -> pd.DataFrame:
        """Coefficient table with robust SEs."""
        return pd.DataFrame(
            {"estimate": self.beta, "se": self.se, "tval": self.zval, "df": self.dfs,
             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
            index=pd.Index(self.names, name="term"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-safe."""
        return {
            "vbest": self.vbest, "n": int(self.n), "dfs": int(self.dfs), "names": self.names,
            "beta": self.beta.tolist(), "se": self.se.tolist(), "zval": self.zval.tolist(),
            "pval": self.pval.tolist(), "ci_lb": self.ci_lb.tolist(),
            "ci_ub": self.ci_ub.tolist(), "QM": float(self.QM), "QMp": float(self.QMp),
        }

    def __repr__(self) -> str:
        return (f"Cluster-robust inference ({self.vbest}), {self.n} clusters, df = {self.dfs}\n"
                + self.summary().to_string(float_format=lambda x: f"{x:.4f}"))


def robust(model: Any, *, cluster: Any, adjust: bool = True, level: float | None = None
           ) -> RobustResult:
    """Cluster-robust inference for an :class:`RMAResult` or :class:`MultilevelResult`.

    Parameters
    ----------
    model
        A fitted model.
    cluster
        Cluster of each study (array over the studies used in the fit, or the full input
        length, or a column name of the model's data).
    adjust
        Multiply by ``n / (n − p)`` (CR1, metafor's default).
    """
    k, p = model.k, model.p
    if isinstance(cluster, str):
        data = getattr(model, "data", None)
        if data is None or cluster not in data.columns:
            raise InputError(field="cluster", value=cluster, allowed="a column of the data")
        cl = data[cluster].to_numpy()
    else:
        cl = np.asarray(cluster)
    keep = model.design.keep if hasattr(model, "design") else model.keep
    if cl.ndim == 1 and cl.shape[0] == keep.shape[0]:
        cl = cl[keep]  # given over all input rows: keep those used in the fit
    if cl.ndim != 1 or cl.shape[0] != k:
        raise InputError(field="cluster", value=f"{cl.shape[0]} values",
                         allowed=f"one cluster per study ({k})")
    if pd.isna(cl).any():
        raise InputError(field="cluster", value="missing values",
                         allowed="a cluster for every study")
    codes, uniq = pd.factorize(cl)
    n = len(uniq)
    dfs = n - p
    if dfs <= 0:
        raise InputError(field="cluster", value=f"{n} clusters",
                         allowed=f"more clusters than coefficients ({p})")
    WX, e = model.weighted_design()
    S = WX * e[:, None]
    U = np.column_stack([np.bincount(codes, weights=S[:, j], minlength=n) for j in range(p)])
    B = model.vb
    vb = B @ (U.T @ U) @ B
    vbest = "CR0"
    if adjust:
        vb = vb * (n / dfs)
        vbest = "CR1"
    lv = model.level if level is None else level
    se = np.sqrt(np.diag(vb))
    zval = model.beta / se
    pval = 2 * stats.t.sf(np.abs(zval), dfs)
    crit = float(stats.t.isf((1 - lv) / 2, dfs))
    QM, QMp, QMdf = wald_block(beta=model.beta, vb=vb, btt=model.btt, ddf=dfs)
    return RobustResult(model=model, names=list(model.names), beta=model.beta, vb=vb, se=se,
                        zval=zval, pval=pval, ci_lb=model.beta - crit * se,
                        ci_ub=model.beta + crit * se, dfs=dfs, n=n, QM=QM, QMp=QMp,
                        QMdf=QMdf, vbest=vbest)
