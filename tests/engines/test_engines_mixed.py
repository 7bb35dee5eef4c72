"""Engines: DuckDB (Parquet, relation, query) and frames (pandas, polars) give the same
sufficient statistics and the same fits.

Tolerances: cross-products from DuckDB and numpy are sums of the same products in a
different order, so they agree to rounding (1e-12 relative); fits from them agree to
1e-9 relative (the optimiser's stopping point moves with those last bits).
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from bordin.engines import ModelSpec, RandomPart, SufficientStatistics, merge_crossproducts
from bordin.engines.duckdb import DuckDBEngine
from bordin.engines.pandas import FrameEngine
from bordin.errors import DataDroppedWarning, InputError
from bordin.stats.mixed import fit


@pytest.fixture(scope="module")
def clinic() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for t in range(12):
        u_t = rng.normal(0, 1.0)
        for p in range(int(rng.integers(2, 7))):
            u_p = rng.normal(0, 2.0)
            s_p = rng.normal(0, 0.3)
            for s in range(1, int(rng.integers(2, 11))):
                a = rng.normal(4, 0.7)
                rows.append({"therapist": f"t{t}", "patient": f"t{t}-p{p}", "session": s,
                             "alliance": a,
                             "phq9": 14 + u_t + u_p - (0.6 + s_p) * s - a + rng.normal(0, 2)})
    return pd.DataFrame(rows)


FORMULAS = [
    "phq9 ~ session + alliance + (1 | therapist/patient)",
    "phq9 ~ session * alliance + (1 + session | patient)",
    "phq9 ~ session + alliance + (1 + session | patient) + (1 | therapist)",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_duckdb_relation_equals_pandas(formula, clinic):
    con = duckdb.connect()
    a = fit(formula, clinic)
    b = fit(formula, con.from_df(clinic))
    assert a.fixed_names == b.fixed_names
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9)
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(b.criterion, a.criterion, rtol=1e-12)
    np.testing.assert_allclose(b.fixed["se"], a.fixed["se"], rtol=1e-8)
    ra, rb = a.ranef(), b.ranef()
    np.testing.assert_allclose(rb["estimate"], ra["estimate"], rtol=1e-7, atol=1e-9)


def test_parquet_path_and_query_equal_pandas(clinic, tmp_path):
    path = tmp_path / "clinic.parquet"
    clinic.to_parquet(path)
    formula = FORMULAS[2]
    a = fit(formula, clinic)
    b = fit(formula, str(path))
    c = fit(formula, DuckDBEngine(f"SELECT * FROM read_parquet('{path}')"))
    for other in (b, c):
        np.testing.assert_allclose(other.beta, a.beta, rtol=1e-9)
        np.testing.assert_allclose(other.criterion, a.criterion, rtol=1e-12)


def test_crossproducts_identical(clinic):
    spec = ModelSpec(response="phq9", fixed="session + alliance",
                     random=(RandomPart("1 + session", ("patient",)),
                             RandomPart("1", ("therapist",))))
    a = FrameEngine(clinic).grouped_crossproducts(spec)
    b = DuckDBEngine(duckdb.connect().from_df(clinic)).grouped_crossproducts(spec)
    order_b = b.keys.sort_values(["patient", "therapist"]).index.to_numpy()
    assert a.keys["patient"].tolist() == b.keys["patient"].iloc[order_b].tolist()
    np.testing.assert_allclose(b.crossprod[order_b], a.crossprod, rtol=1e-12)
    np.testing.assert_array_equal(b.counts[order_b], a.counts)
    assert isinstance(FrameEngine(clinic), SufficientStatistics)


def test_polars_equals_pandas(clinic):
    pl = pytest.importorskip("polars")
    a = fit(FORMULAS[0], clinic)
    b = fit(FORMULAS[0], pl.from_pandas(clinic))
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-12)
    np.testing.assert_allclose(b.criterion, a.criterion, rtol=1e-12)


def test_merge_partitions(clinic):
    spec = ModelSpec(response="phq9", fixed="session",
                     random=(RandomPart("1", ("patient",)),))
    whole = FrameEngine(clinic).grouped_crossproducts(spec)
    half = len(clinic) // 2
    parts = [FrameEngine(clinic.iloc[:half]).grouped_crossproducts(spec),
             FrameEngine(clinic.iloc[half:]).grouped_crossproducts(spec)]
    merged = merge_crossproducts(parts)
    np.testing.assert_allclose(merged.crossprod, whole.crossprod, rtol=1e-12)
    np.testing.assert_array_equal(merged.counts, whole.counts)


def test_duckdb_missing_values(clinic):
    con = duckdb.connect()
    df = clinic.copy()
    df.loc[[3, 10, 11], "alliance"] = np.nan
    rel = con.from_df(df)
    with pytest.warns(DataDroppedWarning, match="3 of"):
        b = fit(FORMULAS[0], rel)
    with pytest.warns(DataDroppedWarning, match="3 of"):
        a = fit(FORMULAS[0], df)
    assert a.nobs == b.nobs == len(df) - 3
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9)
    with pytest.raises(InputError, match="missing"):
        fit(FORMULAS[0], rel, missing="raise")


def test_duckdb_refuses_transforms(clinic):
    con = duckdb.connect()
    df = clinic.assign(arm=np.where(clinic["session"] % 2 == 0, "a", "b"))
    with pytest.raises(InputError, match="numeric columns"):
        fit("phq9 ~ session + I(session**2) + (1 | patient)", con.from_df(df))
    with pytest.raises(InputError, match="columns of the data"):
        fit("phq9 ~ nosuch + (1 | patient)", con.from_df(df))


def test_duckdb_bad_sources(tmp_path):
    with pytest.raises(InputError, match="Parquet"):
        fit("y ~ x + (1 | g)", str(tmp_path / "absent.parquet"))
    with pytest.raises(InputError, match="query"):
        DuckDBEngine("SELEC nonsense")
    with pytest.raises(InputError, match="data"):
        fit("y ~ x + (1 | g)", [1, 2, 3])


def test_predict_from_duckdb_model(clinic):
    con = duckdb.connect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = fit(FORMULAS[2], clinic)
        b = fit(FORMULAS[2], con.from_df(clinic))
    np.testing.assert_allclose(b.predict(clinic), a.predict(clinic), rtol=1e-8)


def test_crossproducts_sorted_and_scattered_paths_agree():
    from bordin.engines.pandas import crossproducts_by_code

    rng = np.random.default_rng(11)
    n, g = 5000, 300
    codes = np.sort(rng.integers(0, g, n))
    W = [np.ones(n), rng.normal(size=n), rng.normal(size=n)]
    ordered = crossproducts_by_code(W, codes, g)
    perm = rng.permutation(n)
    scattered = crossproducts_by_code([w[perm] for w in W], codes[perm], g)
    np.testing.assert_allclose(ordered, scattered, rtol=1e-12, atol=1e-12)
    # a direct computation for one cell
    rows = codes == 17
    Wm = np.column_stack(W)[rows]
    np.testing.assert_allclose(ordered[17], Wm.T @ Wm, rtol=1e-12)


def test_any_engine_implementing_the_protocol(clinic):
    """A third-party engine (Spark, Dask, ...) only has to return GroupedCrossproducts."""

    class Partitioned:
        def __init__(self, frames: list[pd.DataFrame]) -> None:
            self.frames = frames

        def grouped_crossproducts(self, spec, *, missing="drop"):
            return merge_crossproducts([FrameEngine(f).grouped_crossproducts(spec,
                                                                             missing=missing)
                                        for f in self.frames])

    half = len(clinic) // 2
    engine = Partitioned([clinic.iloc[:half], clinic.iloc[half:]])
    assert isinstance(engine, SufficientStatistics)
    a = fit(FORMULAS[0], clinic)
    b = fit(FORMULAS[0], engine)
    np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9)
    np.testing.assert_allclose(b.criterion, a.criterion, rtol=1e-12)


def test_parquet_without_nulls_skips_the_complete_rows_filter(clinic, tmp_path):
    """The footer's null counts prove every row complete: no WHERE in the one pass (a
    tenth of the query at ten million rows), and the same statistics as with it."""
    spec = ModelSpec(response="phq9", fixed="session + alliance",
                     random=(RandomPart("1 + session", ("patient",)),))
    path = tmp_path / "complete.parquet"
    clinic.to_parquet(path)
    engine = DuckDBEngine.from_parquet(path)
    a = engine.grouped_crossproducts(spec)
    assert "WHERE" not in engine.last_sql
    rel = DuckDBEngine(duckdb.connect().read_parquet(str(path)))
    b = rel.grouped_crossproducts(spec)
    assert "WHERE" in rel.last_sql  # a relation has no footer to consult
    order_a = a.keys.sort_values("patient").index.to_numpy()
    order_b = b.keys.sort_values("patient").index.to_numpy()
    np.testing.assert_allclose(a.crossprod[order_a], b.crossprod[order_b], rtol=1e-12)


def test_parquet_with_nulls_keeps_the_filter_and_counts_drops(clinic, tmp_path):
    spec = ModelSpec(response="phq9", fixed="session + alliance",
                     random=(RandomPart("1", ("patient",)),))
    holed = clinic.copy()
    holed.loc[[3, 10, 20], "alliance"] = np.nan
    path = tmp_path / "holed.parquet"
    holed.to_parquet(path)
    engine = DuckDBEngine.from_parquet(path)
    with pytest.warns(DataDroppedWarning, match="3 of"):
        st = engine.grouped_crossproducts(spec)
    assert "WHERE" in engine.last_sql
    assert st.nobs == len(clinic) - 3
