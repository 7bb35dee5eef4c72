"""Univariate random- and fixed-effects meta-analysis and meta-regression (metafor's ``rma``).

The model is ``y_i = x_i'β + u_i + e_i`` with ``u_i ~ N(0, τ²)`` and ``e_i ~ N(0, v_i)``,
``v_i`` known. Every step costs O(k·p²): see :mod:`bordin.stats.meta._weighted`.
"""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import InputError, StatisticalWarning
from bordin.stats.meta._inputs import Design, ModsLike, build_design
from bordin.stats.meta._related import RelatedAnalyses
from bordin.stats.meta._tau2 import FIXED, METHODS, Control, estimate_tau2, q_profile_ci
from bordin.stats.meta._weighted import WLS, Array, _inv_spd, cross, xb

TESTS = ("z", "t", "knha")

__all__ = ["TESTS", "Control", "RMAResult", "rma"]


def _check_level(level: float) -> float:
    """Accept 95 or 0.95; return the coverage as a fraction."""
    try:
        lv = float(level)
    except (TypeError, ValueError) as exc:
        raise InputError(field="level", value=level, allowed="a number such as 95") from exc
    if lv > 1:
        lv = lv / 100
    if not 0 < lv < 1:
        raise InputError(field="level", value=level,
                         allowed="a coverage in (0, 100), e.g. 95, or in (0, 1)")
    return lv


def _check_method_test(method: str, test: str) -> tuple[str, str]:
    m = str(method).upper()
    if m not in METHODS:
        raise InputError(field="method", value=method, allowed=f"one of {', '.join(METHODS)}")
    t = str(test).lower()
    if t == "hksj":
        t = "knha"
    if t not in TESTS:
        raise InputError(field="test", value=test, allowed="'z', 't' or 'knha' (Knapp-Hartung)")
    return m, t


def wald_block(
    *, beta: Array, vb: Array, btt: np.ndarray, ddf: float | None
) -> tuple[float, float, tuple[int, float | None]]:
    """Omnibus Wald test of the coefficients ``btt``: chi² (ddf None) or F."""
    m = len(btt)
    sub = vb[np.ix_(btt, btt)]
    try:
        QM = float(beta[btt] @ np.linalg.solve(sub, beta[btt]))
    except np.linalg.LinAlgError:
        return float("nan"), float("nan"), (m, ddf)
    if ddf is None:
        return QM, float(stats.chi2.sf(QM, m)), (m, None)
    QM /= m
    return QM, float(stats.f.sf(QM, m, ddf)) if ddf > 0 else float("nan"), (m, ddf)


class RMAResult(RelatedAnalyses):
    """The fit of :func:`rma`, with metafor's names for its numbers.

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : numpy arrays (one entry per coefficient)
        Estimates, standard errors, test statistics (z or t), p-values and CI bounds.
    names : list of str
        Coefficient names ("intrcpt" first when there is an intercept).
    vb : ndarray
        Variance–covariance matrix of ``beta``.
    tau2, se_tau2 : float
        Estimated τ² and its standard error (NaN for fixed-effect models).
    tau2_ci, I2_ci, H2_ci : tuple
        Q-profile confidence intervals (computed on first access).
    I2, H2, vt : float
        I² (%), H², and the "typical" within-study variance used for them.
    QE, QEp, QEdf : float
        Test of (residual) heterogeneity.
    QM, QMp, QMdf : float
        Omnibus test of the moderators (F under Knapp–Hartung or t).
    pi_lb, pi_ub : float or ndarray
        Prediction interval (for an intercept-only model a float).
    k, p, ddf : int
        Studies, coefficients, and the t df (``k - p``; None under the z test).
    """

    def __init__(
        self,
        *,
        design: Design,
        method: str,
        test: str,
        level: float,
        control: Control,
        data: pd.DataFrame | None,
        slab: np.ndarray | None,
        effect: str | None,
    ) -> None:
        self.design = design
        self.method = method
        self.test = test
        self.level = level
        self.control = control
        self.effect = effect
        self.data = data
        y, v, X = design.y, design.v, design.X
        self.yi, self.vi, self.X = y, v, X
        self.names = design.names
        self.k, self.p = X.shape
        k, p = self.k, self.p
        self._slab = np.asarray(slab)[design.keep] if slab is not None else None

        est = estimate_tau2(method=method, X=X, y=y, vi=v, control=control)
        self.tau2 = 0.0 if method in FIXED else est.tau2
        self.se_tau2 = est.se_tau2
        self.iterations = est.iterations

        fit = WLS.fit(X=X, y=y, w=1.0 / (v + self.tau2))
        self._fit = fit
        self.beta = fit.beta
        self.s2w = 1.0
        if test == "knha":
            rss = fit.yPy
            self.s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        self.vb = self.s2w * fit.A_inv
        self.se = np.sqrt(np.diag(self.vb))
        self.zval = self.beta / self.se
        self.ddf: int | None = k - p if test in ("t", "knha") else None
        alpha = 1 - level
        if self.ddf is None:
            self.pval = 2 * stats.norm.sf(np.abs(self.zval))
            self.crit = float(stats.norm.isf(alpha / 2))
        else:
            self.pval = 2 * stats.t.sf(np.abs(self.zval), self.ddf)
            self.crit = float(stats.t.isf(alpha / 2, self.ddf))
        self.ci_lb = self.beta - self.crit * self.se
        self.ci_ub = self.beta + self.crit * self.se
        self.btt = np.arange(1, p) if (design.intercept and p > 1) else np.arange(p)
        self.QM, self.QMp, self.QMdf = wald_block(beta=self.beta, vb=self.vb, btt=self.btt,
                                                  ddf=self.ddf)

        # Heterogeneity: always from the fixed-effect weights 1/v.
        fe = WLS.fit(X=X, y=y - y.mean(), w=1.0 / v)
        self.QEdf = k - p
        if k > p:
            self.QE = max(0.0, fe.yPy)
            self.QEp = float(stats.chi2.sf(self.QE, k - p))
            self.vt = (k - p) / fe.tr_PD()
            if method in FIXED:
                self.I2 = max(0.0, 100 * (self.QE - (k - p)) / self.QE)
                self.H2 = self.QE / (k - p)
            else:
                self.I2 = 100 * self.tau2 / (self.vt + self.tau2)
                self.H2 = self.tau2 / self.vt + 1
        else:
            self.QE, self.QEp, self.I2, self.H2, self.vt = 0.0, 1.0, 0.0, 1.0, 0.0

        # Log likelihoods, as metafor reports them.
        rss_f = fit.yPy
        self.ll_ML = -0.5 * k * math.log(2 * math.pi) - 0.5 * np.sum(np.log(v + self.tau2)) \
            - 0.5 * rss_f
        _, ldXX = np.linalg.slogdet(cross(X, np.ones(k)))
        self.ll_REML = (-0.5 * (k - p) * math.log(2 * math.pi) + 0.5 * ldXX
                        - 0.5 * np.sum(np.log(v + self.tau2)) - 0.5 * fit.logdet_A() - 0.5 * rss_f)

        pred = self.predict()
        if p == 1 and design.intercept:
            self.pi_lb = float(pred["pi_lb"].iloc[0])
            self.pi_ub = float(pred["pi_ub"].iloc[0])
        else:
            self.pi_lb = pred["pi_lb"].to_numpy()
            self.pi_ub = pred["pi_ub"].to_numpy()

    # --- derived ------------------------------------------------------------------------
    @property
    def slab(self) -> np.ndarray:
        """Study labels ("Study 1", ... unless given)."""
        if self._slab is None:
            self._slab = np.array([f"Study {i + 1}" for i in np.flatnonzero(self.design.keep)])
        return self._slab

    @property
    def tval(self) -> Array:
        """The test statistics under a t test (same numbers as :attr:`zval`)."""
        return self.zval

    @property
    def b(self) -> Array:
        """Alias of :attr:`beta` (metafor's old name)."""
        return self.beta

    @cached_property
    def _tau2_ci(self) -> tuple[float, float]:
        if self.method in FIXED:
            return (float("nan"), float("nan"))
        return q_profile_ci(X=self.X, y=self.yi, vi=self.vi, level=self.level, tau2=self.tau2,
                            control=self.control)

    @property
    def tau2_ci(self) -> tuple[float, float]:
        """Q-profile confidence interval for τ²."""
        return self._tau2_ci

    @property
    def I2_ci(self) -> tuple[float, float]:  # noqa: N802 (metafor's name)
        lb, ub = self.tau2_ci
        return (100 * lb / (self.vt + lb), 100 * ub / (self.vt + ub))

    @property
    def H2_ci(self) -> tuple[float, float]:  # noqa: N802 (metafor's name)
        lb, ub = self.tau2_ci
        return (lb / self.vt + 1, ub / self.vt + 1)

    # --- methods ------------------------------------------------------------------------
    def predict(
        self,
        newmods: Any = None,
        *,
        transf: str | None = None,
    ) -> pd.DataFrame:
        """Predicted (average) effects with confidence and prediction intervals.

        Parameters
        ----------
        newmods
            Moderator values (rows without the intercept column); default: the studies.
            For an intercept-only model, one row for the pooled effect.
        transf
            ``"z2r"`` back-transforms Fisher z to r (estimate and bounds), ``"exp"``
            exponentiates (log ratios); the SE is then dropped.
        """
        p = self.p
        if newmods is None:
            Xn = self.X[:1] if (p == 1 and self.design.intercept) else self.X
        else:
            arr = np.atleast_2d(np.asarray(newmods, dtype=float))
            if self.design.intercept and arr.shape[1] == p - 1:
                arr = np.column_stack([np.ones(arr.shape[0]), arr])
            if arr.shape[1] != p:
                raise InputError(field="newmods", value=f"{arr.shape[1]} columns",
                                 allowed=f"{p - int(self.design.intercept)} moderator columns")
            Xn = arr
        pred = xb(Xn, self.beta)
        vpred = np.einsum("ij,jk,ik->i", Xn, self.vb, Xn)
        se = np.sqrt(vpred)
        out = pd.DataFrame({
            "pred": pred, "se": se,
            "ci_lb": pred - self.crit * se, "ci_ub": pred + self.crit * se,
            "pi_lb": pred - self.crit * np.sqrt(vpred + self.tau2),
            "pi_ub": pred + self.crit * np.sqrt(vpred + self.tau2),
        })
        if self.method in FIXED:  # no heterogeneity: metafor reports no prediction interval
            out["pi_lb"] = np.nan
            out["pi_ub"] = np.nan
        if transf is not None:
            fn = _transform(transf)
            for c in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
                out[c] = fn(out[c].to_numpy())
            out = out.drop(columns="se")
        return out

    def to_r(self) -> pd.DataFrame:
        """Back-transform a Fisher-z result to the correlation scale (r)."""
        return self.predict(transf="z2r")

    def heterogeneity(self) -> pd.DataFrame:
        """τ², τ, I², H² with their Q-profile CIs, and the Q tests."""
        lb, ub = self.tau2_ci if self.method not in FIXED else (np.nan, np.nan)
        rows = {
            "tau2": (self.tau2, lb, ub),
            "tau": (math.sqrt(self.tau2), math.sqrt(lb) if lb == lb else lb,
                    math.sqrt(ub) if ub == ub else ub),
            "I2": (self.I2, *(self.I2_ci if self.method not in FIXED else (np.nan, np.nan))),
            "H2": (self.H2, *(self.H2_ci if self.method not in FIXED else (np.nan, np.nan))),
        }
        return pd.DataFrame(rows, index=["estimate", "ci_lb", "ci_ub"]).T

    def __repr__(self) -> str:
        kind = "fixed-effects" if self.method in FIXED else "random-effects"
        lines = [
            f"{'Meta-regression' if self.p > 1 else 'Meta-analysis'} ({kind}, "
            f"method={self.method}, test={self.test}), k = {self.k}",
        ]
        if self.method not in FIXED:
            lines.append(f"tau^2 = {self.tau2:.4f} (SE = {self.se_tau2:.4f}), "
                         f"I^2 = {self.I2:.2f}%, H^2 = {self.H2:.2f}")
        lines.append(f"Q({self.QEdf}) = {self.QE:.4f}, p = {self.QEp:.4g}")
        if self.p > 1:
            df = f"F({self.QMdf[0]}, {self.QMdf[1]})" if self.ddf else f"QM({self.QMdf[0]})"
            lines.append(f"Test of moderators: {df} = {self.QM:.4f}, p = {self.QMp:.4g}")
        lines.append(self.summary().to_string(float_format=lambda x: f"{x:.4f}"))
        if self.p == 1:
            lines.append(f"prediction interval: [{self.pi_lb:.4f}, {self.pi_ub:.4f}]")
        return "\n".join(lines)

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-safe (NaN becomes None)."""
        def clean(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return [clean(v) for v in x.tolist()]
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            if isinstance(x, float | np.floating):
                return None if not np.isfinite(x) else float(x)
            if isinstance(x, np.integer):
                return int(x)
            return x

        d: dict[str, Any] = {
            "model": "rma.uni", "method": self.method, "test": self.test,
            "level": self.level, "k": self.k, "p": self.p, "names": self.names,
            "beta": self.beta, "se": self.se, "zval": self.zval, "pval": self.pval,
            "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "vb": self.vb.tolist(),
            "tau2": self.tau2, "se_tau2": self.se_tau2, "I2": self.I2, "H2": self.H2,
            "QE": self.QE, "QEp": self.QEp, "QEdf": self.QEdf,
            "QM": self.QM, "QMp": self.QMp, "QMdf": list(self.QMdf),
            "pi_lb": self.pi_lb, "pi_ub": self.pi_ub,
            "ll_ML": self.ll_ML, "ll_REML": self.ll_REML,
        }
        if self.method not in FIXED:
            d["tau2_ci"] = self.tau2_ci
            d["I2_ci"] = self.I2_ci
            d["H2_ci"] = self.H2_ci
        return {key: clean(val) for key, val in d.items()}

    # --- related analyses (imported lazily to keep modules small) ---------------------------
    def refit(self, *, keep: np.ndarray | None = None, **changes: Any) -> RMAResult:
        """Fit the same model to a subset of studies, or with other settings."""
        y, v, X = self.yi, self.vi, self.X
        if keep is not None:
            y, v, X = y[keep], v[keep], X[keep]
        return rma(yi=y, vi=v, mods=X, intercept=False, _names=self.names,
                   method=changes.get("method", self.method),
                   test=changes.get("test", self.test),
                   level=changes.get("level", self.level), control=self.control,
                   slab=self.slab if keep is None else self.slab[keep])

    def leave1out(self) -> pd.DataFrame:
        """Leave-one-out estimates (metafor's ``leave1out``)."""
        from bordin.stats.meta.bias import leave1out

        return leave1out(self)

    def regtest(self) -> Any:
        """Egger's regression test for funnel-plot asymmetry."""
        from bordin.stats.meta.bias import regtest

        return regtest(self)

    def trimfill(self, *, side: str | None = None) -> Any:
        """Trim-and-fill (L0 estimator)."""
        from bordin.stats.meta.bias import trimfill

        return trimfill(self, side=side)

    # for the robust module
    def weighted_design(self) -> tuple[Array, Array]:
        """``(W X, e)``: rows of ``V⁻¹X`` and the residuals (sandwich ingredients)."""
        w = 1.0 / (self.vi + self.tau2)
        return self.X * w[:, None], self.yi - xb(self.X, self.beta)

    def model_vb(self) -> Array:
        """``(X'WX)⁻¹`` without the Knapp–Hartung factor."""
        return _inv_spd(cross(self.X, 1.0 / (self.vi + self.tau2)), what="X'WX")


def _transform(name: str) -> Any:
    if name in ("z2r", "ztor", "transf.ztor"):
        return np.tanh
    if name == "exp":
        return np.exp
    raise InputError(field="transf", value=name, allowed="'z2r' or 'exp'")


def rma(
    *,
    yi: Any,
    vi: Any = None,
    sei: Any = None,
    method: str = "REML",
    test: str = "z",
    mods: ModsLike = None,
    data: pd.DataFrame | None = None,
    level: float = 95,
    intercept: bool = True,
    slab: Any = None,
    control: Control | None = None,
    _names: list[str] | None = None,
) -> RMAResult:
    """Fit a meta-analysis or meta-regression, as metafor's ``rma.uni``.

    Parameters
    ----------
    yi, vi
        Effect sizes and sampling variances: arrays, or column names of ``data``.
    sei
        Standard errors instead of ``vi``.
    method
        τ² estimator: "EE"/"FE" (fixed effect), "DL", "HE", "HS", "SJ", "PM", "ML",
        "REML" (default) or "EB".
    test
        "z" (default), "t" (t distribution with k − p df) or "knha" (Knapp–Hartung).
    mods
        Moderators: a formula over ``data`` (formulaic syntax, e.g. ``"x + C(group)"``),
        an array or data frame of columns. An intercept is added unless the formula
        removes it or ``intercept=False``.
    data
        Data frame holding the named columns.
    level
        Confidence level in percent (95) or as a fraction (0.95).
    slab
        Study labels (for plots).
    control
        Numerical settings; see :class:`Control`.

    Returns
    -------
    RMAResult

    Raises
    ------
    InputError
        Fewer than two studies, a variance that is zero, negative or missing, unknown
        method or test.
    EstimationError
        Singular moderator design, or an estimator that does not converge.
    """
    m, t = _check_method_test(method, test)
    lv = _check_level(level)
    if m in FIXED and t == "knha":
        warnings.warn("the Knapp-Hartung adjustment is not meant for fixed-effects models",
                      StatisticalWarning, stacklevel=2)
    if vi is None:
        if sei is None:
            raise InputError(field="vi", value=None, allowed="sampling variances (or sei=...)")
        se_arr = np.asarray(data[sei] if isinstance(sei, str) and data is not None else sei,
                            dtype=float)
        vi = se_arr**2
    design = build_design(yi=yi, vi=vi, mods=mods, data=data, intercept=intercept)
    if _names is not None and len(_names) == design.X.shape[1]:
        design = Design(y=design.y, v=design.v, X=design.X, names=list(_names),
                        keep=design.keep, intercept=_names[0] == "intrcpt")
    slab_arr = None
    if slab is not None:
        slab_arr = np.asarray(data[slab] if isinstance(slab, str) and data is not None
                              else slab).astype(str)
    effect = yi if isinstance(yi, str) else None
    return RMAResult(design=design, method=m, test=t, level=lv, control=control or Control(),
                     data=data, slab=slab_arr, effect=effect)
