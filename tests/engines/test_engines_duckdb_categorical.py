"""Categorical predictors in the DuckDB engine give the pandas engine's model.

The pandas engine builds the design with formulaic; the DuckDB engine groups by the
categorical columns as well and lets formulaic encode one row per combination of levels.
Both must give the same column names, reference levels and estimates.

Tolerances, with their reasons: the per-cell cross-products are sums of the same
products. Where every categorical variable is constant within a cell (arm within patient)
both engines add the same numbers in the same order and the fits came out identical to
the last bit here; where one varies within a cell (format by session) DuckDB adds per
sub-cell (cell × level) and numpy per cell, so the sums differ by rounding (1e-16
relative; 1e-13 allowed for the cross-products). The optimiser stops where the criterion
stops changing, which turns that rounding into differences of up to 6e-10 × SE in β and
3e-9 relative in θ (measured). So: criterion 1e-12 relative; β 1e-9 relative with a floor
of 2e-9 × its SE (a coefficient near 0, format's interaction); θ 1e-8 relative; SEs 1e-8.
Not 1e-10 throughout: the last digits of an optimum on a flat criterion are not
determined by the data to that precision.
"""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from bordin.engines import ModelSpec, RandomPart
from bordin.engines.duckdb import DuckDBEngine
from bordin.engines.pandas import FrameEngine
from bordin.errors import DataDroppedWarning, InputError
from bordin.stats.mixed import fit

EFFECT = {"BA": 0.3, "CBT": 0.0, "IPT": 0.8, "PDT": -0.5}


@pytest.fixture(scope="module")
def clinic() -> pd.DataFrame:
    """Patients in therapists; a four-level arm per patient, a two-level format per session."""
    rng = np.random.default_rng(11)
    rows = []
    for t in range(14):
        u_t = rng.normal(0, 1.0)
        for p in range(int(rng.integers(2, 7))):
            u_p = rng.normal(0, 2.0)
            s_p = rng.normal(0, 0.25)
            arm = str(rng.choice(list(EFFECT)))
            for s in range(1, int(rng.integers(3, 11))):
                fmt = "video" if rng.random() < 0.4 else "room"
                a = rng.normal(4, 0.7)
                rows.append({
                    "therapist": f"t{t}", "patient": f"t{t}-p{p}", "session": s,
                    "alliance": a, "arm": arm, "format": fmt,
                    "phq9": (14 + u_t + u_p - (0.6 + s_p + 0.1 * EFFECT[arm]) * s - a
                             + EFFECT[arm] + (0.7 if fmt == "video" else 0.0)
                             + rng.normal(0, 2)),
                })
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def parquet(clinic, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("categorical") / "clinic.parquet"
    clinic.to_parquet(path)
    return str(path)


FORMULAS = [
    # a four-level factor, patients in therapists
    "phq9 ~ session + arm + (1 | therapist/patient)",
    # its interaction with a numeric predictor, correlated random slopes
    "phq9 ~ session * arm + alliance + (1 + session | patient)",
    # a factor that varies within patients, and two factors crossed with each other
    "phq9 ~ arm * format + session + (1 | patient) + (1 | therapist)",
    # factor-by-numeric interaction without the main effect: full coding of arm
    "phq9 ~ alliance + arm:session + (1 | patient)",
    # no intercept: every level its own column
    "phq9 ~ 0 + arm + session + (1 | patient)",
]


def _agree(a, b) -> None:
    assert b.fixed_names == a.fixed_names
    np.testing.assert_allclose(b.criterion, a.criterion, rtol=1e-12)
    se = a.fixed["se"].to_numpy()
    assert np.all(np.abs(b.beta - a.beta) <= 1e-9 * np.abs(a.beta) + 2e-9 * se)
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-8)
    np.testing.assert_allclose(b.fixed["se"], a.fixed["se"], rtol=1e-8)


@pytest.mark.parametrize("formula", FORMULAS)
def test_parquet_equals_pandas(formula, clinic, parquet):
    a = fit(formula, clinic)
    b = fit(formula, parquet)
    _agree(a, b)
    assert any("[" in n for n in a.fixed_names)


def test_names_and_reference_level(clinic, parquet):
    m = fit(FORMULAS[1], parquet)
    # formulaic's names; the reference level is the first in sorted order (BA)
    assert m.fixed_names == [
        "Intercept", "session", "arm[T.CBT]", "arm[T.IPT]", "arm[T.PDT]", "alliance",
        "session:arm[T.CBT]", "session:arm[T.IPT]", "session:arm[T.PDT]"]
    full = fit(FORMULAS[3], parquet)
    assert full.fixed_names == ["Intercept", "alliance", "arm[BA]:session",
                                "arm[CBT]:session", "arm[IPT]:session", "arm[PDT]:session"]


def test_crossproducts_equal_pandas(clinic):
    spec = ModelSpec(response="phq9", fixed="session * arm + format",
                     random=(RandomPart("1 + session", ("patient",)),
                             RandomPart("1", ("therapist",))))
    a = FrameEngine(clinic).grouped_crossproducts(spec)
    b = DuckDBEngine(duckdb.connect().from_df(clinic)).grouped_crossproducts(spec)
    assert b.fixed_names == a.fixed_names
    assert b.extra_names == a.extra_names and b.z_columns == a.z_columns
    order = b.keys.sort_values(["patient", "therapist"]).index.to_numpy()
    assert b.keys["patient"].iloc[order].tolist() == a.keys["patient"].tolist()
    np.testing.assert_allclose(b.crossprod[order], a.crossprod, rtol=1e-13, atol=1e-9)
    np.testing.assert_array_equal(b.counts[order], a.counts)


def test_enum_keeps_its_declared_order(clinic):
    """A pandas Categorical reaches DuckDB as an ENUM: its order sets the reference."""
    arm = clinic["arm"].map({"PDT": "pdt", "IPT": "Ipt", "CBT": "CBT", "BA": "ba"})
    df = clinic.assign(arm=pd.Categorical(arm, categories=["pdt", "Ipt", "CBT", "ba"]))
    formula = "phq9 ~ session + arm + (1 | patient)"
    a = fit(formula, df)
    b = fit(formula, duckdb.connect().from_df(df))
    assert a.fixed_names == ["Intercept", "session", "arm[T.Ipt]", "arm[T.CBT]", "arm[T.ba]"]
    _agree(a, b)


def test_boolean_is_numeric(clinic):
    df = clinic.assign(video=clinic["format"] == "video")
    formula = "phq9 ~ session + video + arm + (1 | patient)"
    a = fit(formula, df)
    b = fit(formula, duckdb.connect().from_df(df))
    assert "video" in a.fixed_names
    _agree(a, b)


def test_missing_levels_dropped_as_pandas(clinic):
    df = clinic.copy()
    df["arm"] = df["arm"].astype(object)
    df.loc[[2, 9, 40], "arm"] = None
    formula = FORMULAS[0]
    with pytest.warns(DataDroppedWarning, match="3 of"):
        a = fit(formula, df)
    with pytest.warns(DataDroppedWarning, match="3 of"):
        b = fit(formula, duckdb.connect().from_df(df))
    assert a.nobs == b.nobs == len(df) - 3
    _agree(a, b)
    with pytest.raises(InputError, match="missing"):
        fit(formula, duckdb.connect().from_df(df), missing="raise")


def test_predict_encodes_new_rows_as_fitted(clinic, parquet):
    a = fit(FORMULAS[1], clinic)
    b = fit(FORMULAS[1], parquet)
    new = clinic[clinic["arm"] == "IPT"].head(5)  # one level only: still the fitted columns
    np.testing.assert_allclose(b.predict(new, re=False), a.predict(new, re=False),
                               rtol=1e-9)
    np.testing.assert_allclose(b.predict(new), a.predict(new), rtol=1e-9)


def test_numeric_only_query_is_unchanged(clinic):
    """Models without categorical predictors run the single GROUP BY over the cells."""
    engine = DuckDBEngine(duckdb.connect().from_df(clinic))
    fit("phq9 ~ session + alliance + (1 | patient)", engine)
    assert engine.last_sql is not None and engine.last_sql.endswith('GROUP BY "patient"')
    fit("phq9 ~ session + arm + (1 | patient)", engine)
    assert engine.last_sql.endswith('GROUP BY "patient", "arm"')


def test_too_many_levels(clinic):
    rng = np.random.default_rng(5)
    n = 1500
    df = pd.DataFrame({"patient": rng.integers(0, 60, n), "session": rng.integers(1, 9, n),
                       "arm": rng.choice(list(EFFECT), n), "phq9": rng.normal(10, 3, n),
                       "visit": [f"v{i}" for i in range(n)]})  # an identifier: 1500 levels
    rel = duckdb.connect().from_df(df)
    with pytest.raises(InputError) as err:
        fit("phq9 ~ session + visit + (1 | patient)", rel)
    assert err.value.field == "visit"
    assert "1000 levels" in str(err.value)
    with pytest.raises(InputError) as err:
        fit("phq9 ~ session + arm + (1 | patient)", DuckDBEngine(rel, max_levels=3))
    assert err.value.field == "arm" and err.value.value == "4 levels"
    with pytest.raises(InputError) as err:
        DuckDBEngine(rel, max_levels=0)
    assert err.value.field == "max_levels"


def test_bad_columns(clinic, parquet):
    with pytest.raises(InputError) as err:
        fit("phq9 ~ session + treatmnt + (1 | patient)", parquet)
    assert err.value.field == "formula" and err.value.value == "treatmnt"
    with pytest.raises(InputError) as err:
        fit("phq9 ~ session + (1 + armm | patient)", parquet)
    assert err.value.value == "armm"
    df = clinic.assign(day=pd.Timestamp("2024-01-01") + pd.to_timedelta(clinic["session"], "D"))
    with pytest.raises(InputError) as err:
        fit("phq9 ~ day + arm + (1 | patient)", duckdb.connect().from_df(df))
    assert err.value.field == "day"
    with pytest.raises(InputError, match="transforms"):
        fit("phq9 ~ C(session) + arm + (1 | patient)", parquet)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a categorical response is refused, not coerced
        with pytest.raises(InputError) as err:
            fit("arm ~ session + (1 | patient)", parquet)
    assert err.value.field == "arm"
