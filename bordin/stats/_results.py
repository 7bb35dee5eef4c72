"""Shared plumbing of results objects: conversion of numbers and tables to JSON-safe Python.

Used by the ``to_dict()`` methods of ``bordin.stats`` results and, from the layer above, of
``bordin.alliance`` results, so that every results object turns NaN, inf and pandas' missing
markers into ``None`` in the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["json_safe"]


def json_safe(value: Any, *, reset_unnamed_index: bool = True) -> Any:
    """Convert numpy/pandas values to plain JSON-safe Python (NaN and inf become None).

    Parameters
    ----------
    value : Any
        A number, array, Series, DataFrame, or a dict/list/tuple nesting them.
    reset_unnamed_index : bool, default True
        A DataFrame becomes a list of row records; its index is kept as a column when the
        index has a name, and also when it has none if this is True (pandas then calls the
        column ``index``).

    Returns
    -------
    Any
        Plain ``dict``/``list``/``int``/``float``/``bool``/``str``/``None`` values.
    """
    if isinstance(value, dict):
        return {
            str(k): json_safe(v, reset_unnamed_index=reset_unnamed_index)
            for k, v in value.items()
        }
    if isinstance(value, pd.DataFrame):
        keep_index = reset_unnamed_index or value.index.name is not None
        frame = value.reset_index() if keep_index else value
        return [
            json_safe(r, reset_unnamed_index=reset_unnamed_index)
            for r in frame.to_dict(orient="records")
        ]
    if isinstance(value, pd.Series):
        return {
            str(k): json_safe(v, reset_unnamed_index=reset_unnamed_index)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [json_safe(v, reset_unnamed_index=reset_unnamed_index) for v in value]
    if isinstance(value, np.ndarray):
        return [json_safe(v, reset_unnamed_index=reset_unnamed_index) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if not math.isfinite(f) else f
    if value is pd.NA or value is pd.NaT:
        return None
    return value
