"""Exact linear mixed models from per-group sufficient statistics: nested and crossed designs.

>>> from bordin.stats.mixed import fit, lrt
>>> m = fit("phq9 ~ session + alliance + (1 + session | patient)", data)  # doctest: +SKIP
>>> m.fixed            # estimate, se, df (Satterthwaite), t, p, ci_lower, ci_upper
>>> m.varcomp          # group, term1, term2, variance (covariance on covariance rows), sd, corr
>>> m.ranef("patient") # BLUPs with conditional variances and SEs
>>> m.confint()        # profile-likelihood intervals for .sig01, ..., .sigma and β, as lme4
>>> m.predict(new, re=True); m.icc(); m.summary(); m.to_dict(); m.caterpillar_plot("patient")
>>> lrt(m0, m)         # refits REML fits by ML first, as lme4's anova()

Random-effects structures
    * nested random intercepts of any depth: ``(1 | clinic/therapist/patient)``, the same
      written as ``(1 | clinic) + (1 | clinic:therapist) + (1 | clinic:therapist:patient)``,
      or with globally unique ids ``(1 | clinic) + (1 | tid) + (1 | pid)``;
    * one grouping factor with correlated random intercept and slopes (unstructured,
      up to 4 terms): ``(1 + session | patient)``; separate terms on the same factor
      (``(1 | g) + (0 + x | g)``) give a diagonal covariance;
    * both: ``(1 + session | patient) + (1 | therapist)`` with patients nested in
      therapists;
    * crossed or partially crossed grouping factors (raters crossed with patients, a
      patient seen by two therapists) with random intercepts and correlated slopes per
      term: ``(1 + session | patient) + (1 | rater)``, fitted by lme4's penalised least
      squares on a sparse ``Z`` (:mod:`bordin.stats.mixed.crossed`; the nested fast path
      below does not apply).

Data
    A pandas or polars frame (formulaic builds the fixed part: categorical predictors,
    interactions, transforms), a Parquet path or a DuckDB relation/query (numeric columns,
    string columns as categorical predictors with formulaic's coding, and interactions;
    the per-group statistics are computed inside DuckDB), or any
    :class:`bordin.engines.SufficientStatistics`.

How
    The (restricted) likelihood of a nested model depends on the data only through
    per-group cross-products; :mod:`bordin.stats.mixed.profile` evaluates lme4's profiled
    criterion from them exactly, the optimiser works on θ alone (Brent for one parameter,
    L-BFGS-B then Newton otherwise), and Satterthwaite df follow lmerTest's recipe.
    Agreement with lme4 1.1-31 / lmerTest 3.1-3 is tested to 1e-6 relative
    (``tests/stats/mixed``; reference from ``scripts/r/mixed_reference.R``).

Conventions differing from lme4: fixed-effect names are formulaic's (``Intercept``,
``treatment[T.IPT]``); nested factors are named outer-to-inner (``clinic:therapist``);
rank-deficient fixed effects are refused rather than dropped; confidence intervals in
``fixed`` are Wald intervals with Satterthwaite df; ``confint()`` gives lme4's profile
intervals (``confint(m)``), with the bounds found as roots of the profile rather than
read off a spline through it (:mod:`bordin.stats.mixed.confint`).
"""

from bordin.stats.mixed.fit import fit
from bordin.stats.mixed.lrt import LRTResult, lrt
from bordin.stats.mixed.results import MixedModel

__all__ = ["LRTResult", "MixedModel", "fit", "lrt"]
