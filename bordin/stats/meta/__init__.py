"""Meta-analysis that agrees with R's metafor: ``rma``, ``rma_mv``, publication bias, plots.

R users find metafor's entry points and names (``rma(yi=..., vi=..., method=..., test=...)``
returning ``beta``, ``se``, ``tau2``, ``I2``, ``QE``, ``QM``, ``pi_lb`` ...); Python users can
start from :func:`meta_analysis` on a data frame of correlations.

Every univariate fit costs O(k·p²) (no k × k matrix is formed) and the nested multilevel
model O(k·p) per likelihood evaluation, so k = 100,000 studies fit in well under a second.
"""

from bordin.stats.meta._tau2 import METHODS, Control
from bordin.stats.meta.api import (
    SubgroupResult,
    meta_analysis,
    meta_regression,
    subgroup_analysis,
)
from bordin.stats.meta.bias import RegtestResult, TrimFillResult, leave1out, regtest, trimfill
from bordin.stats.meta.multilevel import MultilevelResult, rma_mv
from bordin.stats.meta.plots import forest_plot, funnel_plot
from bordin.stats.meta.robust import RobustResult, WaldTestResult, robust, wald_test
from bordin.stats.meta.univariate import TESTS, RMAResult, rma

MetaAnalysis = meta_analysis

__all__ = [
    "METHODS",
    "TESTS",
    "Control",
    "MetaAnalysis",
    "MultilevelResult",
    "RMAResult",
    "RegtestResult",
    "RobustResult",
    "SubgroupResult",
    "TrimFillResult",
    "WaldTestResult",
    "forest_plot",
    "funnel_plot",
    "leave1out",
    "meta_analysis",
    "meta_regression",
    "regtest",
    "rma",
    "rma_mv",
    "robust",
    "subgroup_analysis",
    "trimfill",
    "wald_test",
]
