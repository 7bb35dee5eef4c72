"""Publication bias and influence: Egger's regression test, trim-and-fill, leave-one-out.

Definitions follow metafor 3.8 (``regtest``, ``trimfill``, ``leave1out``): Egger's test
adds the standard error as a moderator to the fitted model; trim-and-fill uses the L0
estimator of Duval and Tweedie with the side chosen from the sign of that slope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import EstimationError, InputError
from bordin.stats.meta.univariate import RMAResult, rma

__all__ = ["RegtestResult", "TrimFillResult", "leave1out", "regtest", "trimfill"]


@dataclass
class RegtestResult:
    """Egger's regression test (metafor's names).

    Attributes
    ----------
    zval, pval : float
        Test of the standard-error coefficient (t under Knapp–Hartung/t tests).
    dfs : int or None
        Degrees of freedom of the t test.
    est, ci_lb, ci_ub : float
        The limit estimate (intercept: the effect as the standard error goes to 0).
    fit : RMAResult
        The meta-regression on the standard error.
    """

    zval: float
    pval: float
    dfs: int | None
    est: float
    ci_lb: float
    ci_ub: float
    fit: RMAResult

    def to_dict(self) -> dict[str, Any]:
        return {"zval": self.zval, "pval": self.pval, "dfs": self.dfs, "est": self.est,
                "ci_lb": self.ci_lb, "ci_ub": self.ci_ub}

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()], index=["regtest"])

    def __repr__(self) -> str:
        stat = "z" if self.dfs is None else f"t({self.dfs})"
        return (f"Egger's regression test for funnel plot asymmetry (predictor: sei)\n"
                f"{stat} = {self.zval:.4f}, p = {self.pval:.4g}\n"
                f"limit estimate (as sei -> 0): {self.est:.4f} "
                f"(CI: {self.ci_lb:.4f} to {self.ci_ub:.4f})")


def regtest(model: RMAResult) -> RegtestResult:
    """Egger's regression test: the model refitted with ``sqrt(vi)`` as an extra moderator."""
    X = np.column_stack([model.X, np.sqrt(model.vi)])
    if X.shape[0] <= X.shape[1]:
        raise InputError(field="k", value=model.k,
                         allowed=f"more than {X.shape[1]} studies for Egger's test")
    fit = rma(yi=model.yi, vi=model.vi, mods=X, intercept=False,
              _names=[*model.names, "sei"], method=model.method, test=model.test,
              level=model.level, control=model.control)
    j = fit.p - 1
    return RegtestResult(zval=float(fit.zval[j]), pval=float(fit.pval[j]), dfs=fit.ddf,
                         est=float(fit.beta[0]), ci_lb=float(fit.ci_lb[0]),
                         ci_ub=float(fit.ci_ub[0]), fit=fit)


@dataclass
class TrimFillResult:
    """Trim-and-fill (Duval & Tweedie, L0 estimator), as metafor's ``trimfill``.

    Attributes
    ----------
    k0, se_k0 : int, float
        Estimated number of missing studies and its standard error.
    side : str
        Side of the funnel on which studies were imputed ("left" or "right").
    fit : RMAResult
        The model refitted with the filled studies (or the original if ``k0 == 0``).
    fill : ndarray of bool
        Which studies of ``fit`` are imputed.
    """

    k0: int
    se_k0: float
    side: str
    fit: RMAResult
    fill: np.ndarray

    @property
    def beta(self) -> np.ndarray:
        return self.fit.beta

    @property
    def se(self) -> np.ndarray:
        return self.fit.se

    @property
    def tau2(self) -> float:
        return self.fit.tau2

    def summary(self) -> pd.DataFrame:
        s = self.fit.summary()
        s.attrs["k0"] = self.k0
        return s

    def to_dict(self) -> dict[str, Any]:
        return {"k0": self.k0, "se_k0": self.se_k0, "side": self.side,
                "fill": self.fill.tolist(), "fit": self.fit.to_dict()}

    def funnel_plot(self, **kwargs: Any) -> Any:
        from bordin.stats.meta.plots import funnel_plot

        return funnel_plot(self.fit, filled=self.fill, **kwargs)

    def __repr__(self) -> str:
        return (f"Trim-and-fill (L0): estimated {self.k0} missing studies on the {self.side} "
                f"side (SE = {self.se_k0:.4f})\n{self.fit!r}")


def trimfill(model: RMAResult, *, side: str | None = None, maxiter: int = 100) -> TrimFillResult:
    """Trim-and-fill with the L0 estimator; the side is estimated unless given."""
    if model.p != 1:
        raise InputError(field="model", value=f"{model.p} coefficients",
                         allowed="a model without moderators (trim-and-fill)")
    yi, vi = model.yi.copy(), model.vi.copy()
    k = yi.shape[0]

    def fit(y: np.ndarray, v: np.ndarray, mods: np.ndarray | None = None) -> RMAResult:
        X = np.ones((y.shape[0], 1)) if mods is None else np.column_stack([np.ones_like(y), mods])
        return rma(yi=y, vi=v, mods=X, intercept=False,
                   _names=["intrcpt"] + ([] if mods is None else ["sei"]),
                   method=model.method, control=model.control)

    if side is None:
        side = "right" if fit(yi, vi, np.sqrt(vi)).beta[1] < 0 else "left"
    elif side not in ("left", "right"):
        raise InputError(field="side", value=side, allowed="'left', 'right' or None")
    y = -yi if side == "right" else yi
    order = np.argsort(y, kind="stable")
    y, v = y[order], vi[order]
    k0, k0_prev, it = 0, -1, 0
    beta = 0.0
    se_k0 = 0.0
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise EstimationError("trim-and-fill did not converge")
        beta = float(fit(y[: k - k0], v[: k - k0]).beta[0])
        yc = y - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
        Sr = float(np.sum(ranks[yc > 0]))
        k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f
                  - 18 * k * k0f**2 - 18 * k * k0f + 6 * k**2 * k0f) / 24
        se_k0 = max(0.0, 4 * np.sqrt(max(var_sr, 0.0)) / (2 * k - 1))
        k0 = max(0, int(np.round(k0f)))
    if k0 == 0:
        return TrimFillResult(k0=0, se_k0=se_k0, side=side, fit=model,
                              fill=np.zeros(k, dtype=bool))
    # Mirror the k0 most extreme studies about the trimmed estimate.
    mirrored = 2 * beta - y[k - k0:]
    filled = -mirrored if side == "right" else mirrored
    y_all = np.concatenate([yi, filled])
    v_all = np.concatenate([vi, v[k - k0:]])
    labels = np.concatenate([model.slab, [f"Filled {i + 1}" for i in range(k0)]])
    refit = rma(yi=y_all, vi=v_all, method=model.method, control=model.control, slab=labels)
    return TrimFillResult(k0=k0, se_k0=se_k0, side=side, fit=refit,
                          fill=np.r_[np.zeros(k, dtype=bool), np.ones(k0, dtype=bool)])


def leave1out(model: RMAResult) -> pd.DataFrame:
    """Refit the model leaving out each study in turn (metafor's ``leave1out``)."""
    if model.p != 1:
        raise InputError(field="model", value=f"{model.p} coefficients",
                         allowed="a model without moderators (leave-one-out)")
    rows = []
    idx = np.arange(model.k)
    for i in idx:
        r = model.refit(keep=idx != i)
        rows.append({"estimate": r.beta[0], "se": r.se[0], "zval": r.zval[0],
                     "pval": r.pval[0], "ci_lb": r.ci_lb[0], "ci_ub": r.ci_ub[0],
                     "Q": r.QE, "Qp": r.QEp, "tau2": r.tau2, "I2": r.I2, "H2": r.H2})
    return pd.DataFrame(rows, index=pd.Index(model.slab, name="left_out"))
