"""Turning a score series the caller hands us into clean arrays (sessions, scores).

A series is one score per session. It may be a plain sequence (position ``i`` is
session ``i + 1``; ``None`` or NaN marks a missed session) or a pandas Series indexed
by session number. Missing sessions are dropped here, so every rule works by session
*number*, never by position: a gap stays a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import InputError

__all__ = ["as_series"]


def as_series(scores: Any, *, field: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(sessions, values)`` as float arrays, sorted by session, NaNs dropped.

    Raises
    ------
    InputError
        If the scores are not numbers, the session numbers are not positive whole
        numbers, or a session appears twice.
    """
    if isinstance(scores, pd.Series):
        try:
            sessions = np.asarray(scores.index, dtype=float)
        except (TypeError, ValueError):
            raise InputError(
                field=f"{field}.index", value=list(scores.index[:5]),
                allowed="session numbers (positive whole numbers)",
            ) from None
        raw = scores.to_numpy(dtype=object)
    elif isinstance(scores, np.ndarray | Sequence) and not isinstance(scores, str | bytes):
        raw = np.asarray(list(scores), dtype=object)
        if raw.ndim != 1:
            raise InputError(field=field, value=f"array of shape {raw.shape}",
                             allowed="one score per session (a 1-D sequence)")
        sessions = np.arange(1, raw.size + 1, dtype=float)
    else:
        raise InputError(field=field, value=type(scores).__name__,
                         allowed="a sequence of scores or a pandas Series indexed by session")
    values = np.empty(raw.size, dtype=float)
    for i, v in enumerate(raw):
        if v is None:
            values[i] = np.nan
            continue
        try:
            values[i] = float(v)
        except (TypeError, ValueError):
            raise InputError(field=f"{field}[{i}]", value=v,
                             allowed="a number, or None/NaN for a missed session") from None
        if np.isinf(values[i]):
            raise InputError(field=f"{field}[{i}]", value=v, allowed="a finite number")
    bad = ~np.isfinite(sessions) | (sessions < 0) | (sessions != np.round(sessions))
    if bad.any():
        raise InputError(field=f"{field}.index", value=sessions[bad][0],
                         allowed="session numbers (non-negative whole numbers)")
    order = np.argsort(sessions, kind="stable")
    sessions, values = sessions[order], values[order]
    if sessions.size > 1 and (np.diff(sessions) == 0).any():
        dup = sessions[1:][np.diff(sessions) == 0][0]
        raise InputError(field=f"{field}.index", value=dup,
                         allowed="each session number at most once")
    keep = ~np.isnan(values)
    return sessions[keep], values[keep]
