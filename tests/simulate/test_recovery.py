"""Analyses recover what generated the data: therapist vs patient contribution, within vs
between effects (Baldwin et al. 2007; the 17-study IPD meta-analysis)."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import bordin.simulate as sim
from bordin.simulate import analyses


def _baldwin_frame(d: sim.SimulatedClinic) -> pd.DataFrame:
    df = analyses.episode_outcomes(d, outcome="core10").dropna(subset=["alliance", "pre", "post"])
    a = (df["alliance"] - df["alliance"].mean()) / df["alliance"].std(ddof=1)
    df = df.assign(tmean=a.groupby(df["clinician"]).transform("mean"))
    return df.assign(dev=a - df["tmean"]).reset_index()


@pytest.fixture(scope="module")
def baldwin_large() -> sim.SimulatedClinic:
    # the baldwin2007 design scaled up: ~10 patients per therapist, 2,000 therapists
    return sim.clinic("baldwin2007", seed=5, n_episodes=20000, therapists_per_organization=2000)


def test_baldwin_within_therapist_slope_is_zero_between_is_negative(baldwin_large) -> None:
    df = _baldwin_frame(baldwin_large)
    ols = smf.ols("post ~ pre + tmean + dev", df).fit(
        cov_type="cluster", cov_kwds={"groups": df["clinician"]})
    # generating truth: the patient's contribution to the alliance does not heal
    # (patient_alliance_weight = 0), so the within-therapist slope is 0; a |t| < 3 check
    # fails for any within effect larger than ~0.35 points of CORE-10 per SD (SE ~ .06)
    assert abs(ols.tvalues["dev"]) < 3
    assert abs(ols.params["dev"]) < 0.3
    # the therapist contribution heals: more than 3 points per SD of therapist-mean alliance
    assert ols.params["tmean"] < -3 and ols.tvalues["tmean"] < -15
    # the built-in analysis gives the same estimates and clustered SEs as statsmodels
    bs = analyses.baldwin_slopes(baldwin_large)
    assert bs["within"].estimate == pytest.approx(ols.params["dev"], abs=1e-8)
    assert bs["between"].estimate == pytest.approx(ols.params["tmean"], abs=1e-8)
    se = (bs["between"].ci_high - bs["between"].ci_low) / 2
    from scipy import stats

    G = df["clinician"].nunique()
    assert se / stats.t.ppf(0.975, G - 1) == pytest.approx(ols.bse["tmean"], rel=1e-6)


def test_baldwin_total_correlation_controlling_baseline(baldwin_large) -> None:
    # paper: total WAI - post OQ-45 correlation -.21 with baseline as covariate. At
    # n ~ 20,000 the SE of a partial r is ~.007; tolerance .04 leaves room for the
    # preset's population value (-.225 measured on another seed).
    df = analyses.episode_outcomes(baldwin_large, outcome="core10").dropna(
        subset=["alliance", "pre", "post"])
    bp = np.polyfit(df["pre"], df["post"], 1)
    ba = np.polyfit(df["pre"], df["alliance"], 1)
    r = np.corrcoef(df["post"] - np.polyval(bp, df["pre"]),
                    df["alliance"] - np.polyval(ba, df["pre"]))[0, 1]
    assert abs(r - (-0.21)) < 0.04


def test_baldwin_random_intercept_model_recovers_the_same(baldwin_large) -> None:
    # Baldwin et al. used a multilevel model with patients (level 1) in therapists (level 2);
    # fitted with Bordin's own REML engine on the 20,000-patient design
    from bordin.stats.mixed import fit

    df = _baldwin_frame(baldwin_large)
    fixed = fit("post ~ pre + tmean + dev + (1 | clinician)", df, reml=True).fixed
    assert abs(fixed.loc["dev", "estimate"]) < 3 * fixed.loc["dev", "se"]
    assert fixed.loc["tmean", "estimate"] < -3
    assert fixed.loc["tmean", "ci_upper"] < 0


def test_baldwin_truth_therapist_not_patient_contribution_predicts_outcome(baldwin_large) -> None:
    t = baldwin_large.truth.episodes
    df = analyses.episode_outcomes(baldwin_large, outcome="core10", alliance=None, sessions=())
    df = df.join(t.set_index("episode")[["therapist_alliance", "patient_alliance"]])
    ols = smf.ols("post ~ pre + therapist_alliance + patient_alliance", df).fit()
    assert abs(ols.tvalues["patient_alliance"]) < 3
    assert ols.tvalues["therapist_alliance"] < -20


def test_patient_weight_switches_the_within_slope_on() -> None:
    d = sim.clinic("baldwin2007", seed=6, n_episodes=20000, therapists_per_organization=2000,
                   patient_alliance_weight=1.0)
    df = _baldwin_frame(d)
    ols = smf.ols("post ~ pre + tmean + dev", df).fit(
        cov_type="cluster", cov_kwds={"groups": df["clinician"]})
    assert ols.params["dev"] < -1 and ols.tvalues["dev"] < -10


def test_baldwin2007_preset_size_detects_between_not_within() -> None:
    d = sim.clinic("baldwin2007", seed=0)
    assert len(d.episodes) == 331 and d.episodes["clinician"].nunique() <= 80
    bs = analyses.baldwin_slopes(d)
    assert bs["between"].p_value < 0.01


def _lagged(d: sim.SimulatedClinic) -> pd.DataFrame:
    adm = d.administrations.dropna(subset=["total"])
    wide = adm.pivot_table(index=["episode", "session"], columns="instrument", values="total",
                           observed=True).reset_index()
    wide = wide.rename(columns={"phq9": "y", "wai_sr": "a"})
    wide = wide.sort_values(["episode", "session"])
    g = wide.groupby("episode")
    wide["y_next"] = g["y"].shift(-1)
    wide["a_next"] = g["a"].shift(-1)
    wide = wide.dropna(subset=["y", "a", "y_next", "a_next"])
    for c in ("y", "a", "y_next", "a_next"):  # within-patient: centre on the patient's mean
        wide[c + "_w"] = wide[c] - wide.groupby("episode")[c].transform("mean")
    return wide


def _cross_lags(d: sim.SimulatedClinic) -> tuple[float, float, float, float]:
    w = _lagged(d)
    f1 = smf.ols("y_next_w ~ a_w + y_w", w).fit(cov_type="cluster",
                                                  cov_kwds={"groups": w["episode"]})
    f2 = smf.ols("a_next_w ~ y_w + a_w", w).fit(cov_type="cluster",
                                                  cov_kwds={"groups": w["episode"]})
    return f1.params["a_w"], f1.bse["a_w"], f2.params["y_w"], f2.bse["y_w"]


def test_ipd17_reciprocal_within_patient_effects() -> None:
    # 17 sites x 400 patients, sessions 1-7, alliance and symptoms every session
    kw = dict(n_episodes=6800, therapists_per_organization=20)
    on = _cross_lags(sim.clinic("ipd17", seed=8, **kw))
    off = _cross_lags(sim.clinic("ipd17", seed=8, alliance_dynamic_weight=0.0,
                                 symptom_to_alliance=0.0, **kw))
    # alliance -> next symptoms and symptoms -> next alliance, as generated
    b_ay, se_ay, b_ya, se_ya = on
    assert b_ay < 0 and b_ya < 0
    # switched off, each cross-lag moves towards zero by > 3 SEs (person-mean centring
    # biases lagged coefficients, so the comparison is against the switched-off design)
    assert b_ay < off[0] - 3 * np.hypot(se_ay, off[1])
    assert b_ya < off[2] - 3 * np.hypot(se_ya, off[3])


def test_ipd17_has_seventeen_sites_and_seven_sessions() -> None:
    d = sim.clinic("ipd17", seed=1, n_episodes=340)
    assert d.episodes["organization"].nunique() == 17
    assert d.episodes["n_sessions"].max() == 7
    assert set(d.administrations["instrument"].astype(str)) >= {"phq9", "wai_sr"}


def test_ipd17_two_stage_meta_analysis_of_site_cross_lags() -> None:
    # stage 1: the within-patient alliance -> next-symptom slope in each of 17 sites;
    # stage 2: random-effects meta-analysis (Bordin's metafor-compatible rma, REML)
    from bordin.stats.meta import rma

    d = sim.clinic("ipd17", seed=12, n_episodes=6800, therapists_per_organization=20)
    w = _lagged(d).merge(d.episodes[["episode", "organization"]], on="episode")
    yi, vi = [], []
    for _, site in w.groupby("organization"):
        f = smf.ols("y_next_w ~ a_w + y_w", site).fit(cov_type="cluster",
                                                      cov_kwds={"groups": site["episode"]})
        yi.append(f.params["a_w"])
        vi.append(f.bse["a_w"] ** 2)
    assert len(yi) == 17
    res = rma(yi=np.array(yi), vi=np.array(vi), method="REML")
    # pooled within-patient effect: stronger alliance, lower next-session PHQ-9
    assert float(res.ci_ub[0]) < 0
    # the sites share one generating value: little heterogeneity beyond sampling error
    assert float(res.tau2) < float(np.mean(vi))


def _split_cross_lags(d: sim.SimulatedClinic) -> dict[tuple[str, bool], tuple[float, ...]]:
    w = _lagged(d)
    adm = d.administrations
    wai = adm[adm["instrument"] == "wai_sr"].groupby("episode")["total"].mean()
    phq1 = adm[(adm["instrument"] == "phq9") & (adm["session"] == 1)].set_index(
        "episode")["total"]
    w["high_alliance"] = w["episode"].map(wai) > wai.median()
    w["low_symptoms"] = w["episode"].map(phq1) < phq1.median()
    out = {}
    for g in ("high_alliance", "low_symptoms"):
        for v in (True, False):
            s = w[w[g] == v]
            kw = dict(cov_type="cluster", cov_kwds={"groups": s["episode"]})
            f1 = smf.ols("y_next_w ~ a_w + y_w", s).fit(**kw)
            f2 = smf.ols("a_next_w ~ y_w + a_w", s).fit(**kw)
            out[(g, v)] = (f1.params["a_w"], f1.bse["a_w"], f2.params["y_w"], f2.bse["y_w"])
    return out


def test_ipd17_reciprocal_effects_moderated_as_in_the_paper() -> None:
    # paper: the reciprocal relation was stronger for patients with a stronger alliance
    # relative to other patients, and for patients with lower symptom levels
    kw = dict(n_episodes=6800, therapists_per_organization=20)
    on = _split_cross_lags(sim.clinic("ipd17", seed=8, **kw))
    off = _split_cross_lags(sim.clinic("ipd17", seed=8, reciprocal_alliance_moderation=0.0,
                                       reciprocal_symptom_moderation=0.0, **kw))
    hi, lo = on[("high_alliance", True)], on[("high_alliance", False)]
    assert hi[0] < lo[0] and hi[2] < lo[2]  # both cross-lags stronger with stronger alliance
    ly, hy = on[("low_symptoms", True)], on[("low_symptoms", False)]
    assert ly[2] < hy[2]  # symptoms -> alliance stronger at lower symptom levels
    # switching the moderators on moves the low- vs high-symptom contrast of
    # alliance -> symptoms by several SEs (the unmoderated model favours high symptoms)
    d_on = on[("low_symptoms", True)][0] - on[("low_symptoms", False)][0]
    d_off = off[("low_symptoms", True)][0] - off[("low_symptoms", False)][0]
    se = np.hypot(np.hypot(ly[1], hy[1]), np.hypot(off[("low_symptoms", True)][1],
                                                    off[("low_symptoms", False)][1]))
    assert d_on < d_off - 3 * se
