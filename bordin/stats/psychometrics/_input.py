"""Input checks shared by the psychometric functions."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bordin.errors import DataDroppedWarning, InputError


def item_frame(
    data: pd.DataFrame,
    items: Sequence[str] | None,
    *,
    min_items: int = 2,
    min_rows: int = 3,
    what: str = "items",
) -> pd.DataFrame:
    """Select numeric item columns, drop incomplete rows (with a warning), check sizes."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(field="data", value=type(data).__name__, allowed="a pandas DataFrame")
    cols = list(data.columns) if items is None else list(items)
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise InputError(
            field=what, value=missing, allowed=f"columns of the data: {list(data.columns)}"
        )
    if len(set(cols)) != len(cols):
        raise InputError(field=what, value=cols, allowed="distinct column names")
    if len(cols) < min_items:
        raise InputError(field=what, value=cols, allowed=f"at least {min_items} item columns")
    frame = data[cols]
    for c in cols:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise InputError(
                field=c, value=str(frame[c].dtype), allowed="a numeric item column"
            )
    frame = frame.astype(float)
    bad = ~np.isfinite(frame.to_numpy()).all(axis=1)
    if bad.any():
        warnings.warn(
            f"{int(bad.sum())} of {len(frame)} rows with a missing value were dropped "
            "(complete cases only)",
            DataDroppedWarning,
            stacklevel=3,
        )
        frame = frame.loc[~bad]
    if len(frame) < min_rows:
        raise InputError(
            field="data", value=f"{len(frame)} complete rows", allowed=f"at least {min_rows}"
        )
    sd = frame.std(ddof=1).to_numpy()
    zero = [c for c, s in zip(cols, sd, strict=True) if not s > 0]
    if zero:
        raise InputError(field=what, value=zero, allowed="items that vary (non-zero variance)")
    return frame


def check_level(level: float) -> float:
    """Confidence level in (0, 1)."""
    if not isinstance(level, int | float) or not 0 < float(level) < 1:
        raise InputError(field="level", value=level, allowed="a number between 0 and 1, e.g. 0.95")
    return float(level)
