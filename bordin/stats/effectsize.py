"""Effect sizes for the alliance–outcome literature: r, Fisher z, d and R².

Conversions and sampling variances follow metafor's ``escalc`` (measures "COR", "ZCOR",
"PCOR", "ZPCOR") and Borenstein et al. (2009, ch. 7) for r ↔ d:

* Fisher z = atanh(r), var = 1 / (n − 3)
* r, var = (1 − r²)² / (n − 1)
* d = 2r / √(1 − r²), var(d) = 4 var(r) / (1 − r²)³ (equal groups)
* R² = r²
* partial r from a t statistic with df = n − m − 1 (m predictors): r = t / √(t² + df),
  var = (1 − r²)² / df; its Fisher z ("ZPCOR") has var 1 / df, as in metafor 3.8.

All functions take arrays or scalars and validate their input (r in (−1, 1), n large
enough for the variance), raising :class:`~bordin.errors.InputError`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bordin.errors import InputError

__all__ = [
    "EffectSizeConversion",
    "ci_r",
    "convert_r",
    "d_to_r",
    "escalc",
    "partial_r_from_t",
    "r_to_d",
    "r_to_r2",
    "r_to_z",
    "var_d_from_r",
    "var_r",
    "var_z",
    "z_to_r",
]

Float = NDArray[np.float64] | float


def _arr(x: ArrayLike, field: str) -> NDArray[np.float64]:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(field=field, value=x, allowed="numbers") from exc
    if np.isnan(a).any():
        raise InputError(field=field, value="a missing value", allowed="numbers (no NaN)")
    return a


def _out(a: NDArray[np.float64]) -> Float:
    return float(a) if a.ndim == 0 else a


def _check_r(r: ArrayLike, field: str = "r") -> NDArray[np.float64]:
    a = _arr(r, field)
    bad = ~((a > -1) & (a < 1))
    if bad.any():
        raise InputError(field=field, value=float(a[bad].flat[0]),
                         allowed="a correlation strictly between -1 and 1")
    return a


def _check_n(n: ArrayLike, minimum: float, field: str, why: str) -> NDArray[np.float64]:
    a = _arr(n, field)
    bad = ~(a > minimum)
    if bad.any():
        raise InputError(field=field, value=float(a[bad].flat[0]),
                         allowed=f"a sample size above {minimum:g} ({why})")
    return a


def r_to_z(r: ArrayLike) -> Float:
    """Fisher's z transformation, ``atanh(r)``."""
    return _out(np.arctanh(_check_r(r)))


def z_to_r(z: ArrayLike) -> Float:
    """Back-transformation of Fisher's z, ``tanh(z)``."""
    return _out(np.tanh(_arr(z, "z")))


def r_to_d(r: ArrayLike) -> Float:
    """Standardized mean difference equivalent to r: ``2r / √(1 − r²)``."""
    a = _check_r(r)
    return _out(2 * a / np.sqrt(1 - a**2))


def d_to_r(d: ArrayLike, *, a: float = 4.0) -> Float:
    """Correlation equivalent to d: ``d / √(d² + a)``; ``a = 4`` for equal groups."""
    dd = _arr(d, "d")
    if a <= 0:
        raise InputError(field="a", value=a, allowed="a positive correction factor")
    return _out(dd / np.sqrt(dd**2 + a))


def r_to_r2(r: ArrayLike) -> Float:
    """Share of outcome variance explained, ``r²``."""
    return _out(_check_r(r) ** 2)


def var_r(*, r: ArrayLike, n: ArrayLike) -> Float:
    """Sampling variance of r: ``(1 − r²)² / (n − 1)`` (metafor "COR")."""
    a = _check_r(r)
    nn = _check_n(n, 1, "n", "the variance of r divides by n - 1")
    return _out((1 - a**2) ** 2 / (nn - 1))


def var_z(*, n: ArrayLike) -> Float:
    """Sampling variance of Fisher's z: ``1 / (n − 3)`` (metafor "ZCOR")."""
    nn = _check_n(n, 3, "n", "the variance of Fisher's z is 1 / (n - 3)")
    return _out(1 / (nn - 3))


def var_d_from_r(*, r: ArrayLike, n: ArrayLike) -> Float:
    """Sampling variance of d converted from r: ``4 var(r) / (1 − r²)³``."""
    a = _check_r(r)
    return _out(4 * np.asarray(var_r(r=a, n=n)) / (1 - a**2) ** 3)


def partial_r_from_t(*, t: ArrayLike, n: ArrayLike, m: ArrayLike) -> tuple[Float, Float]:
    """Partial correlation and its variance from a regression t statistic.

    Parameters
    ----------
    t
        t statistic of the predictor of interest.
    n
        Sample size.
    m
        Number of predictors in the regression (including the one of interest).

    Returns
    -------
    (r, var)
        ``r = t / √(t² + df)`` and ``(1 − r²)² / df`` with ``df = n − m − 1``.
    """
    tt = _arr(t, "t")
    mm = _arr(m, "m")
    if (mm < 1).any():
        raise InputError(field="m", value=float(mm[mm < 1].flat[0]),
                         allowed="the number of predictors, at least 1")
    nn = _arr(n, "n")
    df = nn - mm - 1
    if (df <= 0).any():
        i = np.flatnonzero(np.atleast_1d(df <= 0))[0]
        raise InputError(field="n", value=float(np.atleast_1d(nn)[i]),
                         allowed="a sample size above m + 1 (df = n - m - 1 must be positive)")
    r = tt / np.sqrt(tt**2 + df)
    return _out(r), _out((1 - r**2) ** 2 / df)


def ci_r(*, r: ArrayLike, n: ArrayLike, level: float = 95) -> tuple[Float, Float]:
    """Confidence interval for r through Fisher's z (back-transformed)."""
    lv = level / 100 if level > 1 else level
    if not 0 < lv < 1:
        raise InputError(field="level", value=level, allowed="a coverage in (0, 100)")
    z = np.arctanh(_check_r(r))
    se = np.sqrt(np.asarray(var_z(n=n)))
    crit = stats.norm.isf((1 - lv) / 2)
    return _out(np.tanh(z - crit * se)), _out(np.tanh(z + crit * se))


@dataclass(frozen=True)
class EffectSizeConversion:
    """One correlation expressed on the scales of Table 1 of the alliance literature."""

    r: float
    z: float
    d: float
    R2: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def convert_r(r: float) -> EffectSizeConversion:
    """r expressed as Fisher z, the equivalent SMD (d) and R²."""
    rr = float(_check_r(r))
    return EffectSizeConversion(r=rr, z=float(np.arctanh(rr)),
                                d=float(2 * rr / np.sqrt(1 - rr**2)), R2=rr**2)


MEASURES = ("COR", "ZCOR", "PCOR", "ZPCOR")


def escalc(
    measure: str,
    *,
    ri: Any = None,
    ni: Any = None,
    ti: Any = None,
    mi: Any = None,
    data: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Effect sizes ``yi`` and sampling variances ``vi``, as metafor's ``escalc``.

    Parameters
    ----------
    measure
        "COR" (raw r), "ZCOR" (Fisher z), "PCOR" (partial r from t), "ZPCOR".
    ri, ni, ti, mi
        Correlations, sample sizes, t statistics, numbers of predictors: arrays or column
        names of ``data``.
    data
        If given, the result is ``data`` with ``yi`` and ``vi`` columns added.
    """
    def col(x: Any, name: str) -> NDArray[np.float64]:
        if x is None:
            raise InputError(field=name, value=None, allowed=f"values for measure {measure!r}")
        if isinstance(x, str):
            if data is None or x not in data.columns:
                raise InputError(field=name, value=x, allowed="a column of data")
            x = data[x]
        return _arr(x, name)

    if measure not in MEASURES:
        raise InputError(field="measure", value=measure, allowed=f"one of {', '.join(MEASURES)}")
    if measure == "COR":
        r = _check_r(col(ri, "ri"), "ri")
        n = _check_n(col(ni, "ni"), 1, "ni", "the variance of r divides by n - 1")
        yi, vi = r, (1 - r**2) ** 2 / (n - 1)
    elif measure == "ZCOR":
        r = _check_r(col(ri, "ri"), "ri")
        n = _check_n(col(ni, "ni"), 3, "ni", "the variance of Fisher's z is 1 / (n - 3)")
        yi, vi = np.arctanh(r), 1 / (n - 3)
    else:
        n, m = col(ni, "ni"), col(mi, "mi")
        r, v = partial_r_from_t(t=col(ti, "ti"), n=n, m=m)
        r = np.asarray(r)
        if measure == "PCOR":
            yi, vi = r, np.asarray(v)
        else:
            yi, vi = np.arctanh(r), 1 / (n - m - 1)
    out = data.copy() if data is not None else pd.DataFrame()
    out["yi"] = np.atleast_1d(yi)
    out["vi"] = np.atleast_1d(vi)
    return out
