"""Satterthwaite denominator degrees of freedom, as lmerTest computes them.

lmerTest (Kuznetsova, Brockhoff & Christensen 2017, *J. Stat. Softw.* 82(13)) takes the
variance parameters ``φ = (θ, σ)``, the Hessian ``H`` of the (non-profiled) deviance
in φ, ``A = 2 H⁻¹`` (over the positive eigenvalues), and the Jacobian of
``C(φ) = σ² (X'V⁻¹X)⁻¹``. For a contrast ``L``:
``df = 2 (L'CL)² / (g' A g)`` with ``g = ∂(L'CL)/∂φ``. The derivatives here are
central differences refined by Richardson extrapolation with numDeriv's default steps
(written here because the criterion is our own function of φ).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["hessian", "jacobian", "satterthwaite_df"]


# numDeriv's defaults (lmerTest calls numDeriv::hessian and numDeriv::jacobian with them):
# relative step d (0.1 for the Hessian, 1e-4 for the Jacobian), absolute step eps where
# |x| < zero_tol, r halvings combined by Richardson extrapolation.
_D_HESS = 0.1
_D_JAC = 1e-4
_EPS = 1e-4
_ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))
_R = 4


def _steps(x: np.ndarray, d: float) -> np.ndarray:
    return np.abs(d * x) + _EPS * (np.abs(x) < _ZERO_TOL)


def _richardson(values: list[np.ndarray]) -> np.ndarray:
    """Combine estimates at steps h, h/2, h/4, ... whose errors are even powers of h."""
    table = [np.asarray(v, dtype=float) for v in values]
    m = 1
    while len(table) > 1:
        f = 4.0**m
        table = [(f * table[i + 1] - table[i]) / (f - 1.0) for i in range(len(table) - 1)]
        m += 1
    return table[0]


def jacobian(func: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Jacobian of a vector function (columns: parameters), central differences + Richardson."""
    x = np.asarray(x, dtype=float)
    h0 = _steps(x, _D_JAC)
    cols = []
    for j in range(len(x)):
        ests = []
        for k in range(_R):
            h = h0[j] / 2.0**k
            e = np.zeros_like(x)
            e[j] = h
            ests.append((np.ravel(func(x + e)) - np.ravel(func(x - e))) / (2.0 * h))
        cols.append(_richardson(ests))
    return np.column_stack(cols)


def hessian(func: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Hessian of a scalar function by Richardson-refined second differences.

    Off-diagonal terms use the diagonal step ``x ± (h_i e_i + h_j e_j)`` corrected by the
    diagonal curvatures, the scheme numDeriv uses, so that Satterthwaite df agree with
    lmerTest to the precision the finite differences allow.
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    h0 = _steps(x, _D_HESS)
    f0 = func(x)
    H = np.empty((k, k))
    for i in range(k):
        ests = []
        for s in range(_R):
            h = h0[i] / 2.0**s
            e = np.zeros(k)
            e[i] = h
            ests.append((func(x + e) - 2.0 * f0 + func(x - e)) / (h * h))
        H[i, i] = float(_richardson(ests))
    for i in range(k):
        for j in range(i):
            ests = []
            for s in range(_R):
                h = h0 / 2.0**s
                e = np.zeros(k)
                e[i] = h[i]
                e[j] = h[j]
                num = (func(x + e) - 2.0 * f0 + func(x - e)
                       - H[i, i] * h[i] ** 2 - H[j, j] * h[j] ** 2)
                ests.append(num / (2.0 * h[i] * h[j]))
            H[i, j] = H[j, i] = float(_richardson(ests))
    return H


def satterthwaite_df(
    *, vcov_beta: np.ndarray, jac: np.ndarray, hess: np.ndarray, tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-coefficient Satterthwaite df.

    Parameters
    ----------
    vcov_beta
        ``p × p`` covariance of β̂.
    jac
        ``(p·p) × k`` Jacobian of the covariance in the variance parameters.
    hess
        ``k × k`` Hessian of the deviance in the variance parameters.
    tol
        Eigenvalues of ``hess`` at or below ``tol`` are left out of its inverse (lmerTest).

    Returns
    -------
    df, vcov_varpar, n_nonpositive
    """
    p = vcov_beta.shape[0]
    vals, vecs = np.linalg.eigh(0.5 * (hess + hess.T))
    pos = vals > tol
    inv = (vecs[:, pos] / vals[pos]) @ vecs[:, pos].T
    A = 2.0 * inv
    df = np.empty(p)
    for i in range(p):
        g = jac[i * p + i, :]
        denom = float(g @ A @ g)
        df[i] = 2.0 * vcov_beta[i, i] ** 2 / denom if denom > 0 else np.inf
    return df, A, int((~pos).sum())
