"""Two random-effects terms on one grouping factor against lme4 1.1-31 / lmerTest 3.1-3.

``y ~ x + (1 | g) + (0 + x | g)`` is lme4's uncorrelated random intercept and slope (the
expansion of ``(x || g)``). Reference: ``scripts/r/mixed_double_term_reference.R``
(sleepstudy by REML and ML; the simulated clinic, nested, with the double term on the
inner and on the outer factor; the simulated rating study, patients crossed with raters,
with the double term on patient in formula order and written after ``(1 | rater)``). The
data are in the fixture.

lme4 gives ``ranef(m)$g`` as one data frame with a column per effect of all of g's terms
and lists g once per term in ``VarCorr`` (``g``, ``g.1``). Bordin's ``ranef("g")`` has all
of g's effects likewise (one row per group and effect), and ``varcomp`` names every term
of g by ``g`` itself (the rows differ in ``term1``).

Tolerances, with their reasons (those of ``test_mixed_reference.py`` and
``test_mixed_crossed.py``, whose fits reach them too):

* criterion: at least as good as lme4's tight fit (≤ R + 1e-9·|R|, floating-point noise)
  and equal within 1e-9 relative: the same optimum of a criterion that is flat there.
* beta: 1e-6 relative with a floor of 1e-6 × its SE (coefficients near zero); SE, vcov,
  Satterthwaite df: 1e-6 relative (both sides use numDeriv's finite differences; the
  rest is the propagated θ difference).
* residual SD, variances and SDs of random effects, θ: 1e-6 relative: lme4's tight fit
  fixes θ only to about 1e-7 relative on a criterion this flat (measured ≤ 1.3e-7);
  3e-6 for clinic_double_outer_reml, whose lme4 reference itself moves by up to 1e-6
  between R runs (``FLAT_RTOL``).
* logLik, deviance, AIC, BIC: 1e-9 relative (as the criterion).
* BLUPs and conditional variances: 1e-6 relative with a floor of 1e-6 × the BLUPs' own
  conditional SD (BLUPs near zero move with the last digits of θ).
* fitted values: 1e-6 relative with a floor of 1e-6 × the residual SD.
* profile intervals: against lme4's ten-times-finer grid 5e-6 relative for the variance
  parameters and 3e-5 for the fixed effects (lme4 refits the fixed-effect profiles at
  nloptwrap's default tolerances), as measured in ``test_mixed_profile.py``.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from lme4_checks import check_fixed, check_likelihoods, our_term
from mixed_fixtures import FIXTURES_DIR

import bordin.stats.mixed.crossed as crossed
from bordin.errors import InputError, StatisticalWarning
from bordin.stats.mixed import MixedModel, fit
from bordin.stats.mixed.crossed import CrossedMixedModel

DOUBLE_FIXTURE = FIXTURES_DIR / "mixed_double_term_reference.json"
REF = json.loads(DOUBLE_FIXTURE.read_text())
MODELS = list(REF["models"])
RTOL = 1e-6
# lme4's own reference for this model moves between R runs (same script, same data) by
# up to 1.0e-6 relative in the tid intercept variance, 5e-7 in theta and 8e-7 in the
# Satterthwaite df (four runs compared): its tight nloptwrap fit stops anywhere on a
# criterion flat to 1e-14 there. 3e-6 covers that spread with room; the criterion itself
# is still checked to 1e-9 and never worse than lme4's.
FLAT_RTOL = {"clinic_double_outer_reml": 3e-6}


def _rtol(name: str) -> float:
    return FLAT_RTOL.get(name, RTOL)
CROSSED = {"ratings_double_reml", "ratings_double_ml", "ratings_double_reordered_reml"}


def _our_group(r_group: str, factors: set[str]) -> str:
    """lme4's VarCorr names the second term on g 'g.1'; Bordin names it 'g'."""
    base = re.sub(r"\.\d+$", "", r_group)
    return base if base in factors and r_group not in factors else r_group


def _data(name: str) -> pd.DataFrame:
    return pd.DataFrame(REF["data"][REF["models"][name]["data"]])


def _fit_all() -> dict[str, MixedModel]:
    out = {}
    for name in MODELS:
        r = REF["models"][name]
        out[name] = fit(r["formula"], _data(name), reml=r["reml"])
    return out


@pytest.fixture(scope="module")
def fitted() -> dict[str, MixedModel]:
    return _fit_all()


def _theta_names(m: MixedModel) -> list[str]:
    """θ's names as lme4 writes them ('Subject.(Intercept)', 'g.x.(Intercept)')."""
    out = []
    for lev, (rows, cols) in zip(m._profile.levels, m._profile.tril, strict=True):
        terms = ["(Intercept)" if t == "Intercept" else t for t in lev.terms]
        for i, j in zip(rows, cols, strict=True):
            out.append(f"{lev.name}.{terms[i]}" if i == j
                       else f"{lev.name}.{terms[i]}.{terms[j]}")
    return out


def test_fixture_records_versions():
    assert REF["R_version"].startswith("R version 4.2")
    assert REF["packages"]["lme4"] == "1.1.31"
    assert REF["packages"]["lmerTest"] == "3.1.3"


def test_engines(fitted):
    for name, m in fitted.items():
        assert isinstance(m, CrossedMixedModel) == (name in CROSSED), name
        assert m.converged and not m.notes, name


@pytest.mark.parametrize("name", MODELS)
def test_criterion(name, fitted):
    r, m = REF["models"][name], fitted[name]
    assert m.criterion <= r["criterion"] + 1e-9 * abs(r["criterion"])
    np.testing.assert_allclose(m.criterion, r["criterion"], rtol=1e-9)
    check_likelihoods(m, r)


@pytest.mark.parametrize("name", MODELS)
def test_fixed_effects(name, fitted):
    check_fixed(fitted[name], REF["models"][name], rtol=_rtol(name))


@pytest.mark.parametrize("name", MODELS)
def test_theta_by_name(name, fitted):
    r, m = REF["models"][name], fitted[name]
    ours = dict(zip(_theta_names(m), m.theta, strict=True))
    theirs = dict(zip(r["theta_names"], r["theta"], strict=True))
    assert set(ours) == set(theirs)
    keys = list(theirs)
    np.testing.assert_allclose([ours[k] for k in keys], [theirs[k] for k in keys],
                               rtol=_rtol(name))


@pytest.mark.parametrize("name", MODELS)
def test_variance_components(name, fitted):
    r, m = REF["models"][name], fitted[name]
    np.testing.assert_allclose(m.sigma, r["sigma"], rtol=_rtol(name))
    rv = r["varcomp"]
    factors = set(m.ngroups)
    theirs = {(_our_group(g, factors), our_term(t1), our_term(t2)): (v, s)
              for g, t1, t2, v, s in zip(rv["grp"], rv["var1"], rv["var2"], rv["vcov"],
                                         rv["sdcor"], strict=True)}
    vc = m.varcomp
    keys = list(zip(vc["group"], vc["term1"], vc["term2"], strict=True))
    assert len(set(keys)) == len(keys)  # every row named uniquely by group and terms
    assert set(keys) == set(theirs)
    for key, var, sd in zip(keys, vc["variance"], vc["sd"], strict=True):
        np.testing.assert_allclose(var, theirs[key][0], rtol=_rtol(name), err_msg=str(key))
        np.testing.assert_allclose(sd, theirs[key][1], rtol=_rtol(name), err_msg=str(key))


@pytest.mark.parametrize("name", MODELS)
def test_theta_and_variance_components_in_lme4_order(name, fitted):
    r, m = REF["models"][name], fitted[name]
    assert _theta_names(m) == r["theta_names"]
    factors = set(m.ngroups)
    assert list(m.varcomp["group"]) == [_our_group(g, factors) for g in r["varcomp"]["grp"]]
    assert list(m.varcomp["term1"]) == [our_term(t) for t in r["varcomp"]["var1"]]


def test_nested_term_order_when_lme4_reorders(fitted):
    name = "clinic_double_outer_reml"
    assert _theta_names(fitted[name]) == REF["models"][name]["theta_names"]


def _check_blups(m: MixedModel, r: dict) -> None:
    """Every grouping factor's BLUPs and conditional variances, as lme4's ``ranef``."""
    assert [b["group"] for b in r["ranef"]] == list(m.ngroups)
    rtol = _rtol(r["name"])
    for block in r["ranef"]:
        level = block["group"]
        ours = m.ranef(level)
        terms = [our_term(t) for t in block["terms"]]
        labels = list(block["levels"])
        q = len(terms)
        assert len(ours) == len(labels) * q, level
        assert set(ours["term"]) == set(terms), level
        table = ours.set_index(["group", "term"])
        assert table.index.is_unique
        values = np.asarray(block["values"], dtype=float).reshape(len(labels), q)
        condvar = np.asarray(block["condvar"], dtype=float).reshape(len(labels), q)
        for j, term in enumerate(terms):
            rows = [(lab, term) for lab in labels]
            est = table.loc[rows, "estimate"].to_numpy()
            cv = table.loc[rows, "cond_var"].to_numpy()
            floor = rtol * float(np.sqrt(condvar[:, j].mean()))
            np.testing.assert_allclose(est, values[:, j], rtol=rtol, atol=floor,
                                       err_msg=f"{level} {term}")
            np.testing.assert_allclose(cv, condvar[:, j], rtol=rtol,
                                       err_msg=f"{level} {term} condvar")
            np.testing.assert_allclose(table.loc[rows, "se"], np.sqrt(condvar[:, j]),
                                       rtol=rtol)


@pytest.mark.parametrize("name", MODELS)
def test_blups_and_conditional_variances(name, fitted):
    _check_blups(fitted[name], REF["models"][name])


def test_blups_with_the_sparse_factorisation():
    limit = crossed.DENSE_LIMIT
    crossed.DENSE_LIMIT = 0
    try:
        for name in ("ratings_double_reml", "ratings_double_reordered_reml"):
            r = REF["models"][name]
            m = fit(r["formula"], _data(name), reml=r["reml"])
            assert not m._profile.factor(m.theta).dense
            _check_blups(m, r)
    finally:
        crossed.DENSE_LIMIT = limit


@pytest.mark.parametrize("name", MODELS)
def test_ranef_effects_in_lme4_column_order(name, fitted):
    """Within each group the effects come in the order of lme4's columns."""
    r, m = REF["models"][name], fitted[name]
    for block in r["ranef"]:
        ours = m.ranef(block["group"])
        q = len(block["terms"])
        assert list(ours["term"][:q]) == [our_term(t) for t in block["terms"]]
        assert list(ours["group"][::q]) == list(block["levels"])


@pytest.mark.parametrize("name", MODELS)
def test_ranef_all_levels(name, fitted):
    m = fitted[name]
    every = m.ranef()
    assert list(every["level"].unique()) == list(m.ngroups)
    for level in m.ngroups:
        part = every[every["level"] == level].drop(columns="level").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, m.ranef(level))


def test_ranef_cov_of_a_factor_with_two_terms(fitted):
    m = fitted["sleepstudy_double_reml"]
    re = m.ranef("Subject")
    cov = m.ranef_cov("Subject")
    assert cov.shape == (18, 2, 2)
    diag = np.diagonal(cov, axis1=1, axis2=2).ravel()
    np.testing.assert_array_equal(diag, re["cond_var"].to_numpy())
    # covariances between effects of separate terms are not computed (lme4's postVar
    # has none either)
    assert np.isnan(cov[:, 0, 1]).all() and np.isnan(cov[:, 1, 0]).all()
    block = REF["models"]["sleepstudy_double_reml"]["ranef"][0]["condvar_terms"]
    np.testing.assert_allclose(cov[:, 0, 0], np.ravel(block[0]["blocks"]), rtol=RTOL)
    np.testing.assert_allclose(cov[:, 1, 1], np.ravel(block[1]["blocks"]), rtol=RTOL)


@pytest.mark.parametrize("name", MODELS)
def test_predictions(name, fitted):
    r, m = REF["models"][name], fitted[name]
    data = _data(name)
    rtol = _rtol(name)
    floor = rtol * r["sigma"]
    np.testing.assert_allclose(m.predict(data, re=True), r["fitted"], rtol=rtol, atol=floor)
    np.testing.assert_allclose(m.predict(data, re=False), r["fitted_fixed"], rtol=rtol,
                               atol=floor)


def test_last_name_of_a_nested_factor_finds_all_its_terms():
    clinic = pd.DataFrame(REF["data"]["clinic"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        m = fit("phq9 ~ session + (1 | clinic/therapist/patient) "
                "+ (0 + session | clinic:therapist:patient)", clinic)
    full = m.ranef("clinic:therapist:patient")
    assert set(full["term"]) == {"Intercept", "session"}
    pd.testing.assert_frame_equal(m.ranef("patient"), full)
    assert list(m.ranef()["level"].unique()) == [
        "clinic:therapist:patient", "clinic:therapist", "clinic"]
    with pytest.raises(InputError, match="level"):
        m.ranef("nosuch")


def test_reports(fitted):
    m = fitted["sleepstudy_double_reml"]
    text = m.summary()
    lines = [ln for ln in text.splitlines() if ln.startswith(" Subject")]
    assert len(lines) == 2
    assert "Intercept" in lines[0] and "Days" in lines[1]
    back = json.loads(json.dumps(m.to_dict()))
    assert [(v["group"], v["term1"]) for v in back["varcomp"]] == [
        ("Subject", "Intercept"), ("Subject", "Days"), ("Residual", None)]
    fig = m.caterpillar_plot("Subject")
    assert [ax.get_title() for ax in fig.axes] == ["Subject: Intercept", "Subject: Days"]
    fig = m.caterpillar_plot("Subject", term="Days")
    assert [ax.get_title() for ax in fig.axes] == ["Subject: Days"]
    with pytest.raises(InputError, match="term"):
        m.caterpillar_plot("Subject", term="Reaction")
    with pytest.raises(InputError, match="random-intercept"):
        m.icc()


def test_icc_error_names_the_slope_term(fitted):
    with pytest.raises(InputError, match=r"\(0 \+ session \| pid\)"):
        fitted["clinic_double_inner_reml"].icc()


def test_profile_intervals():
    ref = REF["profile_ci"]
    m = fit(REF["models"][ref["model"]]["formula"], _data(ref["model"]), reml=True)
    ci = m.confint()
    fine = ref["confint_95_fine"]
    assert list(ci.index) == [our_term(n) for n in fine["names"]]
    assert list(ci["name"]) == [n.replace("(Intercept)", "Intercept")
                                for n in ref["names_new"]]
    fixed = np.array([not n.startswith(".") for n in ci.index])
    rtol = np.where(fixed, 3e-5, 5e-6)  # see the module docstring
    for side in ("lower", "upper"):
        ours, theirs = ci[side].to_numpy(), np.array(fine[side])
        assert np.all(np.abs(ours - theirs) <= rtol * np.abs(theirs)), side


def test_a_term_written_twice_on_one_factor_gets_a_unique_name():
    # (1 + Days | Subject) + (1 | Subject): two intercept variances the data cannot tell
    # apart (lme4 fits it too, with duplicated column names in ranef)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit("Reaction ~ Days + (1 + Days | Subject) + (1 | Subject)",
                _data("sleepstudy_double_reml"))
    re_ = m.ranef("Subject")
    assert list(re_["term"][:3]) == ["Intercept", "Days", "Intercept.1"]
    assert re_.set_index(["group", "term"]).index.is_unique
    vc = m.varcomp
    assert list(vc["term1"]) == ["Intercept", "Days", "Intercept", "Intercept.1", None]
    cov = m.ranef_cov("Subject")
    assert cov.shape == (18, 3, 3)
    assert np.isfinite(cov[:, :2, :2]).all() and np.isnan(cov[:, 2, :2]).all()
    fig = m.caterpillar_plot("Subject", term="Intercept.1")
    assert [ax.get_title() for ax in fig.axes] == ["Subject: Intercept.1"]
