"""The HTZ Wald test of CR2 robust results against metafor 3.8-1 and clubSandwich 0.5.8.

Reference values from scripts/r/meta_htz_reference.R (the fixture records the R, metafor,
metadat and clubSandwich versions): metafor's ``robust(..., clubSandwich = TRUE)`` omnibus
test of the moderators (QM, QMdf, QMp), and clubSandwich's ``Wald_test`` of sub-sets of the
coefficients and of general constraint matrices (HTZ and Naive-Fp with CR2, Naive-Fp with
CR1p, which is metafor's CR1).

Tolerances:

* Statistics, degrees of freedom and δ: rtol 1e-6 (``RTOL``). The rma.mv fits stop where
  nlminb stops (relative change of the objective 1e-12, 1e-10 for assink2016 where it
  reports false non-convergence), which leaves the variance components uncertain to about
  1e-6 relative (observed 2e-7 for assink2016); the HTZ df are a smooth function of them
  (observed ≤ 1.5e-7). The rma.uni fits agree to 1e-10, and every number from them to 1e-7
  (the HTZ sums lose digits on designs with an uncentred year, cond(X'WX) ~ 1e9).
* p-values: rtol 1e-5 (``RTOL_P``). An F tail probability p moves relatively by about
  (df2 / 2) times the relative change of the statistic for large F (p ~ F^(-df2/2)); the
  smallest p here (1.5e-14, F ≈ 1200 on (2, 12) df) is that case with df2 / 2 = 6.
* Internal identities (HTZ with one constraint is the Satterthwaite t test squared; HTZ is
  invariant to an invertible mixing of the constraints): rtol 1e-7 on the reference
  datasets, whose uncentred years make the two algebraically equal forms round
  differently (observed ≤ 8e-9), and 1e-10 on well-conditioned simulated designs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bordin.errors import InputError
from bordin.stats.meta import RobustResult, WaldTestResult, rma, rma_mv, robust, wald_test

FIXTURE = Path(__file__).parent / "fixtures" / "meta_htz_reference.json"
REF = json.loads(FIXTURE.read_text())
CASES = REF["cases"]

RTOL = 1e-6
RTOL_P = 1e-5
RTOL_IDENTITY_REF = 1e-7
RTOL_IDENTITY = 1e-10


def close(actual: Any, desired: Any, rtol: float, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float),
                               np.asarray(desired, dtype=float), rtol=rtol, atol=0, err_msg=what)


def fit(case: dict[str, Any]) -> tuple[Any, pd.DataFrame]:
    df = pd.DataFrame(REF["datasets"][case["dataset"]])
    if case["kind"] == "rma.mv":
        model = rma_mv(yi="yi", vi="vi", random=case["random"], data=df, mods=case["mods"],
                       method=case["method"])
    else:
        model = rma(yi="yi", vi="vi", data=df, mods=case["mods"], method=case["method"])
    return model, df


_ROBUST: dict[tuple[str, str], RobustResult] = {}


def robust_of(case: dict[str, Any], vcov: str) -> RobustResult:
    key = (case["id"], vcov)
    if key not in _ROBUST:
        model, df = fit(case)
        _ROBUST[key] = robust(model, cluster=df[case["cluster"]].to_numpy(), vcov=vcov)
    return _ROBUST[key]


def test_fixture_versions() -> None:
    assert REF["metafor_version"] == "3.8.1"
    assert REF["clubSandwich_version"] == "0.5.8"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_cr2_omnibus_is_metafors_htz(case: dict[str, Any]) -> None:
    rb = robust_of(case, "CR2")
    R = case["result"]
    R2 = R["robust_cr2"]
    assert len(rb.names) == R["p"]
    np.testing.assert_array_equal(rb.model.btt + 1, np.atleast_1d(R["btt"]))
    assert rb.n == R2["n"]
    # the fit and the CR2 pieces agree first (else the test below says nothing)
    close(rb.se, R2["se"], RTOL, f"{case['id']}: CR2 se")
    close(rb.dfs, R2["dfs"], RTOL, f"{case['id']}: Satterthwaite df")
    assert rb.QMdf[0] == R2["QMdf"][0]
    close(rb.QMdf[1], R2["QMdf"][1], RTOL, f"{case['id']}: HTZ df")
    close(rb.QM, R2["QM"], RTOL, f"{case['id']}: QM")
    close(rb.QMp, R2["QMp"], RTOL_P, f"{case['id']}: QMp")


WALD = [(c, w) for c in CASES for w in c["result"]["wald"]]


def _wald_id(cw: tuple[dict[str, Any], dict[str, Any]]) -> str:
    c, w = cw
    what = w["C"] if "C" in w else w["constraints"]
    return f"{c['id']}-{w['vcov']}-{w['test']}-{what}"


@pytest.mark.parametrize("case_wald", WALD, ids=_wald_id)
def test_wald_test_is_clubsandwichs(case_wald: tuple[dict[str, Any], dict[str, Any]]) -> None:
    case, w = case_wald
    rb = robust_of(case, "CR2" if w["vcov"] == "CR2" else "CR1")
    if "C" in w:
        constraints: Any = np.asarray(w["C"], dtype=float)
    else:
        constraints = [i - 1 for i in np.atleast_1d(w["constraints"]).tolist()]
    res = rb.wald_test(constraints, test=w["test"])
    if w["vcov"] == "CR1p":
        assert rb.vbest == "CR1"
        assert rb.wald_test(constraints).test == "Naive-Fp"  # the default for CR1
    assert res.test == w["test"]
    assert res.df1 == w["df_num"]
    close(res.statistic, w["Fstat"], RTOL, "F statistic")
    close(res.df2, w["df_denom"], RTOL, "denominator df")
    close(res.delta, w["delta"], RTOL, "delta")
    close(res.pval, w["p_val"], RTOL_P, "p-value")
    if "C" not in w:
        # by name: the same test
        by_name = wald_test(rb, constraints=[rb.names[i] for i in constraints], test=w["test"])
        assert by_name.statistic == res.statistic and by_name.df2 == res.df2
        np.testing.assert_array_equal(by_name.constraints, res.constraints)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_one_constraint_is_the_satterthwaite_t_test(case: dict[str, Any]) -> None:
    rb = robust_of(case, "CR2")
    for i in range(len(rb.beta)):
        w = rb.wald_test(i)
        assert w.df1 == 1 and w.delta == 1.0
        close(w.df2, rb.dfs[i], RTOL_IDENTITY_REF, f"{rb.names[i]}: df")
        close(w.statistic, rb.zval[i] ** 2, RTOL_IDENTITY_REF, f"{rb.names[i]}: F = t^2")
        close(w.pval, rb.pval[i], RTOL_IDENTITY_REF, f"{rb.names[i]}: p")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_omnibus_is_wald_test_of_btt(case: dict[str, Any]) -> None:
    rb = robust_of(case, "CR2")
    w = rb.wald_test(list(rb.model.btt))
    assert (w.statistic, w.pval, (w.df1, w.df2)) == (rb.QM, rb.QMp, rb.QMdf)
    rng = np.random.default_rng(7)
    q = len(rb.model.btt)
    A = rng.normal(size=(q, q)) + 3 * np.eye(q)
    mixed = rb.wald_test(A @ np.eye(len(rb.beta))[rb.model.btt])
    close(mixed.statistic, rb.QM, RTOL_IDENTITY_REF, "invariant statistic")
    close(mixed.df2, rb.QMdf[1], RTOL_IDENTITY_REF, "invariant df")


def _simulated(kind: str, seed: int) -> tuple[Any, np.ndarray]:
    """A nested rma.mv (clusters of several outer groups) or an rma.uni, unbalanced."""
    rng = np.random.default_rng(seed)
    n_cl = 14
    sizes = rng.integers(1, 7, size=n_cl)
    cl = np.repeat(np.arange(n_cl), sizes)
    k = cl.size
    outer = cl * 3 + rng.integers(0, 2, size=k)  # one or two outer groups per cluster
    x1, x2 = rng.normal(size=k), rng.normal(size=k)
    x3 = np.repeat(rng.normal(size=n_cl), sizes)
    vi = rng.uniform(0.01, 0.1, size=k)
    yi = (0.2 + 0.1 * x1 + rng.normal(0, 0.2, 3 * n_cl)[outer] + rng.normal(0, 0.1, k)
          + rng.normal(0, np.sqrt(vi)))
    df = pd.DataFrame({"yi": yi, "vi": vi, "x1": x1, "x2": x2, "x3": x3, "outer": outer,
                       "es": np.arange(k), "cl": cl})
    if kind == "mv":
        model = rma_mv(yi="yi", vi="vi", random=["outer", "es"], data=df,
                       mods="x1 + x2 + x3")
    else:
        model = rma(yi="yi", vi="vi", data=df, mods="x1 + x2 + x3")
    return model, cl


@pytest.mark.parametrize("kind", ["mv", "uni"])
@pytest.mark.parametrize("seed", [1, 2])
def test_htz_identities_on_simulated_designs(kind: str, seed: int) -> None:
    model, cl = _simulated(kind, seed)
    rb = robust(model, cluster=cl, vcov="CR2")
    for i in range(model.p):
        w = rb.wald_test(i)
        close(w.df2, rb.dfs[i], RTOL_IDENTITY, "HTZ df = Satterthwaite df")
        close(w.statistic, rb.zval[i] ** 2, RTOL_IDENTITY, "F = t^2")
    C = np.array([[0, 1, -1, 0], [0, 0, 1, 2.0], [1, 0, 0, 0]])
    A = np.array([[2.0, 1, 0], [0, 1, 0], [1, -1, 3]])
    a, b = rb.wald_test(C), rb.wald_test(A @ C)
    close(b.statistic, a.statistic, RTOL_IDENTITY, "invariant statistic")
    close(b.df2, a.df2, RTOL_IDENTITY, "invariant df")
    # q(q + 1) / Σ Var(V*_st) lies in (0, ∞); the HTZ denominator df below the naive n - p
    # is typical with few clusters, but both must be finite and positive here
    assert 0 < a.df2 < np.inf and 0 < a.delta <= 1


def test_cr1_uses_the_naive_f_and_refuses_htz() -> None:
    case = next(c for c in CASES if c["id"] == "bcg_uni_ablat_year_alloc")
    rb = robust_of(case, "CR1")
    w = rb.wald_test(["ablat", "year"])
    assert w.test == "Naive-Fp" and w.df2 == rb.n - len(rb.beta) and w.delta == 1.0
    assert w.vbest == "CR1"
    with pytest.raises(InputError) as err:
        rb.wald_test([1, 2], test="HTZ")
    assert err.value.field == "test"


@pytest.mark.parametrize(
    ("constraints", "field"),
    [
        ([], "constraints"),
        (["nonsense"], "constraints"),
        ([7], "constraints"),
        ([-1], "constraints"),
        ([1, 1], "constraints"),
        ([True], "constraints"),
        ([1.5], "constraints"),
        (np.zeros((2, 3)), "constraints"),
        (np.array([[0, 1.0, 0, 0, 0], [0, 2.0, 0, 0, 0]]), "constraints"),  # rank 1
        (np.array([[0, np.nan, 0, 0, 0]]), "constraints"),
        (None, "constraints"),
    ],
)
def test_bad_constraints_name_the_field(constraints: Any, field: str) -> None:
    case = next(c for c in CASES if c["id"] == "bcg_uni_ablat_year_alloc")
    rb = robust_of(case, "CR2")
    with pytest.raises(InputError) as err:
        rb.wald_test(constraints)
    assert err.value.field == field


def test_bad_test_and_result() -> None:
    case = next(c for c in CASES if c["id"] == "ko_mv_year")
    rb = robust_of(case, "CR2")
    with pytest.raises(InputError) as err:
        rb.wald_test([1], test="HTA")
    assert err.value.field == "test"
    with pytest.raises(InputError) as err:
        wald_test(rb.model, constraints=[1])  # a model, not a robust result
    assert err.value.field == "result"


def test_wald_result_to_dict_is_json_safe() -> None:
    case = next(c for c in CASES if c["id"] == "bcg_uni_ablat_year_alloc")
    rb = robust_of(case, "CR2")
    w = rb.wald_test(np.int64(3))
    assert isinstance(w, WaldTestResult)
    d = json.loads(json.dumps(w.to_dict()))
    assert d["test"] == "HTZ" and d["df1"] == 1 and d["constraints"] == [[0, 0, 0, 1, 0]]
    d = json.loads(json.dumps(rb.to_dict()))
    assert d["QMdf"][0] == 4 and d["QMdf"][1] == pytest.approx(rb.QMdf[1])
