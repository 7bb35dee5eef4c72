"""Methods that univariate and multilevel fits share: the coefficient table, robust inference
and the plots.

The analyses hand the fit to its own module, imported lazily to keep the model modules small
and free of matplotlib until a plot is asked for.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bordin.stats.meta._weighted import Array


class RelatedAnalyses:
    """Mixin of the analyses that take a fitted meta-analytic model as a whole."""

    # set by the fit (declared here for the type checker)
    names: list[str]
    beta: Array
    se: Array
    zval: Array
    pval: Array
    ci_lb: Array
    ci_ub: Array
    ddf: int | None

    def summary(self) -> pd.DataFrame:
        """Coefficient table (estimate, se, z/t, p, CI) as metafor prints it."""
        stat = "zval" if self.ddf is None else "tval"
        return pd.DataFrame(
            {"estimate": self.beta, "se": self.se, stat: self.zval, "pval": self.pval,
             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
            index=pd.Index(self.names, name="term"),
        )

    def robust(self, *, cluster: Any, adjust: bool = True, vcov: str = "CR1") -> Any:
        """Cluster-robust (sandwich) inference, as metafor's ``robust`` (CR1 by default)."""
        from bordin.stats.meta.robust import robust

        return robust(self, cluster=cluster, adjust=adjust, vcov=vcov)

    def forest_plot(self, **kwargs: Any) -> Any:
        """Forest plot (matplotlib Figure)."""
        from bordin.stats.meta.plots import forest_plot

        return forest_plot(self, **kwargs)

    def funnel_plot(self, **kwargs: Any) -> Any:
        """Funnel plot (matplotlib Figure)."""
        from bordin.stats.meta.plots import funnel_plot

        return funnel_plot(self, **kwargs)
