"""Forest and funnel plots (matplotlib; each returns the Figure)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

# Figures are built with matplotlib's object API (no pyplot): nothing is registered in a
# global figure manager, so no backend is selected and repeated calls do not leak.

__all__ = ["forest_plot", "funnel_plot"]


def _scale(model: Any, transf: str | None) -> tuple[Any, str]:
    if transf is None:
        transf = "z2r" if getattr(model, "effect", None) == "ZCOR" else "none"
    if transf == "z2r":
        return np.tanh, "correlation (r)"
    if transf == "exp":
        return np.exp, "ratio"
    return (lambda x: x), "effect size"


def forest_plot(model: Any, *, transf: str | None = None, title: str | None = None,
                path: str | None = None) -> Figure:
    """Forest plot: each study with its CI, and the pooled estimate with its PI.

    Parameters
    ----------
    model
        An :class:`~bordin.stats.meta.RMAResult`.
    transf
        "z2r" (default for Fisher-z results), "exp", or "none".
    path
        If given, the figure is also saved there.
    """
    f, label = _scale(model, transf)
    y, v = model.yi, model.vi
    k = y.shape[0]
    crit = stats.norm.isf((1 - model.level) / 2)
    lo, hi = f(y - crit * np.sqrt(v)), f(y + crit * np.sqrt(v))
    het = getattr(model, "tau2", None)
    if het is None:  # multilevel: total heterogeneity
        het = float(np.sum(model.sigma2))
    w = 1 / (v + het)
    size = 20 + 180 * w / w.max()
    fig = Figure(figsize=(7.5, 1.6 + 0.28 * min(k, 120)))
    ax = fig.subplots()
    rows = np.arange(k, 0, -1) + 1.5
    ax.hlines(rows, lo, hi, color="0.25", lw=1)
    ax.scatter(f(y), rows, s=size, marker="s", color="0.2", zorder=3)
    if k <= 120:
        labels = getattr(model, "slab", None)
        if labels is None:
            labels = [f"Estimate {i + 1}" for i in range(k)]
        ax.set_yticks(rows, labels=[str(s) for s in labels], fontsize=8)
    else:
        ax.set_yticks([])
    if model.p == 1:
        b, cl, cu = model.beta[0], model.ci_lb[0], model.ci_ub[0]
        ax.fill([f(cl), f(b), f(cu), f(b)], [0.5, 0.8, 0.5, 0.2], color="tab:blue", zorder=3)
        ax.hlines(0.5, f(model.pi_lb), f(model.pi_ub), color="tab:blue", lw=1, ls="--")
        ax.text(1.01, 0.5, f"{f(b):.2f} [{f(cl):.2f}, {f(cu):.2f}]",
                transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.axvline(f(b), color="tab:blue", lw=0.6, alpha=0.5)
    ax.axvline(f(0.0), color="0.5", lw=0.8, ls=":")
    ax.set_xlabel(label)
    ax.set_ylim(0, k + 2.5)
    ax.set_title(title or f"Forest plot ({model.method}, k = {k})")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=120)
    return fig


def funnel_plot(model: Any, *, filled: np.ndarray | None = None, title: str | None = None,
                path: str | None = None) -> Figure:
    """Funnel plot: effect (or residual, for meta-regressions) against its standard error.

    Imputed studies of a trim-and-fill (``filled``) are drawn as open circles.
    """
    se = np.sqrt(model.vi)
    x = model.yi if model.p == 1 else model.yi - model.X @ model.beta
    centre = model.beta[0] if model.p == 1 else 0.0
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    smax = se.max() * 1.05
    grid = np.linspace(0, smax, 50)
    crit = stats.norm.isf((1 - model.level) / 2)
    ax.fill_betweenx(grid, centre - crit * grid, centre + crit * grid, color="0.92")
    ax.plot(centre - crit * grid, grid, color="0.6", lw=0.8)
    ax.plot(centre + crit * grid, grid, color="0.6", lw=0.8)
    ax.axvline(centre, color="0.3", lw=0.8)
    mask = np.zeros(x.shape[0], bool) if filled is None else np.asarray(filled, bool)
    ax.scatter(x[~mask], se[~mask], color="0.1", s=18, zorder=3, label="observed")
    if mask.any():
        ax.scatter(x[mask], se[mask], facecolors="white", edgecolors="0.1", s=18, zorder=3,
                   label="imputed")
        ax.legend(fontsize=8)
    ax.set_ylim(smax, 0)
    ax.set_xlabel("effect size" if model.p == 1 else "residual")
    ax.set_ylabel("standard error")
    ax.set_title(title or "Funnel plot")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=120)
    return fig
