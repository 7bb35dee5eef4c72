"""Sufficient statistics from an in-memory pandas or polars data frame.

Numeric columns and their products are taken straight from the frame; anything else in
the fixed part or the random-effects designs (categorical predictors, transforms) is
built by formulaic. The per-cell cross-products are then accumulated with
``np.bincount`` — one pass per pair of columns, no Python loop over groups.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from bordin.engines import GroupedCrossproducts, Missing, ModelSpec
from bordin.engines.terms import numeric_terms
from bordin.errors import DataDroppedWarning, InputError

__all__ = ["FrameEngine", "as_pandas", "crossproducts_by_code", "group_codes"]


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
        numeric = {str(c): _is_numeric(df[c]) for c in df.columns}
        needed = {spec.response} | _required(spec.fixed)
        for term in spec.random:
            needed |= _required(term.expr)
        needed |= set(spec.grouping_variables)
        absent = sorted(v for v in needed if v not in df.columns)
        if absent:
            raise InputError(field="formula", value=absent,
                             allowed=f"columns of the data: {sorted(map(str, df.columns))}")
        cols = sorted(needed)
        bad = np.zeros(len(df), dtype=bool)
        which = []
        for c in cols:
            na = df[c].isna().to_numpy()
            if na.any():
                which.append(c)
                bad |= na
        n_bad = int(bad.sum())
        if n_bad:
            if missing == "raise":
                raise InputError(field=",".join(which), value=f"{n_bad} missing value row(s)",
                                 allowed="no missing values (or missing='drop')")
            warnings.warn(
                f"{n_bad} of {len(df)} rows dropped for missing values in {which}",
                DataDroppedWarning, stacklevel=3,
            )
            df = df.loc[~bad, cols]
        if len(df) == 0:
            raise InputError(field="data", value="0 rows", allowed="at least one complete row")
        y = df[spec.response]
        if not numeric.get(spec.response, False):
            raise InputError(field=spec.response, value=str(y.dtype),
                             allowed="a numeric response")
        fixed_build = _Builder(spec.fixed, df, numeric)
        fixed_names = fixed_build.names
        X = fixed_build.columns
        extra_names: list[str] = []
        extra_cols: list[np.ndarray] = []
        z_columns: list[list[int]] = []
        z_names: list[list[str]] = []
        z_builders = []
        for term in spec.random:
            zb = _Builder(term.expr, df, numeric, context=f"({term.expr} | {term.name})")
            z_builders.append(zb)
            idx: list[int] = []
            names = zb.names
            if not names:
                raise InputError(field="formula", value=f"({term.expr} | {term.name})",
                                 allowed="a random-effects term with at least one column")
            for name, col in zip(names, zb.columns, strict=True):
                if name in fixed_names and np.array_equal(X[fixed_names.index(name)], col):
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
        W = [*X, *extra_cols, y.to_numpy(dtype=float)]
        gvars = list(spec.grouping_variables)
        codes, keys = group_codes(df, gvars)
        cross = crossproducts_by_code(W, codes, len(keys))
        counts = np.bincount(codes, minlength=len(keys)).astype(np.int64)

        def fixed_matrix(new: pd.DataFrame) -> np.ndarray:
            return fixed_build.for_new(new)

        def random_matrices(new: pd.DataFrame) -> list[np.ndarray]:
            return [zb.for_new(new) for zb in z_builders]

        return GroupedCrossproducts(
            fixed_names=fixed_names, extra_names=extra_names, z_columns=z_columns,
            z_names=z_names, crossprod=cross, counts=counts, keys=keys,
            n_dropped=n_bad, response=spec.response, source=self.source,
            fixed_matrix=fixed_matrix, random_matrices=random_matrices,
        )


def _is_numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))


class _Builder:
    """Design columns for one formula right-hand side.

    Products of numeric columns are built directly with numpy; anything else
    (categorical predictors, transforms) goes through formulaic, whose model spec is kept
    so that new data are encoded the same way.
    """

    def __init__(self, expr: str, df: pd.DataFrame, numeric: dict[str, bool],
                 context: str | None = None) -> None:
        self.expr = expr
        self.terms = numeric_terms(expr, is_numeric=numeric)
        self.spec = None
        if self.terms is not None:
            self.names = [name for name, _ in self.terms]
            self.columns = self._numeric(df)
        else:
            try:
                mm = model_matrix(expr, df, na_action="ignore")
            except Exception as exc:
                raise InputError(field="formula", value=context or expr,
                                 allowed=f"a formula formulaic can build ({exc})") from exc
            self.spec = mm.model_spec
            self.names = [str(c) for c in mm.columns]
            arr = np.asarray(mm, dtype=float)
            self.columns = [np.ascontiguousarray(arr[:, j]) for j in range(arr.shape[1])]

    def _numeric(self, df: pd.DataFrame) -> list[np.ndarray]:
        assert self.terms is not None
        out = []
        for _, cols in self.terms:
            if not cols:
                out.append(np.ones(len(df)))
                continue
            v = df[cols[0]].to_numpy(dtype=float)
            for c in cols[1:]:
                v = v * df[c].to_numpy(dtype=float)
            out.append(v)
        return out

    def for_new(self, new: pd.DataFrame) -> np.ndarray:
        if self.spec is None:
            missing = sorted({c for _, cs in (self.terms or []) for c in cs} - set(new.columns))
            if missing:
                raise InputError(field="newdata", value=missing,
                                 allowed="the model's predictor columns")
            return np.column_stack(self._numeric(new)) if len(new) else np.empty((0, 0))
        return np.asarray(self.spec.get_model_matrix(new, na_action="ignore"), dtype=float)


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted dense codes of non-negative-range integers in O(n), or ``None``."""
    lo, hi = int(values.min()), int(values.max())
    if hi - lo > 4 * len(values) + 1024:
        return None
    present = np.bincount(values - lo, minlength=hi - lo + 1) > 0
    idmap = np.cumsum(present) - 1
    return idmap[values - lo], np.flatnonzero(present) + lo


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (0..k-1, in sorted order of the values) and the sorted unique values."""
    if pd.api.types.is_integer_dtype(col) and not pd.api.types.is_bool_dtype(col):
        got = _dense_codes(col.to_numpy(dtype=np.int64))
        if got is not None:
            return got
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = np.asarray(col.cat.categories)
        got = _dense_codes(col.cat.codes.to_numpy(dtype=np.int64))
        assert got is not None
        return got[0], cats[got[1]]
    codes, uniques = pd.factorize(col, sort=True)
    return codes.astype(np.int64), np.asarray(uniques)


def group_codes(df: pd.DataFrame, gvars: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Cell code of every row (cells: combinations of ``gvars``) and the cells' keys."""
    per = [_codes(df[g]) for g in gvars]
    code = per[0][0]
    for c, u in per[1:]:
        code = code * len(u) + c
    if len(per) > 1:
        got = _dense_codes(code)
        if got is None:
            uniq, inv = np.unique(code, return_inverse=True)
            got = (inv.astype(np.int64), uniq)
        code, combos = got
        keys = {}
        rest = combos
        for g, (_, u) in reversed(list(zip(gvars, per, strict=True))):
            keys[g] = u[rest % len(u)]
            rest = rest // len(u)
        frame = pd.DataFrame({g: keys[g] for g in gvars})
    else:
        frame = pd.DataFrame({gvars[0]: per[0][1]})
    return code, frame


def crossproducts_by_code(W: list[np.ndarray], codes: np.ndarray, n_cells: int) -> np.ndarray:
    """Per-cell ``W_g' W_g`` from row codes, as ``(n_cells, m, m)``.

    Rows already ordered by cell (the usual layout of longitudinal data) are summed over
    contiguous runs with ``np.add.reduceat``; otherwise one ``np.bincount`` per column
    pair scatters them. Columns that are all ones are not multiplied.
    """
    m = len(W)
    cross = np.empty((n_cells, m, m))
    ones = [bool(W[j][0] == 1.0 and np.all(W[j] == 1.0)) for j in range(m)]
    ordered = bool(np.all(codes[1:] >= codes[:-1])) if len(codes) > 1 else True
    if ordered:
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        counts = np.diff(np.r_[starts, len(codes)]).astype(float)

        def total(v: np.ndarray | None) -> np.ndarray:
            return counts if v is None else np.add.reduceat(v, starts)
    else:
        def total(v: np.ndarray | None) -> np.ndarray:
            if v is None:
                return np.bincount(codes, minlength=n_cells).astype(float)
            return np.bincount(codes, weights=v, minlength=n_cells)

    for i in range(m):
        for j in range(i, m):
            if ones[i] and ones[j]:
                v = total(None)
            elif ones[i]:
                v = total(W[j])
            elif ones[j]:
                v = total(W[i])
            else:
                v = total(W[i] * W[j])
            cross[:, i, j] = v
            cross[:, j, i] = v
    return cross
