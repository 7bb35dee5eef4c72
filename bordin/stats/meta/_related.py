"""Methods that univariate and multilevel fits share: robust inference and the plots.

Each one hands the fit to its own module, imported lazily to keep the model modules small
and free of matplotlib until a plot is asked for.
"""

from __future__ import annotations

from typing import Any


class RelatedAnalyses:
    """Mixin of the analyses that take a fitted meta-analytic model as a whole."""

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
