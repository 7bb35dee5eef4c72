"""Confidence intervals for the parameters of a linear mixed model: profile and Wald.

The profile intervals are lme4's (``confint(m, method = "profile")``, Bates et al. 2015,
*J. Stat. Softw.* 67(1), section 5.1). The parameters are lme4's: the standard deviations
and correlations of the random effects (``.sig01``, ``.sig02``, ... in the order of θ),
the residual standard deviation ``.sigma``, and the fixed effects. For one parameter ``ψ``
the signed root deviance is

    ζ(ψ) = sign(ψ − ψ̂) · sqrt(d(ψ) − d̂),

with ``d(ψ)`` the ML deviance minimised over all other parameters with ``ψ`` held fixed
and ``d̂`` the ML deviance at the estimates. The interval at level ``1 − α`` is
``{ψ : |ζ(ψ)| ≤ z_{1−α/2}}``. As in lme4, REML fits are profiled on the ML deviance of
their ML refit (lme4's ``profile`` calls ``refitML``), so the intervals are centred on the
ML estimates; a bound that the profile does not reach before the parameter's own bound
(a standard deviation of 0, a correlation of ±1) is that bound.

How the roots are found
    lme4 evaluates ζ on a grid stepped out from the estimate (about 20 points per
    parameter) and inverts an interpolating spline through them. Here the two roots of
    ``ζ(ψ) = ±z`` are found directly: a first step to ``ψ̂ ± z·SE`` (SE from the
    curvature of the deviance), secant steps until ζ passes ``±z``, then Brent's method
    on the bracket — about six evaluations of ζ per bound. Every evaluation is an
    optimisation over the remaining parameters, but each costs only passes over the
    per-group sufficient statistics, so that is cheap, and the bounds are exact to the
    optimiser's precision (ζ to ~1e-8) instead of carrying the spline's interpolation
    error (up to about 1e-3 relative for lme4's grid; ``tests/stats/mixed``).

The inner optimisations
    With a variance parameter held fixed: the ML deviance as a function of
    ``(sd, cor, σ)`` (lme4's ``devfun2``; β profiled out in closed form), over the other
    standard deviations and σ as they are and each correlation matrix through the
    hyperspherical angles of its Cholesky rows (always a valid correlation matrix; lme4
    boxes the correlations in [-1, 1] and maps an indefinite matrix through a pivoted
    Cholesky factor, which evaluates the deviance at a different covariance than the one
    reported). Bounded L-BFGS-B from the nearest profile point already solved, probes off
    the points where the derivative vanishes (a standard deviation at 0, a correlation at
    ±1), then Newton steps on central differences. With a fixed effect ``β_j`` held
    fixed: ``y − x_j β_j`` and the remaining columns of ``X'V⁻¹X`` give the deviance in
    closed form for every θ (``Profile.deviance_fixed_beta``), minimised over θ with the
    fitting optimiser.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bordin.errors import ConvergenceWarning, EstimationError, InputError
from bordin.stats.mixed.optimize import _escape_boundary, _newton_polish, minimise
from bordin.stats.mixed.profile import LOG2PI, Profile

if TYPE_CHECKING:
    from bordin.stats.mixed.results import MixedModel

__all__ = ["LikelihoodProfile", "Parameter", "confint"]

Kind = Literal["sd", "cor", "sigma", "fixed"]

# L-BFGS-B for the inner optimisations needs only to get close: Newton steps on central
# differences then take the deviance to ~1e-10 (tighter settings here cost a third more
# evaluations and changed no ζ beyond 1e-9)
_INNER_OPTIONS = {"ftol": 1e-8, "gtol": 1e-5, "maxiter": 2000, "maxls": 50}


@dataclass(frozen=True)
class Parameter:
    """One parameter of the profile.

    Attributes
    ----------
    name
        lme4's name (``confint(m, oldNames = TRUE)``): ``".sig01"``, ``".sigma"``, or the
        fixed effect's name as in ``MixedModel.fixed`` (formulaic's, e.g. ``"Intercept"``).
    label
        lme4's descriptive name (``oldNames = FALSE``) with Bordin's term and group names:
        ``"sd_Intercept|Subject"``, ``"cor_Days.Intercept|Subject"``, ``"sigma"``.
    kind
        ``"sd"``, ``"cor"``, ``"sigma"`` or ``"fixed"``.
    index
        Position in the variance-parameter vector (sd/cor/σ) or in β.
    """

    name: str
    label: str
    kind: Kind
    index: int


def _psd_cholesky(R: list[list[float]]) -> list[list[float]] | None:
    """Lower Cholesky factor of a positive semi-definite correlation matrix, or ``None``.

    Unlike ``numpy.linalg.cholesky`` this accepts singular matrices (a correlation of
    ±1), which lie on the edge of the profiled region. Plain Python: for the q ≤ 4 of a
    random-effects term it is several times faster than numpy on tiny arrays.
    """
    q = len(R)
    L = [[0.0] * q for _ in range(q)]
    for j in range(q):
        Lj = L[j]
        d = R[j][j] - sum(Lj[k] * Lj[k] for k in range(j))
        if d < -1e-12:
            return None
        ljj = math.sqrt(max(d, 0.0))
        Lj[j] = ljj
        for i in range(j + 1, q):
            Li = L[i]
            v = R[i][j] - sum(Li[k] * Lj[k] for k in range(j))
            if ljj > 1e-12:
                Li[j] = v / ljj
            elif abs(v) > 1e-9:
                return None
    return L


def _parameters(prof: Profile, fixed_names: list[str]) -> list[Parameter]:
    """lme4's parameters of a model: sd/cor per level in θ order, σ, then β."""
    out: list[Parameter] = []
    k = 0
    for lev, (rows, cols) in zip(prof.levels, prof.tril, strict=True):
        for i, j in zip(rows, cols, strict=True):
            if i == j:
                label, kind = f"sd_{lev.terms[i]}|{lev.name}", "sd"
            else:
                label, kind = f"cor_{lev.terms[i]}.{lev.terms[j]}|{lev.name}", "cor"
            out.append(Parameter(f".sig{k + 1:02d}", label, kind, k))  # type: ignore[arg-type]
            k += 1
    out.append(Parameter(".sigma", "sigma", "sigma", k))
    out += [Parameter(name, name, "fixed", j) for j, name in enumerate(fixed_names)]
    return out


def _phi(prof: Profile, theta: np.ndarray, sigma: float) -> np.ndarray:
    """``(sd, cor, …, σ)`` from lme4's θ and σ (lme4's ``Cv_to_Sv``)."""
    out = np.empty(prof.n_theta + 1)
    for lam, sl, (rows, cols) in zip(prof.lambdas(theta), prof.slices, prof.tril,
                                     strict=True):
        S = sigma * sigma * lam @ lam.T
        sd = np.sqrt(np.clip(np.diag(S), 0.0, None))
        den = np.outer(sd, sd)
        C = np.divide(S, den, out=np.zeros_like(S), where=den > 0)
        out[sl] = np.where(rows == cols, sd[rows], C[rows, cols])
    out[-1] = sigma
    return out


def _unit_from_angles(angles: list[float]) -> list[float]:
    """The unit vector with hyperspherical angles ``angles`` (one element more)."""
    out = []
    scale = 1.0
    for a in angles:
        out.append(scale * math.cos(a))
        scale *= math.sin(a)
    out.append(scale)
    return out


def _angles_from_unit(u: list[float]) -> list[float]:
    """Hyperspherical angles of a vector's direction (the inverse of the above)."""
    k = len(u)
    angles = [math.atan2(math.sqrt(sum(x * x for x in u[j + 1:])), u[j]) for j in range(k - 1)]
    if k >= 2:
        angles[-1] = math.atan2(u[-1], u[-2])
    return angles


class _Layout:
    """The free parameters of one inner optimisation: which are held, how each is coded.

    ``direct``: indices (in the sd/cor/σ vector) of the standard deviations and σ that
    are free, taken as they are; then, per grouping factor with correlations, the angles
    of the free rows of its correlation matrix's Cholesky factor (terms permuted so that a
    held correlation's two terms come first).
    """

    def __init__(self, lp: LikelihoodProfile, w: int, value: float) -> None:
        self.lp = lp
        self.w = w
        self.value = value
        self.direct = [i for i, kd in enumerate(lp._kinds) if kd in ("sd", "sigma") and i != w]
        # (slice, q, perm, first free row, held correlation or None, pair positions)
        self.levels: list[tuple[slice, int, list[int], int, float | None,
                                list[tuple[int, int, int]]]] = []
        self.n_angles = 0
        prof = lp._prof
        for lev, sl, (rows, cols) in zip(prof.levels, prof.slices, prof.tril, strict=True):
            q = lev.q
            if q == 1:
                continue
            pairs = [(sl.start + k, int(i), int(j))
                     for k, (i, j) in enumerate(zip(rows, cols, strict=True)) if i != j]
            held = next(((i, j) for g, i, j in pairs if g == w), None)
            if held is None:
                perm, first, rho = list(range(q)), 1, None
            else:
                a, b = held
                perm = [a, b, *[t for t in range(q) if t not in (a, b)]]
                first, rho = 2, value
            self.levels.append((sl, q, perm, first, rho, pairs))
            self.n_angles += sum(range(first, q))

    def phi(self, x: np.ndarray) -> np.ndarray:
        """The sd/cor/σ vector for free values ``x``."""
        out = self.lp.phi_hat.copy()
        out[self.w] = self.value
        n = len(self.direct)
        out[self.direct] = x[:n]
        pos = n
        for _, q, perm, first, rho, pairs in self.levels:
            rows: list[list[float]] = [[1.0]]
            if rho is not None:
                rows.append([rho, math.sqrt(max(1.0 - rho * rho, 0.0))])
            for i in range(first, q):
                rows.append(_unit_from_angles(x[pos:pos + i].tolist()))
                pos += i
            # correlations of the terms in their own order: R[perm[i], perm[j]] = L_i·L_j
            where = {t: k for k, t in enumerate(perm)}
            for g, i, j in pairs:
                ri, rj = rows[where[i]], rows[where[j]]
                out[g] = sum(a * b for a, b in zip(ri, rj, strict=False))
        return out

    def free(self, phi: np.ndarray) -> np.ndarray:
        """Free values that reproduce ``phi`` as closely as the held values allow."""
        x = [float(phi[i]) for i in self.direct]
        for _, q, perm, first, _rho, pairs in self.levels:
            R = [[1.0] * q for _ in range(q)]
            where = {t: k for k, t in enumerate(perm)}
            for g, i, j in pairs:
                a, b = where[i], where[j]
                R[a][b] = R[b][a] = float(np.clip(phi[g], -1.0, 1.0))
            L = _psd_cholesky(R) or [[1.0 if r == c else 0.0 for c in range(q)]
                                     for r in range(q)]
            for i in range(first, q):
                x += _angles_from_unit(L[i][: i + 1])
        return np.array(x)


class LikelihoodProfile:
    """The signed root deviance ζ of every parameter of a fitted model, and its roots.

    Parameters
    ----------
    model
        A fitted :class:`~bordin.stats.mixed.results.MixedModel`; a REML fit is refitted
        by ML (from its stored sufficient statistics) first, as lme4's ``profile`` does.

    Attributes
    ----------
    model : MixedModel
        The ML fit that is profiled (``model`` itself for an ML fit).
    parameters : list of Parameter
        Variance parameters (in θ order, then ``.sigma``), then the fixed effects.
    estimates : numpy.ndarray
        The ML estimates, in the order of ``parameters``.
    deviance : float
        The ML deviance at the estimates (ζ = 0 there).
    """

    def __init__(self, model: MixedModel) -> None:
        if model.reml:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ml = model.refit(reml=False)
            for w in caught:
                if issubclass(w.category, ConvergenceWarning):
                    warnings.warn(f"ML refit for the profile: {w.message}",
                                  ConvergenceWarning, stacklevel=3)
        else:
            ml = model
        self.model = ml
        prof = ml._profile
        self._prof = prof
        self.n_var = prof.n_theta + 1
        self._n = prof.n
        self.parameters = _parameters(prof, ml.fixed_names)
        self._by_name = {p.name: p for p in self.parameters}
        self.phi_hat = _phi(prof, ml.theta, ml.sigma)
        self.beta_hat = np.asarray(ml.beta, dtype=float)
        self.estimates = np.r_[self.phi_hat, self.beta_hat]
        self.deviance = float(ml.deviance)
        self._se_beta = np.sqrt(np.diag(ml.vcov_beta))
        kinds = [p.kind for p in self.parameters[: self.n_var]]
        self._lower = np.array([0.0 if kd in ("sd", "sigma") else -1.0 for kd in kinds])
        self._upper = np.array([1.0 if kd == "cor" else np.inf for kd in kinds])
        self._kinds = kinds
        # solutions of the inner optimisations, per parameter: (value, solution) pairs,
        # so that each evaluation starts from the nearest one already found
        self._solved: dict[str, list[tuple[float, np.ndarray]]] = {}
        self._zeta: dict[tuple[str, float], float] = {}

    # -- parameter maps --------------------------------------------------------------------
    def theta_from_phi(self, phi: np.ndarray) -> np.ndarray | None:
        """lme4's θ from ``(sd, cor, …, σ)`` (``Sv_to_Cv``); ``None`` outside the region.

        A negative standard deviation is accepted: the deviance continues smoothly
        through 0 (a negative diagonal element of Λ is valid), so finite differences can
        be taken at the bound; the optimisers keep standard deviations ≥ 0.
        """
        prof = self._prof
        sigma = float(phi[-1])
        if not sigma > 0.0:
            return None
        theta = phi[:-1] / sigma
        for lev, sl, (rows, cols) in zip(prof.levels, prof.slices, prof.tril, strict=True):
            q = lev.q
            if q == 1:
                continue  # θ = sd / σ
            vals = phi[sl].tolist()
            R = [[1.0] * q for _ in range(q)]
            sd = [0.0] * q
            for v, i, j in zip(vals, rows.tolist(), cols.tolist(), strict=True):
                if i == j:
                    sd[i] = v
                elif abs(v) > 1.0:
                    return None
                else:
                    R[i][j] = R[j][i] = v
            L = _psd_cholesky(R)
            if L is None:
                return None
            theta[sl] = [sd[i] * L[i][j] / sigma
                         for i, j in zip(rows.tolist(), cols.tolist(), strict=True)]
        return theta

    def deviance_at(self, phi: np.ndarray) -> float:
        """ML deviance at ``(sd, cor, …, σ)`` with β at its conditional estimate."""
        theta = self.theta_from_phi(phi)
        if theta is None:
            return math.inf
        got = self._prof.pwrss(theta)
        if got is None:
            return math.inf
        r2, logdet = got
        s2 = float(phi[-1]) ** 2
        d = logdet + r2 / s2 + self._n * (LOG2PI + math.log(s2))
        return d if np.isfinite(d) else math.inf

    # -- ζ ---------------------------------------------------------------------------------
    def parameter(self, name: str) -> Parameter:
        """The :class:`Parameter` called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise InputError(field="parm", value=name,
                             allowed=f"one of {list(self._by_name)}") from None

    def _start(self, name: str, value: float, default: np.ndarray) -> np.ndarray:
        done = self._solved.get(name)
        if not done:
            return default.copy()
        return min(done, key=lambda vs: abs(vs[0] - value))[1].copy()

    def _min_varpar(self, w: int, value: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """Minimum of the deviance over all variance parameters but ``w`` (held at value).

        The free parameters are the other standard deviations (≥ 0) and σ, as they are,
        and each grouping factor's correlation matrix through the rows of its Cholesky
        factor, each a unit vector in hyperspherical angles: every value of the angles is
        a valid correlation matrix, so no step can leave the region (a box on the
        correlations would let three or more of them form a matrix that is not positive
        semi-definite, and singular estimates sit right on that edge). When ``w`` is a
        correlation, its two terms are ordered first, so that the first two rows of the
        factor are fixed by it and the other rows remain free.
        """
        layout = _Layout(self, w, value)
        sizes = np.array([self._size[i] for i in layout.direct] + [1.0] * layout.n_angles)
        # as in minimise: a unit step of L-BFGS-B is a tenth of a typical size
        s = 0.1 * sizes
        n_direct = len(layout.direct)
        # standard deviations ≥ 0; σ > 0 (the deviance is not defined at 0); angles free
        lower = np.full(len(s), -np.inf)
        for k, i in enumerate(layout.direct):
            lower[k] = (1e-8 * float(self.phi_hat[-1]) if i == self.n_var - 1 else 0.0) / s[k]
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]

        def g(u: np.ndarray) -> float:
            return self.deviance_at(layout.phi(u * s))

        def run(u0: np.ndarray) -> tuple[np.ndarray, float, str]:
            r = optimize.minimize(g, np.maximum(u0, lower), method="L-BFGS-B",
                                  jac="2-point", bounds=bounds, options=_INNER_OPTIONS)
            return np.asarray(r.x, dtype=float), float(r.fun), str(r.message)

        u, val, msg = run(layout.free(start) / s)
        # standard deviations stranded at 0 (see optimize._escape_boundary), and angles at
        # a multiple of π (a correlation of ±1), where the derivative vanishes as well:
        # both are probed along their axis, the angles from the pole they sit at
        is_sd = np.zeros(len(s), dtype=bool)
        is_sd[:n_direct] = [self._kinds[i] == "sd" for i in layout.direct]
        sd_lower = np.where(is_sd, lower, -np.inf)
        pole = np.round(u[n_direct:] * s[n_direct:] / np.pi) * np.pi
        at_pole = np.abs(u[n_direct:] * s[n_direct:] - pole) < 0.01
        probe_from = sd_lower.copy()
        probe_from[n_direct:] = np.where(at_pole, pole / s[n_direct:], -np.inf)
        u, val, msg = _escape_boundary(g, run, u, val, msg, probe_from,
                                       10.0 * np.ones(len(u)))
        # Newton steps for the last digits. The difference steps are absolute, 1e-3 of
        # each parameter's typical size (1e-2 in u; 1e-3 radians for an angle): steps
        # relative to the value, as for θ, would be far too small near 0. A step that gains
        # less than 1e-10 in the deviance ends them: ζ is then exact to ~1e-10 / 2ζ
        u, val, _ = _newton_polish(g, u, val, sd_lower, iterations=8,
                                   diff_step=np.full(len(u), 1e-2), ftol=1e-10)
        return val, layout.phi(u * s)

    def _min_fixed(self, j: int, value: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """Minimum of the ML deviance over θ with ``β_j`` held at ``value``."""
        prof = self._prof
        res = minimise(lambda th: prof.deviance_fixed_beta(th, j, value), start,
                       prof.lower, prof.theta_scale())
        return float(res.value), res.theta

    def zeta(self, name: str, value: float) -> float:
        """Signed root deviance of parameter ``name`` at ``value``.

        Raises
        ------
        EstimationError
            If a deviance below that of the estimates is found (the fit did not reach
            the optimum), as lme4's ``profile`` stops with "profiling detected new, lower
            deviance".
        """
        par = self.parameter(name)
        value = float(value)
        known = self._zeta.get((name, value))
        if known is not None:  # Brent's method asks again for the ends of its bracket
            return known
        est = float(self.beta_hat[par.index] if par.kind == "fixed"
                    else self.phi_hat[par.index])
        if value == est:
            return 0.0
        if par.kind == "fixed":
            start = self._start(name, value, self.model.theta)
            dev, sol = self._min_fixed(par.index, value, start)
        else:
            start = self._start(name, value, self.phi_hat)
            dev, sol = self._min_varpar(par.index, value, start)
        if not np.isfinite(dev):
            raise EstimationError(f"the deviance is not finite with {name} = {value}")
        self._solved.setdefault(name, []).append((value, sol))
        diff = dev - self.deviance
        # the estimates are the optimum to ~1e-10 in the deviance; below that by more than
        # rounding, the fit itself stopped short of the optimum
        if diff < -1e-9 * max(1.0, abs(self.deviance)):
            raise EstimationError(
                f"profiling {name} found a deviance {-diff:.3g} below that of the fit; the "
                "fit did not reach the optimum")
        z = math.copysign(math.sqrt(max(diff, 0.0)), value - est)
        self._zeta[(name, value)] = z
        return z

    # -- roots -----------------------------------------------------------------------------
    @cached_property
    def _size(self) -> np.ndarray:
        """Typical size of each variance parameter (1 for a correlation)."""
        sigma_hat = float(self.phi_hat[-1])
        return np.array([1.0 if kd == "cor" else max(abs(float(v)), 0.05 * sigma_hat)
                         for kd, v in zip(self._kinds, self.phi_hat, strict=True)])

    @cached_property
    def _se_varpar(self) -> np.ndarray:
        """Standard errors of the variance parameters from the deviance's curvature.

        Only the first step of the root search uses them (``ψ̂ ± z·SE``, where ζ would be
        if it were linear); ``NaN`` where the curvature is not available (an estimate on
        a bound, a correlation near ±1).
        """
        k = self.n_var
        x0 = self.phi_hat
        h = 1e-4 * self._size
        f0 = self.deviance
        nan = np.full(k, np.nan)

        def at(e: np.ndarray) -> tuple[float, float]:
            return self.deviance_at(x0 + e), self.deviance_at(x0 - e)

        H = np.empty((k, k))
        for i in range(k):
            e = np.zeros(k)
            e[i] = h[i]
            fp, fm = at(e)
            if not (np.isfinite(fp) and np.isfinite(fm)):
                return nan  # next to a singular correlation matrix
            H[i, i] = (fp - 2.0 * f0 + fm) / h[i] ** 2
        for i in range(k):
            for j in range(i):
                e = np.zeros(k)
                e[i], e[j] = h[i], h[j]
                fp, fm = at(e)
                if not (np.isfinite(fp) and np.isfinite(fm)):
                    return nan
                H[i, j] = H[j, i] = (fp - 2.0 * f0 + fm - H[i, i] * h[i] ** 2
                                     - H[j, j] * h[j] ** 2) / (2.0 * h[i] * h[j])
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            return nan
        # deviance = -2 log L, so the covariance is (H/2)⁻¹
        return np.sqrt(2.0 * np.diag(np.linalg.inv(H)))

    def bound(self, name: str, side: Literal["lower", "upper"], z: float) -> float:
        """The value where ζ = −z (``side="lower"``) or +z (``"upper"``).

        If the profile does not reach ``±z`` before the parameter's own bound (0 for a
        standard deviation, ±1 for a correlation), that bound is returned, as lme4's
        ``confint`` does.
        """
        par = self.parameter(name)
        direction = -1.0 if side == "lower" else 1.0
        target = direction * z
        if par.kind == "fixed":
            x_hat = float(self.beta_hat[par.index])
            limit = -math.inf if side == "lower" else math.inf
            step = z * float(self._se_beta[par.index])
        else:
            x_hat = float(self.phi_hat[par.index])
            limit = float(self._lower[par.index] if side == "lower"
                          else self._upper[par.index])
            step = float(self._se_varpar[par.index]) * z
            if not np.isfinite(step) or step <= 0.0:
                step = 0.01 * float(self._size[par.index])
        if (x_hat - limit) * direction >= 0.0:
            return limit  # the estimate is on the bound

        def clip(x: float) -> float:
            return max(x, limit) if side == "lower" else min(x, limit)

        def f(x: float) -> float:
            return self.zeta(name, x)

        x_prev, z_prev = x_hat, 0.0
        x = clip(x_hat + direction * step)
        for _ in range(60):
            zx = f(x)
            if (zx - target) * direction >= 0.0:
                lo, hi = sorted((x_prev, x))
                # ζ is known to ~1e-9 (the inner optimum): a bracket narrower than 1e-9
                # of the parameter's scale only chases that noise
                scale = max(abs(x), abs(step))
                root, info = optimize.brentq(lambda t: f(t) - target, lo, hi,
                                             xtol=1e-9 * scale, rtol=1e-9, maxiter=100,
                                             full_output=True, disp=False)
                if not info.converged:
                    warnings.warn(f"the {side} bound of {name} is not resolved beyond "
                                  f"[{lo:.6g}, {hi:.6g}] (the profile is not smooth "
                                  "there)", ConvergenceWarning, stacklevel=3)
                return float(root)
            if x == limit:
                return limit  # the profile stays within ±z up to the parameter's bound
            slope = (zx - z_prev) / (x - x_prev)
            last = x - x_prev
            if slope <= 0.0:
                warnings.warn(f"the profile of {name} is not monotone near {x:.6g}",
                              ConvergenceWarning, stacklevel=3)
                nxt = x + 2.0 * last
            else:
                # secant towards the target, 10% beyond it (ζ usually bends away from
                # its tangent), no more than four times the last step
                move = 1.1 * (target - zx) / slope
                nxt = x + float(np.clip(move, -4.0 * abs(last), 4.0 * abs(last)))
            x_prev, z_prev = x, zx
            x = clip(nxt)
        raise EstimationError(f"the profile of {name} did not reach ζ = {target:.3g}")

    def interval(self, name: str, *, level: float = 0.95) -> tuple[float, float]:
        """The profile confidence interval of parameter ``name`` at ``level``."""
        z = float(stats.norm.ppf(0.5 + level / 2.0))
        return self.bound(name, "lower", z), self.bound(name, "upper", z)


def _select(names: list[str], n_var: int, parm: str | Sequence[str] | None) -> list[str]:
    if parm is None:
        return names
    if isinstance(parm, str):
        if parm == "theta_":
            return names[:n_var]
        if parm == "beta_":
            return names[n_var:]
        parm = [parm]
    out = []
    for p in parm:
        if p not in names:
            raise InputError(field="parm", value=p,
                             allowed=f"'theta_', 'beta_' or names from {names}")
        out.append(p)
    return out


def confint(
    model: MixedModel, *, method: str = "profile", level: float = 0.95,
    parm: str | Sequence[str] | None = None,
    profile: LikelihoodProfile | None = None,
) -> pd.DataFrame:
    """Confidence intervals for the parameters of ``model``; see ``MixedModel.confint``."""
    if method not in ("profile", "Wald"):
        raise InputError(field="method", value=method, allowed="'profile' or 'Wald'")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.0 < level < 1.0:
        raise InputError(field="level", value=level, allowed="a number in (0, 1)")
    params = _parameters(model._profile, model.fixed_names)
    names = [p.name for p in params]
    n_var = len(names) - len(model.fixed_names)
    chosen = _select(names, n_var, parm)
    label_of = {p.name: p.label for p in params}
    if method == "Wald":
        # as lme4: no Wald intervals for variance parameters; normal quantiles (not t)
        # with the fit's own covariance of β (REML for a REML fit)
        zq = float(stats.norm.ppf(0.5 + level / 2.0))
        se = np.sqrt(np.diag(model.vcov_beta))
        est_var = _phi(model._profile, model.theta, model.sigma)
        rows_out = []
        for n in chosen:
            if n in model.fixed_names:
                j = model.fixed_names.index(n)
                b = float(model.beta[j])
                rows_out.append((n, label_of[n], b, b - zq * se[j], b + zq * se[j]))
            else:
                rows_out.append((n, label_of[n], float(est_var[names.index(n)]), np.nan,
                                 np.nan))
    else:
        lp = profile if profile is not None else LikelihoodProfile(model)
        rows_out = []
        for n in chosen:
            lo, hi = lp.interval(n, level=level)
            rows_out.append((n, label_of[n], float(lp.estimates[names.index(n)]), lo, hi))
    out = pd.DataFrame(rows_out, columns=["parameter", "name", "estimate", "lower", "upper"])
    out = out.set_index("parameter")
    out.attrs["level"] = float(level)
    out.attrs["method"] = method
    return out

