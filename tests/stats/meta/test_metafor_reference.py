"""Bordin's meta-analysis against R's metafor 3.8-1 on metadat datasets.

The reference values come from scripts/r/meta_reference.R (fixture records the R, metafor
and metadat versions). Tolerances, per quantity:

* Closed-form estimators (EE/FE, DL, HE, HS, SJ) and everything computed from them in
  closed form: rtol 1e-10. Both sides do the same O(1) arithmetic on sums of k terms;
  only floating-point rounding differs (observed ≤ 1e-9 with large Q, usually ~1e-13).
* Iterative τ² estimators (PM root finding, ML/REML/EB Fisher scoring) and all numbers
  that depend on them: rtol 1e-7. metafor ran with threshold 1e-13 and Bordin stops at
  a change below 1e-12; the fixed points agree far inside that (observed ≤ 1e-8).
* Q-profile CI of τ² (root finding on both sides to an absolute 1e-12/1e-13): rtol 1e-8.
* Multilevel model (rma.mv): rtol 1e-6. metafor's nlminb stops at a relative change of
  the objective of 1e-12 (1e-10 where it reports false non-convergence), which leaves
  the variance components uncertain to about √1e-12 = 1e-6 relative; the log likelihoods
  agree to 1e-12, and Bordin's is never lower (checked separately).
* Absolute floor (atol) 1e-12 so that values that are exactly zero (τ² truncated at 0)
  compare sensibly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bordin.stats.effectsize import escalc
from bordin.stats.meta import (
    leave1out,
    regtest,
    rma,
    rma_mv,
    subgroup_analysis,
    trimfill,
)

from ._reference import REFERENCE, cases, dataset

CLOSED = {"EE", "FE", "DL", "HE", "HS", "SJ"}
RTOL_CLOSED = 1e-10
RTOL_ITER = 1e-7
RTOL_QPROFILE = 1e-8
RTOL_MV = 1e-6
ATOL = 1e-12

UNI_KEYS = ["beta", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "se_tau2", "I2", "H2",
            "vt", "QE", "QEp", "QM", "QMp", "ll_ML", "ll_REML", "pi_lb", "pi_ub"]


def normal_equations_rtol(X: np.ndarray, v: np.ndarray) -> float:
    """Rounding budget of a Cholesky solve of X'WX: 10 · cond · eps.

    By van der Sluis' theorem the relevant condition number is that of the diagonally
    scaled matrix. It matters only for dat.bcg with the raw 'year' moderator (~4e5,
    i.e. ~1e-9); elsewhere the closed-form 1e-10 applies.
    """
    A = X.T @ (X / v[:, None])
    d = 1 / np.sqrt(np.diag(A))
    return 10 * float(np.linalg.cond(A * d[:, None] * d[None, :])) * np.finfo(float).eps


def close(actual: object, expected: object, rtol: float, what: str) -> None:
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    e = np.atleast_1d(np.asarray(expected, dtype=float))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=ATOL, err_msg=what)


BOUNDS = {"ci_lb": "ci_ub", "ci_ub": "ci_lb", "pi_lb": "pi_ub", "pi_ub": "pi_lb"}


def close_bound(actual: object, R: dict, key: str, rtol: float, what: str) -> None:
    """An interval bound ``est ± h`` is a sum of terms of size ``max(|lb|, |ub|)``; a bound
    near zero carries their absolute rounding error, so compare relative to that size."""
    e = np.atleast_1d(np.asarray(R[key], dtype=float))
    scale = np.maximum(np.abs(e), np.abs(np.atleast_1d(np.asarray(R[BOUNDS[key]], float))))
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    assert a.shape == e.shape, what
    bad = np.abs(a - e) > rtol * scale + ATOL
    assert not bad.any(), f"{what}: {a[bad]} vs {e[bad]}"


def test_fixture_records_versions() -> None:
    assert REFERENCE["R_version"].startswith("R version 4.")
    assert REFERENCE["metafor_version"] == "3.8.1"
    assert REFERENCE["metadat_version"]
    # at least six metadat datasets, every estimator and both tests
    assert len(REFERENCE["datasets"]) >= 6
    rma_cases = cases("rma")
    assert {c["method"] for c in rma_cases} >= {"EE", "FE", "DL", "HE", "HS", "SJ", "PM",
                                                  "ML", "REML", "EB"}
    assert {c["test"] for c in rma_cases} == {"z", "t", "knha"}


@pytest.mark.parametrize("case", cases("rma"), ids=lambda c: c["id"])
def test_rma_matches_metafor(case: dict) -> None:
    df = dataset(case["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rma(yi="yi", vi="vi", data=df, method=case["method"], test=case["test"],
                  mods=case["mods"])
    R = case["result"]
    rtol = RTOL_CLOSED if case["method"] in CLOSED else RTOL_ITER
    rtol = max(rtol, normal_equations_rtol(res.X, res.vi))
    assert res.k == R["k"] and res.p == R["p"]
    for key in UNI_KEYS:
        if R.get(key) is None:
            # fixed-effect models have no SE of tau2 and no prediction interval
            assert case["method"] in ("EE", "FE") and key in ("se_tau2", "pi_lb", "pi_ub")
            assert np.all(np.isnan(np.asarray(getattr(res, key), dtype=float)))
            continue
        if key in BOUNDS:
            close_bound(getattr(res, key), R, key, rtol, f"{case['id']}: {key}")
        else:
            close(getattr(res, key), R[key], rtol, f"{case['id']}: {key}")
    close(res.QMdf[0], R["QMdf"][0], 0, "QMdf")
    if "tau2_ci" in R:
        close(res.tau2_ci, R["tau2_ci"], max(rtol, RTOL_QPROFILE), f"{case['id']}: tau2_ci")
        close(res.I2_ci, R["I2_ci"], max(rtol, RTOL_QPROFILE), f"{case['id']}: I2_ci")
        close(res.H2_ci, R["H2_ci"], max(rtol, RTOL_QPROFILE), f"{case['id']}: H2_ci")
    if "r_pred" in R:  # back-transformation of Fisher z to r
        r = res.to_r()
        close(r["pred"], R["r_pred"], rtol, "r_pred")
        close(r[["ci_lb", "ci_ub"]].to_numpy().ravel(), R["r_ci"], rtol, "r_ci")
        close(r[["pi_lb", "pi_ub"]].to_numpy().ravel(), R["r_pi"], rtol, "r_pi")


def test_escalc_correlations_match_metafor() -> None:
    (mol,) = [c for c in cases("escalc") if c["dataset"] == "molloy2014"]
    df = dataset("molloy2014")
    z = escalc("ZCOR", ri=df["ri"], ni=df["ni"])
    r = escalc("COR", ri="ri", ni="ni", data=df)
    close(z["yi"], mol["zcor_yi"], 1e-14, "zcor yi")
    close(z["vi"], mol["zcor_vi"], 1e-14, "zcor vi")
    close(r["yi"], mol["cor_yi"], 1e-14, "cor yi")
    close(r["vi"], mol["cor_vi"], 1e-14, "cor vi")


def test_escalc_partial_correlations_match_metafor() -> None:
    (al,) = [c for c in cases("escalc") if c["dataset"] == "aloe2013"]
    df = dataset("aloe2013")
    pc = escalc("PCOR", ti="tval", ni="n", mi="preds", data=df)
    zpc = escalc("ZPCOR", ti="tval", ni="n", mi="preds", data=df)
    close(pc["yi"], al["pcor_yi"], 1e-14, "pcor yi")
    close(pc["vi"], al["pcor_vi"], 1e-14, "pcor vi")
    close(zpc["yi"], al["zpcor_yi"], 1e-14, "zpcor yi")
    close(zpc["vi"], al["zpcor_vi"], 1e-14, "zpcor vi")


@pytest.mark.parametrize("case", [c for c in cases("rma") if c["dataset"] == "aloe2013"],
                         ids=lambda c: c["id"])
def test_partial_correlation_meta_analysis(case: dict) -> None:
    pc = escalc("PCOR", ti="tval", ni="n", mi="preds", data=dataset("aloe2013"))
    res = rma(yi="yi", vi="vi", data=pc, method=case["method"], test=case["test"])
    rtol = RTOL_CLOSED if case["method"] in CLOSED else RTOL_ITER
    for key in ("beta", "se", "tau2", "I2", "QE", "pi_lb", "pi_ub"):
        close(getattr(res, key), case["result"][key], rtol, key)


@pytest.mark.parametrize("case", cases("rma.mv"), ids=lambda c: c["id"])
def test_rma_mv_matches_metafor(case: dict) -> None:
    df = dataset(case["dataset"]).copy()
    mods = case["mods"]
    if mods == "I(year - 1990)":
        df["year_c"] = df["year"] - 1990
        mods = "year_c"
    res = rma_mv(yi="yi", vi="vi", random=case["random"], data=df, mods=mods,
                 method=case["method"], test=case["test"])
    R = case["result"]
    assert res.k == R["k"] and res.p == R["p"]
    for key in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "sigma2", "QM", "QMp"):
        close(getattr(res, key), R[key], RTOL_MV, f"{case['id']}: {key}")
    close(res.QE, R["QE"], RTOL_CLOSED, "QE")  # closed form: FE weights only
    close(res.logLik, R["logLik"], 1e-10, "logLik")
    # the optimum found is at least as high as metafor's
    assert res.logLik >= R["logLik"] - 1e-10
    if "pi_lb" in R:
        close(res.pi_lb, R["pi_lb"], RTOL_MV, "pi_lb")
        close(res.pi_ub, R["pi_ub"], RTOL_MV, "pi_ub")
    rb = res.robust(cluster=case["random"][0])
    Rr = R["robust"]
    assert rb.n == Rr["n"] and rb.dfs == Rr["dfs"]
    for key in ("se", "zval", "pval", "ci_lb", "ci_ub", "QM", "QMp"):
        close(getattr(rb, key), Rr[key], RTOL_MV, f"{case['id']}: robust {key}")
    if "robust_cr2" in R:  # robust(..., clubSandwich = TRUE): CR2 + Satterthwaite df
        cr2 = res.robust(cluster=case["random"][0], vcov="CR2")
        R2 = R["robust_cr2"]
        # covariances compared on the scale of sqrt(v_ii v_jj): an off-diagonal entry is a
        # sum of terms of that size and carries their absolute error
        vbR = np.asarray(R2["vb"], dtype=float).reshape(res.p, res.p, order="F")
        scale = np.sqrt(np.outer(np.diag(vbR), np.diag(vbR)))
        np.testing.assert_allclose(cr2.vb / scale, vbR / scale, rtol=0, atol=RTOL_MV)
        close(cr2.se, R2["se"], RTOL_MV, "CR2 se")
        close(cr2.dfs, R2["dfs"], RTOL_MV, "CR2 Satterthwaite df")
        # a t tail probability at df ~ 2 moves ~5x as much (relatively) as t and df do
        close(cr2.pval, R2["pval"], 5 * RTOL_MV, "CR2 pval")


def test_robust_univariate_matches_metafor() -> None:
    (case,) = cases("robust.uni")
    df = dataset(case["dataset"])
    res = rma(yi="yi", vi="vi", data=df, method="REML")
    rb = res.robust(cluster=df["district"].to_numpy())
    for key in ("se", "zval", "pval", "ci_lb", "ci_ub"):
        close(getattr(rb, key), case["result"][key], RTOL_ITER, key)
    assert rb.dfs == case["result"]["dfs"] and rb.n == case["result"]["n"]


@pytest.mark.parametrize("case", cases("regtest"), ids=lambda c: c["id"])
def test_regtest_matches_metafor(case: dict) -> None:
    res = rma(yi="yi", vi="vi", data=dataset(case["dataset"]), method=case["method"],
              test=case["test"])
    rt = regtest(res)
    rtol = RTOL_CLOSED if case["method"] in CLOSED else RTOL_ITER
    for key in ("zval", "pval", "est", "ci_lb", "ci_ub"):
        close(getattr(rt, key), case["result"][key], rtol, key)
    assert rt.dfs == case["result"]["dfs"]


@pytest.mark.parametrize("case", cases("trimfill"), ids=lambda c: c["id"])
def test_trimfill_matches_metafor(case: dict) -> None:
    res = rma(yi="yi", vi="vi", data=dataset(case["dataset"]), method=case["method"])
    tf = trimfill(res, side=case.get("side"))
    R = case["result"]
    assert tf.k0 == R["k0"]
    assert tf.side == R["side"]
    rtol = RTOL_CLOSED if case["method"] in CLOSED else RTOL_ITER
    close(tf.se_k0, R["se_k0"], 1e-12, "se_k0")
    for key in ("beta", "se", "tau2"):
        close(getattr(tf, key), R[key], rtol, key)
    close(tf.fit.ci_lb, R["ci_lb"], rtol, "ci_lb")
    close(tf.fit.yi, R["yi"], 1e-12, "filled yi")
    close(tf.fit.vi, R["vi"], 1e-12, "filled vi")
    assert tf.fill.tolist() == R["fill"]


def test_leave1out_matches_metafor() -> None:
    (case,) = cases("leave1out")
    res = rma(yi="yi", vi="vi", data=dataset(case["dataset"]), method="REML", test="knha")
    l1 = leave1out(res)
    R = case["result"]
    # metafor 3.8 names the statistic tval under knha and leaves zval empty
    for key in ("estimate", "se", "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2"):
        close(l1[key], R[key], RTOL_ITER, key)
    close(l1["zval"], np.asarray(l1["estimate"]) / np.asarray(R["se"]), RTOL_ITER, "tval")


def test_subgroup_difference_matches_metafor() -> None:
    (case,) = cases("subgroup")
    df = dataset("mcdaniel1994").rename(columns={"ri": "r", "ni": "n"})
    sg = subgroup_analysis(df, by="struct", method="REML", test="z")
    R = case["result"]
    assert [str(x) for x in sg.fits] == R["levels"]
    s = sg.summary()
    close(s["estimate"], R["beta"], RTOL_ITER, "beta")
    close(s["se"], R["se"], RTOL_ITER, "se")
    close(s["tau2"], R["tau2"], RTOL_ITER, "tau2")
    close(sg.Qb, R["Qb"], RTOL_ITER, "Qb")
    close(sg.Qbp, R["Qbp"], RTOL_ITER, "Qbp")
    assert sg.Qb_df == R["Qb_df"]


def test_categorical_moderator_levels_named() -> None:
    df = dataset("mcdaniel1994")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rma(yi="yi", vi="vi", data=df, mods="C(type)", method="REML")
    assert res.names[0] == "intrcpt" and len(res.names) == 3
    assert isinstance(res.summary(), pd.DataFrame)
