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
    dfs, n : int (array for CR2)
        Degrees of freedom (``n − p``; Satterthwaite per coefficient for CR2) and the
        number of clusters.
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
    dfs: int | np.ndarray
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
            "vbest": self.vbest, "n": int(self.n), "names": self.names,
            "dfs": np.asarray(self.dfs, dtype=float).tolist(),
            "beta": self.beta.tolist(), "se": self.se.tolist(), "zval": self.zval.tolist(),
            "pval": self.pval.tolist(), "ci_lb": self.ci_lb.tolist(),
            "ci_ub": self.ci_ub.tolist(), "QM": float(self.QM), "QMp": float(self.QMp),
        }

    def __repr__(self) -> str:
        return (f"Cluster-robust inference ({self.vbest}), {self.n} clusters, df = {self.dfs}\n"
                + self.summary().to_string(float_format=lambda x: f"{x:.4f}"))


def robust(model: Any, *, cluster: Any, adjust: bool = True, level: float | None = None,
           vcov: str = "CR1") -> RobustResult:
    """Cluster-robust inference for an :class:`RMAResult` or :class:`MultilevelResult`.

    Parameters
    ----------
    model
        A fitted model.
    cluster
        Cluster of each study (array over the studies used in the fit, or the full input
        length, or a column name of the model's data).
    adjust
        Multiply by ``n / (n − p)`` (CR1, metafor's default). Ignored for CR2.
    vcov
        "CR1" (metafor's default sandwich) or "CR2" (bias-reduced linearisation with
        Satterthwaite df per coefficient, as ``robust(..., clubSandwich = TRUE)``).
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
    if vcov not in ("CR1", "CR2"):
        raise InputError(field="vcov", value=vcov, allowed="'CR1' or 'CR2'")
    if vcov == "CR2":
        return _cr2(model, codes=codes, n=n, level=model.level if level is None else level)
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


def _cluster_blocks(model: Any, codes: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row indices and marginal covariance ``Φ_j`` of each cluster.

    CR2 needs ``Φ`` block diagonal by cluster: every group of the outermost random
    level must lie inside one cluster.
    """
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    levels = getattr(model, "_codes", None)
    if levels is not None:
        outer = levels[0]
        per_group = pd.Series(codes).groupby(outer).nunique()
        if (per_group > 1).any():
            raise InputError(field="cluster", value="clusters that split a random-effects group",
                             allowed="clusters that contain whole groups of the outermost "
                                     "random level (needed for CR2)")
    blocks = []
    for j in range(n):
        idx = order[bounds[j]:bounds[j + 1]]
        if levels is None:
            Phi = np.diag(model.vi[idx] + model.tau2)
        else:
            Phi = np.diag(model.vi[idx])
            for g, s2 in zip(levels, model.sigma2, strict=True):
                gi = g[idx]
                Phi = Phi + s2 * (gi[:, None] == gi[None, :])
        blocks.append((idx, Phi))
    return blocks


def _cr2(model: Any, *, codes: np.ndarray, n: int, level: float) -> RobustResult:
    """CR2 sandwich (Bell & McCaffrey; Pustejovsky & Tipton 2018) with Satterthwaite df.

    With working weights ``W = Φ⁻¹``: ``A_j = D_j' G_j^{-1/2} D_j``, ``G_j = D_j (Φ_j −
    X_j M X_j') D_j'``, ``D_j`` the upper Cholesky factor of ``Φ_j``, ``M = (X'WX)⁻¹``.
    The Satterthwaite df of coefficient q is ``tr(Q)² / ‖Q‖²`` with ``Q = g'Φg`` and
    ``g_j = (I − H)' s_j``, ``s_j`` = ``A_j' W_j X_j M c_q`` on cluster j's rows. ``Φg``
    uses the nested structure (O(k) per column), so the cost is O(k · clusters).
    """
    X, p = model.X, model.p
    M = model.model_vb()
    e = model.yi - X @ model.beta
    parts = []
    meat = np.zeros((p, p))
    blocks = _cluster_blocks(model, codes, n)
    for idx, Phi in blocks:
        Xj = X[idx]
        D = np.linalg.cholesky(Phi).T
        G = D @ (Phi - Xj @ M @ Xj.T) @ D.T
        ev, U = np.linalg.eigh((G + G.T) / 2)
        # G^{-1/2} as a generalised inverse: eigenvalues at or below 1e-12 are those of a
        # cluster that alone determines a coefficient (zero in exact arithmetic) and are
        # dropped, as clubSandwich's matrix_power does.
        root = np.zeros_like(ev)
        root[ev > 1e-12] = ev[ev > 1e-12] ** -0.5
        A = D.T @ (U * root) @ U.T @ D
        Wj = np.linalg.inv(Phi)
        u = Xj.T @ Wj @ A @ e[idx]
        meat += np.outer(u, u)
        parts.append((Xj, Phi, A.T @ Wj @ Xj @ M))
    vb = M @ meat @ M
    se = np.sqrt(np.diag(vb))
    k = X.shape[0]
    if k * n > 50_000_000:
        raise InputError(field="vcov", value="CR2", allowed=f"CR1 for k = {k} effects in {n} "
                         "clusters (CR2's Satterthwaite df needs a k x clusters matrix)")
    WX = model.weighted_design()[0]
    dfs = np.empty(p)
    for q in range(p):
        # g_j = (I - H)' s_j with s_j = b_j on cluster j's rows: formed explicitly so the
        # large, cancelling parts of b_j (high-leverage clusters) cancel row by row.
        Gm = np.zeros((k, n))
        Tq = np.empty((n, p))
        for j, ((idx, _Phi), (Xj, _P, Bq)) in enumerate(zip(blocks, parts, strict=True)):
            Gm[idx, j] = Bq[:, q]
            Tq[j] = Xj.T @ Bq[:, q]
        Gm -= WX @ (M @ Tq.T)
        Q = Gm.T @ _phi_times(model, Gm)
        dfs[q] = np.trace(Q) ** 2 / np.sum(Q**2)
    zval = model.beta / se
    pval = 2 * stats.t.sf(np.abs(zval), dfs)
    crit = stats.t.isf((1 - level) / 2, dfs)
    # The omnibus test uses the naive F(m, n - p); clubSandwich's HTZ test is not implemented.
    QM, QMp, QMdf = wald_block(beta=model.beta, vb=vb, btt=model.btt, ddf=n - p)
    return RobustResult(model=model, names=list(model.names), beta=model.beta, vb=vb, se=se,
                        zval=zval, pval=pval, ci_lb=model.beta - crit * se,
                        ci_ub=model.beta + crit * se, dfs=dfs, n=n, QM=QM, QMp=QMp,
                        QMdf=QMdf, vbest="CR2")


def _phi_times(model: Any, G: np.ndarray) -> np.ndarray:
    """``Φ G`` for the model's marginal covariance, without forming Φ."""
    levels = getattr(model, "_codes", None)
    if levels is None:
        return (model.vi + model.tau2)[:, None] * G
    out = model.vi[:, None] * G
    for g, s2 in zip(levels, model.sigma2, strict=True):
        if s2 == 0:
            continue
        ng = int(g.max()) + 1
        sums = np.column_stack([np.bincount(g, weights=G[:, c], minlength=ng)
                                for c in range(G.shape[1])])
        out += s2 * sums[g]
    return out
