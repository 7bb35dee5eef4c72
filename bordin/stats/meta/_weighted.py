"""Weighted least squares pieces of the univariate model, in O(k·p²).

metafor forms the k × k matrix ``P = W - W X (X'WX)⁻¹ X'W`` and takes traces and
quadratic forms of it. Every quantity it needs is a trace or a quadratic form, and with a
diagonal ``W`` each reduces to p × p algebra on weighted cross-products of ``X``, so
nothing here is ever k × k. That is what makes a fit at k = 100,000 take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bordin.errors import EstimationError

Array = NDArray[np.float64]


def _inv_spd(A: Array, *, what: str) -> Array:
    """Invert a small symmetric positive definite matrix, or say why not."""
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(
            f"{what} is not positive definite: the moderators are collinear "
            "(a column is constant or a combination of others), so the model is not identified"
        ) from exc
    Linv = np.linalg.solve(L, np.eye(A.shape[0]))
    return Linv.T @ Linv


# Tall-skinny products (k × p with small p) are written as one pass per column pair
# instead of BLAS calls: a multithreaded BLAS spends more on thread hand-off than on the
# arithmetic for these shapes, badly so on a busy machine (measured: a k = 100,000
# dot product took 30 ms through BLAS vs 1.6 ms as a plain reduction with 8 processes
# competing for 2 cores). np.sum also uses pairwise summation, which is more accurate.
_BLAS_FROM_P = 16


def cross(X: Array, d: Array) -> Array:
    """``X' diag(d) X`` without forming ``diag(d)``."""
    p = X.shape[1]
    if p >= _BLAS_FROM_P:
        return (X * d[:, None]).T @ X
    out = np.empty((p, p))
    for j in range(p):
        zj = X[:, j] * d
        for m in range(j + 1):
            out[j, m] = out[m, j] = np.sum(zj * X[:, m])
    return out


def xtv(X: Array, v: Array) -> Array:
    """``X' v``."""
    if X.shape[1] >= _BLAS_FROM_P:
        return X.T @ v
    return np.array([np.sum(X[:, j] * v) for j in range(X.shape[1])])


def xb(X: Array, b: Array) -> Array:
    """``X b``."""
    if X.shape[1] >= _BLAS_FROM_P:
        return X @ b
    out = X[:, 0] * b[0]
    for j in range(1, X.shape[1]):
        out = out + X[:, j] * b[j]
    return out


@dataclass(frozen=True)
class WLS:
    """A weighted least squares fit with weights ``w``: everything P-related.

    Attributes
    ----------
    w
        The weights (length k).
    A_inv
        ``(X'WX)⁻¹``.
    beta
        ``(X'WX)⁻¹ X'W y``.
    resid
        ``y - X beta``.
    """

    w: Array
    X: Array
    y: Array
    A_inv: Array
    beta: Array
    resid: Array

    @classmethod
    def fit(cls, *, X: Array, y: Array, w: Array) -> WLS:
        A_inv = _inv_spd(cross(X, w), what="X'WX")
        beta = A_inv @ xtv(X, w * y)
        return cls(w=w, X=X, y=y, A_inv=A_inv, beta=beta, resid=y - xb(X, beta))

    @property
    def yPy(self) -> float:  # noqa: N802 (matrix notation)
        """``y'Py`` = the weighted residual sum of squares."""
        return float(np.sum(self.w * self.resid**2))

    @property
    def yPPy(self) -> float:  # noqa: N802
        """``y'PPy`` = ``‖W e‖²`` since ``P y = W e``."""
        return float(np.sum((self.w * self.resid) ** 2))

    def tr_PD(self, d: Array | float = 1.0) -> float:  # noqa: N802
        """``tr(P D)`` for diagonal ``D = diag(d)``."""
        d = np.broadcast_to(np.asarray(d, dtype=float), self.w.shape)
        return float(np.sum(self.w * d) - np.trace(self.A_inv @ cross(self.X, self.w**2 * d)))

    def tr_PD1PD2(  # noqa: N802
        self, d1: Array | float = 1.0, d2: Array | float = 1.0
    ) -> float:
        """``tr(P D1 P D2)`` for diagonal ``D1``, ``D2`` (``sum(P*P)`` when both are I)."""
        w = self.w
        d1 = np.broadcast_to(np.asarray(d1, dtype=float), w.shape)
        d2 = np.broadcast_to(np.asarray(d2, dtype=float), w.shape)
        t1 = np.sum(w**2 * d1 * d2)
        t2 = np.trace(self.A_inv @ cross(self.X, w**3 * d1 * d2))
        B1 = self.A_inv @ cross(self.X, w**2 * d1)
        B2 = self.A_inv @ cross(self.X, w**2 * d2)
        t3 = np.sum(B1 * B2.T)
        return float(t1 - 2.0 * t2 + t3)

    def logdet_A(self) -> float:  # noqa: N802
        """``log |X'WX|``."""
        _sign, val = np.linalg.slogdet(cross(self.X, self.w))
        return float(val)


def generalised_Q(*, X: Array, y: Array, vi: Array, tau2: float) -> float:  # noqa: N802
    """The generalised Q statistic ``y' P(τ²) y`` with weights ``1 / (vi + τ²)``."""
    return WLS.fit(X=X, y=y, w=1.0 / (vi + tau2)).yPy
