"""Caterpillar plot of BLUPs (matplotlib, Agg backend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["caterpillar"]


def caterpillar(re: pd.DataFrame, *, terms: list[str], title: str, z: float) -> Figure:
    """One panel per term: groups sorted by their BLUP, with ``± z·SE`` intervals."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0 * len(terms), 6.0))
    axes = fig.subplots(1, len(terms), squeeze=False)[0]
    for ax, term in zip(axes, terms, strict=True):
        d = re[re["term"] == term].sort_values("estimate")
        y = np.arange(len(d))
        ax.errorbar(d["estimate"], y, xerr=z * d["se"], fmt="o", ms=3, lw=0.8,
                    color="tab:blue", ecolor="0.5")
        ax.axvline(0.0, color="0.3", lw=0.8, ls="--")
        ax.set_title(f"{title}: {term}")
        ax.set_xlabel("conditional mode")
        if len(d) <= 40:
            ax.set_yticks(y, d["group"].astype(str))
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{len(d)} groups, sorted")
    fig.tight_layout()
    return fig
