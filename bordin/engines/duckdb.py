"""Sufficient statistics computed inside DuckDB (a Parquet file, a relation or a query).

The rows never reach Python: one ``GROUP BY`` over the grouping variables returns, per
cell, the row count and the sums of every product of two model columns (``X'X``,
``X'y``, ``y'y``, ``Z'Z``, ``Z'X``, ``Z'y`` and so on) over the complete rows; a
``count(*)`` (answered from metadata for Parquet) gives the number of incomplete rows.

Categorical predictors (string columns: ``VARCHAR`` or ``ENUM``) get formulaic's
treatment coding — the same column names, reference levels and full or reduced coding as
:class:`bordin.engines.pandas.FrameEngine` gives on the same rows. They are not turned
into indicator columns in SQL: the ``GROUP BY`` runs over the grouping variables *and* the
categorical variables, with the sums of products of the numeric parts of the terms only
(``1``, ``x``, ``x·session``, ``y``), so its width does not grow with the number of levels.
Within such a sub-cell every model column is a constant (0 or 1 for treatment coding)
times one of those numeric parts; formulaic encodes one row per combination of levels
found (so it alone decides names, reference levels and coding), and numpy expands and adds
the sub-cells into the cells. A ``count(DISTINCT ...)`` first refuses a categorical column
with more than ``max_levels`` levels.

Levels: a ``VARCHAR`` column's levels are its distinct values among the complete rows in
sorted order (formulaic's order for string columns); an ``ENUM``'s are its declared values
in their order (formulaic's order for a pandas ``Categorical``, which DuckDB reads as an
``ENUM``). A pandas ``Categorical`` written to Parquet comes back from DuckDB as
``VARCHAR``: its levels are then sorted, which is pandas' order only if its categories
were sorted.

Limits of this engine (use :class:`bordin.engines.pandas.FrameEngine` for more):

* fixed and random parts may use numeric columns (integer, decimal, floating point, or
  boolean as 0/1, as formulaic treats it), string columns as categorical predictors, the
  intercept, and interactions of these (``a:b``, ``a*b``), nothing else — no transforms
  such as ``I(x**2)`` or ``C(g)``;
* the response must be numeric; grouping columns may be of any type.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from bordin.engines import GroupedCrossproducts, Missing, ModelSpec
from bordin.engines.terms import NumericTerm, numeric_terms
from bordin.errors import DataDroppedWarning, InputError

__all__ = ["DuckDBEngine"]

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
_CATEGORICAL = ("VARCHAR", "ENUM")
_LIMITS = ("numeric columns (booleans as 0/1), string columns as categorical predictors, "
           "the intercept and interactions of these (use a pandas/polars frame for "
           "transforms such as I(x**2) or C(g))")
#: the most levels a categorical predictor may have (each level is a model column)
MAX_LEVELS = 1000


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_numeric(sql_type: str) -> bool:
    """Numeric for a model term: numbers, and booleans as 0/1 (as formulaic treats them)."""
    return sql_type.startswith(_NUMERIC) or sql_type == "BOOLEAN"


def _parse(expr: str, types: dict[str, str]) -> list[tuple[list[str], list[str]]]:
    """``(numeric columns, categorical columns)`` of every term of a right-hand side.

    Raises
    ------
    InputError
        For a formula that does not parse, a column that does not exist, a column of
        another type, or a term that is not a product of columns (a transform).
    """
    try:
        formula = Formula(expr)
    except Exception as exc:  # formulaic raises several parser errors
        raise InputError(field="formula", value=expr,
                         allowed=f"a valid formula right-hand side ({exc})") from exc
    out: list[tuple[list[str], list[str]]] = []
    for term in formula:
        num: list[str] = []
        cat: list[str] = []
        for factor in term.factors:
            name = str(factor.expr)
            method = str(factor.eval_method.value)
            if method == "literal" and name == "1":
                continue
            if method != "lookup":
                raise InputError(field="formula", value=expr, allowed=_LIMITS)
            if name not in types:
                raise InputError(field="formula", value=name,
                                 allowed=f"columns of the data: {sorted(types)}")
            if _is_numeric(types[name]):
                num.append(name)
            elif types[name].startswith(_CATEGORICAL):
                cat.append(name)
            else:
                raise InputError(field=name, value=types[name],
                                 allowed="a numeric, boolean or string (VARCHAR, ENUM) "
                                         "column")
        out.append((num, cat))
    return out


def _crossproducts(res: dict[str, np.ndarray], monomials: list[list[str]]) -> np.ndarray:
    """``(rows, k, k)`` sums of products of the monomials from a ``_sums_sql`` result."""
    k = len(monomials)
    n = np.asarray(res["n"], dtype=float)
    out = np.empty((len(n), k, k))
    for i in range(k):
        for j in range(i, k):
            if not monomials[i] and not monomials[j]:
                v = n
            elif not monomials[i]:
                v = np.asarray(res[f"s{j}"], dtype=float)
            elif not monomials[j]:
                v = np.asarray(res[f"s{i}"], dtype=float)
            else:
                v = np.asarray(res[f"s{i}_{j}"], dtype=float)
            out[:, i, j] = v
            out[:, j, i] = v
    return out


class DuckDBEngine:
    """Reduce a DuckDB relation (or query, or Parquet file) to per-cell cross-products.

    Parameters
    ----------
    source
        A ``duckdb.DuckDBPyRelation`` or an SQL query string.
    connection
        The connection that owns ``source`` (a query is run on it; default: a new
        in-memory connection).
    max_levels
        The most levels a categorical predictor may have; more raise
        :class:`~bordin.errors.InputError` naming the column (an identifier used as a
        predictor by mistake would otherwise make one model column per value).
    """

    source = "duckdb"
    #: the aggregation query of the last ``grouped_crossproducts`` call (for inspection)
    last_sql: str | None = None

    def __init__(self, source: Any, *, connection: duckdb.DuckDBPyConnection | None = None,
                 max_levels: int = MAX_LEVELS) -> None:
        if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 1:
            raise InputError(field="max_levels", value=max_levels,
                             allowed="a positive integer")
        self.max_levels = max_levels
        if isinstance(source, str):
            self.connection = connection if connection is not None else duckdb.connect()
            try:
                self.relation = self.connection.sql(source)
            except duckdb.Error as exc:
                raise InputError(field="query", value=source,
                                 allowed=f"a DuckDB query that runs ({exc})") from exc
        elif isinstance(source, duckdb.DuckDBPyRelation):
            self.relation = source
        else:
            raise InputError(field="data", value=type(source).__name__,
                             allowed="a DuckDB relation or an SQL query string")

    @classmethod
    def from_parquet(cls, path: str | os.PathLike[str], *,
                     connection: duckdb.DuckDBPyConnection | None = None,
                     max_levels: int = MAX_LEVELS) -> DuckDBEngine:
        """Engine over a Parquet file (or glob of files); ``max_levels`` as for the class."""
        con = connection if connection is not None else duckdb.connect()
        p = os.fspath(path)
        if "*" not in p and not os.path.exists(p):
            raise InputError(field="data", value=p, allowed="an existing Parquet file")
        try:
            rel = con.read_parquet(p)
        except duckdb.Error as exc:
            raise InputError(field="data", value=p,
                             allowed=f"a readable Parquet file ({exc})") from exc
        engine = cls(rel, max_levels=max_levels)
        engine._parquet_path = p if "*" not in p else None
        return engine

    _parquet_path: str | None = None

    def _known_complete(self, columns: list[str]) -> bool:
        """True when the Parquet footer's statistics show no NULL in ``columns``.

        Then the complete-rows filter is left out of the GROUP BY: it costs a tenth of the
        query on ten million rows. Only the footer is read; without statistics for every
        row group and column the filter stays.
        """
        if self._parquet_path is None:
            return False
        try:
            import pyarrow.parquet as pq

            meta = pq.read_metadata(self._parquet_path)
        except (OSError, ValueError):
            return False
        wanted = set(columns)
        for r in range(meta.num_row_groups):
            rg = meta.row_group(r)
            seen = set()
            for c in range(rg.num_columns):
                col = rg.column(c)
                if col.path_in_schema not in wanted:
                    continue
                stats = col.statistics
                if stats is None or not stats.has_null_count or stats.null_count != 0:
                    return False
                seen.add(col.path_in_schema)
            if seen != wanted:
                return False
        return True

    # -- formula to SQL ---------------------------------------------------------------
    def _columns(self) -> dict[str, str]:
        return {c: str(t).upper() for c, t in zip(self.relation.columns, self.relation.types,
                                                   strict=True)}

    def _terms(self, expr: str, types: dict[str, str]) -> list[NumericTerm]:
        """``[(name, [columns multiplied])]``; ``[]`` columns is the intercept."""
        terms = numeric_terms(expr, is_numeric={c: _is_numeric(t) for c, t in types.items()})
        if terms is None:
            raise InputError(field="formula", value=expr, allowed=_LIMITS)
        return terms

    def _where(self, used: list[str]) -> str:
        """The complete-rows filter (empty when Parquet statistics show no NULLs)."""
        if self._known_complete(used):
            return ""
        return "WHERE " + " AND ".join(f"{_quote(c)} IS NOT NULL" for c in used) + " "

    def _sums_sql(self, keys: list[str], monomials: list[list[str]], types: dict[str, str],
                  where: str) -> str:
        """``GROUP BY keys`` with ``count(*) AS n``, the sums ``s{i}`` of each product of
        columns ``monomials[i]`` and the sums ``s{i}_{j}`` of each pair's product (an empty
        monomial is the constant 1: its sums are ``n`` and ``s{j}``)."""
        def col(c: str) -> str:
            # integers are cast so that products and sums cannot overflow
            return _quote(c) if types[c] == "DOUBLE" else f"CAST({_quote(c)} AS DOUBLE)"

        exprs = {j: " * ".join(col(c) for c in cols)
                 for j, cols in enumerate(monomials) if cols}
        nonconst = list(exprs)
        aggs = ["count(*) AS n"]
        for a, i in enumerate(nonconst):
            aggs.append(f"sum({exprs[i]}) AS s{i}")
            for j in nonconst[a:]:
                aggs.append(f"sum(({exprs[i]}) * ({exprs[j]})) AS s{i}_{j}")
        keys_sql = ", ".join(_quote(g) for g in keys)
        return (f"SELECT {keys_sql}, {', '.join(aggs)} FROM bordin_source {where}"
                f"GROUP BY {keys_sql}")

    def _run(self, sql: str, used: list[str], spec: ModelSpec, missing: Missing, *,
             stacklevel: int) -> tuple[dict[str, np.ndarray], int]:
        """Run the aggregation; count, and warn about or refuse, the incomplete rows."""
        self.last_sql = sql
        try:
            # Parquet answers count(*) from its metadata; the GROUP BY is the one pass
            n_total = int(self.relation.query(
                "bordin_source", "SELECT count(*) FROM bordin_source").fetchall()[0][0])
            res = self.relation.query("bordin_source", sql).fetchnumpy()
        except duckdb.Error as exc:
            raise InputError(field="data", value=spec.response,
                             allowed=f"a source DuckDB can aggregate ({exc})") from exc
        n_bad = n_total - int(np.asarray(res["n"], dtype=np.int64).sum())
        if n_bad:
            if missing == "raise":
                raise InputError(field=",".join(used), value=f"{n_bad} missing value row(s)",
                                 allowed="no missing values (or missing='drop')")
            warnings.warn(f"{n_bad} of {n_total} rows dropped for missing "
                          f"values in {used}", DataDroppedWarning, stacklevel=stacklevel)
        return res, n_bad

    def grouped_crossproducts(
        self, spec: ModelSpec, *, missing: Missing = "drop"
    ) -> GroupedCrossproducts:
        """Run one ``GROUP BY`` and return the per-cell cross-products.

        Parameters
        ----------
        spec
            Response, fixed part and random terms.
        missing
            ``"drop"`` (count the incomplete rows, warn with
            :class:`~bordin.errors.DataDroppedWarning`) or ``"raise"``.
        """
        types = self._columns()
        gvars = list(spec.grouping_variables)
        for g in [spec.response, *gvars]:
            if g not in types:
                raise InputError(field="formula", value=g,
                                 allowed=f"columns of the data: {sorted(types)}")
        if not types[spec.response].startswith(_NUMERIC):
            raise InputError(field=spec.response, value=types[spec.response],
                             allowed="a numeric response")
        exprs = [spec.fixed, *(part.expr for part in spec.random)]
        categorical = list(dict.fromkeys(
            c for e in exprs for _, cats in _parse(e, types) for c in cats))
        if categorical:
            return self._with_categorical(spec, types, categorical, missing)
        fixed = self._terms(spec.fixed, types)
        names = [n for n, _ in fixed]
        cols_of = {n: c for n, c in fixed}
        extra: list[str] = []
        z_columns: list[list[int]] = []
        z_names: list[list[str]] = []
        for part in spec.random:
            terms = self._terms(part.expr, types)
            idx = []
            for name, cols in terms:
                if name in names:
                    idx.append(names.index(name))
                else:
                    if name not in extra:
                        extra.append(name)
                        cols_of[name] = cols
                    idx.append(len(names) + extra.index(name))
            z_columns.append(idx)
            z_names.append([n for n, _ in terms])
        wnames = [*names, *extra, "__y__"]
        cols_of["__y__"] = [spec.response]
        used = sorted({c for cs in cols_of.values() for c in cs} | set(gvars))
        monomials = [cols_of[name] for name in wnames]
        sql = self._sums_sql(gvars, monomials, types, self._where(used))
        res, n_bad = self._run(sql, used, spec, missing, stacklevel=4)
        n_all = np.asarray(res["n"], dtype=np.int64)
        keep = n_all > 0
        if not keep.any():
            raise InputError(field="data", value="0 rows", allowed="at least one complete row")
        cross = _crossproducts(res, monomials)[keep]
        counts = n_all[keep]
        keys = pd.DataFrame({g: np.asarray(res[g])[keep] for g in gvars})
        fixed_formula, random_exprs = spec.fixed, [p.expr for p in spec.random]

        def fixed_matrix(new: pd.DataFrame) -> np.ndarray:
            return np.asarray(model_matrix(fixed_formula, new, na_action="ignore"), dtype=float)

        def random_matrices(new: pd.DataFrame) -> list[np.ndarray]:
            return [np.asarray(model_matrix(e, new, na_action="ignore"), dtype=float)
                    for e in random_exprs]

        return GroupedCrossproducts(
            fixed_names=names, extra_names=extra, z_columns=z_columns, z_names=z_names,
            crossprod=cross, counts=counts, keys=keys, n_dropped=n_bad,
            response=spec.response, source=self.source, fixed_matrix=fixed_matrix,
            random_matrices=random_matrices,
        )

    # -- categorical predictors ----------------------------------------------------------
    def _levels(self, column: str) -> list[Any] | None:
        """An ENUM's declared values in order (``None`` for other types)."""
        sql_type = str(dict(zip(self.relation.columns, self.relation.types,
                                strict=True))[column])  # as declared: not upper-cased
        if not sql_type.upper().startswith("ENUM"):
            return None
        q = f"SELECT enum_range(NULL::{sql_type}) AS levels"
        return list(self.relation.query("bordin_source", q).fetchall()[0][0])

    def _check_levels(self, categorical: list[str], where: str) -> None:
        """Refuse a categorical column with more than ``max_levels`` levels."""
        counts = ", ".join(f"count(DISTINCT {_quote(c)})" for c in categorical)
        try:
            row = self.relation.query(
                "bordin_source", f"SELECT {counts} FROM bordin_source {where}").fetchall()[0]
        except duckdb.Error as exc:
            raise InputError(field="data", value=categorical,
                             allowed=f"a source DuckDB can aggregate ({exc})") from exc
        for c, k in zip(categorical, row, strict=True):
            if int(k) > self.max_levels:
                raise InputError(
                    field=c, value=f"{int(k)} levels",
                    allowed=f"a categorical predictor with at most {self.max_levels} levels "
                            "(each level is a model column; raise max_levels if this is "
                            "meant)")

    def _with_categorical(
        self, spec: ModelSpec, types: dict[str, str], categorical: list[str],
        missing: Missing,
    ) -> GroupedCrossproducts:
        """Cross-products for a model with categorical predictors (see the module notes)."""
        gvars = list(spec.grouping_variables)
        exprs = [spec.fixed, *(part.expr for part in spec.random)]
        parsed = [_parse(e, types) for e in exprs]
        numeric = list(dict.fromkeys(c for terms in parsed for num, _ in terms for c in num))
        used = sorted({*numeric, *categorical, *gvars, spec.response})
        where = self._where(used)
        self._check_levels(categorical, where)
        # the numeric parts of the terms (sorted column lists: products commute), then y
        parts = list(dict.fromkeys(tuple(sorted(num)) for terms in parsed for num, _ in terms))
        monomials = [list(m) for m in parts] + [[spec.response]]
        keys = list(dict.fromkeys([*gvars, *categorical]))
        sql = self._sums_sql(keys, monomials, types, where)
        res, n_bad = self._run(sql, used, spec, missing, stacklevel=5)
        n_rows = np.asarray(res["n"], dtype=np.int64)
        if not len(n_rows):
            raise InputError(field="data", value="0 rows", allowed="at least one complete row")
        S = _crossproducts(res, monomials)  # per sub-cell (cell x combination of levels)

        # one probe row per combination of levels: formulaic encodes it (numeric columns
        # at 1, so each model column's value is the constant its numeric part is scaled by)
        sub = pd.DataFrame({c: np.asarray(res[c], dtype=object) for c in keys})
        combo = sub.groupby(categorical, sort=True, dropna=False).ngroup().to_numpy()
        first = pd.Series(np.arange(len(combo))).groupby(combo).first().to_numpy()
        probe = pd.DataFrame(index=range(len(first)))
        for c in categorical:
            values = sub[c].to_numpy()[first]
            levels = self._levels(c)
            probe[c] = (pd.Categorical(values, categories=levels) if levels is not None
                        else pd.Series(values, dtype=object))
        for c in numeric:
            probe[c] = 1.0
        columns: list[list[tuple[str, int, np.ndarray]]] = []
        specs = []
        for e in exprs:
            try:
                mm = model_matrix(e, probe, na_action="ignore")
            except Exception as exc:  # formulaic raises several encoding errors
                raise InputError(field="formula", value=e,
                                 allowed=f"a formula formulaic can encode ({exc})") from exc
            specs.append(mm.model_spec)
            values = np.asarray(mm, dtype=float)
            position = {str(name): j for j, name in enumerate(mm.columns)}
            cols: list[tuple[str, int, np.ndarray]] = []
            for st in mm.model_spec.structure:
                num = tuple(sorted(str(f.expr) for f in st.term.factors
                                   if str(f.expr) in numeric))
                for name in st.columns:
                    cols.append((str(name), parts.index(num), values[:, position[str(name)]]))
            columns.append(cols)
        # W = [X, Z columns not in X, y], as the other engines lay it out
        fixed = columns[0]
        names = [n for n, _, _ in fixed]
        w_cols = list(fixed)
        extra: list[str] = []
        z_columns: list[list[int]] = []
        z_names: list[list[str]] = []
        for cols in columns[1:]:
            idx = []
            for name, mono, coef in cols:
                if name in names:
                    idx.append(names.index(name))
                    continue
                if name not in extra:
                    extra.append(name)
                    w_cols.append((name, mono, coef))
                idx.append(len(names) + extra.index(name))
            z_columns.append(idx)
            z_names.append([n for n, _, _ in cols])
        w_cols.append((spec.response, len(parts), np.ones(len(first))))
        # expand the sub-cells into W'W and add them up by cell
        cell_keys = sub[gvars]
        cell = cell_keys.groupby(gvars, sort=True, dropna=False).ngroup().to_numpy()
        n_cells = int(cell.max()) + 1
        m = len(w_cols)
        cross = np.empty((n_cells, m, m))
        for i in range(m):
            _, a_i, c_i = w_cols[i]
            for j in range(i, m):
                _, a_j, c_j = w_cols[j]
                coef = c_i * c_j
                if not coef.any():  # indicators of two levels of one factor
                    cross[:, i, j] = cross[:, j, i] = 0.0
                    continue
                v = coef[combo] * S[:, a_i, a_j]
                total = np.bincount(cell, weights=v, minlength=n_cells)
                cross[:, i, j] = total
                cross[:, j, i] = total
        counts = np.bincount(cell, weights=n_rows, minlength=n_cells).astype(np.int64)
        first_cell = pd.Series(np.arange(len(cell))).groupby(cell).first().to_numpy()
        keys_frame = pd.DataFrame({g: np.asarray(res[g])[first_cell] for g in gvars})
        fixed_spec, random_specs = specs[0], specs[1:]

        def fixed_matrix(new: pd.DataFrame) -> np.ndarray:
            return np.asarray(fixed_spec.get_model_matrix(new, na_action="ignore"),
                              dtype=float)

        def random_matrices(new: pd.DataFrame) -> list[np.ndarray]:
            return [np.asarray(sp.get_model_matrix(new, na_action="ignore"), dtype=float)
                    for sp in random_specs]

        return GroupedCrossproducts(
            fixed_names=names, extra_names=extra, z_columns=z_columns, z_names=z_names,
            crossprod=cross, counts=counts, keys=keys_frame, n_dropped=n_bad,
            response=spec.response, source=self.source, fixed_matrix=fixed_matrix,
            random_matrices=random_matrices,
        )
