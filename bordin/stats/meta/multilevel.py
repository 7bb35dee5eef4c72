"""Multilevel meta-analysis: effects nested in samples nested in studies (metafor's ``rma.mv``
with nested random intercepts, ``random = ~ 1 | study/sample``).

The marginal covariance is ``V = diag(v) + Σ_l σ²_l Z_l Z_l'`` with nested grouping
factors. It is block diagonal by the outermost factor, and each block is a diagonal
matrix plus a nested sum of rank-one updates. So ``V⁻¹M`` (for M = [X, y]) and ``log|V|``
follow from the Sherman–Morrison formula applied level by level, innermost first, with
one ``bincount`` per level: O(k·(p+1)) per likelihood evaluation, no k × k matrix, no
sparse Cholesky. metafor forms and factorises the dense k × k ``V`` instead.

The (restricted) likelihood is maximised over ``log σ²`` (as metafor does, so a
component at zero shows as a very small value) by a damped Newton method on numerical
derivatives, which has just one to three parameters here.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import BoundaryWarning, EstimationError, InputError
from bordin.stats.meta._inputs import ModsLike, build_design
from bordin.stats.meta._related import RelatedAnalyses
from bordin.stats.meta._weighted import Array, _inv_spd, cross, xb, xtv
from bordin.stats.meta.univariate import _check_level, wald_block

__all__ = ["MultilevelResult", "rma_mv"]


def _parse_random(random: str | Sequence[str]) -> list[str]:
    if isinstance(random, str):
        m = re.fullmatch(r"\s*~?\s*1\s*\|\s*([\w.]+(?:\s*/\s*[\w.]+)*)\s*", random)
        if not m:
            raise InputError(field="random", value=random,
                             allowed="nested random intercepts such as '~ 1 | study/esid'")
        return [s.strip() for s in m.group(1).split("/")]
    cols = list(random)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise InputError(field="random", value=random,
                         allowed="a formula '~ 1 | a/b' or a list of column names, outer first")
    return cols


class _Nested:
    """The nested grouping structure and the O(k) algebra on it."""

    def __init__(self, codes: list[np.ndarray], v: Array, M: Array) -> None:
        self.codes = codes  # outer first
        self.sizes = [int(c.max()) + 1 for c in codes]
        self.v = v
        self.Mt = np.ascontiguousarray(M.T)  # one contiguous row per column of [X, y]

    def solve(self, sigma2: Array) -> tuple[Array, float, list[Array]]:
        """Return ``((V⁻¹ M)', log|V|, w)`` for variance components ``sigma2`` (outer first).

        Each level is one Sherman–Morrison update per group: with ``u = C⁻¹1`` for the
        block of children ``C``, ``A⁻¹m = C⁻¹m − u·s(1'C⁻¹m)/(1 + s·1'u)`` for the parent
        ``A = C + s·11'``, and ``log|A| = log|C| + log(1 + s·1'u)``. ``w[l][g] = 1_g'V⁻¹1_g``
        for every group g of level l (for the gradient) follows the same updates:
        ``w_h ← w_h − f_P (Σ_{i∈h} u_i)²`` for each group h inside a parent block P.
        """
        Minv = self.Mt / self.v
        u = 1.0 / self.v
        logdet = float(np.sum(np.log(self.v)))
        L = len(self.codes)
        w: list[Array] = [np.empty(0)] * L
        for lev in range(L - 1, -1, -1):
            g, G, s = self.codes[lev], self.sizes[lev], float(sigma2[lev])
            c = np.bincount(g, weights=u, minlength=G)
            if s <= 0:
                w[lev] = c
                continue
            f = s / (1.0 + s * c)
            for inner in range(lev + 1, L):
                z = np.bincount(self.codes[inner], weights=u, minlength=self.sizes[inner])
                w[inner] = w[inner] - f[self.parent(inner, lev)] * z**2
            w[lev] = c / (1.0 + s * c)
            for j in range(Minv.shape[0]):
                a = np.bincount(g, weights=Minv[j], minlength=G)
                Minv[j] -= u * np.take(f * a, g)
            u = u / np.take(1.0 + s * c, g)
            logdet += float(np.sum(np.log1p(s * c)))
        return Minv, logdet, w

    def parent(self, inner: int, outer: int) -> np.ndarray:
        """For each group of level ``inner``, its group at level ``outer``."""
        key = (inner, outer)
        cache = self.__dict__.setdefault("_parents", {})
        if key not in cache:
            out = np.empty(self.sizes[inner], dtype=np.int64)
            out[self.codes[inner]] = self.codes[outer]
            cache[key] = out
        return cache[key]


def _nll(nested: _Nested, sigma2: Array, X: Array, y: Array, reml: bool,
         ldXX: float) -> tuple[float, dict[str, Any]]:
    """Negative (restricted) log likelihood with β profiled out, and its gradient in σ²."""
    k, p = X.shape
    Minv, logdet, w = nested.solve(sigma2)
    Wy = Minv[p]
    A = np.empty((p, p))
    for j in range(p):
        for m in range(j + 1):
            A[j, m] = A[m, j] = np.sum(X[:, j] * Minv[m])
    Xy = np.array([np.sum(X[:, j] * Wy) for j in range(p)])
    A_inv = _inv_spd(A, what="X'V⁻¹X")
    beta = A_inv @ Xy
    rVr = float(np.sum(y * Wy) - beta @ Xy)
    if reml:
        _, ldA = np.linalg.slogdet(A)
        val = 0.5 * ((k - p) * math.log(2 * math.pi) - ldXX + logdet + ldA + rVr)
    else:
        val = 0.5 * (k * math.log(2 * math.pi) + logdet + rVr)
    # d/dσ²_l: ½[Σ_g 1_g'V⁻¹1_g − Σ_g (1_g'V⁻¹r)² − (REML) Σ_g a_g'(X'V⁻¹X)⁻¹a_g],
    # a_g = X'V⁻¹1_g; group sums of the rows of V⁻¹[X, y] give every term.
    grad = np.empty(len(w))
    Wr = Wy - beta @ Minv[:p]
    for lev, (g, G) in enumerate(zip(nested.codes, nested.sizes, strict=True)):
        r_g = np.bincount(g, weights=Wr, minlength=G)
        term = float(np.sum(w[lev]) - np.sum(r_g**2))
        if reml:
            a = np.column_stack([np.bincount(g, weights=Minv[j], minlength=G) for j in range(p)])
            term -= float(np.sum((a @ A_inv) * a))
        grad[lev] = 0.5 * term
    return val, {"beta": beta, "A_inv": A_inv, "WX": np.ascontiguousarray(Minv[:p].T),
                 "grad": grad}


def _maximise(fg: Any, *, start: Array, scale: float, tol: float, maxiter: int
              ) -> tuple[Array, int]:
    """Minimise ``nll(σ²)`` over σ² ≥ 0 given ``fg(σ²) -> (nll, gradient)``.

    Projected Newton on σ²/scale: the analytic gradient, a Hessian from differences of
    it (one to three parameters), backtracking, and steepest descent where the Hessian
    is not positive definite. Components whose gradient pushes them below zero are held
    at zero (the boundary). Written by hand rather than with scipy's L-BFGS-B because
    that spends its time in BLAS thread hand-offs for a 2-parameter problem.
    """
    n = start.size

    def f(x: Array) -> tuple[float, Array]:
        val, grad = fg(x * scale)
        return val, grad * scale

    x = start / scale
    val, g = f(x)
    for it in range(1, maxiter + 1):
        free = (x > 0) | (g < 0)
        if not free.any():
            return x * scale, it
        idx = np.flatnonzero(free)
        H = np.empty((idx.size, idx.size))
        for col, i in enumerate(idx):
            h = 1e-6 * max(x[i], 1e-3)
            e = np.zeros(n)
            e[i] = h
            lo = max(x[i] - h, 0.0)
            e_lo = np.zeros(n)
            e_lo[i] = lo - x[i]
            H[:, col] = (f(x + e)[1][idx] - f(x + e_lo)[1][idx]) / (h + (x[i] - lo))
        H = (H + H.T) / 2
        gf = g[idx]
        try:
            np.linalg.cholesky(H)
            step = -np.linalg.solve(H, gf)
        except np.linalg.LinAlgError:
            step = -gf / max(1.0, float(np.max(np.abs(np.diag(H)))))
        big = float(np.max(np.abs(step)))
        if big > 1.0:
            step /= big
        t = 1.0
        while True:
            new = x.copy()
            new[idx] = np.maximum(x[idx] + t * step, 0.0)
            new_val, new_g = f(new)
            if new_val <= val + 1e-4 * t * float(gf @ step) or t < 1e-10:
                break
            t /= 2
        if new_val > val:  # no further decrease possible in floating point
            return x * scale, it
        moved = float(np.max(np.abs(new - x)))
        x, val, g = new, new_val, new_g
        if moved < tol * max(1.0, float(np.max(x))):
            return x * scale, it
    raise EstimationError(f"rma_mv: the likelihood maximisation did not converge in "
                          f"{maxiter} iterations")


class MultilevelResult(RelatedAnalyses):
    """The fit of :func:`rma_mv` (metafor's names).

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : ndarray
        Fixed effects and their inference (t with k − p df when ``test="t"``).
    sigma2 : ndarray
        Variance components, outer level first (e.g. between districts, then between
        schools within districts).
    s_names, s_nlevels : list
        Names of the levels and their number of groups.
    QE, QEp, QM, QMp : float
        Residual heterogeneity test and omnibus moderator test.
    logLik : float
        (Restricted) log likelihood, as metafor's ``logLik``.
    pi_lb, pi_ub
        Prediction interval (adds ``sum(sigma2)`` to the variance of the prediction).
    """

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def variance_components(self) -> pd.DataFrame:
        """σ² per level, with σ and the number of groups."""
        return pd.DataFrame({"sigma2": self.sigma2, "sigma": np.sqrt(self.sigma2),
                             "nlvls": self.s_nlevels}, index=pd.Index(self.s_names, name="level"))

    def __repr__(self) -> str:
        lines = [f"Multilevel meta-analysis (method={self.method}, test={self.test}), "
                 f"k = {self.k}, logLik = {self.logLik:.4f}",
                 self.variance_components().to_string(float_format=lambda x: f"{x:.4f}"),
                 f"Q({self.k - self.p}) = {self.QE:.4f}, p = {self.QEp:.4g}",
                 self.summary().to_string(float_format=lambda x: f"{x:.4f}")]
        return "\n".join(lines)

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-safe."""
        def clean(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return [clean(v) for v in x.tolist()]
            if isinstance(x, float | np.floating):
                return None if not np.isfinite(x) else float(x)
            return x

        keys = ["method", "test", "k", "p", "names", "beta", "se", "zval", "pval", "ci_lb",
                "ci_ub", "sigma2", "s_names", "s_nlevels", "QE", "QEp", "QM", "QMp",
                "logLik", "pi_lb", "pi_ub"]
        return {key: clean(getattr(self, key)) for key in keys}

    def predict(self, newmods: Any = None) -> pd.DataFrame:
        """Predicted average effects with CI and prediction interval."""
        Xn = self.X[:1] if (newmods is None and self.p == 1) else (
            self.X if newmods is None else np.atleast_2d(np.asarray(newmods, dtype=float)))
        if Xn.shape[1] == self.p - 1:
            Xn = np.column_stack([np.ones(Xn.shape[0]), Xn])
        pred = Xn @ self.beta
        vpred = np.einsum("ij,jk,ik->i", Xn, self.vb, Xn)
        se = np.sqrt(vpred)
        tot = float(np.sum(self.sigma2))
        return pd.DataFrame({"pred": pred, "se": se, "ci_lb": pred - self.crit * se,
                             "ci_ub": pred + self.crit * se,
                             "pi_lb": pred - self.crit * np.sqrt(vpred + tot),
                             "pi_ub": pred + self.crit * np.sqrt(vpred + tot)})

    def weighted_design(self) -> tuple[Array, Array]:
        """``(V⁻¹X, e)``: the sandwich ingredients."""
        return self._WX, self.yi - xb(self.X, self.beta)

    def model_vb(self) -> Array:
        return self.vb


def rma_mv(
    *,
    yi: Any,
    V: Any = None,
    vi: Any = None,
    random: str | Sequence[str],
    data: pd.DataFrame | None = None,
    mods: ModsLike = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    tol: float = 1e-10,
    maxiter: int = 200,
) -> MultilevelResult:
    """Fit a multilevel meta-analysis with nested random intercepts (metafor's ``rma.mv``).

    Parameters
    ----------
    yi, vi
        Effect sizes and sampling variances (arrays, or columns of ``data``); ``V`` is an
        alias of ``vi`` (only independent sampling errors are supported).
    random
        Nested random intercepts: ``"~ 1 | district/school"`` or ``["district", "school"]``
        (outermost first).
    mods
        Moderators (formula on ``data`` or an array), as in :func:`rma`.
    method
        "REML" (default) or "ML".
    test
        "z" or "t" (t with k − p df).
    """
    if vi is None:
        vi = V
    meth = str(method).upper()
    if meth not in ("REML", "ML"):
        raise InputError(field="method", value=method, allowed="'REML' or 'ML'")
    tst = str(test).lower()
    if tst not in ("z", "t"):
        raise InputError(field="test", value=test, allowed="'z' or 't'")
    lv = _check_level(level)
    cols = _parse_random(random)
    if data is None:
        raise InputError(field="data", value=None, allowed="a data frame holding the grouping "
                         f"columns {cols}")
    for c in cols:
        if c not in data.columns:
            raise InputError(field="random", value=c,
                             allowed=f"a column of data: {', '.join(map(str, data.columns))}")
    extra = {c: data[c].to_numpy() for c in cols}
    design = build_design(yi=yi, vi=vi, mods=mods, data=data, extra=extra)
    y, v, X = design.y, design.v, design.X
    k, p = X.shape
    sub = data.loc[design.keep, cols]
    codes = []
    for j in range(len(cols)):
        codes.append(sub.groupby(cols[: j + 1], sort=True).ngroup().to_numpy())
    nested = _Nested(codes, v, np.column_stack([X, y]))
    _, ldXX = np.linalg.slogdet(cross(X, np.ones(k)))
    reml = meth == "REML"

    # Starting values as metafor: the residual variance left over, split evenly.
    ols_res = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    fe_w = 1.0 / v
    total = max(0.001 * len(cols), float(np.var(ols_res, ddof=1) - 1.0 / np.mean(fe_w)))
    def fg(s2: Array) -> tuple[float, Array]:
        val, parts = _nll(nested, s2, X, y, reml, ldXX)
        return val, parts["grad"]

    sigma2, iters = _maximise(
        fg,
        start=np.full(len(cols), total / len(cols)), scale=total, tol=tol, maxiter=maxiter,
    )
    if np.any(sigma2 == 0):
        warnings.warn("a variance component is estimated at zero (boundary)",
                      BoundaryWarning, stacklevel=2)
    val, parts = _nll(nested, sigma2, X, y, reml, ldXX)
    beta, vb = parts["beta"], parts["A_inv"]
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    ddf = k - p if tst == "t" else None
    alpha = 1 - lv
    if ddf is None:
        pval = 2 * stats.norm.sf(np.abs(zval))
        crit = float(stats.norm.isf(alpha / 2))
    else:
        pval = 2 * stats.t.sf(np.abs(zval), ddf)
        crit = float(stats.t.isf(alpha / 2, ddf))
    btt = np.arange(1, p) if (design.intercept and p > 1) else np.arange(p)
    QM, QMp, QMdf = wald_block(beta=beta, vb=vb, btt=btt, ddf=ddf)
    if k > p:
        A_inv = _inv_spd(cross(X, fe_w), what="X'WX")
        yc = y - y.mean()
        b_fe = A_inv @ xtv(X, fe_w * yc)
        QE = max(0.0, float(np.sum(fe_w * (yc - xb(X, b_fe)) ** 2)))
        QEp = float(stats.chi2.sf(QE, k - p))
    else:
        QE, QEp = 0.0, 1.0
    res = MultilevelResult(
        method=meth, test=tst, level=lv, k=k, p=p, names=design.names, X=X, yi=y, vi=v,
        beta=beta, vb=vb, se=se, zval=zval, pval=pval, ci_lb=beta - crit * se,
        ci_ub=beta + crit * se, crit=crit, ddf=ddf, btt=btt, QM=QM, QMp=QMp, QMdf=QMdf,
        QE=QE, QEp=QEp, sigma2=sigma2, logLik=-val, iterations=iters,
        s_names=["/".join(cols[: j + 1]) for j in range(len(cols))],
        s_nlevels=list(nested.sizes), _WX=parts["WX"], keep=design.keep, data=data,
        _codes=codes,
    )
    pr = res.predict()
    res.pi_lb = float(pr["pi_lb"].iloc[0]) if p == 1 else pr["pi_lb"].to_numpy()
    res.pi_ub = float(pr["pi_ub"].iloc[0]) if p == 1 else pr["pi_ub"].to_numpy()
    return res
