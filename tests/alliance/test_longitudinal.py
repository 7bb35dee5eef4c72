"""Within/between lagged models, two-stage IPD and moderators against lme4/metafor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bordin.alliance import moderator_analysis, session_panel, two_stage_ipd, within_between
from bordin.errors import InputError


@pytest.fixture(scope="module")
def longitudinal(administrations: pd.DataFrame):
    return within_between(administrations, alliance_instrument="WAI-SR",
                          outcome_instrument="PHQ-9")


@pytest.mark.parametrize("direction", ["alliance_to_symptoms", "symptoms_to_alliance"])
def test_lagged_models_match_lmertest(longitudinal, ref: dict, direction: str) -> None:
    m = longitudinal.models[direction]
    r = ref["longitudinal"][direction]
    assert len(m.fixed) == len(r["terms"])
    # Same REML optimum: estimates 1e-6 absolute, SEs 1e-5 relative; loglik 1e-6.
    np.testing.assert_allclose(m.fixed["estimate"], r["estimate"], atol=1e-6)
    np.testing.assert_allclose(m.fixed["se"], r["se"], rtol=1e-5)
    # Satterthwaite df: numerical derivatives in both programs.
    np.testing.assert_allclose(m.fixed["df"], r["df"], rtol=1e-3)
    assert m.loglik == pytest.approx(r["loglik"], abs=1e-5)
    # Bordin polishes the flat REML surface to its optimum; lme4's default stop lies
    # about 1.5e-6 from it, so 1e-6 absolute (variances are O(1)) is the tightest
    # comparison the reference supports.
    np.testing.assert_allclose(m.varcomp["variance"], r["vcov"], atol=1e-6)


def test_effects_table(longitudinal) -> None:
    e = longitudinal.effect("alliance_to_symptoms", "within")
    assert e["ci_lower"] < e["estimate"] < e["ci_upper"]
    assert longitudinal.summary().shape[0] == 4
    json.dumps(longitudinal.to_dict())
    assert longitudinal.plot().axes
    with pytest.raises(InputError):
        longitudinal.effect("sideways", "within")


def test_panel_input_equals_administrations(administrations: pd.DataFrame, longitudinal) -> None:
    panel = session_panel(administrations, alliance_instrument="WAI-SR",
                          outcome_instrument="PHQ-9")
    res = within_between(panel)
    pd.testing.assert_frame_equal(res.effects, longitudinal.effects)


def test_ipd_longitudinal_matches_metafor(administrations: pd.DataFrame, ref: dict) -> None:
    res = two_stage_ipd(administrations, alliance_instrument="WAI-SR",
                        outcome_instrument="PHQ-9")
    r = ref["ipd"]
    np.testing.assert_allclose(res.studies.loc[r["site"], "estimate"], r["estimate"], atol=1e-6)
    np.testing.assert_allclose(res.studies.loc[r["site"], "se"], r["se"], rtol=1e-5)
    p = r["pooled"]
    # metafor's Fisher scoring stops at a tau2 change of 1e-5.
    assert res.pooled["estimate"] == pytest.approx(p["beta"], abs=1e-5)
    assert res.pooled["ci_lower"] == pytest.approx(p["ci_lb"], abs=1e-5)
    assert res.pooled["tau2"] == pytest.approx(p["tau2"], abs=1e-5)
    assert res.pooled["QE"] == pytest.approx(p["QE"], rel=1e-5)
    json.dumps(res.to_dict())
    assert res.plot().axes


def test_ipd_association_matches_metafor(administrations: pd.DataFrame, ref: dict) -> None:
    res = two_stage_ipd(administrations, alliance_instrument="WAI-SR",
                        outcome_instrument="PHQ-9", stage="association",
                        outcome_lower_is_better=False)
    r = ref["ipd"]
    np.testing.assert_allclose(res.studies.loc[r["site_r"], "estimate"], r["r"], atol=1e-12)
    p = r["pooled_r"]
    assert np.arctanh(res.pooled["estimate"]) == pytest.approx(p["beta"], abs=1e-6)
    assert np.arctanh(res.pooled["ci_upper"]) == pytest.approx(p["ci_ub"], abs=1e-6)
    assert res.pooled["tau2"] == pytest.approx(p["tau2"], abs=1e-5)


@pytest.mark.parametrize("test", ["z", "knha"])
def test_moderator_ratio_matches_metafor(ref: dict, test: str) -> None:
    studies = pd.DataFrame(ref["moderator"]["studies"]).drop(columns="ratio")
    res = moderator_analysis(studies, test=test)  # ratio computed from n / n_therapists
    r = ref["moderator"][test]
    c = res.coefficients
    # REML tau2: metafor stops at a change of 1e-5, so coefficients agree to ~1e-7.
    np.testing.assert_allclose(c["estimate"], r["beta"], atol=1e-6)
    np.testing.assert_allclose(c["se"], r["se"], rtol=1e-5)
    np.testing.assert_allclose(c["ci_lower"], r["ci_lb"], atol=1e-6)
    np.testing.assert_allclose(c["p"], r["pval"], rtol=1e-4)
    assert res.tau2 == pytest.approx(r["tau2"], abs=1e-6)
    qm, qe, r2 = res.QM, res.QE, res.R2
    assert qm == pytest.approx(r["QM"], rel=1e-4)
    assert qe == pytest.approx(r["QE"], rel=1e-6)
    # R2 is a ratio of two tau2 estimates: 0.01 percentage points.
    assert r2 == pytest.approx(r["R2"], abs=0.01)
    assert c.loc["ratio", "estimate"] < 0  # lower ratio, higher correlation
    json.dumps(res.to_dict())
    assert res.plot().axes
    assert res.predict_r([[10.0]])["pred"].iloc[0] > res.predict_r([[40.0]])["pred"].iloc[0]


def test_moderator_bad_input(ref: dict) -> None:
    studies = pd.DataFrame(ref["moderator"]["studies"]).drop(columns=["ratio"])
    with pytest.raises(InputError, match="n_therapists"):
        moderator_analysis(studies.drop(columns="n_therapists"))
    with pytest.raises(InputError, match="correlations"):
        moderator_analysis(studies.assign(r=1.5))
    with pytest.raises(InputError, match="moderators"):
        moderator_analysis(studies, moderators=["nope"])


def _simulate_panel(seed: int, n: int, gamma_w: float, sessions: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        mu = rng.normal(0, 1)
        level = rng.normal(15, 3)
        a = mu + rng.normal(0, 0.6, sessions)
        y = np.empty(sessions)
        y[0] = level + rng.normal(0, 1)
        for t in range(1, sessions):
            y[t] = level - 0.3 * t + gamma_w * (a[t - 1] - mu) + rng.normal(0, 1)
        for t in range(sessions):
            for inst, val in (("SYM", y[t]), ("ALL", a[t])):
                rows.append({"organization": f"s{seed}", "clinician": f"c{i % 40}",
                             "patient": f"p{seed}-{i}", "episode": f"e{seed}-{i}",
                             "session": t + 1, "instrument": inst, "rater": "patient",
                             "total": val})
    return pd.DataFrame(rows)


def test_parameter_recovery_within_effect() -> None:
    # Alliance deviations precede symptoms with gamma_w = -1; symptoms do not feed back.
    # Person-mean centring of the lagged outcome has a known O(1/T) bias (Nickell 1981;
    # about 0.1 at T = 8 here), so the recovery check uses long series (T = 40), where
    # the bias (~0.02) is below the CI half-width (~0.04).
    d = _simulate_panel(5, 200, gamma_w=-1.0, sessions=40)
    res = within_between(d, alliance_instrument="ALL", outcome_instrument="SYM")
    w = res.effect("alliance_to_symptoms", "within")
    assert w["ci_lower"] < -1.0 < w["ci_upper"]
    s = res.effect("symptoms_to_alliance", "within")
    # Truth 0; the same centring bias (future alliance enters the symptom person mean
    # through gamma_w) gives about |gamma_w| * 0.6**2 / T ~ 0.01 here.
    assert abs(s["estimate"]) < 0.02


def test_parameter_recovery_ipd() -> None:
    d = pd.concat([_simulate_panel(s, 60, gamma_w=-0.8, sessions=40) for s in range(6)])
    res = two_stage_ipd(d, alliance_instrument="ALL", outcome_instrument="SYM")
    assert res.pooled["k"] == 6
    assert res.pooled["ci_lower"] < -0.8 < res.pooled["ci_upper"]


def test_bad_input(administrations: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="stage"):
        two_stage_ipd(administrations, alliance_instrument="WAI-SR",
                      outcome_instrument="PHQ-9", stage="three")
    with pytest.raises(InputError, match="both instrument"):
        within_between(administrations, alliance_instrument="WAI-SR")
    with pytest.raises(InputError, match="random_slope"):
        within_between(administrations, alliance_instrument="WAI-SR",
                       outcome_instrument="PHQ-9", random_slope=True, therapist_level=True)


def test_random_slope_matches_lmertest(administrations: pd.DataFrame, ref: dict) -> None:
    res = within_between(administrations, alliance_instrument="WAI-SR",
                         outcome_instrument="PHQ-9", random_slope=True)
    m = res.models["alliance_to_symptoms"]
    r = ref["longitudinal"]["alliance_to_symptoms_slope"]
    # (1 + alliance_within | episode): same REML optimum; the variance components are
    # flatter in this model, so 1e-5 relative on them and 1e-5 absolute on estimates.
    np.testing.assert_allclose(m.fixed["estimate"], r["estimate"], atol=1e-5)
    np.testing.assert_allclose(m.fixed["se"], r["se"], rtol=1e-4)
    np.testing.assert_allclose(m.varcomp["variance"], r["vcov"], rtol=1e-4)
    assert m.loglik == pytest.approx(r["loglik"], abs=1e-4)
    assert res.random_slope
