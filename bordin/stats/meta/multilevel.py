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

    def solve(self, sigma2: Array) -> tuple[Array, float]:
        """Return ``((V⁻¹ M)', log|V|)`` for variance components ``sigma2`` (outer first).

        Each level is one Sherman–Morrison update per group: with ``u = C⁻¹1`` for the
        block of children ``C``, ``A⁻¹m = C⁻¹m − u·s(1'C⁻¹m)/(1 + s·1'u)`` for the parent
        ``A = C + s·11'``, and ``log|A| = log|C| + log(1 + s·1'u)``.
        """
        Minv = self.Mt / self.v
        u = 1.0 / self.v
        logdet = float(np.sum(np.log(self.v)))
        for g, G, s in zip(self.codes[::-1], self.sizes[::-1], sigma2[::-1], strict=True):
            if s <= 0:
                continue
            c = np.bincount(g, weights=u, minlength=G)
            f = s / (1.0 + s * c)
            for j in range(Minv.shape[0]):
                a = np.bincount(g, weights=Minv[j], minlength=G)
                Minv[j] -= u * np.take(f * a, g)
            u = u / np.take(1.0 + s * c, g)
            logdet += float(np.sum(np.log1p(s * c)))
        return Minv, logdet


def _nll(nested: _Nested, sigma2: Array, X: Array, y: Array, reml: bool,
         ldXX: float) -> tuple[float, dict[str, Any]]:
    k, p = X.shape
    Minv, logdet = nested.solve(sigma2)
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
    return val, {"beta": beta, "A_inv": A_inv, "WX": np.ascontiguousarray(Minv[:p].T)}


def _newton(fun: Any, x0: Array, *, tol: float, maxiter: int, floor: float
            ) -> tuple[Array, int, bool]:
    """Damped Newton minimisation with central-difference derivatives.

    Stops early (third value True) when a coordinate falls below ``floor``: that
    component belongs on the boundary.
    """
    x = x0.copy()
    n = x.size
    hg, hh = 1e-5, 1e-3
    fx = fun(x)
    for it in range(1, maxiter + 1):
        E = np.eye(n)
        fp = np.array([fun(x + hg * E[i]) for i in range(n)])
        fm = np.array([fun(x - hg * E[i]) for i in range(n)])
        g = (fp - fm) / (2 * hg)
        H = np.empty((n, n))
        for i in range(n):
            for j in range(i, n):
                if i == j:
                    H[i, i] = (fun(x + hh * E[i]) - 2 * fx + fun(x - hh * E[i])) / hh**2
                else:
                    H[i, j] = H[j, i] = (
                        fun(x + hh * (E[i] + E[j])) - fun(x + hh * (E[i] - E[j]))
                        - fun(x - hh * (E[i] - E[j])) + fun(x - hh * (E[i] + E[j]))
                    ) / (4 * hh**2)
        try:
            np.linalg.cholesky(H)
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = -g / max(1.0, float(np.max(np.abs(np.diag(H)))))
        big = np.max(np.abs(step))
        if big > 2.0:
            step *= 2.0 / big
        t = 1.0
        while True:
            fn = fun(x + t * step)
            if fn <= fx + 1e-4 * t * float(g @ step) or t < 1e-8:
                break
            t /= 2
        if fn > fx:  # no descent possible: at the optimum within numerical precision
            return x, it, False
        gain = fx - fn
        x = x + t * step
        fx = fn
        if gain <= 1e-14 * max(1.0, abs(fx)) and np.max(np.abs(t * step)) < 1e-6:
            return x, it, False  # only rounding noise left in the derivatives
        if np.any(x < floor):
            return x, it, True
        if np.max(np.abs(t * step)) < tol:
            return x, it, False
    raise EstimationError(
        f"rma_mv: the likelihood maximisation did not converge in {maxiter} iterations"
    )


def _maximise(nll: Any, *, start: Array, scale: float, tol: float, maxiter: int
              ) -> tuple[Array, int]:
    """Minimise ``nll(σ²)`` over σ² ≥ 0.

    Stage 1: L-BFGS-B on σ²/scale with bounds, which finds which components sit at zero.
    Stage 2: Newton on log σ² for the positive ones (the others fixed at 0), which
    polishes the optimum to the precision of the numerical derivatives.
    """
    from scipy.optimize import minimize

    n = start.size

    def f(s: Array) -> float:
        return float(nll(np.maximum(s, 0.0) * scale))

    def grad(s: Array) -> Array:
        g = np.empty(n)
        for i in range(n):
            h = 1e-7 * max(1.0, s[i])
            e = np.zeros(n)
            e[i] = h
            if s[i] - h < 0:
                g[i] = (f(s + e) - f(s)) / h
            else:
                g[i] = (f(s + e) - f(s - e)) / (2 * h)
        return g

    opt = minimize(f, start / scale, jac=grad, method="L-BFGS-B", bounds=[(0.0, None)] * n,
                   options={"ftol": 1e-10, "gtol": 1e-7, "maxiter": 10 * maxiter})
    s = np.maximum(opt.x, 0.0)
    iters = int(opt.nit)
    for _ in range(n + 1):
        free = s > 1e-8
        if not free.any():
            break

        def g_log(x: Array, free: np.ndarray = free) -> float:
            full = np.zeros(n)
            full[free] = np.exp(x)
            return float(nll(full * scale))

        floor = math.log(1e-9)
        x, it, dropped = _newton(g_log, np.log(s[free]), tol=tol, maxiter=maxiter, floor=floor)
        iters += it
        s = np.zeros(n)
        s[free] = np.exp(x)
        if not dropped:
            break
        s[s < 1e-8] = 0.0
    return s * scale, iters


class MultilevelResult:
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

    def summary(self) -> pd.DataFrame:
        """Coefficient table."""
        stat = "zval" if self.ddf is None else "tval"
        return pd.DataFrame(
            {"estimate": self.beta, "se": self.se, stat: self.zval, "pval": self.pval,
             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
            index=pd.Index(self.names, name="term"),
        )

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

    def robust(self, *, cluster: Any, adjust: bool = True, vcov: str = "CR1") -> Any:
        """Cluster-robust inference (metafor's ``robust``, CR1 by default)."""
        from bordin.stats.meta.robust import robust

        return robust(self, cluster=cluster, adjust=adjust, vcov=vcov)

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
    sigma2, iters = _maximise(
        lambda s2: _nll(nested, s2, X, y, reml, ldXX)[0],
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
