"""Sufficient statistics from an in-memory pandas or polars data frame.

The fixed part and the random-effects designs are built by formulaic (categorical
predictors, interactions, transforms); the per-cell cross-products are then accumulated
with ``np.bincount`` — one pass per pair of columns, no Python loop over groups.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from bordin.engines import GroupedCrossproducts, Missing, ModelSpec
from bordin.errors import DataDroppedWarning, InputError

__all__ = ["FrameEngine", "as_pandas"]


def as_pandas(data: Any) -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame (polars frames are converted).

    Raises
    ------
    InputError
        If ``data`` is not a pandas or polars data frame.
    """
    if isinstance(data, pd.DataFrame):
        return data
    module = type(data).__module__
    if module.startswith("polars") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    raise InputError(
        field="data", value=type(data).__name__,
        allowed="a pandas or polars DataFrame, a Parquet path, or a DuckDB relation",
    )


def _required(expr: str) -> set[str]:
    try:
        return set(Formula(expr).required_variables)
    except Exception as exc:  # formulaic raises several parser errors
        raise InputError(field="formula", value=expr,
                         allowed=f"a valid formula right-hand side ({exc})") from exc


class FrameEngine:
    """Reduce a pandas (or polars) frame to :class:`~bordin.engines.GroupedCrossproducts`.

    Parameters
    ----------
    data
        The rows, one observation each.
    """

    source = "frame"

    def __init__(self, data: Any) -> None:
        self.data = as_pandas(data)

    def grouped_crossproducts(
        self, spec: ModelSpec, *, missing: Missing = "drop"
    ) -> GroupedCrossproducts:
        """Compute per-cell ``W'W`` for ``W = [X, Z_extra, y]``.

        Parameters
        ----------
        spec
            Response, fixed part and random terms.
        missing
            ``"drop"`` drops rows with a missing value in any variable the model uses
            (with a :class:`~bordin.errors.DataDroppedWarning` giving the count);
            ``"raise"`` refuses them with an :class:`~bordin.errors.InputError`.
        """
        df = self.data
        needed = {spec.response} | _required(spec.fixed)
        for term in spec.random:
            needed |= _required(term.expr)
        needed |= set(spec.grouping_variables)
        absent = sorted(v for v in needed if v not in df.columns)
        if absent:
            raise InputError(field="formula", value=absent,
                             allowed=f"columns of the data: {sorted(map(str, df.columns))}")
        cols = sorted(needed)
        na = df[cols].isna()
        bad = na.any(axis=1).to_numpy()
        n_bad = int(bad.sum())
        if n_bad:
            which = [c for c in cols if bool(na[c].any())]
            if missing == "raise":
                raise InputError(field=",".join(which), value=f"{n_bad} missing value row(s)",
                                 allowed="no missing values (or missing='drop')")
            warnings.warn(
                f"{n_bad} of {len(df)} rows dropped for missing values in {which}",
                DataDroppedWarning, stacklevel=3,
            )
            df = df.loc[~bad]
        if len(df) == 0:
            raise InputError(field="data", value="0 rows", allowed="at least one complete row")
        y = df[spec.response]
        if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
            raise InputError(field=spec.response, value=str(y.dtype),
                             allowed="a numeric response")
        try:
            xm = model_matrix(spec.fixed, df, na_action="ignore")
        except Exception as exc:
            raise InputError(field="formula", value=spec.fixed,
                             allowed=f"a fixed part formulaic can build ({exc})") from exc
        fixed_spec = xm.model_spec
        fixed_names = [str(c) for c in xm.columns]
        X = np.asarray(xm, dtype=float)
        extra_names: list[str] = []
        extra_cols: list[np.ndarray] = []
        z_columns: list[list[int]] = []
        z_names: list[list[str]] = []
        z_specs = []
        for term in spec.random:
            try:
                zm = model_matrix(term.expr, df, na_action="ignore")
            except Exception as exc:
                raise InputError(field="formula", value=term.expr,
                                 allowed=f"a random-effects term formulaic can build ({exc})"
                                 ) from exc
            z_specs.append(zm.model_spec)
            idx: list[int] = []
            names = [str(c) for c in zm.columns]
            if not names:
                raise InputError(field="formula", value=f"({term.expr} | {term.name})",
                                 allowed="a random-effects term with at least one column")
            Zt = np.asarray(zm, dtype=float)
            for j, name in enumerate(names):
                col = Zt[:, j]
                if name in fixed_names and np.array_equal(X[:, fixed_names.index(name)], col):
                    idx.append(fixed_names.index(name))
                    continue
                found = next((k for k, e in enumerate(extra_cols) if np.array_equal(e, col)),
                             None)
                if found is None:
                    extra_cols.append(col)
                    extra_names.append(name)
                    found = len(extra_cols) - 1
                idx.append(len(fixed_names) + found)
            z_columns.append(idx)
            z_names.append(names)
        W = np.column_stack([X, *extra_cols, y.to_numpy(dtype=float)])
        gvars = list(spec.grouping_variables)
        grouped = df.groupby(gvars, sort=True, observed=True)
        codes = grouped.ngroup().to_numpy()
        keys = grouped.size().reset_index()[gvars]
        cross = crossproducts_by_code(W, codes, len(keys))
        counts = np.bincount(codes, minlength=len(keys)).astype(np.int64)

        def fixed_matrix(new: pd.DataFrame) -> np.ndarray:
            return np.asarray(fixed_spec.get_model_matrix(new, na_action="ignore"), dtype=float)

        def random_matrices(new: pd.DataFrame) -> list[np.ndarray]:
            return [np.asarray(s.get_model_matrix(new, na_action="ignore"), dtype=float)
                    for s in z_specs]

        return GroupedCrossproducts(
            fixed_names=fixed_names, extra_names=extra_names, z_columns=z_columns,
            z_names=z_names, crossprod=cross, counts=counts, keys=keys.reset_index(drop=True),
            n_dropped=n_bad, response=spec.response, source=self.source,
            fixed_matrix=fixed_matrix, random_matrices=random_matrices,
        )


def crossproducts_by_code(W: np.ndarray, codes: np.ndarray, n_cells: int) -> np.ndarray:
    """Per-cell ``W_g' W_g`` from row codes, as ``(n_cells, m, m)``.

    One ``np.bincount`` per column pair (columns that are all ones are not multiplied).
    """
    m = W.shape[1]
    cross = np.empty((n_cells, m, m))
    ones = [bool(np.all(W[:, j] == 1.0)) for j in range(m)]
    for i in range(m):
        for j in range(i, m):
            if ones[i] and ones[j]:
                v = np.bincount(codes, minlength=n_cells).astype(float)
            elif ones[i]:
                v = np.bincount(codes, weights=W[:, j], minlength=n_cells)
            elif ones[j]:
                v = np.bincount(codes, weights=W[:, i], minlength=n_cells)
            else:
                v = np.bincount(codes, weights=W[:, i] * W[:, j], minlength=n_cells)
            cross[:, i, j] = v
            cross[:, j, i] = v
    return cross
