"""Meta-analysis that agrees with R's metafor: ``rma``, ``rma_mv``, publication bias, plots.

R users find metafor's entry points and names (``rma(yi=..., vi=..., method=..., test=...)``
returning ``beta``, ``se``, ``tau2``, ``I2``, ``QE``, ``QM``, ``pi_lb`` ...); Python users can
start from :func:`meta_analysis` on a data frame of correlations.
"""

from bordin.stats.meta._tau2 import Control
from bordin.stats.meta.univariate import RMAResult, rma

__all__ = ["Control", "RMAResult", "rma"]
