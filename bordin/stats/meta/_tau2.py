"""Estimators of the between-study variance τ² in the univariate model.

Each follows the definition metafor 3.8 uses (Viechtbauer 2005, 2010), including its
standard error, its truncation at zero and its starting values, so that results agree
with ``rma.uni``. All are O(k·p²) per evaluation (see :mod:`._weighted`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from bordin.errors import ConvergenceWarning, EstimationError, InputError
from bordin.stats.meta._weighted import WLS, Array, generalised_Q

METHODS = ("EE", "FE", "CE", "DL", "HE", "HS", "SJ", "PM", "ML", "REML", "EB")
FIXED = ("EE", "FE", "CE")


@dataclass(frozen=True)
class Control:
    """Numerical settings of the τ² estimators.

    Parameters
    ----------
    threshold
        Fisher scoring stops when τ² changes by less than this (metafor: 1e-5; the
        default here is tighter, which costs a few more O(k) iterations).
    maxiter
        Most Fisher scoring iterations.
    tol
        Absolute tolerance of the root finders (Paule–Mandel, Q-profile).
    tau2_max
        Upper end of the interval searched for Paule–Mandel's root.
    fallback
        If Fisher scoring does not converge in ``maxiter`` iterations, search the
        likelihood directly (metafor stops with an error instead).
    """

    threshold: float = 1e-12
    maxiter: int = 1000
    tol: float = 1e-12
    tau2_max: float = 100.0
    fallback: bool = True


@dataclass(frozen=True)
class Tau2Estimate:
    tau2: float
    se_tau2: float
    iterations: int = 0


def _he(X: Array, y: Array, vi: Array) -> tuple[float, WLS]:
    k, p = X.shape
    ols = WLS.fit(X=X, y=y, w=np.ones(k))
    return (ols.yPy - ols.tr_PD(vi)) / (k - p), ols


def estimate_tau2(*, method: str, X: Array, y: Array, vi: Array, control: Control) -> Tau2Estimate:
    """Estimate τ² with ``method``; see :data:`METHODS`."""
    k, p = X.shape
    if method in FIXED:
        return Tau2Estimate(0.0, float("nan"))
    if k <= p:
        raise EstimationError(
            f"cannot estimate tau2 with k = {k} studies and p = {p} coefficients: "
            "need more studies than coefficients"
        )
    yc = y - y.mean()
    if method == "HS":
        fe = WLS.fit(X=X, y=yc, w=1.0 / vi)
        tau2 = max(0.0, (fe.yPy - k) / fe.w.sum())
        se = np.sqrt(
            (2 * (k - p) + 4 * tau2 * fe.tr_PD() + 2 * tau2**2 * fe.tr_PD1PD2()) / fe.w.sum() ** 2
        )
        return Tau2Estimate(tau2, float(se))
    if method == "DL":
        fe = WLS.fit(X=X, y=yc, w=1.0 / vi)
        trP = fe.tr_PD()
        tau2 = max(0.0, (fe.yPy - (k - p)) / trP)
        se = np.sqrt((2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * fe.tr_PD1PD2()) / trP**2)
        return Tau2Estimate(tau2, float(se))
    if method == "HE":
        raw, ols = _he(X, yc, vi)
        tau2 = max(0.0, raw)
        se = np.sqrt(
            (2 * ols.tr_PD1PD2(vi, vi) + 4 * tau2 * ols.tr_PD(vi) + 2 * tau2**2 * (k - p))
            / (k - p) ** 2
        )
        return Tau2Estimate(tau2, float(se))
    if method == "SJ":
        tau2_0 = float(np.var(yc))  # metafor: var(y) * (k - 1) / k, the population variance
        if tau2_0 <= 0:
            raise EstimationError("SJ estimator needs effect sizes that are not all equal")
        fit = WLS.fit(X=X, y=yc, w=1.0 / (vi + tau2_0))
        tau2 = max(0.0, tau2_0 * fit.yPy / (k - p))
        se = np.sqrt(
            tau2_0**2
            / (k - p) ** 2
            * (
                2 * fit.tr_PD1PD2(vi, vi)
                + 4 * tau2 * fit.tr_PD1PD2(vi, 1.0)
                + 2 * tau2**2 * fit.tr_PD1PD2()
            )
        )
        return Tau2Estimate(tau2, float(se))
    if method == "PM":
        tau2 = _paule_mandel(X=X, y=yc, vi=vi, target=k - p, control=control)
        w = 1.0 / (vi + tau2)
        return Tau2Estimate(tau2, float(np.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)))
    if method in ("ML", "REML", "EB"):
        return _fisher_scoring(method=method, X=X, y=yc, vi=vi, control=control)
    raise InputError(field="method", value=method, allowed=f"one of {', '.join(METHODS)}")


def _paule_mandel(*, X: Array, y: Array, vi: Array, target: float, control: Control) -> float:
    def f(t: float) -> float:
        return generalised_Q(X=X, y=y, vi=vi, tau2=t) - target

    if f(0.0) < 0:
        return 0.0
    if f(control.tau2_max) > 0:
        raise EstimationError(
            f"Paule-Mandel: the root lies above tau2_max = {control.tau2_max}; "
            "raise Control.tau2_max or choose another method"
        )
    return float(brentq(f, 0.0, control.tau2_max, xtol=control.tol, rtol=4 * np.finfo(float).eps,
                        maxiter=control.maxiter))


def _fisher_scoring(
    *, method: str, X: Array, y: Array, vi: Array, control: Control
) -> Tau2Estimate:
    """Fisher scoring for ML, REML and EB, from the HE estimate, as metafor does.

    Each iteration is one weighted least squares fit, O(k·p²).
    """
    k, p = X.shape
    tau2 = max(0.0, _he(X, y, vi)[0])
    change = np.inf
    it = 0
    while change > control.threshold:
        it += 1
        if it > control.maxiter:
            if not control.fallback:
                raise EstimationError(
                    f"Fisher scoring for {method} did not converge in {control.maxiter} "
                    f"iterations (last change in tau2 = {change:.3g}); try method='PM' or 'DL'"
                )
            tau2 = _fallback(method=method, X=X, y=y, vi=vi, control=control)
            break
        fit = WLS.fit(X=X, y=y, w=1.0 / (vi + tau2))
        if method == "ML":
            adj = (fit.yPPy - fit.w.sum()) / np.sum(fit.w**2)
        elif method == "REML":
            adj = (fit.yPPy - fit.tr_PD()) / fit.tr_PD1PD2()
        else:  # EB
            adj = (fit.yPy * k / (k - p) - k) / fit.w.sum()
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2.0
        old = tau2
        tau2 = tau2 + adj
        change = abs(tau2 - old)

    # Guard against a local maximum, as metafor does: compare with tau2 = 0.
    if (method in ("ML", "REML") and tau2 > control.threshold
            and _loglik(method, X, y, vi, 0.0) - _loglik(method, X, y, vi, tau2) > control.tol):
        warnings.warn(
            f"{method}: Fisher scoring may have stopped at a local maximum; "
            "the likelihood is higher at tau2 = 0, which is used instead",
            ConvergenceWarning,
            stacklevel=3,
        )
        tau2 = 0.0
    tau2 = max(0.0, tau2)
    fit = WLS.fit(X=X, y=y, w=1.0 / (vi + tau2))
    if method == "ML":
        se = np.sqrt(2.0 / np.sum(fit.w**2))
    elif method == "REML":
        se = np.sqrt(2.0 / fit.tr_PD1PD2())
    else:
        se = np.sqrt(2 * k**2 / (k - p) / fit.w.sum() ** 2)
    return Tau2Estimate(tau2, float(se), it)


def _fallback(*, method: str, X: Array, y: Array, vi: Array, control: Control) -> float:
    """Safeguarded 1-D search when Fisher scoring oscillates (it can with few df).

    ML/REML: bounded Brent on the log likelihood, compared with the boundary τ² = 0.
    EB: its fixed point is the Paule–Mandel root Q(τ²) = k − p (Morris 1983), so solve that.
    """
    from scipy.optimize import minimize_scalar

    k, p = X.shape
    if method == "EB":
        return _paule_mandel(X=X, y=y, vi=vi, target=k - p, control=control)
    upper = max(control.tau2_max, 10 * float(np.var(y)))
    res = minimize_scalar(lambda t: -_loglik(method, X, y, vi, t), bounds=(0.0, upper),
                          method="bounded", options={"xatol": control.tol, "maxiter": 2000})
    if not res.success:
        raise EstimationError(f"{method}: neither Fisher scoring nor a bounded search "
                              "converged; try method='PM' or 'DL'")
    t = float(res.x)
    if _loglik(method, X, y, vi, 0.0) >= _loglik(method, X, y, vi, t):
        t = 0.0
    warnings.warn(f"{method}: Fisher scoring oscillated; tau2 found by a bounded search "
                  "of the likelihood instead", ConvergenceWarning, stacklevel=4)
    return t


def _loglik(method: str, X: Array, y: Array, vi: Array, tau2: float) -> float:
    k, p = X.shape
    fit = WLS.fit(X=X, y=y, w=1.0 / (vi + tau2))
    if method == "ML":
        return -0.5 * k * np.log(2 * np.pi) - 0.5 * np.sum(np.log(vi + tau2)) - 0.5 * fit.yPy
    return (
        -0.5 * (k - p) * np.log(2 * np.pi)
        - 0.5 * np.sum(np.log(vi + tau2))
        - 0.5 * fit.logdet_A()
        - 0.5 * fit.yPy
    )


def q_profile_ci(
    *, X: Array, y: Array, vi: Array, level: float, tau2: float, control: Control
) -> tuple[float, float]:
    """Q-profile confidence interval for τ² (Viechtbauer 2007), as ``confint.rma.uni``.

    The bounds solve ``Q(τ²) = χ²`` quantiles of ``k - p`` df; a bound that falls
    below zero is set to zero. Returns ``(lower, upper)``.
    """
    from scipy.stats import chi2

    k, p = X.shape
    alpha = 1 - level
    crit_u = chi2.isf(alpha / 2, k - p)
    crit_l = chi2.ppf(alpha / 2, k - p)
    tmax = max(100.0, tau2 * 10)

    def f(t: float, target: float) -> float:
        return generalised_Q(X=X, y=y, vi=vi, tau2=t) - target

    q0 = f(0.0, 0.0)
    qmax = f(tmax, 0.0)
    kw = dict(xtol=control.tol, rtol=4 * np.finfo(float).eps, maxiter=control.maxiter)
    if q0 < crit_l:
        lb = ub = 0.0
    else:
        ub = tmax if qmax > crit_l else float(brentq(f, 0.0, tmax, args=(crit_l,), **kw))
        lb = 0.0 if q0 < crit_u else float(brentq(f, 0.0, tmax, args=(crit_u,), **kw))
    if qmax > crit_u:
        lb = ub = tmax
    return lb, ub
