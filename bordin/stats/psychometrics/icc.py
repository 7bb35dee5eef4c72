"""Inter-rater reliability: the six Shrout & Fleiss (1979) intraclass correlations.

Computed from the two-way ANOVA of a complete targets x raters table, with the
F tests and the confidence intervals that psych::ICC reports (Shrout & Fleiss
1979; McGraw & Wong 1996): ICC1 (one-way random), ICC2 (two-way random,
absolute agreement), ICC3 (two-way mixed, consistency), and their ``k``
versions for the mean of k raters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import InputError
from bordin.stats._results import json_safe
from bordin.stats.psychometrics._input import check_level, item_frame

__all__ = ["ICCResult", "interrater_icc"]

_LABELS = {
    "ICC1": "single rater, absolute (one-way random)",
    "ICC2": "single rater, absolute (two-way random)",
    "ICC3": "single rater, consistency (two-way mixed)",
    "ICC1k": "mean of k raters, absolute (one-way random)",
    "ICC2k": "mean of k raters, absolute (two-way random)",
    "ICC3k": "mean of k raters, consistency (two-way mixed)",
}


@dataclass(frozen=True)
class ICCResult:
    """The six Shrout-Fleiss ICCs.

    Attributes
    ----------
    table
        One row per form (ICC1 ... ICC3k): ICC, F, df1, df2, p, ci_lower, ci_upper.
    n_targets, n_raters
        Size of the complete ratings table.
    anova
        Mean squares: targets (MSR), raters (MSC), residual (MSE), within targets (MSW).
    """

    table: pd.DataFrame
    n_targets: int
    n_raters: int
    anova: dict[str, float]
    level: float
    ratings: pd.DataFrame = field(repr=False)

    def __getitem__(self, form: str) -> float:
        if form not in self.table.index:
            raise InputError(field="form", value=form, allowed=f"one of {list(self.table.index)}")
        return float(self.table.loc[form, "ICC"])

    def summary(self) -> pd.DataFrame:
        """The six forms with F tests and CIs."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "table": self.table, "n_targets": self.n_targets, "n_raters": self.n_raters,
            "anova": self.anova, "level": self.level,
        })

    def plot(self) -> matplotlib.figure.Figure:
        """Each target's ratings by rater (a profile plot), with the ICCs in the title."""
        fig, ax = plt.subplots(figsize=(6, 3.5))
        r = self.ratings
        order = np.argsort(r.mean(axis=1).to_numpy())
        for col in r.columns:
            ax.plot(np.arange(len(r)), r[col].to_numpy()[order], "o-", ms=3, lw=0.8, label=col)
        ax.set_xlabel("target (ordered by mean rating)")
        ax.set_ylabel("rating")
        ax.set_title(
            f"ICC2 = {self['ICC2']:.2f}, ICC3 = {self['ICC3']:.2f}", fontsize=9
        )
        if r.shape[1] <= 10:
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def interrater_icc(
    data: pd.DataFrame,
    *,
    target: str | None = None,
    rater: str | None = None,
    value: str | None = None,
    level: float = 0.95,
) -> ICCResult:
    """Shrout-Fleiss intraclass correlations for ratings of targets by raters.

    Parameters
    ----------
    data
        Either long (one row per rating; give ``target``, ``rater`` and ``value``),
        or wide (one row per target, one column per rater; leave all three None).
    target, rater, value
        Column names in long data, e.g. a recorded session, the observer and the
        observer's total score.
    level
        Confidence level of the intervals.

    Returns
    -------
    ICCResult
    """
    level = check_level(level)
    named = [target, rater, value]
    if any(v is not None for v in named):
        if any(v is None for v in named):
            raise InputError(
                field="target/rater/value", value=named,
                allowed="all three column names (long data) or none (wide data)",
            )
        for f, c in zip(("target", "rater", "value"), named, strict=True):
            if c not in data.columns:
                raise InputError(field=f, value=c, allowed=f"a column of {list(data.columns)}")
        if data.duplicated([target, rater]).any():
            raise InputError(
                field="data", value="duplicate (target, rater) rows",
                allowed="one rating per target and rater",
            )
        wide = data.pivot(index=target, columns=rater, values=value)
        wide.columns = [str(c) for c in wide.columns]
    else:
        wide = data
    frame = item_frame(wide, None, min_items=2, min_rows=2, what="raters")
    x = frame.to_numpy()
    n, k = x.shape
    grand = x.mean()
    ssr = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ssc = n * ((x.mean(axis=0) - grand) ** 2).sum()
    sst = ((x - grand) ** 2).sum()
    sse = sst - ssr - ssc
    msr = ssr / (n - 1)
    msc = ssc / (k - 1)
    mse = sse / ((n - 1) * (k - 1))
    msw = (ssc + sse) / (n * (k - 1))
    if mse <= 0 or msw <= 0:
        raise InputError(
            field="data", value="ratings with no residual variation",
            allowed="ratings that are not identical up to a rater shift",
        )
    a = 1.0 - level
    icc1 = (msr - msw) / (msr + (k - 1) * msw)
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    icc3 = (msr - mse) / (msr + (k - 1) * mse)
    icc1k = (msr - msw) / msr
    icc2k = (msr - mse) / (msr + (msc - mse) / n)
    icc3k = (msr - mse) / msr
    f1, df11, df12 = msr / msw, n - 1, n * (k - 1)
    f3, df31, df32 = msr / mse, n - 1, (n - 1) * (k - 1)
    # One-way and consistency forms: exact F-based limits.
    f1l = f1 / stats.f.ppf(1 - a / 2, df11, df12)
    f1u = f1 * stats.f.ppf(1 - a / 2, df12, df11)
    f3l = f3 / stats.f.ppf(1 - a / 2, df31, df32)
    f3u = f3 * stats.f.ppf(1 - a / 2, df32, df31)
    l1, u1 = (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)
    l3, u3 = (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)
    l1k, u1k = 1 - 1 / f1l, 1 - 1 / f1u
    l3k, u3k = 1 - 1 / f3l, 1 - 1 / f3u
    # Absolute agreement, two-way random: Satterthwaite-type df (Shrout & Fleiss eq. 12).
    fj = msc / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    fu = stats.f.ppf(1 - a / 2, n - 1, v)
    fl = stats.f.ppf(1 - a / 2, v, n - 1)
    l2 = n * (msr - fu * mse) / (fu * (k * msc + (k * n - k - n) * mse) + n * msr)
    u2 = n * (fl * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fl * msr)
    l2k = l2 * k / (1 + l2 * (k - 1))
    u2k = u2 * k / (1 + u2 * (k - 1))
    p1 = float(stats.f.sf(f1, df11, df12))
    p3 = float(stats.f.sf(f3, df31, df32))
    rows = [
        ("ICC1", icc1, f1, df11, df12, p1, l1, u1),
        ("ICC2", icc2, f3, df31, df32, p3, l2, u2),
        ("ICC3", icc3, f3, df31, df32, p3, l3, u3),
        ("ICC1k", icc1k, f1, df11, df12, p1, l1k, u1k),
        ("ICC2k", icc2k, f3, df31, df32, p3, l2k, u2k),
        ("ICC3k", icc3k, f3, df31, df32, p3, l3k, u3k),
    ]
    table = pd.DataFrame(
        rows, columns=["form", "ICC", "F", "df1", "df2", "p", "ci_lower", "ci_upper"]
    ).set_index("form")
    table.insert(0, "description", [_LABELS[f] for f in table.index])
    return ICCResult(
        table=table, n_targets=n, n_raters=k, level=level, ratings=frame,
        anova={"MSR": msr, "MSC": msc, "MSE": mse, "MSW": msw},
    )
