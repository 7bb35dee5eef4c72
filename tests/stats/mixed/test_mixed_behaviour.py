"""Boundary and failure cases, equivalent formulations, reports."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from mixed_fixtures import load_reference

from bordin.errors import BoundaryWarning, DataDroppedWarning, InputError, StatisticalWarning
from bordin.stats.mixed import MixedModel, fit, lrt


@pytest.fixture(scope="module")
def clinic(datasets) -> pd.DataFrame:
    return datasets["clinic"]


@pytest.fixture(scope="module")
def a3(clinic) -> MixedModel:
    return fit("phq9 ~ session + alliance + (1 | clinic/therapist/patient)", clinic)


def test_boundary_variance_reported_as_zero(reference, datasets):
    with pytest.warns(BoundaryWarning, match="Batch"):
        m = fit("Yield ~ 1 + (1 | Batch)", datasets["Dyestuff2"])
    assert m.theta[0] == 0.0
    vc = m.varcomp
    assert vc.loc[vc.group == "Batch", "variance"].item() == 0.0
    assert any("boundary" in n for n in m.notes)
    # the conditional modes of a zero variance are zero, with zero conditional variance
    re = m.ranef("Batch")
    assert np.all(re["estimate"] == 0.0) and np.all(re["cond_var"] == 0.0)
    ref = reference["models"]["dyestuff2_reml"]
    np.testing.assert_allclose(m.sigma, ref["sigma"], rtol=1e-12)


def test_nested_formulations_agree(clinic, a3):
    b = fit("phq9 ~ session + alliance + (1 | clinic) + (1 | clinic:therapist)"
            " + (1 | clinic:therapist:patient)", clinic)
    c = fit("phq9 ~ session + alliance + (1 | clinic) + (1 | tid) + (1 | pid)", clinic)
    for other in (b, c):
        np.testing.assert_allclose(other.criterion, a3.criterion, rtol=1e-12)
        np.testing.assert_allclose(other.beta, a3.beta, rtol=1e-7)
        np.testing.assert_allclose(np.sort(other.varcomp["variance"]),
                                   np.sort(a3.varcomp["variance"]), rtol=1e-6)
    assert set(a3.ngroups) == {"clinic", "clinic:therapist", "clinic:therapist:patient"}


def test_too_few_groups(clinic):
    one = clinic[clinic["clinic"] == "c1"]
    with pytest.raises(InputError, match="at least 2 groups"):
        fit("phq9 ~ session + (1 | clinic)", one)
    df = pd.DataFrame({"g": np.arange(10), "y": np.arange(10.0)})
    with pytest.raises(InputError, match="fewer groups than observations"):
        fit("y ~ 1 + (1 | g)", df)
    few = clinic[clinic["clinic"].isin(["c1", "c2", "c3"])]
    with pytest.warns(StatisticalWarning, match="only 3 groups"):
        fit("phq9 ~ session + (1 | clinic)", few)


def test_constant_and_collinear_predictors(clinic):
    df = clinic.assign(const=3.0, twice=2 * clinic["session"])
    with pytest.raises(InputError, match="const"):
        fit("phq9 ~ session + const + (1 | pid)", df)
    with pytest.raises(InputError, match="collinear"):
        fit("phq9 ~ session + twice + (1 | pid)", df)
    with pytest.raises(InputError, match="phq9"):
        fit("phq9 ~ session + (1 | pid)", df.assign(phq9=1.0))


def test_missing_values_dropped_or_refused(clinic):
    df = clinic.copy()
    df.loc[[0, 5, 9], "alliance"] = np.nan
    df.loc[[5, 20], "pid"] = None
    with pytest.warns(DataDroppedWarning, match="4 of 719 rows"):
        m = fit("phq9 ~ session + alliance + (1 | pid)", df, missing="drop")
    assert m.nobs == 715 and m.n_dropped == 4
    ref = fit("phq9 ~ session + alliance + (1 | pid)", df.dropna(subset=["alliance", "pid"]))
    np.testing.assert_allclose(m.beta, ref.beta, rtol=1e-12)
    with pytest.raises(InputError, match="missing"):
        fit("phq9 ~ session + alliance + (1 | pid)", df, missing="raise")


@pytest.mark.parametrize(("formula", "match"), [
    ("phq9 ~ session", "random-effects term"),
    ("phq9 session (1 | pid)", "response ~ fixed"),
    ("phq9 ~ session + (1 || pid)", r"\|\|"),
    ("phq9 ~ session + (1 | pid", "balanced"),
    ("phq9 ~ nosuch + (1 | pid)", "columns of the data"),
    ("phq9 ~ session + (1 | nosuch)", "columns of the data"),
    ("phq9 ~ session + (1 + session + alliance + treatment | pid)", "at most 4"),
    ("treatment ~ session + (1 | pid)", "numeric response"),
])
def test_bad_formulas(formula, match, clinic):
    with pytest.raises(InputError, match=match):
        fit(formula, clinic)


def test_bad_arguments(clinic):
    with pytest.raises(InputError, match="missing"):
        fit("phq9 ~ session + (1 | pid)", clinic, missing="ignore")
    with pytest.raises(InputError, match="reml"):
        fit("phq9 ~ session + (1 | pid)", clinic, reml="yes")


def test_categorical_and_interaction_terms(reference, clinic):
    m = fit("phq9 ~ session * alliance + (1 | tid) + (1 | pid)", clinic)
    assert list(m.fixed.index) == ["Intercept", "session", "alliance", "session:alliance"]
    ref = reference["models"]["clinic_a2_reml"]
    np.testing.assert_allclose(m.beta, ref["beta"], rtol=1e-6)


def test_icc(reference, clinic):
    ref = reference["models"]["clinic_a3_reml"]
    r = ref["varcomp"]
    var = dict(zip(r["grp"], r["vcov"], strict=True))
    total = sum(var.values())
    icc = fit(ref["formula"], clinic).icc()
    np.testing.assert_allclose(icc.loc["clinic", "icc"], var["clinic"] / total, rtol=1e-6)
    np.testing.assert_allclose(icc.loc["clinic:therapist:patient", "icc_within"],
                               1 - var["Residual"] / total, rtol=1e-6)
    with pytest.raises(InputError, match="random-intercept"):
        fit("phq9 ~ session + (1 + session | pid)", clinic).icc()


def a3_data_clinic() -> pd.DataFrame:
    return pd.DataFrame(load_reference()["data"]["clinic"])


def test_ranef_levels(a3):
    all_levels = a3.ranef()
    assert set(all_levels["level"]) == set(a3.ngroups)
    assert len(a3.ranef("patient")) == a3.ngroups["clinic:therapist:patient"]
    with pytest.raises(InputError, match="level"):
        a3.ranef("nosuch")


def test_predict_new_levels(a3, clinic):
    new = clinic.head(3).assign(patient="p99")
    with pytest.raises(InputError, match="not in the fitted data"):
        a3.predict(new)
    got = a3.predict(new, allow_new_levels=True)
    # clinic and therapist effects still apply; the unknown patient contributes zero
    fixed = a3.predict(new, re=False)
    re = a3.ranef()
    c = re[(re.level == "clinic") & (re.group == "c1")]["estimate"].item()
    t = re[(re.level == "clinic:therapist") & (re.group == "c1:t1")]["estimate"].item()
    np.testing.assert_allclose(got, fixed + c + t, rtol=1e-12)


def test_reports(a3):
    text = a3.summary()
    assert "REML criterion at convergence" in text
    assert "clinic:therapist:patient" in text and "Satterthwaite" in text
    d = a3.to_dict()
    back = json.loads(json.dumps(d))
    assert back["nobs"] == 719 and len(back["fixed"]) == 3
    assert back["fixed"][1]["term"] == "session"
    fig = a3.caterpillar_plot("clinic:therapist")
    assert fig.__class__.__name__ == "Figure" and len(fig.axes) == 1
    with pytest.raises(InputError, match="term"):
        a3.caterpillar_plot("clinic", term="session")
    with pytest.raises(InputError, match="level_ci"):
        a3.caterpillar_plot("clinic", level_ci=1.5)


def test_ml_summary_and_refit(a3):
    ml = a3.refit(reml=False)
    assert not ml.reml and "AIC" in ml.summary()
    direct = fit(a3.formula, a3_data_clinic(), reml=False)
    np.testing.assert_allclose(ml.criterion, direct.criterion, rtol=1e-12)
    np.testing.assert_allclose(ml.beta, direct.beta, rtol=1e-9)


def test_lrt_bad_inputs(a3, clinic):
    with pytest.raises(InputError, match="MixedModel"):
        lrt(a3, "model")
    other = fit("phq9 ~ session + (1 | pid)", clinic.iloc[:-5])
    with pytest.raises(InputError, match="same"):
        lrt(a3, other)
    with pytest.raises(InputError, match="different numbers"):
        lrt(a3, a3)


def test_warnings_do_not_leak_data(clinic):
    df = clinic.copy()
    df.loc[[1], "alliance"] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit("phq9 ~ session + alliance + (1 | pid)", df)
    text = " ".join(str(w.message) for w in caught)
    assert "c1-t1" not in text and str(df.loc[1, "phq9"]) not in text
