"""Alpha and omega against psych::alpha and lavaan (scripts/r/psychometrics_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bordin.errors import DataDroppedWarning, InputError
from bordin.stats.psychometrics import cronbach_alpha, mcdonald_omega

REF = json.loads((Path(__file__).parent / "fixtures" / "psychometrics_reference.json").read_text())
GROUPS = {f: [f"{f}{i}" for i in range(1, 5)] for f in ("goal", "task", "bond")}


def data(name: str) -> pd.DataFrame:
    return pd.DataFrame(REF["data"][name])


def test_fixture_records_versions() -> None:
    assert REF["R"].startswith("R version")
    assert set(REF["packages"]) >= {"psych", "lavaan"}


@pytest.mark.parametrize("name", ["bfi_a", "alliance"])
def test_alpha_matches_psych(name: str) -> None:
    res = cronbach_alpha(data(name))
    ref = REF["alpha"][name]
    # Closed-form statistics on the same complete data: agreement to rounding error.
    tol = 1e-10
    assert res.n == ref["n"]
    assert res.alpha == pytest.approx(ref["raw_alpha"], abs=tol)
    assert res.std_alpha == pytest.approx(ref["std_alpha"], abs=tol)
    assert res.average_r == pytest.approx(ref["average_r"], abs=tol)
    assert res.ase == pytest.approx(ref["ase"], abs=tol)
    assert res.ci_lower == pytest.approx(ref["feldt_lower"], abs=tol)
    assert res.ci_upper == pytest.approx(ref["feldt_upper"], abs=tol)
    np.testing.assert_allclose(res.items["alpha_if_dropped"], ref["alpha_drop"], atol=tol)
    np.testing.assert_allclose(res.items["r_drop"], ref["r_drop"], atol=tol)


def test_alpha_hand_computed() -> None:
    # Two items with variances 1 and 1 and covariance 0.5: alpha = 2 * (1 - 2 / 3) = 2/3.
    x = pd.DataFrame({"a": [1.0, -1.0, 1.0, -1.0], "b": [1.0, -1.0, -1.0, 1.0]})
    x["b"] = 0.5 * x["a"] + np.sqrt(0.75) * x["b"]
    res = cronbach_alpha(x)
    c = np.cov(x.to_numpy(), rowvar=False)
    assert res.alpha == pytest.approx(2 * (1 - np.trace(c) / c.sum()), abs=1e-12)


@pytest.mark.parametrize("name", ["bfi_ac", "alliance"])
def test_omega_total_matches_lavaan(name: str) -> None:
    res = mcdonald_omega(data(name))
    ref = REF["omega"][name]
    # Both are ML optima of the same likelihood; optimizers stop within ~1e-7.
    assert res.omega_total == pytest.approx(ref["omega"], abs=1e-5)
    # Delta-method SE from the expected information, as lavaan's := parameter.
    assert res.omega_total_se == pytest.approx(ref["se"], rel=1e-3)
    np.testing.assert_allclose(res.loadings["general"], ref["loadings"], atol=1e-4)
    lo, hi = res.omega_total_ci
    assert lo < res.omega_total < hi


def test_omega_bifactor_matches_lavaan() -> None:
    res = mcdonald_omega(data("alliance"), groups=GROUPS)
    ref = REF["omega"]["alliance_bifactor"]
    assert res.model == "bifactor"
    assert res.loglik == pytest.approx(ref["loglik"], abs=1e-4)  # same ML optimum
    assert res.omega_hierarchical == pytest.approx(ref["omega_h"], abs=1e-5)
    assert res.omega_total == pytest.approx(ref["omega_t"], abs=1e-5)
    assert res.omega_hierarchical_se == pytest.approx(ref["omega_h_se"], rel=2e-3)
    assert res.omega_total_se == pytest.approx(ref["omega_t_se"], rel=2e-3)
    np.testing.assert_allclose(res.loadings["general"], ref["general"], atol=1e-3)
    assert res.omega_hierarchical < res.omega_total


def test_results_objects_are_complete() -> None:
    a = cronbach_alpha(data("alliance"))
    o = mcdonald_omega(data("alliance"), groups=GROUPS)
    for r in (a, o):
        json.dumps(r.to_dict())
        assert not r.summary().empty
        fig = r.plot()
        assert fig.axes


def test_missing_rows_are_dropped_with_warning() -> None:
    x = data("alliance").iloc[:50].copy()
    x.iloc[3, 2] = np.nan
    with pytest.warns(DataDroppedWarning, match="1 of 50"):
        res = cronbach_alpha(x)
    assert res.n == 49


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"items": ["goal1", "nope"]}, "items"),
        ({"items": ["goal1"]}, "items"),
        ({"level": 1.5}, "level"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        cronbach_alpha(data("alliance"), **kwargs)
    assert err.value.field == field


def test_bad_groups() -> None:
    with pytest.raises(InputError, match="groups"):
        mcdonald_omega(data("alliance"), groups={"a": ["goal1", "goal2"], "b": ["task1"]})
    x = data("alliance")
    x["text"] = "a"
    with pytest.raises(InputError, match="text"):
        cronbach_alpha(x)
