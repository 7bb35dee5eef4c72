"""Minimise the profiled criterion over θ.

One relative covariance parameter (a single random intercept): a bracketing grid on a
log scale followed by bounded Brent, with the boundary θ = 0 checked explicitly. More
parameters: bounded L-BFGS-B with finite-difference gradients; every variance that ends
on or next to zero is probed along its axis and the optimiser restarted from a better
interior point (see ``_escape_boundary``); then a check of every variance near the
boundary at exactly zero and a few Newton steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

__all__ = ["OptimResult", "minimise"]


@dataclass
class OptimResult:
    """Where the optimiser stopped."""

    theta: np.ndarray
    value: float
    converged: bool
    n_evals: int
    message: str
    notes: list[str] = field(default_factory=list)


def _counting(f: Callable[[np.ndarray], float]) -> tuple[Callable[[np.ndarray], float], list[int]]:
    count = [0]

    def g(x: np.ndarray) -> float:
        count[0] += 1
        return f(np.asarray(x, dtype=float))

    return g, count


def _one_dim(f: Callable[[np.ndarray], float]) -> OptimResult:
    g, count = _counting(f)
    # a bracketing grid, about half a decade apart: Brent then only needs to get close
    # (the Newton polish below does the last digits), so a coarse grid costs nothing in
    # accuracy and each evaluation saved is a pass over all groups
    grid = np.array([0.0, 1e-3, 1e-2, 0.04, 0.12, 0.3, 0.7, 1.5, 4.0, 12.0, 50.0, 200.0,
                     1000.0])
    vals = np.array([g(np.array([t])) for t in grid])
    i = int(np.argmin(vals))
    if i == len(grid) - 1:
        return OptimResult(np.array([grid[i]]), float(vals[i]), False, count[0],
                           "relative standard deviation above 1000")
    lo = grid[max(i - 1, 0)]
    hi = grid[i + 1]
    res = optimize.minimize_scalar(
        lambda t: g(np.array([t])), bounds=(lo, hi), method="bounded",
        options={"xatol": 1e-4 * max(grid[i], 1e-3), "maxiter": 500},
    )
    t, v = float(res.x), float(res.fun)
    if vals[0] <= v:
        t, v = 0.0, float(vals[0])
    elif t > 0.0:
        # Brent compares criterion values, which stop resolving θ once the differences
        # fall to the criterion's rounding (~1e-12 relative): on a flat criterion that
        # leaves θ off by 1e-5 relative. Newton on central differences finds the zero of
        # the derivative instead.
        x, v, _ = _newton_polish(g, np.array([t]), v, np.array([0.0]))
        t = float(x[0])
    return OptimResult(np.array([t]), v, bool(res.success), count[0], str(res.message))


def _grad_hess(
    g: Callable[[np.ndarray], float], x: np.ndarray, f0: float, free: np.ndarray,
    step: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian over the free coordinates.

    Steps are ``step`` if given, else ``1e-4·max(|x|, 0.01)`` (relative to θ).
    """
    idx = np.flatnonzero(free)
    h = 1e-4 * np.maximum(np.abs(x), 1e-2) if step is None else step
    k = len(idx)
    grad = np.zeros(k)
    H = np.zeros((k, k))
    fp = np.zeros(k)
    fm = np.zeros(k)
    for a, i in enumerate(idx):
        e = np.zeros_like(x)
        e[i] = h[i]
        fp[a], fm[a] = g(x + e), g(x - e)
        grad[a] = (fp[a] - fm[a]) / (2 * h[i])
        H[a, a] = (fp[a] - 2 * f0 + fm[a]) / h[i] ** 2
    for a, i in enumerate(idx):
        for b in range(a):
            j = idx[b]
            e = np.zeros_like(x)
            e[i], e[j] = h[i], h[j]
            fpp, fmm = g(x + e), g(x - e)
            H[a, b] = H[b, a] = (fpp - 2 * f0 + fmm - H[a, a] * h[i] ** 2
                                 - H[b, b] * h[j] ** 2) / (2 * h[i] * h[j])
    return idx, grad, H


def _newton_polish(
    g: Callable[[np.ndarray], float], x: np.ndarray, value: float, lower: np.ndarray,
    iterations: int = 6, diff_step: np.ndarray | None = None, ftol: float = 0.0,
) -> tuple[np.ndarray, float, np.ndarray]:
    """A few projected Newton steps from near the optimum (quadratic convergence).

    ``diff_step``: the finite-difference steps (see ``_grad_hess``); the default, relative to
    each element, suits θ, whose elements are of order 1. Coordinates that may sit near
    0 without being small in their own units (a correlation) need absolute steps.
    ``ftol``: stop once a step lowers ``g`` by less than this (the next would gain far
    less; the default 0 stops on the step size alone).
    """
    grad_full = np.zeros_like(x)
    for _ in range(iterations):
        at_bound = np.isfinite(lower) & (x <= lower)
        free = np.ones(len(x), dtype=bool)
        _, grad, H = _grad_hess(g, x, value, free, diff_step)
        grad_full[:] = grad
        # coordinates held at the bound: those pushing outwards
        free = ~(at_bound & (grad_full > 0))
        if not free.any():
            break
        try:
            np.linalg.cholesky(H[np.ix_(free, free)])
        except np.linalg.LinAlgError:
            # at θ = 0 the derivative vanishes and the curvature there can be zero or
            # negative: polish the others with the bound coordinates held where they are
            free = ~at_bound
            if not free.any():
                break
            try:
                np.linalg.cholesky(H[np.ix_(free, free)])
            except np.linalg.LinAlgError:
                break
        sub = np.ix_(free, free)
        Hs, gs = H[sub], grad_full[free]
        step = np.zeros_like(x)
        step[free] = -np.linalg.solve(Hs, gs)
        improved = False
        rel = 0.0
        before = value
        # near the optimum a correct step changes the criterion by less than its rounding:
        # accept a step that does not make it worse beyond that
        slack = 1e-11 * max(1.0, abs(value))
        for t in (1.0, 0.5, 0.25, 0.1):
            trial = np.maximum(x + t * step, np.where(np.isfinite(lower), lower, -np.inf))
            ft = g(trial)
            if ft <= value + slack:
                rel = float(np.max(np.abs(trial - x) / np.maximum(np.abs(x), 1e-2)))
                x, value, improved = trial, ft, True
                break
        # Newton converges quadratically: after a relative step below 1e-7 the remaining
        # error is far below 1e-6 (and steps beyond that chase rounding)
        if not improved or rel < 1e-7 or before - value < ftol:
            break
    return x, value, grad_full


# Relative sizes (times an element's typical size) at which a variance that ended at zero
# is probed: from just off the boundary to well beyond the usual range.
_PROBES = (1e-4, 1e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
# An element this close to its bound (relative to its typical size) is treated as stranded
# there: near θ = 0 the criterion is flat (quadratic in θ), so the gradient test passes.
_NEAR = 0.01


def _escape_boundary(
    g: Callable[[np.ndarray], float],
    run: Callable[[np.ndarray], tuple[np.ndarray, float, str]],
    x: np.ndarray, value: float, message: str, lower: np.ndarray, size: np.ndarray,
    rounds: int = 3,
) -> tuple[np.ndarray, float, str]:
    """Move off the boundary where an interior point is better.

    The criterion depends on a random intercept's θ only through θ², so its derivative in
    θ is exactly zero at θ = 0: a gradient method that lands there (a long first step
    projected onto the bound) sees a stationary point and stops, even when the boundary
    is a saddle and an interior optimum is better (three-level models with few clinics).
    So every diagonal element that ended on or next to its bound is probed along its own axis at
    several distances; from the best probe that beats the current value the optimiser is
    restarted, and the better of the two optima kept. Repeated while it helps (a restart
    can strand another element).
    """
    for _ in range(rounds):
        improved = False
        near = np.isfinite(lower) & (x - lower < _NEAR * size)
        for j in np.flatnonzero(near):
            if x[j] - lower[j] >= _NEAR * size[j]:  # moved off by an earlier restart
                continue
            best, best_value = None, value
            for t in _PROBES:
                trial = x.copy()
                trial[j] = lower[j] + t * size[j]
                ft = g(trial)
                if ft < best_value:
                    best, best_value = trial, ft
            if best is None:
                continue
            x2, v2, m2 = run(best)
            if v2 < value:
                x, value, message, improved = x2, v2, m2, True
        if not improved:
            break
    return x, value, message


def minimise(
    f: Callable[[np.ndarray], float], theta0: np.ndarray, lower: np.ndarray,
    scale: np.ndarray | None = None,
) -> OptimResult:
    """Minimise ``f`` over θ with ``θ ≥ lower``.

    Parameters
    ----------
    f
        The profiled deviance or REML criterion.
    theta0
        Starting value.
    lower
        Lower bounds (0 for diagonal elements of Λ, ``-inf`` otherwise).
    scale
        Typical size of each element. L-BFGS-B works on ``θ / (0.1·scale)``: its first
        step has unit length, which in θ would often throw a variance onto its bound and
        leave it stranded there (a trap of the Cholesky parameterisation).
    """
    if len(theta0) == 1:
        return _one_dim(f)
    g, count = _counting(f)
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    opts = {"ftol": 1e-10, "gtol": 1e-6, "maxiter": 2000, "maxls": 50}
    s = 0.1 * (np.ones(len(theta0)) if scale is None else np.asarray(scale, dtype=float))

    def run(start: np.ndarray) -> tuple[np.ndarray, float, str]:
        # forward differences suffice here: the Newton polish below uses central ones
        r = optimize.minimize(lambda u: g(u * s), start / s, method="L-BFGS-B",
                              jac="2-point", bounds=bounds, options=opts)
        return r.x * s, float(r.fun), str(r.message)

    theta0 = np.asarray(theta0, dtype=float)
    x, value, message = run(theta0)
    x, value, message = _escape_boundary(g, run, x, value, message, lower, 10.0 * s)
    # a diagonal element close to its bound: try it at exactly zero
    for j in np.flatnonzero(np.isfinite(lower)):
        if 0.0 < x[j] < 1e-3:
            trial = x.copy()
            trial[j] = 0.0
            sub = optimize.minimize(
                lambda u: g(u * s), trial / s, method="L-BFGS-B", jac="3-point",
                bounds=[(0.0, 0.0) if i == j else b for i, b in enumerate(bounds)],
                options=opts,
            )
            if float(sub.fun) <= value:
                x, value = sub.x * s, float(sub.fun)
    x, value, grad = _newton_polish(g, x, value, lower)
    free = ~((np.isfinite(lower)) & (x <= lower) & (grad > 0))
    # lme4 flags gradients above 2e-3; allow for rounding in a criterion of size |value|
    h = 1e-4 * np.maximum(np.abs(x), 1e-2)
    tol = 2e-3 + 1e-12 * abs(value) / float(h.min())
    converged = bool(np.all(np.abs(grad[free]) < tol))
    return OptimResult(x, value, converged, count[0], message)
