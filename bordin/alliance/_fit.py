"""Thin helpers around :func:`bordin.stats.mixed.fit` shared by the analyses."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import pandas as pd

from bordin.alliance._common import require_columns, require_frame, require_numeric
from bordin.errors import DataDroppedWarning, InputError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def model_frame(
    data: pd.DataFrame,
    *,
    numeric: dict[str, str],
    groups: dict[str, str | None],
    covariates: Sequence[str] = (),
) -> pd.DataFrame:
    """Select and check the columns of a model, drop incomplete rows with a warning.

    Returns a frame whose columns are renamed to safe identifiers where needed is
    *not* done: column names must already be identifiers (formula terms).
    """
    data = require_frame(data)
    cov = {f"covariates[{i}]": c for i, c in enumerate(covariates)}
    require_columns(data, {**numeric, **groups, **cov})
    require_numeric(data, [*numeric.values(), *covariates])
    for arg, col in {**numeric, **groups, **cov}.items():
        if col is not None and not _IDENT.match(str(col)):
            raise InputError(field=arg, value=col,
                             allowed="a column name usable in a formula (letters, digits, _)")
    cols = list(dict.fromkeys([*numeric.values(), *covariates,
                               *[g for g in groups.values() if g is not None]]))
    frame = data[cols]
    bad = frame.isna().any(axis=1)
    if bad.any():
        warnings.warn(f"{int(bad.sum())} of {len(frame)} rows with a missing value were "
                      "dropped", DataDroppedWarning, stacklevel=3)
        frame = frame.loc[~bad]
    frame = frame.copy()
    for g in groups.values():
        if g is not None:
            frame[g] = frame[g].astype(str)
    return frame.reset_index(drop=True)
