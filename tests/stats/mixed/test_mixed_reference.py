"""bordin.stats.mixed against lme4 1.1-31 / lmerTest 3.1-3 (scripts/r/mixed_reference.R).

Tolerances, with their reasons:

* criterion (REML criterion or ML deviance): Bordin's must be at least as good as lme4's
  (≤ R + 1e-9·|R|, floating-point noise) and equal within 1e-9 relative — both fits reach
  the same optimum and the criterion is flat there.
* beta: 1e-6 relative, with an absolute floor of 1e-6 × its SE (coefficients near zero).
* SE, residual SD, variances/SDs of random effects: 1e-6 relative.
* correlations: 1e-6 absolute (they are bounded by 1).
* theta: 1e-6 relative with a floor of 1e-6 × the largest element of its Λ block — small
  off-diagonal elements are determined only to that absolute level by a criterion this
  flat; lme4 itself stops ~1e-11 above Bordin's optimum.
* Satterthwaite df: 1e-6 relative — both sides use numDeriv's finite-difference scheme, the
  rest is the propagated θ difference.
* logLik, deviance, AIC, BIC: 1e-9 relative (same as the criterion).
* fitted values: 1e-6 relative with a floor of 1e-6 × the residual SD (values near 0).
* BLUPs and conditional variances: 1e-6 relative with a floor of 1e-6 × the BLUPs' own
  conditional SD (BLUPs near zero move with the last digits of θ, which lme4 fixes only to
  ~1e-6; see theta).
* clinic_b3_reml has a variance at the boundary (lme4's default fit reports a singular
  fit; its tight fit stops at θ = 5e-8): estimates within 1e-4, criterion at least as good.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from mixed_fixtures import dataset_for

from bordin.stats.mixed import fit, lrt

REF_MODELS = [
    "sleepstudy_slopes_reml", "sleepstudy_slopes_ml", "sleepstudy_intercept_reml",
    "dyestuff_reml", "dyestuff_ml", "dyestuff2_reml", "pastes_reml", "pastes_ml",
    "clinic_a3_reml", "clinic_a3_ml", "clinic_a2_reml", "clinic_b_reml", "clinic_b_ml",
    "clinic_b3_reml", "clinic_extra_reml", "clinic_c_reml", "clinic_c_ml",
]
BOUNDARY = {"clinic_b3_reml"}


def _rtol(name: str) -> float:
    return 1e-4 if name in BOUNDARY else 1e-6


def _our_group(r_group: str) -> str:
    """lme4 names a/b/c factors 'c:(b:a)'; Bordin names them 'a:b:c'."""
    parts = r_group.replace("(", "").replace(")", "").split(":")
    return ":".join(reversed(parts))


def _our_term(r_term: str | None) -> str | None:
    """lme4 writes '(Intercept)' and 'treatmentIPT'; formulaic 'Intercept', 'treatment[T.IPT]'."""
    if r_term is None:
        return None
    if r_term == "(Intercept)":
        return "Intercept"
    if r_term.startswith("treatment") and r_term != "treatment":
        return f"treatment[T.{r_term[len('treatment'):]}]"
    return r_term


@pytest.fixture(scope="module")
def fitted(reference, datasets):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in REF_MODELS:
            r = reference["models"][name]
            out[name] = fit(r["formula"], datasets[dataset_for(name)], reml=r["reml"])
    return out


@pytest.mark.parametrize("name", REF_MODELS)
def test_criterion_at_least_as_good(name, reference, fitted):
    r, m = reference["models"][name], fitted[name]
    assert m.criterion <= r["criterion"] + 1e-9 * abs(r["criterion"])
    np.testing.assert_allclose(m.criterion, r["criterion"], rtol=1e-9)
    if m.reml:
        np.testing.assert_allclose(m.reml_criterion, r["reml_criterion"], rtol=1e-9)


@pytest.mark.parametrize("name", REF_MODELS)
def test_criterion_at_least_as_good_as_lme4_defaults(name, reference, fitted):
    """lme4 with its default optimiser settings (what users get) never beats Bordin."""
    r, m = reference["models"][name], fitted[name]
    assert m.criterion <= r["criterion_default"] + 1e-9 * abs(r["criterion_default"])


@pytest.mark.parametrize("name", REF_MODELS)
def test_fixed_effects(name, reference, fitted):
    r, m = reference["models"][name], fitted[name]
    rtol = _rtol(name)
    assert [_our_term(t) for t in r["terms"]] == list(m.fixed.index)
    se = np.asarray(r["se"])
    np.testing.assert_allclose(m.beta, r["beta"], rtol=rtol, atol=rtol * se.min())
    np.testing.assert_allclose(m.fixed["se"], se, rtol=rtol)
    np.testing.assert_allclose(m.fixed["t"], r["t"], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(m.fixed["df"], r["df"], rtol=rtol)
    np.testing.assert_allclose(m.fixed["p"], r["p"], rtol=10 * rtol, atol=1e-12)
    np.testing.assert_allclose(m.vcov_beta, r["vcov"], rtol=rtol,
                               atol=rtol * float(np.max(np.abs(r["vcov"]))))


@pytest.mark.parametrize("name", REF_MODELS)
def test_variance_components(name, reference, fitted):
    r, m = reference["models"][name], fitted[name]
    rtol = _rtol(name)
    np.testing.assert_allclose(m.sigma, r["sigma"], rtol=rtol)
    vc = m.varcomp
    rv = r["varcomp"]
    assert [_our_group(g) if g != "Residual" else g for g in rv["grp"]] == list(vc["group"])
    assert [_our_term(t) for t in rv["var1"]] == list(vc["term1"])
    is_var = np.array([t is None for t in rv["var2"]])
    vcov = np.asarray(rv["vcov"], dtype=float)
    sdcor = np.asarray(rv["sdcor"], dtype=float)
    scale = float(np.max(vcov[is_var]))
    np.testing.assert_allclose(vc["variance"][is_var], vcov[is_var], rtol=rtol,
                               atol=rtol * scale if name in BOUNDARY else 0.0)
    np.testing.assert_allclose(vc["sd"][is_var], sdcor[is_var], rtol=rtol,
                               atol=rtol * np.sqrt(scale) if name in BOUNDARY else 0.0)
    if (~is_var).any():
        ours = vc["corr"][~is_var].to_numpy()
        theirs = sdcor[~is_var]
        ok = np.isfinite(theirs) & np.isfinite(ours)
        np.testing.assert_allclose(ours[ok], theirs[ok], atol=rtol if name not in BOUNDARY
                                   else 1e-2)
        np.testing.assert_allclose(vc["variance"][~is_var], vcov[~is_var], rtol=rtol,
                                   atol=rtol * scale)


@pytest.mark.parametrize("name", REF_MODELS)
def test_theta(name, reference, fitted):
    r, m = reference["models"][name], fitted[name]
    rtol = _rtol(name)
    theta = np.asarray(r["theta"])
    for sl in m._profile.slices:
        block = theta[sl]
        np.testing.assert_allclose(m.theta[sl], block, rtol=rtol,
                                   atol=rtol * float(np.max(np.abs(block))))


@pytest.mark.parametrize("name", REF_MODELS)
def test_likelihood_summaries(name, reference, fitted):
    r, m = reference["models"][name], fitted[name]
    for ours, key in ((m.loglik, "loglik"), (m.deviance, "deviance"), (m.aic, "aic"),
                      (m.bic, "bic")):
        np.testing.assert_allclose(ours, r[key], rtol=1e-9, err_msg=key)
    assert m.nobs == r["nobs"]
    assert m.df_resid == r["df_resid"]
    assert {_our_group(k): v for k, v in r["ngroups"].items()} == m.ngroups


@pytest.mark.parametrize("name", REF_MODELS)
def test_blups_and_conditional_variances(name, reference, fitted):
    r, m = reference["models"][name], fitted[name]
    rtol = _rtol(name)
    for block in r["ranef"]:
        level = _our_group(block["group"])
        ours = m.ranef(level)
        terms = [_our_term(t) for t in block["terms"]]
        q = len(terms)
        labels = [":".join(reversed(lab.split(":"))) for lab in block["levels"]]
        values = np.asarray(block["values"], dtype=float).reshape(len(labels), q)
        condvar = np.asarray(block["condvar"], dtype=float).reshape(len(labels), q, q)
        table = ours.set_index(["group", "term"])
        for j, term in enumerate(terms):
            est = table.loc[[(lab, term) for lab in labels], "estimate"].to_numpy()
            cv = table.loc[[(lab, term) for lab in labels], "cond_var"].to_numpy()
            floor = rtol * float(np.sqrt(condvar[:, j, j].mean()))
            np.testing.assert_allclose(est, values[:, j], rtol=rtol, atol=floor,
                                       err_msg=f"{level} {term}")
            np.testing.assert_allclose(cv, condvar[:, j, j], rtol=rtol,
                                       atol=rtol * float(condvar[:, j, j].max()),
                                       err_msg=f"{level} {term} condvar")
        if q > 1:
            full = m.ranef_cov(level)
            order = {lab: i for i, lab in enumerate(m._design.levels[m._level(level)].labels)}
            idx = [order[lab] for lab in labels]
            np.testing.assert_allclose(full[idx], condvar, rtol=rtol,
                                       atol=rtol * float(np.abs(condvar).max()))


@pytest.mark.parametrize("name", REF_MODELS)
def test_predictions(name, reference, fitted, datasets):
    r, m = reference["models"][name], fitted[name]
    rtol = _rtol(name)
    data = datasets[dataset_for(name)]
    # absolute floor 1e-6 × residual SD: some fitted values are close to zero
    floor = rtol * r["sigma"]
    np.testing.assert_allclose(m.predict(data, re=True), r["fitted"], rtol=rtol, atol=floor)
    np.testing.assert_allclose(m.predict(data, re=False), r["fitted_fixed"], rtol=rtol,
                               atol=floor)


def test_lrt_matches_anova(reference, datasets):
    ref = reference["lrt"]
    data = datasets["clinic"]
    m0 = fit(ref["formula0"], data, reml=True)
    m1 = fit(ref["formula1"], data, reml=True)
    res = lrt(m1, m0)  # order does not matter
    assert res.refitted
    np.testing.assert_allclose(res.table["loglik"], ref["loglik"], rtol=1e-9)
    np.testing.assert_allclose(res.table["aic"], ref["aic"], rtol=1e-9)
    np.testing.assert_allclose(res.table["bic"], ref["bic"], rtol=1e-9)
    assert list(res.table["npar"]) == ref["npar"]
    assert res.df == ref["df"]
    np.testing.assert_allclose(res.chisq, ref["chisq"], rtol=1e-7)
    np.testing.assert_allclose(res.p, ref["p"], rtol=1e-6)


def test_versions_recorded(reference):
    assert reference["R_version"].startswith("R version 4.")
    assert reference["packages"]["lme4"] == "1.1.31"
    assert reference["packages"]["lmerTest"] == "3.1.3"
