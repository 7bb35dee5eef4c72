"""A small maximum-likelihood fitter for orthogonal factor models, used for omega.

Written by hand rather than through semopy because omega's confidence interval
needs the full parameter covariance (expected information) for the delta method,
and the models here (one factor, or a bifactor with orthogonal factors of
variance 1) have a loading pattern simple enough to fit directly on the
covariance matrix. The fit matches lavaan's ``cfa(..., std.lv=TRUE,
estimator="ML")``: the sample covariance uses the divisor N and the standard
errors come from the expected information.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from bordin.errors import EstimationError


@dataclass(frozen=True)
class FactorFit:
    """Loadings (p x m), residual variances (p), parameter covariance, log-likelihood."""

    loadings: np.ndarray
    residuals: np.ndarray
    cov: np.ndarray
    n: int
    loglik: float
    converged: bool


def fit_orthogonal(x: np.ndarray, pattern: np.ndarray) -> FactorFit:
    """Fit Sigma = L L' + diag(theta) with L free where ``pattern`` is True.

    Parameters
    ----------
    x
        n x p data matrix (complete cases).
    pattern
        p x m boolean mask of free loadings; factors are orthogonal with variance 1.
    """
    n, p = x.shape
    s = np.cov(x, rowvar=False, ddof=0)
    free = np.argwhere(pattern)
    nl = len(free)

    def unpack(par: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam = np.zeros(pattern.shape)
        lam[free[:, 0], free[:, 1]] = par[:nl]
        return lam, par[nl:]

    def sigma_of(par: np.ndarray) -> np.ndarray:
        lam, th = unpack(par)
        return lam @ lam.T + np.diag(th)

    def objective(par: np.ndarray) -> tuple[float, np.ndarray]:
        lam, th = unpack(par)
        sig = lam @ lam.T + np.diag(th)
        sign, logdet = np.linalg.slogdet(sig)
        if sign <= 0:
            return 1e10, np.zeros_like(par)
        si = np.linalg.inv(sig)
        f = logdet + np.trace(s @ si)
        g_sigma = si - si @ s @ si  # dF/dSigma (symmetric)
        g_lam = 2.0 * g_sigma @ lam
        grad = np.concatenate([g_lam[free[:, 0], free[:, 1]], np.diag(g_sigma)])
        return float(f), grad

    # Start: loadings from the first principal axes, residuals half the variances.
    d = np.diag(s)
    start_l = np.sqrt(d[free[:, 0]] * 0.5) * np.where(free[:, 1] == 0, 1.0, 0.5)
    start = np.concatenate([start_l, d * 0.5])
    bounds = [(None, None)] * nl + [(1e-8 * float(d.min()), None)] * p
    res = optimize.minimize(
        objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
    )
    if not np.isfinite(res.fun):
        raise EstimationError("the factor model could not be fitted to these items")
    par = res.x
    sig = sigma_of(par)
    si = np.linalg.inv(sig)
    # Expected information per observation: 0.5 * Delta' (Si kron Si) Delta.
    lam, _ = unpack(par)
    delta = np.zeros((p * p, len(par)))
    for k, (j, f) in enumerate(free):
        dm = np.zeros((p, p))
        dm[j, :] += lam[:, f]
        dm[:, j] += lam[:, f]
        delta[:, k] = dm.ravel()
    for j in range(p):
        dm = np.zeros((p, p))
        dm[j, j] = 1.0
        delta[:, nl + j] = dm.ravel()
    info = 0.5 * delta.T @ np.kron(si, si) @ delta
    try:
        cov = np.linalg.inv(info) / n
    except np.linalg.LinAlgError as exc:
        raise EstimationError("the factor model is not identified for these items") from exc
    _, logdet = np.linalg.slogdet(sig)
    loglik = -0.5 * n * (p * np.log(2 * np.pi) + logdet + np.trace(s @ si))
    lam, th = unpack(par)
    return FactorFit(
        loadings=lam, residuals=th, cov=cov, n=n, loglik=float(loglik),
        converged=bool(res.success),
    )
