"""Cluster-robust (sandwich) inference for meta-analytic models, as metafor's ``robust``.

``vb_robust = c · B (Σ_c u_c u_c') B`` with ``B`` the model's ``vb``, ``u_c = Σ_{i∈c}
(V⁻¹X)_i e_i`` and, by default, ``c = n / (n − p)`` for ``n`` clusters (metafor's
``adjust=TRUE``, "CR1"). Tests use t with ``n − p`` df and the omnibus test an F with
``(m, n − p)`` df. The per-cluster sums are one ``bincount`` per coefficient, O(k·p).

``vcov="CR2"`` is metafor's ``robust(..., clubSandwich = TRUE)``: the bias-reduced
sandwich, t tests with Satterthwaite df per coefficient, and the omnibus test of the
moderators by clubSandwich's HTZ test (Hotelling's T² approximation with the degrees of
freedom of Tipton & Pustejovsky, 2015, J. Educ. Behav. Stat. 40(6); Pustejovsky & Tipton,
2018, JBES 36(4)). :func:`wald_test` (or :meth:`RobustResult.wald_test`) tests any set of
coefficients, or linear constraints ``C β = 0``, as clubSandwich's ``Wald_test``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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
        Robust omnibus F test of the moderators (or of the intercept alone): for CR1/CR0
        the naive F with ``(m, n − p)`` df; for CR2 clubSandwich's HTZ test (``QM`` is the
        scaled F statistic ``δ Q / m``).
    QMdf : tuple
        Numerator and denominator df of that F test.
    vbest : str
        "CR2", "CR1" (small-sample adjusted) or "CR0".
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
    _cr2_parts: _CR2Parts | None = field(default=None, repr=False)

    def wald_test(self, constraints: Any, *, test: str | None = None) -> WaldTestResult:
        """Robust Wald test that the chosen coefficients (or ``C β``) are zero.

        See :func:`wald_test`.
        """
        return wald_test(self, constraints=constraints, test=test)

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
            "QMdf": [int(self.QMdf[0]), None if self.QMdf[1] is None else float(self.QMdf[1])],
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
        Satterthwaite df per coefficient and the HTZ omnibus test of the moderators, as
        ``robust(..., clubSandwich = TRUE)``).
    level
        Confidence level (the model's by default).

    Returns
    -------
    RobustResult
        Robust coefficient table and omnibus test; :meth:`RobustResult.wald_test` tests
        other sets of coefficients.
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
    The omnibus test of ``btt`` is clubSandwich's HTZ test (see :func:`_htz_test`), from
    per-cluster p × p pieces kept on the result for :func:`wald_test`.
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
    # what the HTZ test of any constraints needs, per cluster: X_j' B_j and B_j' Φ_j B_j
    # with B_j = A_j' W_j X_j M (p x p each)
    cr2 = _CR2Parts(M=M, XB=np.stack([Xj.T @ Bj for Xj, _P, Bj in parts]),
                    BPB=np.stack([Bj.T @ P @ Bj for _X, P, Bj in parts]))
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
    # The omnibus test of the moderators (btt) is clubSandwich's HTZ test, as metafor's
    # robust(clubSandwich = TRUE); for one coefficient it is the Satterthwaite t test squared.
    C = np.eye(p)[model.btt]
    try:
        QM, _delta, nu, QMp = _htz_test(beta=model.beta, vb=vb, C=C, parts=cr2)
    except np.linalg.LinAlgError:
        QM, nu, QMp = float("nan"), float("nan"), float("nan")
    return RobustResult(model=model, names=list(model.names), beta=model.beta, vb=vb, se=se,
                        zval=zval, pval=pval, ci_lb=model.beta - crit * se,
                        ci_ub=model.beta + crit * se, dfs=dfs, n=n, QM=QM, QMp=QMp,
                        QMdf=(len(model.btt), nu), vbest="CR2", _cr2_parts=cr2)


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


@dataclass(frozen=True)
class _CR2Parts:
    """Per-cluster pieces of the CR2 estimator that the HTZ degrees of freedom need.

    ``B_j = A_j' W_j X_j M`` (``n_j × p``), so the robust covariance of ``C β`` is
    ``Σ_j C B_j' e_j e_j' B_j C'``. Under the working model ``e = (I − H) ε``,
    ``ε ~ N(0, Φ)``, and the covariance of cluster j's and cluster l's contributions is
    ``P_jl = δ_jl C B_j' Φ_j B_j C' − (C B_j' X_j) M (X_l' B_l C')`` (uses ``W = Φ⁻¹``).
    """

    M: np.ndarray  # (X'WX)^-1, p x p
    XB: np.ndarray  # X_j' B_j, clusters x p x p
    BPB: np.ndarray  # B_j' Φ_j B_j, clusters x p x p


@dataclass(frozen=True)
class WaldTestResult:
    """A cluster-robust Wald test of ``q`` linear constraints ``C β = 0``.

    Attributes
    ----------
    test : str
        "HTZ" (clubSandwich's Hotelling's T² approximation, CR2 only) or "Naive-Fp" (the
        Wald statistic over ``q`` against F with ``(q, n − p)`` df).
    statistic : float
        The F statistic: ``δ Q / q`` for HTZ, ``Q / q`` for Naive-Fp, with ``Q`` the Wald
        statistic ``(Cβ)' (C V C')⁻¹ (Cβ)``.
    df1, df2 : float
        Numerator (``q``) and denominator degrees of freedom.
    pval : float
        Upper tail probability of ``statistic`` under F(df1, df2).
    delta : float
        The HTZ scale factor ``δ = (ν − q + 1) / ν`` (1 for Naive-Fp).
    constraints : ndarray
        The ``q × p`` constraint matrix ``C``.
    vbest : str
        The robust covariance used ("CR2", "CR1" or "CR0").
    """

    test: str
    statistic: float
    df1: int
    df2: float
    pval: float
    delta: float
    constraints: np.ndarray
    vbest: str

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-safe."""
        return {"test": self.test, "statistic": float(self.statistic), "df1": int(self.df1),
                "df2": float(self.df2), "pval": float(self.pval), "delta": float(self.delta),
                "constraints": self.constraints.tolist(), "vbest": self.vbest}


WALD_TESTS = ("HTZ", "Naive-Fp")


def wald_test(result: RobustResult, *, constraints: Any,
              test: str | None = None) -> WaldTestResult:
    """Cluster-robust Wald test of ``C β = 0``, as clubSandwich's ``Wald_test``.

    Parameters
    ----------
    result
        A :class:`RobustResult` from :func:`robust`.
    constraints
        The coefficients tested to be zero together, by 0-based index or by name (an int,
        a str, or a sequence of them), as clubSandwich's ``constrain_zero``; or a ``q × p``
        matrix ``C`` of linear constraints (rows linearly independent), e.g. a row
        ``[0, 1, -1]`` for "the second and third coefficients are equal".
    test
        "HTZ" (the default for CR2): Hotelling's T² approximation with the degrees of
        freedom of Tipton & Pustejovsky (2015), from the covariance of the CR2 estimator
        under the working model. "Naive-Fp" (the default, and the only test, for CR1 and
        CR0): ``Q / q`` against F with ``(q, n − p)`` df, as metafor's ``robust`` for the
        omnibus test; it ignores the small-sample behaviour of the sandwich estimator.

    Returns
    -------
    WaldTestResult
        Statistic, ``df1``, ``df2``, p-value and the HTZ scale factor ``δ``.

    Notes
    -----
    HTZ: with ``Ω = C E(V_CR2) C'`` under the working model and ``V* = Ω^{-1/2} C V_CR2 C'
    Ω^{-1/2}``, ``ν = q (q + 1) / Σ_{s,t} Var(V*_st)``; the statistic ``δ Q / q`` with
    ``δ = (ν − q + 1) / ν`` is referred to F(q, ν − q + 1). For one constraint it is the
    square of the Satterthwaite t test. Cost O(clusters · p² · q) once the CR2 fit is
    done; no clusters × clusters matrix is formed.

    Examples
    --------
    >>> rb = robust(fit, cluster="study", vcov="CR2")       # doctest: +SKIP
    >>> rb.wald_test(["ablat", "year"]).pval                 # doctest: +SKIP
    """
    if not isinstance(result, RobustResult):
        raise InputError(field="result", value=type(result).__name__,
                         allowed="a RobustResult from robust()")
    p = len(result.beta)
    C = _constraint_matrix(constraints, result.names, p)
    if test is None:
        test = "HTZ" if result.vbest == "CR2" else "Naive-Fp"
    if test not in WALD_TESTS:
        raise InputError(field="test", value=test, allowed="'HTZ' or 'Naive-Fp'")
    parts = result._cr2_parts
    if test == "HTZ" and parts is None:
        raise InputError(field="test", value=test,
                         allowed=f"'Naive-Fp' for a {result.vbest} result (HTZ needs "
                                 "robust(..., vcov='CR2'))")
    q = C.shape[0]
    try:
        if test == "HTZ" and parts is not None:
            stat, delta, df2, pval = _htz_test(beta=result.beta, vb=result.vb, C=C,
                                               parts=parts)
        else:
            Qw = _wald_statistic(result.beta, result.vb, C)
            df2, delta = float(result.n - p), 1.0
            stat = Qw / q
            pval = float(stats.f.sf(stat, q, df2))
    except np.linalg.LinAlgError as exc:
        raise InputError(field="constraints", value=C.tolist(),
                         allowed="constraints whose robust covariance C V C' is positive "
                                 "definite (linearly independent rows)") from exc
    return WaldTestResult(test=test, statistic=stat, df1=q, df2=df2, pval=pval, delta=delta,
                          constraints=C, vbest=result.vbest)


def _constraint_matrix(constraints: Any, names: list[str], p: int) -> np.ndarray:
    """``C`` (q × p) from indices or names (constrain_zero) or a matrix."""
    allowed = (f"coefficient indices 0..{p - 1}, names among {names}, or a q x {p} "
               "constraint matrix")
    if isinstance(constraints, (str, int, np.integer)) and not isinstance(constraints, bool):
        constraints = [constraints]
    if (isinstance(constraints, np.ndarray) and constraints.ndim == 2) or (
        isinstance(constraints, Sequence) and not isinstance(constraints, str)
        and len(constraints) > 0
        and all(isinstance(r, (Sequence, np.ndarray)) and not isinstance(r, str)
                for r in constraints)
    ):
        try:
            C = np.asarray(constraints, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(field="constraints", value=constraints, allowed=allowed) from exc
        if C.ndim != 2 or C.shape[0] < 1 or C.shape[1] != p or not np.isfinite(C).all():
            raise InputError(field="constraints", value=f"an array of shape {C.shape}",
                             allowed=f"a q x {p} matrix of finite numbers, q >= 1")
        if np.linalg.matrix_rank(C) < C.shape[0]:
            raise InputError(field="constraints", value=C.tolist(),
                             allowed="linearly independent rows")
        return C
    if not isinstance(constraints, (Sequence, np.ndarray)) or len(constraints) == 0:
        raise InputError(field="constraints", value=constraints, allowed=allowed)
    idx = []
    for c in constraints:
        if isinstance(c, str):
            if c not in names:
                raise InputError(field="constraints", value=c, allowed=f"one of {names}")
            idx.append(names.index(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)):
            if not 0 <= int(c) < p:
                raise InputError(field="constraints", value=int(c),
                                 allowed=f"an index from 0 to {p - 1}")
            idx.append(int(c))
        else:
            raise InputError(field="constraints", value=c, allowed=allowed)
    if len(set(idx)) != len(idx):
        raise InputError(field="constraints", value=list(constraints),
                         allowed="each coefficient at most once")
    return np.eye(p)[sorted(idx)]


def _wald_statistic(beta: np.ndarray, vb: np.ndarray, C: np.ndarray) -> float:
    """``(Cβ)' (C V C')⁻¹ (Cβ)``; LinAlgError if ``C V C'`` is not positive definite."""
    L = np.linalg.cholesky(C @ vb @ C.T)
    z = np.linalg.solve(L, C @ beta)
    return float(z @ z)


def _htz_test(*, beta: np.ndarray, vb: np.ndarray, C: np.ndarray,
              parts: _CR2Parts) -> tuple[float, float, float, float]:
    """HTZ test of ``C β = 0``: (F statistic, δ, denominator df, p-value).

    ``P_jl`` (q × q for clusters j, l; see :class:`_CR2Parts`) is diagonal in the clusters
    plus the low-rank ``−T_j' M T_l`` with ``T_j = X_j' B_j C'``, so the sums over all
    pairs of clusters that ``Σ_{s,t} Var(V*_st) = Σ_{s,t} Σ_{j,l} (P*_{st,jl} P*_{ts,jl} +
    P*_{ss,jl} P*_{tt,jl})`` needs reduce to sums over clusters and p × p products.
    """
    q = C.shape[0]
    M = parts.M
    D = C @ parts.BPB @ C.T  # (clusters, q, q): the cluster-diagonal part
    T = parts.XB @ C.T  # (clusters, p, q)
    MT = np.einsum("ab,jbq->jaq", M, T)
    Omega = D.sum(axis=0) - np.einsum("jas,jat->st", T, MT)
    # Ω^{-1/2} as clubSandwich's matrix_power: eigenvalues at or below 1e-12 dropped
    ev, U = np.linalg.eigh((Omega + Omega.T) / 2)
    root = np.zeros_like(ev)
    root[ev > 1e-12] = ev[ev > 1e-12] ** -0.5
    R = (U * root) @ U.T
    D = R @ D @ R
    T = T @ R
    MT = MT @ R
    N = np.einsum("jas,jat->jst", T, MT)  # (T_s' M T_t)_jj
    K = np.einsum("jas,jbt->stab", T, T)  # Σ_j T_j[:, s] T_j[:, t]'
    MK = np.einsum("ab,stbc->stac", M, K)  # M K_st
    # Σ_{s,t} tr(P*_st P*_st) over clusters: P*_st = diag(D_st) − T_s' M T_t
    term1 = (np.sum(D**2) - 2 * np.sum(D * N)
             + np.einsum("tsab,tsba->", MK, MK))
    # ‖Σ_s P*_ss‖²: Σ_s P*_ss = diag(tr D_j) − Σ_s T_s' M T_s
    a = np.einsum("jss->j", D)
    term2 = (np.sum(a**2) - 2 * np.sum(a * np.einsum("jss->j", N))
             + np.einsum("suab,usba->", MK, MK))
    nu = float(q * (q + 1) / (term1 + term2))
    Qw = _wald_statistic(beta, vb, C)
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    stat = delta * Qw / q
    pval = float(stats.f.sf(stat, q, df2)) if df2 > 0 else float("nan")
    return stat, delta, df2, pval
