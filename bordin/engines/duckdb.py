"""Sufficient statistics computed inside DuckDB (a Parquet file, a relation or a query).

The rows never reach Python: one ``GROUP BY`` over the grouping variables returns, per
cell, the row count and the sums of every product of two model columns (``X'X``,
``X'y``, ``y'y``, ``Z'Z``, ``Z'X``, ``Z'y`` and so on) over the complete rows; a
``count(*)`` (answered from metadata for Parquet) gives the number of incomplete rows.

Limits of this engine (use :class:`bordin.engines.pandas.FrameEngine` for more):

* fixed and random parts may use numeric columns (integer, decimal or floating point),
  the intercept, and interactions of numeric columns (``a:b``, ``a*b``), nothing else —
  no categorical predictors, no transforms such as ``I(x**2)`` or ``C(g)``;
* the response must be numeric; grouping columns may be of any type.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from bordin.engines import GroupedCrossproducts, Missing, ModelSpec
from bordin.engines.terms import NumericTerm, numeric_terms
from bordin.errors import DataDroppedWarning, InputError

__all__ = ["DuckDBEngine"]

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
_LIMITS = ("numeric columns, the intercept and interactions of numeric columns "
           "(use a pandas/polars frame for categorical predictors or transforms)")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBEngine:
    """Reduce a DuckDB relation (or query, or Parquet file) to per-cell cross-products.

    Parameters
    ----------
    source
        A ``duckdb.DuckDBPyRelation`` or an SQL query string.
    connection
        The connection that owns ``source`` (a query is run on it; default: a new
        in-memory connection).
    """

    source = "duckdb"
    #: the aggregation query of the last ``grouped_crossproducts`` call (for inspection)
    last_sql: str | None = None

    def __init__(self, source: Any, *, connection: duckdb.DuckDBPyConnection | None = None
                 ) -> None:
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
                     connection: duckdb.DuckDBPyConnection | None = None) -> DuckDBEngine:
        """Engine over a Parquet file (or glob of files)."""
        con = connection if connection is not None else duckdb.connect()
        p = os.fspath(path)
        if "*" not in p and not os.path.exists(p):
            raise InputError(field="data", value=p, allowed="an existing Parquet file")
        try:
            rel = con.read_parquet(p)
        except duckdb.Error as exc:
            raise InputError(field="data", value=p,
                             allowed=f"a readable Parquet file ({exc})") from exc
        engine = cls(rel)
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
        terms = numeric_terms(expr, is_numeric={c: t.startswith(_NUMERIC)
                                                for c, t in types.items()})
        if terms is None:
            raise InputError(field="formula", value=expr, allowed=_LIMITS)
        return terms

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
        ok = " AND ".join(f"{_quote(c)} IS NOT NULL" for c in used)

        def col(c: str) -> str:
            # integers are cast so that products and sums cannot overflow
            return _quote(c) if types[c] == "DOUBLE" else f"CAST({_quote(c)} AS DOUBLE)"

        exprs = {j: " * ".join(col(c) for c in cols_of[name])
                 for j, name in enumerate(wnames) if cols_of[name]}
        nonconst = list(exprs)
        aggs = ["count(*) AS n"]
        for a, i in enumerate(nonconst):
            aggs.append(f"sum({exprs[i]}) AS s{i}")
            for j in nonconst[a:]:
                aggs.append(f"sum(({exprs[i]}) * ({exprs[j]})) AS s{i}_{j}")
        keys_sql = ", ".join(_quote(g) for g in gvars)
        where = "" if self._known_complete(used) else f"WHERE {ok} "
        self.last_sql = (f"SELECT {keys_sql}, {', '.join(aggs)} FROM bordin_source {where}"
                         f"GROUP BY {keys_sql}")
        sql = self.last_sql
        try:
            # Parquet answers count(*) from its metadata; the GROUP BY is the one pass
            n_total = int(self.relation.query(
                "bordin_source", "SELECT count(*) FROM bordin_source").fetchall()[0][0])
            res = self.relation.query("bordin_source", sql).fetchnumpy()
        except duckdb.Error as exc:
            raise InputError(field="data", value=spec.response,
                             allowed=f"a source DuckDB can aggregate ({exc})") from exc
        n_all = np.asarray(res["n"], dtype=np.int64)
        n_bad = n_total - int(n_all.sum())
        if n_bad:
            if missing == "raise":
                raise InputError(field=",".join(used), value=f"{n_bad} missing value row(s)",
                                 allowed="no missing values (or missing='drop')")
            warnings.warn(f"{n_bad} of {n_total} rows dropped for missing "
                          f"values in {used}", DataDroppedWarning, stacklevel=3)
        keep = n_all > 0
        G = int(keep.sum())
        if G == 0:
            raise InputError(field="data", value="0 rows", allowed="at least one complete row")
        m = len(wnames)
        cross = np.empty((G, m, m))
        consts = [j for j in range(m) if j not in nonconst]
        counts = n_all[keep]
        for i in range(m):
            for j in range(i, m):
                if i in consts and j in consts:
                    v = counts.astype(float)
                elif i in consts:
                    v = np.asarray(res[f"s{j}"], dtype=float)[keep]
                elif j in consts:
                    v = np.asarray(res[f"s{i}"], dtype=float)[keep]
                else:
                    v = np.asarray(res[f"s{i}_{j}"], dtype=float)[keep]
                cross[:, i, j] = v
                cross[:, j, i] = v
        keys = pd.DataFrame({g: np.asarray(res[g])[keep] for g in gvars})
        fixed_formula, random_exprs = spec.fixed, [p.expr for p in spec.random]

        def fixed_matrix(new: pd.DataFrame) -> np.ndarray:
            from formulaic import model_matrix

            return np.asarray(model_matrix(fixed_formula, new, na_action="ignore"), dtype=float)

        def random_matrices(new: pd.DataFrame) -> list[np.ndarray]:
            from formulaic import model_matrix

            return [np.asarray(model_matrix(e, new, na_action="ignore"), dtype=float)
                    for e in random_exprs]

        return GroupedCrossproducts(
            fixed_names=names, extra_names=extra, z_columns=z_columns, z_names=z_names,
            crossprod=cross, counts=counts, keys=keys, n_dropped=n_bad,
            response=spec.response, source=self.source, fixed_matrix=fixed_matrix,
            random_matrices=random_matrices,
        )
