"""Properties that any correct meta-analysis has, checked on random data (hypothesis)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bordin.errors import ConvergenceWarning, EstimationError, InputError
from bordin.stats.meta import Control, meta_analysis, rma, rma_mv

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def studies(draw: st.DrawFn, min_k: int = 4, max_k: int = 30) -> pd.DataFrame:
    k = draw(st.integers(min_k, max_k))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.005, 0.2, k)
    tau2 = draw(st.sampled_from([0.0, 0.01, 0.1]))
    x = rng.normal(size=k)
    g = rng.choice(["a", "b", "c"], size=k)
    g[:3] = ["a", "b", "c"]  # every level present
    yi = 0.2 + 0.1 * x + rng.normal(0, np.sqrt(vi + tau2))
    cl = rng.integers(0, max(2, k // 3), size=k)
    return pd.DataFrame({"yi": yi, "vi": vi, "x": x, "g": g, "cluster": cl})


def _same(a: object, b: object, rtol: float = 1e-9) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol,
                               atol=1e-12)


@SETTINGS
@given(df=studies(), method=st.sampled_from(["DL", "REML", "ML", "PM", "SJ", "HE", "EB"]),
       test=st.sampled_from(["z", "knha"]), seed=st.integers(0, 1000))
def test_invariant_to_study_order(df: pd.DataFrame, method: str, test: str, seed: int) -> None:
    perm = np.random.default_rng(seed).permutation(len(df))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = rma(yi="yi", vi="vi", data=df, mods="x", method=method, test=test)
        b = rma(yi="yi", vi="vi", data=df.iloc[perm], mods="x", method=method, test=test)
    # iterative estimators stop at |Δτ²| < 1e-12: order changes rounding only
    for key in ("beta", "se", "tau2", "QE", "QM", "I2"):
        _same(getattr(a, key), getattr(b, key), rtol=1e-8)
    _same(np.sort(a.pi_lb), np.sort(b.pi_lb), rtol=1e-8)


@SETTINGS
@given(df=studies(), perm=st.permutations(["a", "b", "c"]))
def test_relabelling_moderator_levels_changes_nothing_that_matters(
    df: pd.DataFrame, perm: list[str]
) -> None:
    relabel = dict(zip(["a", "b", "c"], [f"level_{p}" for p in perm], strict=True))
    df2 = df.assign(g=df["g"].map(relabel))
    a = rma(yi="yi", vi="vi", data=df, mods="C(g)", method="REML", test="knha")
    b = rma(yi="yi", vi="vi", data=df2, mods="C(g)", method="REML", test="knha")
    # coefficients depend on the reference level; the fit does not
    for key in ("tau2", "QE", "QM", "QMp", "ll_REML", "se_tau2"):
        _same(getattr(a, key), getattr(b, key), rtol=1e-7)
    _same(a.predict()["pred"], b.predict()["pred"], rtol=1e-7)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=studies(min_k=8), seed=st.integers(0, 1000))
def test_multilevel_invariant_to_order_and_cluster_labels(df: pd.DataFrame, seed: int) -> None:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(df))
    df = df.assign(esid=np.arange(len(df)))
    codes = rng.permutation(1000)[: df["cluster"].max() + 1]
    df2 = df.iloc[perm].assign(cluster=lambda d: codes[d["cluster"]].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = rma_mv(yi="yi", vi="vi", random="~ 1 | cluster/esid", data=df, method="REML")
        b = rma_mv(yi="yi", vi="vi", random="~ 1 | cluster/esid", data=df2, method="REML")
    # numerical optimiser on a flat likelihood: compare the likelihood tightly and the
    # estimates to what that flatness allows
    _same(a.logLik, b.logLik, rtol=1e-8)
    _same(a.beta, b.beta, rtol=1e-5)
    ra, rb = a.robust(cluster="cluster"), b.robust(cluster="cluster")
    _same(ra.se, rb.se, rtol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"yi": [0.1], "vi": [0.01]}, "yi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.0, 0.02]}, "vi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, -0.02, 0.02]}, "vi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02]}, "vi"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "method": "XYZ"}, "method"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "test": "f"}, "test"),
        ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "level": 120}, "level"),
        ({"yi": ["a", "b"], "vi": [0.01, 0.02]}, "yi"),
    ],
)
def test_degenerate_input_raises_input_error(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        rma(**kwargs)
    assert err.value.field == field


@given(k=st.integers(0, 1), y=st.floats(-1, 1), v=st.floats(1e-4, 1))
def test_fewer_than_two_studies_is_input_error(k: int, y: float, v: float) -> None:
    with pytest.raises(InputError, match="at least 2"):
        rma(yi=[y] * k, vi=[v] * k)


@given(v=st.floats(-1, 0))
def test_nonpositive_variance_is_input_error(v: float) -> None:
    with pytest.raises(InputError, match="vi"):
        rma(yi=[0.1, 0.2, 0.3], vi=[0.01, v, 0.02])


def test_correlation_outside_range_and_small_n_are_input_errors() -> None:
    df = pd.DataFrame({"r": [0.2, 1.0, 0.3], "n": [50, 60, 70]})
    with pytest.raises(InputError, match="ri"):
        meta_analysis(df)
    df = pd.DataFrame({"r": [0.2, 0.1, 0.3], "n": [50, 3, 70]})
    with pytest.raises(InputError, match="ni"):
        meta_analysis(df)


def test_singular_moderators_are_estimation_errors() -> None:
    df = pd.DataFrame({"yi": [0.1, 0.3, 0.2, 0.5, 0.4], "vi": [0.01] * 5,
                       "x": [1.0, 2, 3, 4, 5]})
    df["x2"] = 2 * df["x"]
    with pytest.raises(EstimationError, match="singular"):
        rma(yi="yi", vi="vi", mods="x + x2", data=df)
    with pytest.raises(EstimationError, match="singular"):
        rma(yi="yi", vi="vi", mods=np.ones(5), data=df)  # a second intercept


def test_non_convergence_is_estimation_error() -> None:
    rng = np.random.default_rng(3)
    vi = rng.uniform(0.01, 0.1, 20)
    yi = rng.normal(0, np.sqrt(vi + 0.3))
    with pytest.raises(EstimationError, match="did not converge"):
        rma(yi=yi, vi=vi, method="REML", control=Control(maxiter=1, fallback=False))
    # with the fallback (default) the bounded search finds the same maximum
    with pytest.warns(ConvergenceWarning):
        a = rma(yi=yi, vi=vi, method="REML", control=Control(maxiter=1))
    b = rma(yi=yi, vi=vi, method="REML")
    assert a.tau2 == pytest.approx(b.tau2, rel=1e-6)


def test_unknown_column_and_bad_random_are_input_errors() -> None:
    df = pd.DataFrame({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "s": [1, 1, 2]})
    with pytest.raises(InputError, match="a column of data"):
        rma(yi="effect", vi="vi", data=df)
    with pytest.raises(InputError, match="random"):
        rma_mv(yi="yi", vi="vi", random="~ x | s", data=df)
    with pytest.raises(InputError, match="random"):
        rma_mv(yi="yi", vi="vi", random="~ 1 | nope", data=df)


def test_results_objects_summary_dict_and_plots(tmp_path: object) -> None:
    from matplotlib.figure import Figure

    rng = np.random.default_rng(7)
    df = pd.DataFrame({"study": [f"S{i}" for i in range(12)],
                       "r": rng.uniform(0.05, 0.45, 12), "n": rng.integers(30, 300, 12),
                       "x": rng.normal(size=12)})
    res = meta_analysis(df)
    assert list(res.summary().columns) == ["estimate", "se", "tval", "pval", "ci_lb", "ci_ub"]
    json.dumps(res.to_dict())  # JSON-safe
    assert res.to_dict()["tau2_ci"][0] <= res.tau2 <= res.to_dict()["tau2_ci"][1]
    r = res.to_r()
    assert np.tanh(res.beta[0]) == pytest.approx(r["pred"].iloc[0])
    assert isinstance(res.forest_plot(), Figure)
    assert isinstance(res.funnel_plot(), Figure)
    reg = meta_analysis(df, mods="x")
    assert reg.QMdf == (1, 10)
    assert "Test of moderators" in repr(reg)
    assert isinstance(res.trimfill().to_dict()["k0"], int)
    assert "Egger" in repr(res.regtest())
    assert len(res.leave1out()) == 12


def test_nested_likelihood_and_gradient_match_dense_algebra() -> None:
    """The O(k) Sherman–Morrison recursion against dense k × k algebra, three levels."""
    from bordin.stats.meta.multilevel import _Nested, _nll

    rng = np.random.default_rng(11)
    k = 80
    df = pd.DataFrame({"a": rng.integers(0, 6, k), "b": rng.integers(0, 3, k),
                       "c": np.arange(k)}).sort_values(["a", "b"])
    codes = [df.groupby(cols).ngroup().to_numpy() for cols in (["a"], ["a", "b"], ["a", "b", "c"])]
    X = np.column_stack([np.ones(k), rng.normal(size=k)])
    y = rng.normal(size=k)
    v = rng.uniform(0.05, 0.5, k)
    s2 = np.array([0.3, 0.2, 0.1])
    V = np.diag(v) + sum(s * (c[:, None] == c[None, :]) for s, c in zip(s2, codes, strict=True))
    Vi = np.linalg.inv(V)
    A = X.T @ Vi @ X
    b = np.linalg.solve(A, X.T @ Vi @ y)
    r = y - X @ b
    ldXX = np.linalg.slogdet(X.T @ X)[1]
    dense = 0.5 * ((k - 2) * np.log(2 * np.pi) - ldXX + np.linalg.slogdet(V)[1]
                   + np.linalg.slogdet(A)[1] + r @ Vi @ r)
    nested = _Nested(codes, v, np.column_stack([X, y]))
    val, parts = _nll(nested, s2, X, y, True, ldXX)
    assert val == pytest.approx(dense, rel=1e-12)
    np.testing.assert_allclose(parts["beta"], b, rtol=1e-10)
    # analytic gradient against dense: ½ tr(P Z Z') − ½ r'V⁻¹ZZ'V⁻¹r with P the REML projector
    P = Vi - Vi @ X @ np.linalg.solve(A, X.T @ Vi)
    for lev, c in enumerate(codes):
        ZZ = (c[:, None] == c[None, :]).astype(float)
        g = 0.5 * (np.trace(P @ ZZ) - r @ Vi @ ZZ @ Vi @ r)
        assert parts["grad"][lev] == pytest.approx(g, rel=1e-9)


def test_multilevel_result_objects() -> None:
    rng = np.random.default_rng(5)
    k = 60
    df = pd.DataFrame({"study": np.repeat(np.arange(15), 4), "esid": np.arange(k),
                       "vi": rng.uniform(0.01, 0.05, k)})
    df["yi"] = (0.3 + np.repeat(rng.normal(0, 0.2, 15), 4) + rng.normal(0, 0.15, k)
                + rng.normal(0, np.sqrt(df["vi"])))
    res = rma_mv(yi="yi", vi="vi", random="~ 1 | study/esid", data=df)
    json.dumps(res.to_dict())
    vc = res.variance_components()
    assert list(vc.index) == ["study", "study/esid"] and list(vc["nlvls"]) == [15, 60]
    assert res.pi_lb < res.beta[0] < res.pi_ub
    cr1 = res.robust(cluster="study")
    cr2 = res.robust(cluster="study", vcov="CR2")
    json.dumps(cr1.to_dict())
    json.dumps(cr2.to_dict())
    assert cr1.dfs == 14 and cr2.vbest == "CR2"
    assert "Cluster-robust" in repr(cr2)
    from matplotlib.figure import Figure

    assert isinstance(res.forest_plot(), Figure) and isinstance(res.funnel_plot(), Figure)
    with pytest.raises(InputError, match="vcov"):
        res.robust(cluster="study", vcov="HC3")
    with pytest.raises(InputError, match="cluster"):
        res.robust(cluster=np.zeros(k))  # one cluster: no df left


def test_formula_without_intercept_is_respected() -> None:
    df = pd.DataFrame({"yi": [0.1, 0.2, 0.3, 0.5, 0.4, 0.2], "vi": [0.01] * 6,
                       "g": list("aabbcc")})
    cell = rma(yi="yi", vi="vi", data=df, mods="C(g) - 1", method="EE")
    ref = rma(yi="yi", vi="vi", data=df, mods="C(g)", method="EE")
    assert len(cell.names) == 3 and cell.QMdf[0] == 3  # omnibus over all three means
    # equal variances: each cell mean is the mean of its two studies
    np.testing.assert_allclose(cell.beta, [0.15, 0.4, 0.3], rtol=1e-12)
    np.testing.assert_allclose(cell.predict()["pred"], ref.predict()["pred"], rtol=1e-12)
