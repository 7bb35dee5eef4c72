"""CFA through semopy against lavaan ML (scripts/r/psychometrics_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bordin.errors import InputError, StatisticalWarning
from bordin.stats.psychometrics import cfa, finsrud_two_factor, goal_task_bond

REF = json.loads((Path(__file__).parent / "fixtures" / "psychometrics_reference.json").read_text())

SPECS = {
    "holzinger": {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"],
                  "speed": ["x7", "x8", "x9"]},
    "alliance": goal_task_bond(
        goal=[f"goal{i}" for i in range(1, 5)], task=[f"task{i}" for i in range(1, 5)],
        bond=[f"bond{i}" for i in range(1, 5)],
    ),
    "finsrud": {"therapist": [f"therapist{i}" for i in range(1, 5)],
                "treatment": [f"treatment{i}" for i in range(1, 5)]},
}


@pytest.fixture(scope="module", params=list(SPECS))
def fitted(request: pytest.FixtureRequest):
    name = request.param
    return name, cfa(pd.DataFrame(REF["data"][name]), factors=SPECS[name])


def test_loadings_match_lavaan(fitted) -> None:
    name, res = fitted
    ref = REF["cfa"][name]["loadings"]
    assert list(res.loadings["item"]) == ref["item"]
    # Same ML optimum found by two optimizers: estimates agree to ~1e-6.
    np.testing.assert_allclose(res.loadings["estimate"], ref["est"], atol=1e-5)
    np.testing.assert_allclose(res.loadings["std"], ref["std"], atol=1e-5)
    se = np.array(ref["se"], dtype=float)
    ok = se > 0  # lavaan reports se = 0 for the fixed marker loadings; we report NaN
    assert np.isnan(res.loadings["se"].to_numpy()[~ok]).all()
    np.testing.assert_allclose(res.loadings["se"].to_numpy()[ok], se[ok], rtol=1e-4)


def test_fit_indices_match_lavaan(fitted) -> None:
    name, res = fitted
    ref = REF["cfa"][name]["fit"]
    assert res.fit["df"] == ref["df"]
    assert res.fit["chi2"] == pytest.approx(ref["chisq"], rel=1e-6)  # same optimum
    assert res.fit["p"] == pytest.approx(ref["pvalue"], rel=1e-4, abs=1e-12)
    for ours, theirs in [("CFI", "cfi"), ("TLI", "tli"), ("RMSEA", "rmsea"), ("SRMR", "srmr")]:
        assert res.fit[ours] == pytest.approx(ref[theirs], abs=1e-6), ours


def test_factor_scores_match_lavpredict(fitted) -> None:
    name, res = fitted
    ref = pd.DataFrame(REF["cfa"][name]["factor_scores"])
    fs = res.factor_scores()
    np.testing.assert_allclose(fs.to_numpy(), ref[list(SPECS[name])].to_numpy(), atol=1e-4)


def test_results_object(fitted) -> None:
    _, res = fitted
    json.dumps(res.to_dict())
    assert "CFI" in res.summary().attrs["fit"]
    assert res.plot().axes
    assert res.fit_table().shape[0] == 1


def test_two_factor_helper_and_recovery() -> None:
    # Simulated two-factor data with known standardized loadings and factor correlation.
    rng = np.random.default_rng(7)
    n = 3000
    phi = np.array([[1.0, 0.5], [0.5, 1.0]])
    f = rng.multivariate_normal([0, 0], phi, size=n)
    lam = np.array([0.8, 0.7, 0.6])
    cols = {}
    for k, nm in enumerate(("th", "tr")):
        for j, lj in enumerate(lam):
            cols[f"{nm}{j}"] = lj * f[:, k] + np.sqrt(1 - lj**2) * rng.standard_normal(n)
    spec = finsrud_two_factor(therapist=["th0", "th1", "th2"], treatment=["tr0", "tr1", "tr2"])
    res = cfa(pd.DataFrame(cols), factors=spec)
    # Sampling SD of a standardized loading at n = 3000 is about 0.015.
    np.testing.assert_allclose(res.loadings["std"], np.tile(lam, 2), atol=0.05)
    r = res.factor_correlations.iloc[0, 1]
    assert r == pytest.approx(0.5, abs=0.06)


def test_bad_specs() -> None:
    x = pd.DataFrame(REF["data"]["holzinger"])
    with pytest.raises(InputError, match="at least"):
        cfa(x, factors={"a": ["x1"], "b": ["x2", "x3"]})
    with pytest.raises(InputError, match="one factor"):
        cfa(x, factors={"a": ["x1", "x2"], "b": ["x2", "x3"]})
    with pytest.raises(InputError, match="x99"):
        cfa(x, factors={"a": ["x1", "x99"], "b": ["x2", "x3"]})
    with pytest.raises(InputError, match="factor names"):
        cfa(x, factors={"a b": ["x1", "x2"], "c": ["x4", "x3"]})


@pytest.mark.parametrize(("seed", "improper"), [(2, True), (0, False)])
def test_heywood_case_is_flagged(seed: int, improper: bool) -> None:
    # Two "factors" that are one latent variable: with n = 150 the estimated factor
    # correlation lands above 1 for seed 2 (1.05) and below it for seed 0 (0.98).
    rng = np.random.default_rng(seed)
    n = 150
    f = rng.normal(size=n)
    d = pd.DataFrame({f"a{j}": 0.7 * f + 0.7 * rng.normal(size=n) for j in range(3)}
                     | {f"b{j}": 0.7 * f + 0.7 * rng.normal(size=n) for j in range(3)})
    spec = {"a": ["a0", "a1", "a2"], "b": ["b0", "b1", "b2"]}
    if improper:
        with pytest.warns(StatisticalWarning, match="improper"):
            res = cfa(d, factors=spec)
        assert res.factor_correlations.iloc[0, 1] > 1
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", StatisticalWarning)
            res = cfa(d, factors=spec)
    assert res.fit["improper"] is improper
