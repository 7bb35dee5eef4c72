"""Crossed grouping factors against lme4 1.1-31 / lmerTest 3.1-3.

Reference: ``scripts/r/mixed_crossed_reference.R`` (lme4's Penicillin, plates crossed with
samples; a simulated, unbalanced, partially crossed rating study with patient slopes,
rater slopes and a patient-rater interaction). The data are in the fixture.

Tolerances, with their reasons (the same as ``test_mixed_reference.py``, whose nested
fits reach them too):

* criterion (REML criterion or ML deviance): at least as good as lme4's tight fit
  (≤ R + 1e-9·|R|, floating-point noise) and equal within 1e-9 relative: the same optimum
  of a criterion that is flat there.
* beta: 1e-6 relative with an absolute floor of 1e-6 × its SE (coefficients near zero).
* SE, residual SD, variances and SDs of random effects, θ: 1e-6 relative (θ with a floor
  of 1e-6 × the largest element of its Λ block: small off-diagonal elements are fixed
  only to that absolute level by so flat a criterion); correlations 1e-6 absolute.
* Satterthwaite df: 1e-6 relative. Both sides take numDeriv's finite differences of the
  deviance in (θ, σ), the rest is the propagated θ difference (measured up to 6e-7).
* The reference is lme4's tight fit restarted from its own optimum (see the R script):
  without the restart, lme4 stops 8e-7 relative short in the three-term model's
  patient:rater θ (1.5e-6 in its variance) at a criterion 2e-11 above Bordin's.
* logLik, deviance, AIC, BIC: 1e-9 relative (as the criterion).
* BLUPs and conditional variances: 1e-6 relative with a floor of 1e-6 × the BLUPs' own
  conditional SD (BLUPs near zero move with the last digits of θ).
* fitted values: 1e-6 relative with a floor of 1e-6 × the residual SD.
* profile intervals (Penicillin): 5e-4 relative against lme4's ``confint``, the
  interpolation error of lme4's default profile grid (see ``test_mixed_profile.py``,
  where the same bound was measured up to 2.2e-4).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from lme4_checks import check_fixed, check_likelihoods, our_term
from mixed_fixtures import FIXTURES_DIR

import bordin.stats.mixed.crossed as crossed
from bordin.errors import InputError, StatisticalWarning
from bordin.stats.mixed import MixedModel, fit, lrt
from bordin.stats.mixed.crossed import (
    CrossedMixedModel,
    CrossedProfile,
    build_crossed_design,
    lme4_term_order,
)
from bordin.stats.mixed.fit import resolve_engine
from bordin.stats.mixed.formula import parse_formula
from bordin.stats.mixed.profile import Profile

CROSSED_FIXTURE = FIXTURES_DIR / "mixed_crossed_reference.json"
REF = json.loads(CROSSED_FIXTURE.read_text())
MODELS = list(REF["models"])
RTOL = 1e-6


def _data(name: str) -> pd.DataFrame:
    return pd.DataFrame(REF["data"]["Penicillin" if name.startswith("penicillin")
                                   else "ratings"])


def _fit_all() -> dict[str, MixedModel]:
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)  # Penicillin: 6 samples
        for name in MODELS:
            r = REF["models"][name]
            out[name] = fit(r["formula"], _data(name), reml=r["reml"])
    return out


@pytest.fixture(scope="module")
def fitted() -> dict[str, MixedModel]:
    return _fit_all()


@pytest.fixture(scope="module")
def fitted_sparse() -> dict[str, MixedModel]:
    """The same fits with the Schur complement factorised by sparse LU."""
    limit = crossed.DENSE_LIMIT
    crossed.DENSE_LIMIT = 0
    try:
        models = _fit_all()
        for m in models.values():
            assert not m._profile.factor(m.theta).dense
            m.ranef()  # conditional modes with the sparse factor, while the limit holds
            _ = m.fixed
    finally:
        crossed.DENSE_LIMIT = limit
    return models


@pytest.fixture(params=["dense", "sparse"])
def models(request, fitted, fitted_sparse) -> dict[str, MixedModel]:
    return fitted if request.param == "dense" else fitted_sparse


def test_crossed_designs_take_the_crossed_path(fitted):
    for m in fitted.values():
        assert isinstance(m, CrossedMixedModel)
        assert isinstance(m._profile, CrossedProfile)
        assert m.converged and not m.notes


def test_nested_designs_keep_the_sufficient_statistics_engine():
    df = _data("ratings")
    # every patient's first rater only: patients nested in raters
    first = df.groupby("patient")["rater"].transform("first")
    nested = df[df["rater"] == first]
    m = fit("score ~ session + (1 | patient) + (1 | rater)", nested)
    assert type(m) is MixedModel
    assert type(m._profile) is Profile


@pytest.mark.parametrize("name", MODELS)
def test_criterion(name, models):
    r, m = REF["models"][name], models[name]
    assert m.criterion <= r["criterion"] + 1e-9 * abs(r["criterion"])
    np.testing.assert_allclose(m.criterion, r["criterion"], rtol=1e-9)
    assert m.criterion <= r["criterion_default"] + 1e-9 * abs(r["criterion_default"])
    if m.reml:
        np.testing.assert_allclose(m.reml_criterion, r["reml_criterion"], rtol=1e-9)


@pytest.mark.parametrize("name", MODELS)
def test_fixed_effects(name, models):
    check_fixed(models[name], REF["models"][name], rtol=RTOL)


@pytest.mark.parametrize("name", MODELS)
def test_variance_components(name, models):
    r, m = REF["models"][name], models[name]
    np.testing.assert_allclose(m.sigma, r["sigma"], rtol=RTOL)
    vc = m.varcomp
    rv = r["varcomp"]
    assert list(rv["grp"]) == list(vc["group"])
    assert [our_term(t) for t in rv["var1"]] == list(vc["term1"])
    assert [our_term(t) for t in rv["var2"]] == list(vc["term2"])
    is_var = np.array([t is None for t in rv["var2"]])
    vcov = np.asarray(rv["vcov"], dtype=float)
    sdcor = np.asarray(rv["sdcor"], dtype=float)
    np.testing.assert_allclose(vc["variance"][is_var], vcov[is_var], rtol=RTOL)
    np.testing.assert_allclose(vc["sd"][is_var], sdcor[is_var], rtol=RTOL)
    if (~is_var).any():
        np.testing.assert_allclose(vc["corr"][~is_var], sdcor[~is_var], atol=RTOL)
        np.testing.assert_allclose(vc["variance"][~is_var], vcov[~is_var], rtol=RTOL,
                                   atol=RTOL * float(vcov[is_var].max()))


@pytest.mark.parametrize("name", MODELS)
def test_theta(name, models):
    r, m = REF["models"][name], models[name]
    theta = np.asarray(r["theta"])
    for sl in m._profile.slices:
        block = theta[sl]
        np.testing.assert_allclose(m.theta[sl], block, rtol=RTOL,
                                   atol=RTOL * float(np.max(np.abs(block))))


@pytest.mark.parametrize("name", MODELS)
def test_likelihood_summaries(name, models):
    check_likelihoods(models[name], REF["models"][name])


@pytest.mark.parametrize("name", MODELS)
def test_blups_and_conditional_variances(name, models):
    r, m = REF["models"][name], models[name]
    assert [b["group"] for b in r["ranef"]] == list(m.ngroups)
    for block in r["ranef"]:
        level = block["group"]
        table = m.ranef(level).set_index(["group", "term"])
        terms = [our_term(t) for t in block["terms"]]
        labels = list(block["levels"])
        q = len(terms)
        assert len(table) == len(labels) * q
        values = np.asarray(block["values"], dtype=float).reshape(len(labels), q)
        condvar = np.asarray(block["condvar"], dtype=float).reshape(len(labels), q, q)
        for j, term in enumerate(terms):
            rows = [(lab, term) for lab in labels]
            est = table.loc[rows, "estimate"].to_numpy()
            cv = table.loc[rows, "cond_var"].to_numpy()
            floor = RTOL * float(np.sqrt(condvar[:, j, j].mean()))
            np.testing.assert_allclose(est, values[:, j], rtol=RTOL, atol=floor,
                                       err_msg=f"{level} {term}")
            np.testing.assert_allclose(cv, condvar[:, j, j], rtol=RTOL,
                                       err_msg=f"{level} {term} condvar")
        if q > 1:
            full = m.ranef_cov(level)
            order = {lab: i for i, lab in enumerate(m._design.levels[m._level(level)].labels)}
            idx = [order[lab] for lab in labels]
            np.testing.assert_allclose(full[idx], condvar, rtol=RTOL,
                                       atol=RTOL * float(np.abs(condvar).max()))


@pytest.mark.parametrize("name", MODELS)
def test_predictions(name, models):
    r, m = REF["models"][name], models[name]
    data = _data(name)
    floor = RTOL * r["sigma"]
    np.testing.assert_allclose(m.predict(data, re=True), r["fitted"], rtol=RTOL, atol=floor)
    np.testing.assert_allclose(m.predict(data, re=False), r["fitted_fixed"], rtol=RTOL,
                               atol=floor)


def test_lrt_matches_anova():
    ref = REF["lrt"]
    data = _data("ratings")
    m0 = fit(ref["formula0"], data)
    m1 = fit(ref["formula1"], data)
    res = lrt(m0, m1)
    assert res.refitted
    np.testing.assert_allclose(res.table["loglik"], ref["loglik"], rtol=1e-9)
    np.testing.assert_allclose(res.table["aic"], ref["aic"], rtol=1e-9)
    np.testing.assert_allclose(res.table["bic"], ref["bic"], rtol=1e-9)
    assert list(res.table["npar"]) == ref["npar"]
    assert res.df == ref["df"]
    np.testing.assert_allclose(res.chisq, ref["chisq"], rtol=1e-7)
    np.testing.assert_allclose(res.p, ref["p"], rtol=1e-6)


def test_profile_intervals_penicillin(fitted):
    ref = REF["profile_ci"]
    ci = fitted["penicillin_reml"].confint()
    assert list(ci.index) == [our_term(n) for n in ref["names"]]
    np.testing.assert_allclose(ci["lower"], ref["lower"], rtol=5e-4)
    np.testing.assert_allclose(ci["upper"], ref["upper"], rtol=5e-4)


def test_reports(fitted):
    m = fitted["ratings_three_reml"]
    text = m.summary()
    for part in ("REML criterion", "patient:rater", "rater", "Residual", "experience",
                 "Number of obs: 733"):
        assert part in text
    d = m.to_dict()
    assert json.loads(json.dumps(d))["ngroups"] == {"patient:rater": 189, "patient": 80,
                                                     "rater": 15}
    assert repr(m).startswith("<CrossedMixedModel")
    assert m.refit(reml=False).reml is False


def test_icc_of_crossed_factors(fitted):
    m = fitted["penicillin_reml"]
    icc = m.icc()
    vc = m.varcomp.set_index("group")["variance"]
    total = vc.sum()
    np.testing.assert_allclose(icc.loc["plate", "icc"], vc["plate"] / total, rtol=1e-12)
    np.testing.assert_allclose(icc["icc_within"], icc["icc"], rtol=1e-12)
    with pytest.raises(InputError, match="random-intercept"):
        fitted["ratings_slopes_reml"].icc()


def test_duckdb_source_gives_the_same_fit(fitted):
    duckdb = pytest.importorskip("duckdb")
    name = "ratings_slopes_reml"
    con = duckdb.connect()
    con.register("ratings", _data(name))
    m = fit(REF["models"][name]["formula"], con.sql("select * from ratings"))
    ours = fitted[name]
    np.testing.assert_allclose(m.criterion, ours.criterion, rtol=1e-12)
    np.testing.assert_allclose(m.theta, ours.theta, rtol=1e-6)


def test_crossed_reduction_equals_nested_reduction():
    """The penalised least squares and the nested reduction give the same criterion.

    Pastes is nested (casks within batches); built as a crossed design, the same θ must give
    the same criterion and conditional modes to rounding.
    """
    ref = json.loads((FIXTURES_DIR / "mixed_reference.json").read_text())
    pastes = pd.DataFrame(ref["data"]["Pastes"])
    formula = "strength ~ 1 + (1 | batch/cask)"
    m = fit(formula, pastes)
    spec = parse_formula(formula)
    design = build_crossed_design(resolve_engine(pastes).grouped_crossproducts(spec), spec)
    for limit in (None, 0):
        prof = CrossedProfile(design, dense_limit=limit)
        for theta in (m.theta, np.array([0.3, 2.0]), np.array([0.0, 1.0])):
            np.testing.assert_allclose(prof.criterion(theta, reml=True),
                                       m._profile.criterion(theta, reml=True), rtol=1e-12)
        ours = prof.conditional_modes(m.theta, m.beta, m.sigma2)
        nested = m._profile.conditional_modes(m.theta, m.beta, m.sigma2)
        assert [lev.name for lev in prof.levels] == [lev.name for lev in m._design.levels]
        for k, lev in enumerate(prof.levels):
            pos = pd.Index(m._design.levels[k].labels).get_indexer(lev.labels)
            np.testing.assert_allclose(ours[k][0], nested[k][0][pos], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(ours[k][1], nested[k][1][pos], rtol=1e-9)


def test_lme4_term_order():
    assert lme4_term_order([24, 6]) == [0, 1]
    assert lme4_term_order([6, 24]) == [1, 0]
    # reordered only when needed, then ties in reverse formula order (rev(order(nl)))
    assert lme4_term_order([10, 10, 3]) == [0, 1, 2]
    assert lme4_term_order([5, 10, 10]) == [2, 1, 0]


def _small_crossed(n_raters: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame({"patient": rng.integers(0, 30, n), "rater": rng.integers(0, n_raters, n),
                       "x": rng.normal(size=n)})
    df["y"] = df["x"] + rng.normal(size=df["patient"].max() + 1)[df["patient"]] + \
        rng.normal(size=n)
    return df


def test_one_level_factor_refused():
    df = _small_crossed().assign(rater=1)
    with pytest.raises(InputError, match="at least 2 groups") as err:
        fit("y ~ x + (1 | patient) + (1 | rater)", df)
    assert err.value.field == "rater"


def test_too_many_random_effects_in_a_term_refused():
    df = _small_crossed()
    df["obs"] = np.arange(len(df)) // 2  # 150 groups of 2: 300 slopes+intercepts, 300 rows
    with pytest.raises(InputError, match="fewer random effects") as err:
        fit("y ~ x + (1 + x | obs) + (1 | rater)", df)
    assert err.value.field == "obs"


def test_more_than_four_terms_per_factor_refused():
    df = _small_crossed()
    for k in range(4):
        df[f"z{k}"] = np.random.default_rng(k).normal(size=len(df))
    with pytest.raises(InputError, match="at most 4"):
        fit("y ~ x + (1 + z0 + z1 + z2 + z3 | patient) + (1 | rater)", df)


def test_formerly_refused_crossed_designs_are_fitted():
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"patient": rng.integers(0, 40, n), "therapist": rng.integers(0, 8, n),
                       "x": rng.normal(size=n)})
    df["y"] = (df["x"] + rng.normal(size=40)[df["patient"]]
               + rng.normal(size=8)[df["therapist"]] + rng.normal(size=n))
    m = fit("y ~ x + (1 | patient) + (1 | therapist)", df)
    assert not m.notes
    assert isinstance(m, CrossedMixedModel)
    assert list(m.ngroups) == ["patient", "therapist"]
    df2 = pd.DataFrame({"p": [1, 1, 2, 2, 3, 3, 4, 4] * 3, "t": [1, 2, 1, 2, 1, 2, 1, 2] * 3,
                        "y": np.arange(24.0) % 5})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m2 = fit("y ~ 1 + (1 | p) + (1 | t)", df2)
    assert any(issubclass(w.category, StatisticalWarning) and "only 2 groups" in str(w.message)
               for w in caught)
    assert m2.ngroups == {"p": 4, "t": 2}
