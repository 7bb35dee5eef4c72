"""Power analysis by simulation."""

import math

import numpy as np
import pytest
from scipy import stats

import bordin.simulate as sim
from bordin.errors import InputError

SMALL = {"schedule": (sim.Schedule("phq9", "symptoms"),
                      sim.Schedule("wai_sr", "alliance", target="clinician", sessions=(3,))),
         "fis_raters": 0, "n_organizations": 1, "therapists_per_organization": 10}


def test_power_grows_with_sample_size_and_is_reproducible() -> None:
    small = sim.power("alliance_outcome_correlation", {**SMALL, "n_episodes": 30},
                      n_reps=25, seed=1)
    large = sim.power("alliance_outcome_correlation", {**SMALL, "n_episodes": 600},
                      n_reps=25, seed=1)
    # r ~ .28 with ~480 analysable episodes: power ~ 1; with ~20 episodes: well below
    assert large.power > 0.9
    assert small.power < large.power - 0.3
    again = sim.power("alliance_outcome_correlation", {**SMALL, "n_episodes": 30},
                      n_reps=25, seed=1)
    assert again.power == small.power
    np.testing.assert_array_equal(again.estimates, small.estimates)
    assert small.mcse == pytest.approx(math.sqrt(small.power * (1 - small.power) / 25))
    lo, hi = small.ci
    assert lo <= small.power <= hi


def test_null_effect_rejects_at_about_alpha() -> None:
    # patient sex plays no part in the generating model: a test of it is a null test.
    def sex_effect(d: sim.SimulatedClinic) -> float:
        df = sim.analyses.episode_outcomes(d, alliance=None, sessions=())
        sex = d.episodes.set_index("episode").loc[df.index, "patient"].map(
            d.patients.set_index("patient")["sex"])
        a = df.loc[(sex == "female").to_numpy(), "residual_gain"]
        b = df.loc[(sex == "male").to_numpy(), "residual_gain"]
        return float(stats.ttest_ind(a, b).pvalue)

    res = sim.power(sex_effect, {**SMALL, "n_episodes": 150}, n_reps=80, seed=3)
    # type I error .05; Monte-Carlo SE with 80 reps is .024; 3 SE above alpha is .12
    assert res.power < 0.05 + 3 * 0.0244
    assert res.analysis == "sex_effect"
    assert np.isnan(res.estimates).all() and np.isfinite(res.p_values).all()


def test_analysis_return_shapes() -> None:
    kw = dict(design={**SMALL, "n_episodes": 20}, n_reps=3, seed=0)
    assert sim.power(lambda d: (1.0, 0.5, 1.5), **kw).power == 1.0
    assert sim.power(lambda d: (1.0, -0.5, 1.5), **kw).power == 0.0
    assert sim.power(lambda d: {"estimate": 2.0, "p": 0.01}, **kw).power == 1.0
    assert sim.power(lambda d: {"ci_low": -1.0, "ci_high": 1.0}, **kw).power == 0.0
    assert sim.power(lambda d: True, **kw).power == 1.0
    r = sim.power(lambda d: 0.2, **kw)
    assert r.power == 0.0
    table = r.summary()
    assert table.loc[0, "n_reps"] == 3 and table.loc[0, "design"] == "clinic"
    import json

    json.dumps(r.to_dict())
    fig = r.plot()
    assert fig.axes


def test_power_bad_input() -> None:
    with pytest.raises(InputError) as err:
        sim.power("no_such_analysis", "clinic", n_reps=2)
    assert err.value.field == "analysis"
    with pytest.raises(InputError) as err:
        sim.power("therapist_icc", "nope", n_reps=2)
    assert err.value.field == "design"
    with pytest.raises(InputError) as err:
        sim.power("therapist_icc", "clinic", n_reps=0)
    assert err.value.field == "n_reps"
    with pytest.raises(InputError) as err:
        sim.power("therapist_icc", {"n_episodes": -3}, n_reps=2)
    assert err.value.field == "n_episodes"
    with pytest.raises(InputError) as err:
        sim.power(lambda d: 7.0, {**SMALL, "n_episodes": 20}, n_reps=1)
    assert err.value.field == "analysis()"


def test_failed_estimates_count_as_not_detected() -> None:
    from bordin.errors import EstimationError

    def never(d: sim.SimulatedClinic) -> float:
        raise EstimationError("the data cannot support this estimate")

    res = sim.power(never, {**SMALL, "n_episodes": 10}, n_reps=4, seed=2)
    assert (res.n_failed, res.n_ok, res.power) == (4, 0, 0.0)
    # two episodes cannot give a correlation: the built-in fails the same way
    res = sim.power("alliance_outcome_correlation", {**SMALL, "n_episodes": 2}, n_reps=3)
    assert res.n_failed == 3
