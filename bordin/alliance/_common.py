"""Shared plumbing of the alliance analyses: column checks, JSON-safe output, Fisher z."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import InputError
from bordin.stats._results import json_safe as _json_safe


def json_safe(value: Any) -> Any:
    """JSON-safe conversion of alliance results; a DataFrame keeps its index only if named."""
    return _json_safe(value, reset_unnamed_index=False)


def require_frame(data: Any, name: str = "data") -> pd.DataFrame:
    """The argument must be a pandas DataFrame."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(field=name, value=type(data).__name__, allowed="a pandas DataFrame")
    return data


def require_columns(data: pd.DataFrame, columns: dict[str, str | None]) -> None:
    """Every named column (argument name -> column name) must exist in the data."""
    for arg, col in columns.items():
        if col is not None and col not in data.columns:
            raise InputError(
                field=arg, value=col, allowed=f"a column of the data: {list(data.columns)}"
            )


def require_numeric(data: pd.DataFrame, columns: Iterable[str]) -> None:
    """The named columns must be numeric."""
    for col in columns:
        if not pd.api.types.is_numeric_dtype(data[col]):
            raise InputError(field=col, value=str(data[col].dtype), allowed="a numeric column")


def check_level(level: float) -> float:
    """Confidence level in (0, 1)."""
    if not isinstance(level, int | float) or not 0 < float(level) < 1:
        raise InputError(field="level", value=level, allowed="a number between 0 and 1, e.g. 0.95")
    return float(level)


def fisher_ci(r: float, n: int, k: int, level: float) -> tuple[float, float]:
    """Fisher-z interval of a (partial) correlation with k covariates partialled out."""
    if n - 3 - k <= 0 or not np.isfinite(r) or abs(r) >= 1:
        return float("nan"), float("nan")
    z = math.atanh(r)
    half = stats.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3 - k)
    return math.tanh(z - half), math.tanh(z + half)


def wald_ci(est: float, se: float, level: float, df: float | None = None) -> tuple[float, float]:
    """Wald interval, normal or t(df)."""
    q = stats.norm.ppf(0.5 + level / 2) if df is None else stats.t.ppf(0.5 + level / 2, df)
    return est - q * se, est + q * se
