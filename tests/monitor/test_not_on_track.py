"""Not-on-track against hand-computed bands, the rule-based method, and the fit vs lme4."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bordin.errors import EstimationError, InputError
from bordin.monitor import ExpectedRecovery, monitor_frame, not_on_track, reliable_change_status

FIX = Path(__file__).parent / "fixtures"
CURVE = ExpectedRecovery(
    instrument="phq9",
    fixed={"Intercept": 2.0, "log_session": -3.0, "intake": 0.9, "log_session:intake": -0.05},
    cov_re=np.array([[4.0, -1.0], [-1.0, 2.0]]), sigma2=9.0, coverage=0.90,
    higher_is_better=False)


@pytest.mark.parametrize(
    ("intake", "t", "mean", "sd", "lower", "upper"),
    [
        # By hand: ls = ln(t + 1); mean = 2 - 3 ls + 0.9 x - 0.05 ls x;
        # var = 4 - 2 ls + 2 ls^2 + 9; band = mean -/+ 1.6448536 sd.
        # (18, 3): ls = 1.3862944, mean = 12.793452, var = 14.071035.
        (18, 3, 12.793451991632425, 3.751137879244887, 6.623379245761419, 18.96352473750343),
        (10, 1, 8.573984868040192, 3.5460698902752203, 2.741218947597587, 14.406750788482796),
        # (25, 0): at intake ls = 0, mean = 2 + 22.5, var = 4 + 9 = 13.
        (25, 0, 24.5, 3.605551275463989, 18.56939590739355, 30.43060409260645),
    ],
)
def test_band_matches_hand_computation(intake, t, mean, sd, lower, upper) -> None:
    b = CURVE.band(intake=intake, sessions_since_intake=t).iloc[0]
    # Closed-form arithmetic: agreement to rounding (1e-12).
    assert b["expected"] == pytest.approx(mean, abs=1e-12)
    assert b["sd"] == pytest.approx(sd, abs=1e-12)
    assert b["lower"] == pytest.approx(lower, abs=1e-12)
    assert b["upper"] == pytest.approx(upper, abs=1e-12)


def test_band_broadcasts_and_checks_input() -> None:
    b = CURVE.band(intake=[18, 10], sessions_since_intake=[3, 1])
    assert b["upper"].to_numpy() == pytest.approx([18.96352473750343, 14.406750788482796])
    with pytest.raises(InputError):
        CURVE.band(intake=18, sessions_since_intake=-1)
    with pytest.raises(InputError) as ei:
        ExpectedRecovery(instrument="phq9", fixed={"Intercept": 1.0}, cov_re=np.eye(2),
                         sigma2=1.0)
    assert ei.value.field == "fixed"
    with pytest.raises(InputError) as ei:
        ExpectedRecovery(instrument="phq9", fixed=CURVE.fixed,
                         cov_re=np.array([[1.0, 2.0], [2.0, 1.0]]), sigma2=1.0)
    assert ei.value.field == "cov_re"


def test_empirical_flag_outside_the_band_on_the_worse_side() -> None:
    # Intake 18 at session 1; session 4 is t = 3: upper bound 18.9635.
    on = not_on_track(pd.Series([18, 17, 17, 18.9], index=[1, 2, 3, 4]), instrument="phq9",
                      expected=CURVE, by_session=10)
    off = not_on_track(pd.Series([18, 17, 17, 19.0], index=[1, 2, 3, 4]), instrument="phq9",
                       expected=CURVE, by_session=10)
    assert not on.flag
    assert off.flag and off.reasons == ("outside_expected_band",)
    assert off.expected["upper"] == pytest.approx(18.96352473750343, abs=1e-12)
    assert off.expected["observed"] == 19.0
    assert off.sessions == (1, 2, 3, 4) and off.scores[-1] == 19.0
    assert len(off.plot().axes[0].lines) >= 3  # expected, observed, reliable-change lines
    # Far better than expected is not "off track".
    better = not_on_track(pd.Series([18, 1.0], index=[1, 4]), instrument="phq9",
                          expected=CURVE, by_session=10)
    assert "outside_expected_band" not in better.reasons


def test_rule_based_not_on_track_phq9() -> None:
    # The PHQ-9 spec's published criterion: a change of 6 points is reliable.
    slow = not_on_track([18, 17, 16, 15, 15, 14], instrument="phq9", by_session=6)
    assert slow.reasons == ("no_reliable_improvement",)
    early = not_on_track([18, 17, 16, 15, 15], instrument="phq9", by_session=6)
    assert not early.flag  # session 5 < 6: too early to expect it
    worse = not_on_track([18, 20, 24], instrument="phq9")
    assert worse.reasons == ("reliable_deterioration",)
    assert worse.change.category == "deteriorated"
    better = not_on_track([18, 15, 14, 13, 12, 12], instrument="phq9")
    assert not better.flag and better.change.category == "improved"
    d = better.to_dict()
    assert json.loads(json.dumps(d))["change"]["category"] == "improved"
    with pytest.raises(InputError):
        not_on_track([18, 12], instrument="phq9", by_session=1)


def test_reliable_change_status() -> None:
    st = reliable_change_status([18, None, 15, 9], instrument="phq9")
    assert (st.intake_session, st.latest_session, st.n_sessions) == (1, 4, 3)
    assert st.change == -9 and st.category == "recovered"  # 18 -> 9 crosses cutoff 10
    with pytest.raises(InputError):
        reliable_change_status([18], instrument="phq9")
    with pytest.raises(InputError):
        reliable_change_status([18, 9], instrument="nope")


def test_not_on_track_frame_alerts_and_stable_start() -> None:
    rows = [("a", s, x) for s, x in enumerate([18, 17, 16, 15, 15, 14, 15], start=1)]
    rows += [("b", s, x) for s, x in enumerate([12, 15, 19], start=1)]
    rows += [("c", s, x) for s, x in enumerate([20, 14, 12, 11, 10, 9], start=1)]
    adm = pd.DataFrame(rows, columns=["episode", "session", "total"]).assign(
        instrument="phq9", rater="patient")
    al = monitor_frame(adm, by_session=6)
    got = {(r.episode, r.rule.split("(")[0], r.start, r.session) for r in al.itertuples()}
    assert got == {("a", "no_reliable_improvement", 6, 7),
                   ("b", "reliable_deterioration", 3, 3)}
    b = al.loc[al["episode"] == "b"].iloc[0]
    # Reliably worse from 12 + 6 = 18 on (the PHQ-9 criterion is 6 points).
    assert b["baseline"] == 12 and b["threshold"] == 18 and b["observed"] == 19
    assert b["pathway"] == "EXPECTANCY,SPECIFIC" and b["severity"] == "high"
    al2 = monitor_frame(adm, by_session=6, expected=CURVE)
    emp = al2.loc[al2["rule"].str.startswith("expected_recovery")]
    # b: intake 12, session 3 (t = 2): upper = 2 - 3 ln3 + 10.8 - 0.6 ln3 + 1.645 sd.
    ls = np.log(3.0)
    mean = 2 - 3 * ls + 0.9 * 12 - 0.05 * ls * 12
    sd = np.sqrt(4 - 2 * ls + 2 * ls**2 + 9)
    row = emp.loc[emp["episode"] == "b"].iloc[0]
    assert row["baseline"] == pytest.approx(mean, abs=1e-12)
    assert row["threshold"] == pytest.approx(mean + CURVE.z * sd, abs=1e-12)


@pytest.fixture(scope="module")
def growth() -> tuple[pd.DataFrame, dict]:
    return (pd.read_csv(FIX / "growth_data.csv"),
            json.loads((FIX / "monitor_growth.json").read_text()))


@pytest.mark.parametrize(("backend", "rtol_fixed", "rtol_var"), [
    # bordin.stats.mixed optimises the same profiled REML criterion as lme4: both stop
    # within ~1e-8 on the fixed effects and ~1e-6 on the variance components.
    ("bordin", 1e-6, 1e-5),
    # statsmodels MixedLM uses another parameterisation and optimiser; it lands within
    # ~1e-6 (fixed) and ~1e-4 (covariance) of lme4 on this data.
    pytest.param("statsmodels", 1e-5, 5e-4, marks=pytest.mark.slow),
])
def test_fit_agrees_with_lme4(growth, backend, rtol_fixed, rtol_var) -> None:
    data, ref = growth
    e = ExpectedRecovery.fit(data, instrument="phq9", backend=backend)
    assert e.n_obs == ref["n_obs"] and e.n_episodes == ref["n_episodes"]
    for k, v in e.fixed.items():
        rk = "(Intercept)" if k == "Intercept" else k
        assert v == pytest.approx(ref["fixed"][rk], rel=rtol_fixed), k
    np.testing.assert_allclose(e.cov_re, np.array(ref["cov_re"]), rtol=rtol_var)
    assert e.sigma2 == pytest.approx(ref["sigma2"], rel=rtol_var)
    assert json.loads(json.dumps(e.to_dict()))["instrument"] == "phq9"
    assert e.plot(intakes=[10, 20]).axes


def test_fit_needs_enough_episodes(growth) -> None:
    data, _ = growth
    small = data.loc[data["episode"].isin(data["episode"].unique()[:5])]
    with pytest.raises(EstimationError):
        ExpectedRecovery.fit(small, instrument="phq9")
    with pytest.raises(InputError):
        ExpectedRecovery.fit(data, instrument="phq9", backend="sas")


def test_reliable_change_status_of_a_whole_frame() -> None:
    adm = pd.DataFrame({
        "episode": ["a", "a", "a", "b", "b", "c", "d"], "session": [1, 2, 3, 1, 4, 1, 1],
        "instrument": ["phq9"] * 5 + ["wai_sr", "phq9"], "rater": "patient",
        "total": [18, 15, 9, 12, 19, 50, 10]})
    st = reliable_change_status(adm).set_index("episode")
    assert list(st.index) == ["a", "b", "d"]  # outcome instruments only
    assert st.loc["a", "category"] == "recovered" and st.loc["a", "latest_session"] == 3
    assert st.loc["b", "category"] == "deteriorated" and st.loc["b", "change"] == 7
    assert st.loc["d", "n_sessions"] == 1 and st.loc["d", "category"] == "unchanged"
    with pytest.raises(InputError):
        reliable_change_status([18, 9])  # a series needs its instrument
