"""Comparisons of a fitted model with an lme4/lmerTest fixture, shared by the mixed tests.

Tolerances: criterion and likelihood summaries to 1e-9 relative (both sides minimise
the same function to tight tolerances; what is left is the optimisers' stopping
points); fixed effects, SEs, Satterthwaite df and vcov to ``rtol`` (1e-6 in the
callers: lme4's own convergence tolerance on theta propagates to about that).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def our_term(r_term: str | None) -> str | None:
    """lme4 writes '(Intercept)'; formulaic 'Intercept'."""
    return "Intercept" if r_term == "(Intercept)" else r_term


def check_likelihoods(m: Any, r: dict[str, Any]) -> None:
    """logLik, deviance, AIC, BIC and the counts, as lme4 reports them."""
    for ours, key in ((m.loglik, "loglik"), (m.deviance, "deviance"), (m.aic, "aic"),
                      (m.bic, "bic")):
        np.testing.assert_allclose(ours, r[key], rtol=1e-9, err_msg=key)
    assert m.nobs == r["nobs"]
    assert m.df_resid == r["df_resid"]
    assert m.ngroups == r["ngroups"]


def check_fixed(m: Any, r: dict[str, Any], *, rtol: float) -> None:
    """Fixed effects: names, estimates, SEs, Satterthwaite df, vcov (t and p if given)."""
    assert [our_term(t) for t in r["terms"]] == list(m.fixed.index)
    se = np.asarray(r["se"])
    np.testing.assert_allclose(m.beta, r["beta"], rtol=rtol, atol=rtol * se.min())
    np.testing.assert_allclose(m.fixed["se"], se, rtol=rtol)
    np.testing.assert_allclose(m.fixed["df"], r["df"], rtol=rtol)
    if "t" in r:
        np.testing.assert_allclose(m.fixed["t"], r["t"], rtol=rtol, atol=rtol)
    if "p" in r:
        np.testing.assert_allclose(m.fixed["p"], r["p"], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(m.vcov_beta, r["vcov"], rtol=rtol,
                               atol=rtol * float(np.max(np.abs(r["vcov"]))))
