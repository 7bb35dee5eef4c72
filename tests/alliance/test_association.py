"""Alliance-outcome correlations against R's cor.test and lm-residual partial correlations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bordin.alliance import alliance_outcome, partial_correlation, patient_table
from bordin.errors import InputError

CONTROL = {"none": "none", "baseline": "baseline",
           "baseline + prior change": "baseline_prior_change"}


def test_fixture_records_versions(ref: dict) -> None:
    assert ref["R"].startswith("R version")
    assert set(ref["packages"]) >= {"lme4", "lmerTest", "metafor"}


def test_patient_table_matches_r(administrations: pd.DataFrame, ref: dict) -> None:
    t = patient_table(administrations, alliance_instrument="WAI-SR", outcome_instrument="PHQ-9")
    r = pd.DataFrame(ref["patient_table"]).set_index("episode").loc[t["episode"]]
    for col in ("baseline", "post", "prior_change", "patient_total", "patient_goal",
                "clinician_total", "clinician_bond"):
        ours = t[col].to_numpy(dtype=float)
        theirs = r[col].to_numpy(dtype=float)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_allclose(ours, theirs, atol=1e-12, equal_nan=True, err_msg=col)


def test_correlations_match_r(administrations: pd.DataFrame, ref: dict) -> None:
    res = alliance_outcome(administrations, alliance_instrument="WAI-SR",
                           outcome_instrument="PHQ-9")
    assert res.oriented  # PHQ-9: lower is better, so r is sign-flipped
    assert len(res.table) == 2 * 4 * 3
    for _, row in res.table.iterrows():
        rr = ref["association"][f"{row.rater}_{row.score}"][CONTROL[row.control]]
        assert row.n == rr["n"] and row.k == rr["k"]
        # Closed-form statistics on identical data: rounding-level agreement.
        assert -row.r == pytest.approx(rr["r"], abs=1e-12)
        assert -row.ci_upper == pytest.approx(rr["lower"], abs=1e-12)
        assert -row.ci_lower == pytest.approx(rr["upper"], abs=1e-12)
        assert row.p == pytest.approx(rr["p"], rel=1e-9)


def test_orientation_off_reports_raw_sign(administrations: pd.DataFrame, ref: dict) -> None:
    res = alliance_outcome(administrations, alliance_instrument="WAI-SR",
                           outcome_instrument="PHQ-9", orient=False, raters=["patient"],
                           scores=["total"])
    c = res.get(rater="patient", score="total", control="baseline")
    rr = ref["association"]["patient_total"]["baseline"]
    assert c.r == pytest.approx(rr["r"], abs=1e-12)
    assert (c.ci_lower, c.ci_upper) == pytest.approx((rr["lower"], rr["upper"]), abs=1e-12)
    assert not res.oriented


def test_hand_computed_partial_correlation() -> None:
    # r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)), the textbook formula.
    rng = np.random.default_rng(3)
    z = rng.standard_normal(50)
    x = z + rng.standard_normal(50)
    y = 0.5 * x + z + rng.standard_normal(50)
    d = pd.DataFrame({"x": x, "y": y, "z": z})
    c = np.corrcoef([x, y, z])
    expect = (c[0, 1] - c[0, 2] * c[1, 2]) / np.sqrt((1 - c[0, 2] ** 2) * (1 - c[1, 2] ** 2))
    res = partial_correlation(d, x="x", y="y", covariates=["z"])
    assert res.r == pytest.approx(expect, abs=1e-12)
    zc = np.arctanh(expect)
    assert res.ci_lower == pytest.approx(np.tanh(zc - 1.959963984540054 / np.sqrt(46)), abs=1e-9)


def test_windows(administrations: pd.DataFrame) -> None:
    early = patient_table(administrations, alliance_instrument="WAI-SR",
                          outcome_instrument="PHQ-9", raters=["patient"])
    explicit = patient_table(administrations, alliance_instrument="WAI-SR",
                             outcome_instrument="PHQ-9", raters=["patient"], window=(3, 4))
    np.testing.assert_allclose(early["patient_total"], explicit["patient_total"])
    late = patient_table(administrations, alliance_instrument="WAI-SR",
                         outcome_instrument="PHQ-9", raters=["patient"], window="late")
    # Late = mean of each episode's last three patient ratings, checked by hand.
    a = administrations[(administrations.instrument == "WAI-SR")
                        & (administrations.rater == "patient")]
    hand = a.sort_values("session").groupby("episode")["total"].apply(lambda s: s.iloc[-3:].mean())
    np.testing.assert_allclose(late.set_index("episode")["patient_total"], hand.loc[late.episode])
    mid = patient_table(administrations, alliance_instrument="WAI-SR",
                        outcome_instrument="PHQ-9", raters=["patient"], window="mid")
    assert mid["window_start"].gt(early["window_start"].min() - 1).all()
    res = alliance_outcome(administrations, alliance_instrument="WAI-SR",
                           outcome_instrument="PHQ-9", window="late", raters=["patient"])
    assert res.window == "late"


def test_results_object(administrations: pd.DataFrame) -> None:
    res = alliance_outcome(administrations, alliance_instrument="WAI-SR",
                           outcome_instrument="PHQ-9")
    json.dumps(res.to_dict())
    assert res.plot().axes
    assert res.summary().attrs["window"] == "early"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"window": "middle"}, "window"),
        ({"window": (4, 3)}, "window"),
        ({"alliance_instrument": "HAQ"}, "alliance_instrument"),
        ({"outcome_instrument": "OQ-45"}, "outcome_instrument"),
        ({"raters": ["observer"]}, "raters"),
        ({"level": 2}, "level"),
    ],
)
def test_bad_input(administrations: pd.DataFrame, kwargs: dict, field: str) -> None:
    args = {"alliance_instrument": "WAI-SR", "outcome_instrument": "PHQ-9", **kwargs}
    with pytest.raises(InputError) as err:
        alliance_outcome(administrations, **args)
    assert err.value.field == field


def test_bad_partial_input() -> None:
    d = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6], "y": [2.0, 1, 4, 3, 6, 5], "s": list("abcdef")})
    with pytest.raises(InputError, match="s"):
        partial_correlation(d, x="x", y="s")
    with pytest.raises(InputError, match="covariates"):
        partial_correlation(d, x="x", y="y", covariates=["nope"])
    with pytest.raises(InputError, match="complete rows"):
        partial_correlation(d.iloc[:3], x="x", y="y")
