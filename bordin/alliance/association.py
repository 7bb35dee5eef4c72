"""The alliance-outcome association: total and partial correlations with CIs.

The question of the meta-analyses (Horvath & Symonds 1991 ... Flückiger et al.
2018): how strongly is the alliance, measured in a window of sessions (early =
sessions 3-4), associated with the outcome at the end of treatment? And the
"epiphenomenon" question (DeRubeis et al.; Flückiger et al. 2020): does the
association survive partialling out baseline severity and the symptom change
that happened before the alliance was measured?

Correlations are Pearson's r; partial correlations are the correlation of the
residuals of alliance and outcome on the covariates (exactly ppcor's partial
correlation). Intervals are Fisher-z, ``tanh(atanh(r) ± z / sqrt(n - 3 - k))``
with k covariates (for k = 0 this is ``cor.test``'s interval); p-values from
``t = r sqrt((n - 2 - k) / (1 - r²))`` on ``n - 2 - k`` df.

Sign convention: with ``outcome_lower_is_better=True`` (symptom scales such as
PHQ-9 or OQ-45) and ``orient=True`` (the default) the correlations are
multiplied by -1 so that a positive r means "higher alliance, better outcome",
the convention of the meta-analyses; ``orient=False`` reports r as measured
(Baldwin et al. report r = -.24 for the OQ-45).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bordin.alliance._common import (
    check_level,
    fisher_ci,
    json_safe,
    require_columns,
    require_frame,
    require_numeric,
)
from bordin.alliance.tidy import COLUMNS, Columns, Window, patient_table
from bordin.errors import InputError

__all__ = [
    "AssociationResult",
    "Correlation",
    "alliance_outcome",
    "partial_correlation",
]

CONTROLS = {
    "none": (),
    "baseline": ("baseline",),
    "baseline + prior change": ("baseline", "prior_change"),
}


@dataclass(frozen=True)
class Correlation:
    """A (partial) correlation with its Fisher-z interval and t test."""

    r: float
    ci_lower: float
    ci_upper: float
    p: float
    n: int
    k: int
    level: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return json_safe(self.__dict__)


def partial_correlation(
    data: pd.DataFrame,
    *,
    x: str,
    y: str,
    covariates: Sequence[str] = (),
    level: float = 0.95,
) -> Correlation:
    """Pearson (partial) correlation of two columns, complete cases.

    Parameters
    ----------
    data
        A data frame.
    x, y
        The two columns to correlate.
    covariates
        Columns partialled out of both (linear regression residuals).
    level
        Confidence level of the Fisher-z interval.
    """
    data = require_frame(data)
    level = check_level(level)
    cols = [x, y, *covariates]
    require_columns(data, {"x": x, "y": y, **{f"covariates[{i}]": c
                                              for i, c in enumerate(covariates)}})
    require_numeric(data, cols)
    d = data[cols].astype(float).dropna()
    n, k = len(d), len(covariates)
    if n - 3 - k < 1:
        raise InputError(field="data", value=f"{n} complete rows",
                         allowed=f"at least {k + 4} complete rows for {k} covariate(s)")
    xv, yv = d[x].to_numpy(), d[y].to_numpy()
    if k:
        z = np.column_stack([np.ones(n), d[list(covariates)].to_numpy()])
        if np.linalg.matrix_rank(z) < z.shape[1]:
            raise InputError(field="covariates", value=list(covariates),
                             allowed="covariates that are not collinear")
        xv = xv - z @ np.linalg.lstsq(z, xv, rcond=None)[0]
        yv = yv - z @ np.linalg.lstsq(z, yv, rcond=None)[0]
    sx, sy = float(np.std(xv)), float(np.std(yv))
    if sx == 0 or sy == 0:
        raise InputError(field="x" if sx == 0 else "y", value="no variation",
                         allowed="a column that varies (after partialling out the covariates)")
    r = float(np.corrcoef(xv, yv)[0, 1])
    df = n - 2 - k
    t = r * math.sqrt(df / max(1e-300, 1 - r * r))
    p = float(2 * stats.t.sf(abs(t), df))
    lo, hi = fisher_ci(r, n, k, level)
    return Correlation(r=r, ci_lower=lo, ci_upper=hi, p=p, n=n, k=k, level=level)


@dataclass(frozen=True)
class AssociationResult:
    """Alliance-outcome correlations by rater, score and set of controls.

    Attributes
    ----------
    table
        One row per rater x score x control: r, ci_lower, ci_upper, p, n, k.
    oriented
        True when r was multiplied by -1 (lower outcome = better), so that
        positive r means higher alliance goes with better outcome.
    window
        The alliance window used.
    patients
        The patient-level table the correlations were computed on.
    """

    table: pd.DataFrame
    oriented: bool
    outcome_lower_is_better: bool
    window: str
    level: float
    patients: pd.DataFrame = field(repr=False)

    def get(self, *, rater: str = "patient", score: str = "total",
            control: str = "none") -> Correlation:
        """One correlation of the table."""
        t = self.table
        row = t[(t["rater"] == rater) & (t["score"] == score) & (t["control"] == control)]
        if row.empty:
            raise InputError(
                field="rater/score/control", value=(rater, score, control),
                allowed="a combination in the table: "
                        f"{sorted(set(zip(t['rater'], t['score'], t['control'], strict=True)))}",
            )
        r = row.iloc[0]
        return Correlation(r=r["r"], ci_lower=r["ci_lower"], ci_upper=r["ci_upper"], p=r["p"],
                           n=int(r["n"]), k=int(r["k"]), level=self.level)

    def summary(self) -> pd.DataFrame:
        """The correlation table."""
        out = self.table.copy()
        out.attrs.update(window=self.window, oriented=self.oriented)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "table": self.table, "oriented": self.oriented,
            "outcome_lower_is_better": self.outcome_lower_is_better,
            "window": self.window, "level": self.level,
            "ci_method": "Fisher z, n - 3 - k", "n_patients": len(self.patients),
        })

    def plot(self) -> matplotlib.figure.Figure:
        """Forest-style plot of every correlation with its CI."""
        t = self.table
        fig, ax = plt.subplots(figsize=(6.5, 0.28 * len(t) + 1.3))
        y = np.arange(len(t))[::-1]
        colors = {"none": "#1f77b4", "baseline": "#ff7f0e", "baseline + prior change": "#2ca02c"}
        for ctrl, col in colors.items():
            m = (t["control"] == ctrl).to_numpy()
            if not m.any():
                continue
            ax.errorbar(t["r"][m], y[m], xerr=[t["r"][m] - t["ci_lower"][m],
                                                 t["ci_upper"][m] - t["r"][m]],
                        fmt="o", color=col, ms=4, capsize=2, label=ctrl)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(y, [f"{a} {b}" for a, b in zip(t["rater"], t["score"], strict=True)],
                      fontsize=7)
        sign = "r (positive = higher alliance, better outcome)" if self.oriented else "r"
        ax.set_xlabel(sign)
        ax.set_title(f"Alliance-outcome association, {self.window} alliance", fontsize=9)
        ax.legend(fontsize=7, title="controlling", title_fontsize=7)
        fig.tight_layout()
        return fig


def alliance_outcome(
    data: pd.DataFrame,
    *,
    alliance_instrument: str | Sequence[str],
    outcome_instrument: str,
    window: Window = "early",
    raters: Sequence[str] | None = None,
    scores: Sequence[str] = ("total", "goal", "task", "bond"),
    outcome_lower_is_better: bool = True,
    orient: bool = True,
    outcome_rater: str | None = None,
    level: float = 0.95,
    columns: Columns = COLUMNS,
) -> AssociationResult:
    """Total and partial alliance-outcome correlations, by rater and subscale.

    Parameters
    ----------
    data
        Tidy administrations (organization, clinician, patient, episode, session,
        instrument, rater, total, goal, task, bond ...).
    alliance_instrument
        Instrument name(s) of the alliance measure.
    outcome_instrument
        Instrument name of the outcome measure; the outcome is its total at the
        episode's last session, baseline its total at the first session.
    window
        Alliance window: ``"early"`` (sessions 3-4), ``"mid"``, ``"late"`` or
        ``(first, last)``.
    raters, scores
        Alliance raters and score columns to analyse (default: all found).
    outcome_lower_is_better
        True for symptom measures (lower = better).
    orient
        Flip the sign so positive r = higher alliance, better outcome.
    outcome_rater
        Restrict outcome rows to this rater.
    level
        Confidence level.
    columns
        Column names of the administrations table.

    Returns
    -------
    AssociationResult
        Controls: none; baseline severity; baseline and the symptom change
        before the alliance window ("prior change").
    """
    level = check_level(level)
    pt = patient_table(
        data, alliance_instrument=alliance_instrument, outcome_instrument=outcome_instrument,
        window=window, raters=raters, scores=scores, outcome_rater=outcome_rater,
        columns=columns,
    )
    flip = -1.0 if (orient and outcome_lower_is_better) else 1.0
    rows = []
    for rater in pt.attrs["raters"]:
        for score in scores:
            col = f"{rater}_{score}"
            if col not in pt.columns:
                continue
            for ctrl, cov in CONTROLS.items():
                usable = pt[[col, "post", *cov]].dropna()
                if len(usable) - 3 - len(cov) < 1 or usable[col].std() == 0:
                    continue
                c = partial_correlation(pt, x=col, y="post", covariates=cov, level=level)
                lo, hi = sorted((flip * c.ci_lower, flip * c.ci_upper))
                rows.append({"rater": rater, "score": score, "control": ctrl,
                             "r": flip * c.r, "ci_lower": lo, "ci_upper": hi, "p": c.p,
                             "n": c.n, "k": c.k})
    if not rows:
        raise InputError(
            field="data", value="no episode with both an alliance rating in the window and "
                                "an outcome at the end",
            allowed="episodes with alliance in the window and at least two outcome sessions",
        )
    return AssociationResult(
        table=pd.DataFrame(rows), oriented=flip < 0,
        outcome_lower_is_better=outcome_lower_is_better, window=pt.attrs["window"],
        level=level, patients=pt,
    )
