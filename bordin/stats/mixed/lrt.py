"""Likelihood-ratio test between nested mixed models, as lme4's ``anova()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import InputError
from bordin.stats.mixed.results import MixedModel

__all__ = ["LRTResult", "lrt"]


@dataclass
class LRTResult:
    """The comparison table and the test.

    Attributes
    ----------
    table
        One row per model (fewer parameters first): ``npar``, ``aic``, ``bic``, ``loglik``,
        ``deviance``, ``chisq``, ``df``, ``p``.
    chisq, df, p
        The test statistic, its degrees of freedom and p-value.
    refitted
        Whether REML fits were refitted by ML first.
    """

    table: pd.DataFrame
    chisq: float
    df: int
    p: float
    refitted: bool

    def summary(self) -> pd.DataFrame:
        """The comparison table."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        rows = self.table.reset_index().to_dict(orient="records")
        clean = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                  for k, v in r.items()} for r in rows]
        return {"table": clean, "chisq": self.chisq, "df": self.df, "p": self.p,
                "refitted": self.refitted}


def lrt(m0: MixedModel, m1: MixedModel) -> LRTResult:
    """Likelihood-ratio test of ``m0`` against a larger model ``m1``.

    As ``anova(m0, m1)`` in lme4, REML fits are refitted by maximum likelihood first
    (from the stored sufficient statistics, without another pass over the data).

    Parameters
    ----------
    m0, m1
        Fitted models on the same observations; the order does not matter.
    """
    for name, m in (("m0", m0), ("m1", m1)):
        if not isinstance(m, MixedModel):
            raise InputError(field=name, value=type(m).__name__, allowed="a MixedModel")
    if m0.nobs != m1.nobs or m0.spec.response != m1.spec.response:
        raise InputError(field="m1", value=f"{m1.spec.response} with {m1.nobs} rows",
                         allowed=f"a model of {m0.spec.response} on the same {m0.nobs} rows")
    small, big = sorted((m0, m1), key=lambda m: m.npar)
    if small.npar == big.npar:
        raise InputError(field="m1", value=f"{big.npar} parameters",
                         allowed="nested models with different numbers of parameters")
    refitted = small.reml or big.reml
    if small.reml:
        small = small.refit(reml=False)
    if big.reml:
        big = big.refit(reml=False)
    chisq = max(0.0, 2.0 * (big.loglik - small.loglik))
    df = big.npar - small.npar
    p = float(stats.chi2.sf(chisq, df))
    table = pd.DataFrame(
        {"npar": [small.npar, big.npar], "aic": [small.aic, big.aic],
         "bic": [small.bic, big.bic], "loglik": [small.loglik, big.loglik],
         "deviance": [-2 * small.loglik, -2 * big.loglik], "chisq": [np.nan, chisq],
         "df": [np.nan, df], "p": [np.nan, p]},
        index=pd.Index([small.formula, big.formula], name="model"),
    )
    return LRTResult(table=table, chisq=chisq, df=df, p=p, refitted=refitted)
