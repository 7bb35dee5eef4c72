"""Checking and assembling the inputs of a meta-analysis: yi, vi, moderators, clusters."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import DataDroppedWarning, EstimationError, InputError
from bordin.stats.meta._weighted import Array, cross

ModsLike = str | Sequence[float] | np.ndarray | pd.Series | pd.DataFrame | None


@dataclass(frozen=True)
class Design:
    """Validated response, variances and design matrix (rows with missing values dropped)."""

    y: Array
    v: Array
    X: Array
    names: list[str]
    keep: np.ndarray  # boolean mask over the input rows
    intercept: bool


def _column(data: pd.DataFrame | None, value: Any, field: str) -> np.ndarray:
    if isinstance(value, str):
        if data is None:
            raise InputError(field=field, value=value, allowed="an array, or a column of `data` "
                             "(pass data=...)")
        if value not in data.columns:
            raise InputError(field=field, value=value,
                             allowed=f"a column of data: {', '.join(map(str, data.columns))}")
        value = data[value]
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(field=field, value=_short(value), allowed="numbers") from exc
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1:
        raise InputError(field=field, value=f"array of shape {arr.shape}", allowed="a 1-d array")
    return arr


def _short(value: Any) -> Any:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _mods_matrix(
    mods: ModsLike, data: pd.DataFrame | None, k: int
) -> tuple[np.ndarray | None, list[str], bool]:
    """Return (matrix without intercept or full model matrix, names, has_intercept)."""
    if mods is None:
        return None, [], False
    if isinstance(mods, str):
        if data is None:
            raise InputError(field="mods", value=mods,
                             allowed="a formula together with data=..., or an array")
        import formulaic

        formula = mods.split("~", 1)[1] if "~" in mods else mods
        try:
            mm = formulaic.model_matrix(formula, data, na_action="drop")
        except Exception as exc:  # formulaic raises many types for a bad formula
            raise InputError(field="mods", value=mods,
                             allowed=f"a formula over the columns of data ({exc})") from exc
        mm = mm.reindex(data.index)
        names = [str(c) for c in mm.columns]
        has_int = "Intercept" in names
        return np.asarray(mm, dtype=float), names, has_int
    if isinstance(mods, pd.Series):
        return np.asarray(mods, dtype=float)[:, None], [str(mods.name or "mod")], False
    if isinstance(mods, pd.DataFrame):
        return np.asarray(mods, dtype=float), [str(c) for c in mods.columns], False
    try:
        arr = np.asarray(mods, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(field="mods", value=_short(mods), allowed="numbers or a formula") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != k:
        raise InputError(field="mods", value=f"array of shape {arr.shape}",
                         allowed=f"{k} rows, one per study")
    return arr, [f"mod{j + 1}" for j in range(arr.shape[1])], False


def build_design(
    *,
    yi: Any,
    vi: Any,
    mods: ModsLike = None,
    data: pd.DataFrame | None = None,
    intercept: bool = True,
    extra: dict[str, np.ndarray] | None = None,
    min_k: int = 2,
) -> Design:
    """Validate ``yi``/``vi``/``mods``, drop rows with missing values (with a warning)."""
    y = _column(data, yi, "yi")
    v = _column(data, vi, "vi")
    k_all = y.shape[0]
    if v.shape[0] != k_all:
        raise InputError(field="vi", value=f"{v.shape[0]} values",
                         allowed=f"one per effect size ({k_all})")
    M, names, has_int = _mods_matrix(mods, data, k_all)
    if M is not None and M.shape[0] != k_all:
        raise InputError(field="mods", value=f"{M.shape[0]} rows", allowed=f"{k_all} rows")
    keep = np.isfinite(y) & ~np.isnan(v)
    if M is not None:
        keep &= ~np.isnan(M).any(axis=1)
    for arr in (extra or {}).values():
        keep &= ~pd.isna(arr)
    dropped = int((~keep).sum())
    if dropped:
        warnings.warn(f"{dropped} of {k_all} studies dropped for missing values",
                      DataDroppedWarning, stacklevel=3)
    y, v = y[keep], v[keep]
    bad = ~(v > 0) | ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(field="vi", value=float(v[i]),
                         allowed="sampling variances that are positive and finite",
                         context=f"study {int(np.flatnonzero(keep)[i]) + 1}")
    k = y.shape[0]
    if k < min_k:
        raise InputError(field="yi", value=f"{k} usable studies",
                         allowed=f"at least {min_k} studies with an effect size and variance")
    if M is None:
        X = np.ones((k, 1))
        names = ["intrcpt"]
        has_intercept = True
    else:
        M = M[keep]
        if has_int:
            X = M
            names = ["intrcpt" if n == "Intercept" else n for n in names]
            has_intercept = True
        elif intercept and not isinstance(mods, str):  # a formula decides for itself
            X = np.column_stack([np.ones(k), M])
            names = ["intrcpt", *names]
            has_intercept = True
        else:
            X = M
            has_intercept = False
    if X.shape[1] >= k:
        raise InputError(field="mods", value=f"{X.shape[1]} coefficients",
                         allowed=f"fewer coefficients than studies ({k})")
    # Rank from the scaled p × p cross-product (O(k·p²), no k × p SVD).
    G = cross(X, np.ones(k))
    dg = np.diag(G)
    singular = bool(np.any(dg <= 0))
    if not singular:
        ev = np.linalg.eigvalsh(G / np.sqrt(np.outer(dg, dg)))
        singular = bool(ev[0] < 1e-10 * ev[-1])
    if singular:
        raise EstimationError(
            f"the moderators make the design singular ({X.shape[1]} columns: "
            f"{', '.join(names)} are linearly dependent); drop a constant or redundant moderator"
        )
    # Column-major: every product below walks whole columns.
    X = np.asfortranarray(X, dtype=float)
    return Design(y=y, v=v, X=X, names=names, keep=keep, intercept=has_intercept)
