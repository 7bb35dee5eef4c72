"""Therapist vs patient contribution and therapist effects against lme4/lmerTest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bordin.alliance import patient_table, therapist_effects, therapist_patient_contribution
from bordin.errors import InputError


@pytest.fixture(scope="module")
def patients(administrations: pd.DataFrame) -> pd.DataFrame:
    return patient_table(administrations, alliance_instrument="WAI-SR",
                         outcome_instrument="PHQ-9")


def test_baldwin_matches_lmertest(patients: pd.DataFrame, ref: dict) -> None:
    res = therapist_patient_contribution(patients)
    b = ref["baldwin"]
    assert res.n_patients == b["n"]
    assert res.single_patient_therapists == 5  # one per site by construction
    terms = dict(zip(b["terms"], range(len(b["terms"])), strict=True))
    for name, key in (("between", "between"), ("within", "within")):
        got = getattr(res, name)
        i = terms[key]
        # Same REML optimum (lme4 stops at ~1e-6 relative in theta): 1e-5 relative.
        assert got["estimate"] == pytest.approx(b["estimate"][i], rel=1e-5)
        assert got["se"] == pytest.approx(b["se"][i], rel=1e-4)
        # Satterthwaite df depend on numerical Hessians in both programs: 1e-3 relative.
        assert got["df"] == pytest.approx(b["df"][i], rel=1e-3)
        assert got["p"] == pytest.approx(b["p"][i], rel=1e-3)
    d = b["difference"]  # lmerTest::contest1D(c(between = 1, within = -1))
    assert res.difference["estimate"] == pytest.approx(d["estimate"], rel=1e-5)
    assert res.difference["se"] == pytest.approx(d["se"], rel=1e-4)
    assert res.difference["df"] == pytest.approx(d["df"], rel=1e-3)
    assert res.difference["p"] == pytest.approx(d["p"], rel=1e-3)
    t = b["total"]
    assert res.total["estimate"] == pytest.approx(t["estimate"][1], rel=1e-5)
    assert res.total["se"] == pytest.approx(t["se"][1], rel=1e-4)
    assert res.total["df"] == pytest.approx(t["df"][1], rel=1e-3)
    # The difference equals between - within of the split model, exactly.
    assert res.difference["estimate"] == pytest.approx(
        res.between["estimate"] - res.within["estimate"], abs=1e-6)
    json.dumps(res.to_dict())
    assert res.plot().axes
    assert res.summary().index[0] == "between (therapist)"


def test_therapist_effects_match_lme4(patients: pd.DataFrame, ref: dict) -> None:
    res = therapist_effects(patients)
    r = ref["therapist"]
    assert res.icc == pytest.approx(r["icc"], rel=1e-5)
    # Profile-likelihood interval: both sides solve the same criterion to 1e-12.
    assert res.icc_ci == pytest.approx(tuple(r["icc_profile_ci"]), abs=1e-6)
    blup = pd.DataFrame(r["blup"]).set_index("clinician").loc[res.therapists.index]
    np.testing.assert_allclose(res.therapists["blup"], blup["estimate"], atol=1e-5)
    np.testing.assert_allclose(res.therapists["se"], blup["se"], rtol=1e-5)
    caseload = pd.Series(r["caseload"]).loc[res.therapists.index]
    np.testing.assert_array_equal(res.therapists["caseload"], caseload)
    t = res.therapists
    assert not t.loc[t["caseload"] < 5, "ranked"].any()
    assert t.loc[t["ranked"], "rank"].notna().all()
    assert t.loc[~t["ranked"], "rank"].isna().all()
    best = t.loc[t["ranked"]].sort_values("blup").index[0]
    assert t.loc[best, "rank"] == 1  # lower is better for PHQ-9
    np.testing.assert_array_equal(t["differs"], (t["ci_lower"] > 0) | (t["ci_upper"] < 0))
    json.dumps(res.to_dict())
    assert res.plot().axes


def test_unadjusted_icc(patients: pd.DataFrame, ref: dict) -> None:
    res = therapist_effects(patients, covariates=())
    r = ref["therapist_unadjusted"]
    assert res.icc == pytest.approx(r["icc"], rel=1e-5)
    assert res.icc_ci == pytest.approx(tuple(r["icc_profile_ci"]), abs=1e-6)


def test_clinics_as_third_level(patients: pd.DataFrame, ref: dict) -> None:
    res = therapist_effects(patients, organization="organization")
    r = ref["therapist_clinic"]
    vc = res.varcomp["variance"].to_numpy()
    np.testing.assert_allclose(vc, r["vcov"], rtol=1e-4)  # same REML optimum
    assert res.clinics is not None and len(res.clinics) == 5
    assert res.clinic_icc == pytest.approx(r["vcov"][1] / sum(r["vcov"]), rel=1e-4)


def test_parameter_recovery_contribution_and_icc() -> None:
    # Generating model written in the analysis' own terms (observed therapist means).
    rng = np.random.default_rng(11)
    n_t, n_p = 150, 12
    ther = np.repeat(np.arange(n_t), n_p)
    mu = rng.normal(0, 0.6, n_t)[ther]
    a = mu + rng.normal(0, 1.0, n_t * n_p)
    abar = pd.Series(a).groupby(ther).transform("mean").to_numpy()
    base = rng.normal(20, 4, n_t * n_p)
    tau2, sigma2 = 1.0, 9.0  # ICC of the residual outcome = 0.1
    u = rng.normal(0, np.sqrt(tau2), n_t)[ther]
    b_between, b_within = -3.0, -1.0
    post = (5 + b_between * abar + b_within * (a - abar) + 0.5 * base + u
            + rng.normal(0, np.sqrt(sigma2), n_t * n_p))
    d = pd.DataFrame({"clinician": ther, "patient_total": a, "baseline": base, "post": post})
    res = therapist_patient_contribution(d)
    for name, truth in (("between", b_between), ("within", b_within),
                        ("difference", b_between - b_within)):
        got = getattr(res, name)
        assert got["ci_lower"] < truth < got["ci_upper"], name
    te = therapist_effects(d.assign(post=post - b_between * abar - b_within * (a - abar)))
    lo, hi = te.icc_ci
    assert lo < tau2 / (tau2 + sigma2) < hi
    # Shrunken effects track the true therapist effects.
    true_u = pd.Series(u).groupby(ther).first()
    corr = np.corrcoef(te.therapists["blup"], true_u.loc[te.therapists.index.astype(int)])[0, 1]
    assert corr > 0.5


def test_bad_input(patients: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="alliance"):
        therapist_patient_contribution(patients, alliance="nope")
    with pytest.raises(InputError, match="min_caseload"):
        therapist_effects(patients, min_caseload=0)
    with pytest.raises(InputError, match="clinicians"):
        therapist_effects(patients.assign(clinician="same"))
    with pytest.raises(InputError, match="target"):
        therapist_effects(patients).caseload_for_reliability(1.5)


def test_bootstrap_ci_agrees_with_profile(patients: pd.DataFrame, ref: dict) -> None:
    res = therapist_effects(patients, ci="bootstrap", n_boot=60, seed=1)
    assert res.ci_method.startswith("parametric bootstrap")
    lo, hi = res.icc_ci
    plo, phi = ref["therapist"]["icc_profile_ci"]
    # Two different interval methods on 65 therapists, 60 replicates: the bounds agree
    # to a few hundredths (Monte Carlo error of a 2.5% quantile at B = 60 is ~0.02).
    assert lo == pytest.approx(plo, abs=0.03)
    assert hi == pytest.approx(phi, abs=0.05)
    assert lo < res.icc < hi


def test_bootstrap_ci_three_levels(patients: pd.DataFrame) -> None:
    res = therapist_effects(patients, organization="organization", ci="bootstrap", n_boot=20)
    assert res.icc_ci is not None and res.clinic_icc_ci is not None
    assert res.icc_ci[0] <= res.icc <= res.icc_ci[1]
    assert res.clinic_icc_ci[0] <= res.clinic_icc <= res.clinic_icc_ci[1]
    assert therapist_effects(patients, organization="organization").icc_ci is None
    with pytest.raises(InputError, match="n_boot"):
        therapist_effects(patients, ci="bootstrap", n_boot=5)
    with pytest.raises(InputError, match="ci"):
        therapist_effects(patients, ci="jackknife")
