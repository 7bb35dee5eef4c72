"""Profile-likelihood confidence intervals (MixedModel.confint) against lme4 1.1-31.

Reference: ``scripts/r/mixed_profile_reference.R`` (lme4's ``profile`` and ``confint``
on sleepstudy, Dyestuff, Dyestuff2, Pastes and a simulated unbalanced three-level set).

Bordin finds each bound as a root of the signed root deviance ζ; lme4 evaluates ζ on a
grid and inverts an interpolating spline through it. So the comparison is in three parts,
with these tolerances and reasons:

* ζ itself, at the points where lme4 evaluated it: 1e-6 absolute for |ζ| ≤ 3 (both are the
  same minimised deviance; measured agreement is within 6e-8, the margin is for the inner
  optimisers' precision: an error ε in the deviance moves ζ by ε / 2ζ). Beyond |ζ| = 3, lme4's inner
  optimiser sometimes stops on a bound (a correlation at 1 in sleepstudy's .sig01 tail, a
  standard deviation at 0 in Dyestuff2's .sigma tail) at a higher deviance: there Bordin's
  |ζ| must be no larger than lme4's (+1e-6). The rows with ζ = 0 are the estimates, tested
  separately.
* bounds against lme4's intervals from a ten times finer grid (steps of 0.05 in ζ), whose
  spline error is negligible: variance parameters 5e-6 relative (measured ≤ 1.1e-6: the
  rest of lme4's interpolation error on the fine grid and its inner optimiser); fixed
  effects 3e-5, because lme4 refits the fixed-effect profiles at nloptwrap's default
  tolerances (``profile.merMod`` passes no control to those ``optwrap`` calls): on the
  fine grid that noise reaches the spline (the simulated slope model's 80% lower bound
  for x is 1.7e-5 off; ζ there is -1.28137 instead of -1.28155, while Bordin's bound has
  ζ = -1.28155 and agrees with lme4's default grid to 5e-9).
* bounds against lme4's ordinary ``confint(m)``: this is the interpolation error of lme4's
  default grid (about 0.5 in ζ between points), which the fixture shows directly as the
  difference from the fine grid: up to 2.2e-4 relative for the fit with tight tolerances
  (the simulated .sig02 upper; Dyestuff .sig01 lower 1.7e-4), so 5e-4; up to 1.2e-3 for
  the fit with lme4's default tolerances (the same bound), so 2e-3.
* ML estimates (the centre of the profile): 1e-4 relative, ML deviance at least as low as
  lme4's (+1e-9 relative): lme4's ``refitML`` stops ~1e-10 above the optimum, which leaves
  sleepstudy's correlation 2.3e-5 relative away from it (Bordin's own ML fits agree with
  lme4's tight fits to 1e-6, ``test_mixed_reference.py``).
* Wald intervals: 1e-6 relative (estimates and SEs agree with lme4 to 1e-6).
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from mixed_fixtures import FIXTURES_DIR
from scipy import stats

from bordin.errors import InputError
from bordin.stats.mixed import MixedModel, fit
from bordin.stats.mixed.confint import LikelihoodProfile, confint

PROFILE_FIXTURE = FIXTURES_DIR / "mixed_profile_reference.json"
REF = json.loads(PROFILE_FIXTURE.read_text())
MODELS = list(REF["models"])


def _ours(r_name: str) -> str:
    """lme4 writes '(Intercept)'; formulaic 'Intercept'."""
    return "Intercept" if r_name == "(Intercept)" else r_name


def _our_label(r_label: str) -> str:
    """lme4's 'cor_Days.(Intercept)|patient:(therapist:clinic)' in Bordin's names:
    'cor_Days.Intercept|clinic:therapist:patient'."""
    if "|" not in r_label:
        return _ours(r_label)
    what, group = r_label.split("|")
    parts = group.replace("(", "").replace(")", "").split(":")
    return what.replace("(Intercept)", "Intercept") + "|" + ":".join(reversed(parts))


def _fit(name: str) -> MixedModel:
    r = REF["models"][name]
    data = pd.DataFrame(REF["data"][r["data"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary fits (Dyestuff2) warn, as they should
        return fit(r["formula"], data, reml=r["reml"])


@pytest.fixture(scope="module")
def profiled() -> dict[str, tuple[MixedModel, LikelihoodProfile, dict[float, pd.DataFrame]]]:
    out = {}
    for name in MODELS:
        m = _fit(name)
        lp = LikelihoodProfile(m)
        cis = {level: confint(m, level=level, profile=lp) for level in (0.95, 0.80)}
        out[name] = (m, lp, cis)
    return out


def test_fixture_records_versions():
    assert REF["packages"]["lme4"] == "1.1.31"
    assert REF["R_version"].startswith("R version 4.2")


@pytest.mark.parametrize("name", MODELS)
def test_zeta_matches_lme4_profile_points(name, profiled):
    _, lp, _ = profiled[name]
    n_compared = n_points = 0
    for points in REF["models"][name]["profile_points"]:
        par = _ours(points["parameter"])
        for value, z_r in zip(points["value"], points["zeta"], strict=True):
            if z_r == 0.0:
                continue  # the estimate itself (see test_ml_estimates)
            z = lp.zeta(par, value)
            n_points += 1
            if abs(z_r) <= 3.0:
                assert z == pytest.approx(z_r, abs=1e-6), (par, value)
                n_compared += 1
            else:
                assert math.copysign(1.0, z) == math.copysign(1.0, z_r)
                assert abs(z) <= abs(z_r) + 1e-6, (par, value)
    assert n_compared >= n_points / 2


@pytest.mark.parametrize("name", MODELS)
def test_ml_estimates(name, profiled):
    _, lp, _ = profiled[name]
    r = REF["models"][name]
    assert [p.name for p in lp.parameters] == [_ours(n) for n in r["ml_estimates"]["names"]]
    np.testing.assert_allclose(lp.estimates, r["ml_estimates"]["values"], rtol=1e-4,
                               atol=1e-8)
    assert lp.deviance <= r["ml_deviance"] + 1e-9 * abs(r["ml_deviance"])


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("level", "key"), [(0.95, "confint_95_fine"),
                                            (0.80, "confint_80_fine")])
def test_bounds_match_lme4_fine_grid(name, level, key, profiled):
    _, _, cis = profiled[name]
    ref = REF["models"][name][key]
    ci = cis[level]
    assert list(ci.index) == [_ours(n) for n in ref["names"]]
    fixed = np.array([not n.startswith(".") for n in ci.index])
    rtol = np.where(fixed, 3e-5, 5e-6)  # see the module docstring
    for side in ("lower", "upper"):
        ours, theirs = ci[side].to_numpy(), np.array(ref[side])
        assert np.all(np.abs(ours - theirs) <= rtol * np.abs(theirs) + 1e-9), side


SPLINE_RTOL = {"confint_95": 5e-4, "confint_80": 5e-4, "confint_95_default_fit": 2e-3}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(("level", "key"), [(0.95, "confint_95"), (0.80, "confint_80"),
                                            (0.95, "confint_95_default_fit")])
def test_bounds_match_lme4_confint(name, level, key, profiled):
    _, _, cis = profiled[name]
    ref = REF["models"][name][key]
    ci = cis[level]
    np.testing.assert_allclose(ci["lower"], ref["lower"], rtol=SPLINE_RTOL[key], atol=1e-9)
    np.testing.assert_allclose(ci["upper"], ref["upper"], rtol=SPLINE_RTOL[key], atol=1e-9)


@pytest.mark.parametrize(("key", "fine"), [("confint_95", "confint_95_fine"),
                                           ("confint_80", "confint_80_fine"),
                                           ("confint_95_default_fit", "confint_95_fine")])
def test_lme4_spline_error_is_what_the_tolerance_allows_for(key, fine):
    """The tolerances above are lme4's own interpolation error, not slack for Bordin."""
    worst = 0.0
    for r in REF["models"].values():
        for side in ("lower", "upper"):
            a = np.array(r[key][side])
            b = np.array(r[fine][side])
            rel = np.abs(a - b) / np.maximum(np.abs(b), 1e-9)
            worst = max(worst, float(rel[b != 0].max()))
    assert SPLINE_RTOL[key] / 10 < worst < SPLINE_RTOL[key]


@pytest.mark.parametrize("name", MODELS)
def test_bounds_are_roots_of_the_profile(name, profiled):
    _, lp, cis = profiled[name]
    for level, ci in cis.items():
        z = stats.norm.ppf(0.5 + level / 2.0)
        for par, row in ci.iterrows():
            p = lp.parameter(str(par))
            for side, target in (("lower", -z), ("upper", z)):
                x = row[side]
                at_limit = (p.kind in ("sd", "cor") and side == "lower"
                            and x == (0.0 if p.kind == "sd" else -1.0)) or (
                            p.kind == "cor" and side == "upper" and x == 1.0)
                if at_limit:
                    # the profile stays inside ±z up to the parameter's own bound
                    assert abs(lp.zeta(str(par), x)) <= z
                else:
                    assert lp.zeta(str(par), x) == pytest.approx(target, abs=1e-7)


def test_boundary_estimate_gives_lower_bound_zero(profiled):
    """Dyestuff2: the batch SD is estimated at 0; lme4's lower bound is 0, not an error."""
    m, _, cis = profiled["dyestuff2_reml"]
    assert m.theta[0] == 0.0
    ci = cis[0.95]
    assert ci.loc[".sig01", "estimate"] == 0.0
    assert ci.loc[".sig01", "lower"] == 0.0
    assert ci.loc[".sig01", "upper"] > 0.0
    # an SD estimated above 0 whose profile stays within ±z down to 0
    for name, par in (("pastes_reml", ".sig02"), ("sim_three_level_reml", ".sig03")):
        ci = profiled[name][2][0.95]
        assert ci.loc[par, "estimate"] > 0.0
        assert ci.loc[par, "lower"] == 0.0
        assert REF["models"][name]["confint_95"]["lower"][
            REF["models"][name]["confint_95"]["names"].index(par)] == 0.0


@pytest.mark.parametrize("name", MODELS)
def test_names_and_labels(name, profiled):
    _, _, cis = profiled[name]
    ci = cis[0.95]
    r = REF["models"][name]
    assert list(ci.index) == [_ours(n) for n in r["confint_95"]["names"]]
    assert list(ci.columns) == ["name", "estimate", "lower", "upper"]
    assert ci.attrs == {"level": 0.95, "method": "profile"}
    assert list(ci["name"]) == [_our_label(n) for n in r["names_new"]]
    assert (ci["lower"] <= ci["estimate"]).all() and (ci["estimate"] <= ci["upper"]).all()


@pytest.mark.parametrize("name", MODELS)
def test_wald_matches_lme4(name, profiled):
    m, _, _ = profiled[name]
    ref = REF["models"][name]["wald_95"]
    ci = m.confint(method="Wald")
    assert list(ci.index) == [_ours(n) for n in ref["names"]]
    is_var = np.array([n.startswith(".sig") for n in ci.index])
    assert ci.loc[is_var, ["lower", "upper"]].isna().all().all()
    # jsonlite writes R's NA in a numeric vector as the string "NA"
    lower = np.array([np.nan if v == "NA" else v for v in ref["lower"]], dtype=float)
    upper = np.array([np.nan if v == "NA" else v for v in ref["upper"]], dtype=float)
    np.testing.assert_allclose(ci.loc[~is_var, "lower"], lower[~is_var], rtol=1e-6)
    np.testing.assert_allclose(ci.loc[~is_var, "upper"], upper[~is_var], rtol=1e-6)
    # the fit's own estimates: the REML fixed effects
    np.testing.assert_allclose(ci.loc[~is_var, "estimate"], m.beta, rtol=0, atol=0)


def test_reml_and_ml_fits_have_the_same_profile():
    """lme4 profiles a REML fit on its ML refit; so does Bordin."""
    reml = _fit("dyestuff_reml")
    data = pd.DataFrame(REF["data"]["Dyestuff"])
    ml = fit("Yield ~ 1 + (1 | Batch)", data, reml=False)
    a, b = reml.confint(), ml.confint()
    # the same ML fit of the same statistics from the same start: the same numbers
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_parm_selects_rows():
    m = _fit("sleepstudy_intercept_ml")
    assert list(m.confint(parm="theta_").index) == [".sig01", ".sigma"]
    assert list(m.confint(parm="beta_", method="Wald").index) == ["Intercept", "Days"]
    one = m.confint(parm=["Days"], level=0.9)
    assert list(one.index) == ["Days"] and one.attrs["level"] == 0.9
    # the cached profile gives the same interval again
    np.testing.assert_array_equal(m.confint(parm=["Days"], level=0.9).to_numpy(),
                                  one.to_numpy())


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"method": "boot"}, "method"),
    ({"level": 1.0}, "level"),
    ({"level": 0.0}, "level"),
    ({"level": True}, "level"),
    ({"parm": ["nosuch"]}, "parm"),
    ({"parm": "Intercep"}, "parm"),
])
def test_bad_arguments(kwargs, field):
    m = _fit("dyestuff_reml")
    with pytest.raises(InputError) as err:
        m.confint(**kwargs)
    assert err.value.field == field
