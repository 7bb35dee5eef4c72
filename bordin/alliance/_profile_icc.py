"""Profile-likelihood interval for the ICC of a two-level random-intercept model.

For y = X beta + b[group] + e with b ~ N(0, tau2), e ~ N(0, sigma2) and
gamma = tau2 / sigma2, the REML criterion profiled over beta and sigma2 depends
on gamma alone and, through V_g^-1 = (I - w_g 11') / sigma2 with
w_g = gamma / (1 + n_g gamma), on per-group sums only (n_g, X_g'1, y_g'1) and
the global cross-products. The ICC tau2 / (tau2 + sigma2) = gamma / (1 + gamma)
is monotone in gamma, so its profile interval is the set where the criterion
is within the chi-square(1) quantile of its minimum -- the same interval as
profiling lme4's REML deviance over theta = sqrt(gamma).

Written here because :mod:`bordin.stats.mixed` exposes no profile of a
variance component; the fit itself (estimates, BLUPs) comes from that module,
and this criterion's minimum is checked against it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats


class RandomInterceptProfile:
    """REML criterion of a random-intercept model as a function of gamma = tau2 / sigma2."""

    def __init__(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        codes, inv = np.unique(groups, return_inverse=True)
        self.n, self.p = X.shape
        self.ng = np.bincount(inv).astype(float)
        self.sx = np.zeros((len(codes), self.p))
        np.add.at(self.sx, inv, X)
        self.sy = np.bincount(inv, weights=y)
        self.xtx = X.T @ X
        self.xty = X.T @ y
        self.yty = float(y @ y)

    def criterion(self, gamma: float) -> float:
        """lme4's REML criterion (-2 restricted log-likelihood) at gamma."""
        w = gamma / (1.0 + self.ng * gamma)
        a = self.xtx - (self.sx * w[:, None]).T @ self.sx
        b = self.xty - (self.sx * w[:, None]).T @ self.sy
        c = self.yty - float(np.sum(w * self.sy**2))
        _, logdet_a = np.linalg.slogdet(a)
        beta = np.linalg.solve(a, b)
        r2 = c - float(b @ beta)
        dfr = self.n - self.p
        return (float(np.sum(np.log1p(self.ng * gamma))) + logdet_a
                + dfr * (1.0 + math.log(2.0 * math.pi * r2 / dfr)))

    def _crit_theta(self, theta: float) -> float:
        return self.criterion(theta * theta)

    def optimum(self) -> float:
        """gamma at the REML optimum (0 at the boundary)."""
        res = optimize.minimize_scalar(self._crit_theta, bounds=(0.0, 50.0), method="bounded",
                                       options={"xatol": 1e-10})
        th = float(res.x)
        if self._crit_theta(0.0) <= res.fun:
            th = 0.0
        return th * th

    def icc_interval(self, level: float, gamma_hat: float | None = None) -> tuple[float, float]:
        """Profile-likelihood interval of the ICC."""
        g = self.optimum() if gamma_hat is None else gamma_hat
        th_hat = math.sqrt(g)
        dmin = self._crit_theta(th_hat)
        crit = stats.chi2.ppf(level, 1)

        def f(th: float) -> float:
            return self._crit_theta(th) - dmin - crit

        lo = 0.0 if f(0.0) <= 0 else optimize.brentq(f, 0.0, th_hat, xtol=1e-12)
        hi_b = max(1.0, 2 * th_hat)
        while f(hi_b) < 0:
            hi_b *= 2
            if hi_b > 1e6:
                return lo * lo / (1 + lo * lo), 1.0
        hi = optimize.brentq(f, th_hat, hi_b, xtol=1e-12)
        return lo * lo / (1 + lo * lo), hi * hi / (1 + hi * hi)
