"""Built-in analyses of a simulated clinic, for calibration checks and power analysis.

They are deliberately plain (Pearson correlation with a Fisher-z interval, a
one-way ANOVA estimate of the therapist ICC, ordinary least squares with
therapist-clustered standard errors), written here with numpy and scipy so that
``bordin.simulate`` depends on nothing above it; the tests check them against
statsmodels. The full multilevel analyses live in :mod:`bordin.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import EstimationError, InputError

__all__ = [
    "AnalysisResult",
    "alliance_outcome_correlation",
    "baldwin_slopes",
    "episode_outcomes",
    "therapist_icc",
]


@dataclass(frozen=True)
class AnalysisResult:
    """An estimate with its confidence interval and p-value."""

    name: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v)
                for k, v in self.__dict__.items()}


def _instrument_rows(data: Any, instrument: str) -> pd.DataFrame:
    from bordin.instruments import registry

    if instrument not in registry:
        raise InputError(field="instrument", value=instrument,
                         allowed=f"one of {', '.join(registry.ids())}")
    adm = data.administrations
    rows = adm[adm["instrument"] == instrument]
    if rows.empty:
        present = sorted(map(str, adm["instrument"].unique()))
        raise EstimationError(
            f"no {instrument} administrations in the data (present: {present})")
    return rows


def episode_outcomes(data: Any, *, outcome: str = "phq9", alliance: str | None = "wai_sr",
                     sessions: tuple[int, ...] = (3,)) -> pd.DataFrame:
    """One row per episode: pre, post, improvement, early alliance, clinician.

    ``improvement`` is first minus last total when lower scores are better
    (symptom measures), last minus first otherwise. ``alliance`` is the mean of
    the alliance totals at ``sessions``.
    """
    from bordin.instruments import registry

    out_rows = _instrument_rows(data, outcome)
    higher_better = registry.get(outcome).higher_is_better
    o = out_rows[["episode", "session", "total"]].dropna().sort_values(
        ["episode", "session"], kind="stable")
    g = o.groupby("episode", sort=True)["total"]
    pre, post, n_obs = g.first(), g.last(), g.size()
    df = pd.DataFrame({"pre": pre, "post": post})
    df = df[n_obs >= 2]
    df["improvement"] = (df["post"] - df["pre"]) if higher_better else (df["pre"] - df["post"])
    # residual gain: post adjusted for pre, signed so that higher is a better outcome
    sign = 1.0 if higher_better else -1.0
    df["residual_gain"] = sign * _residualise(df["post"].to_numpy(float),
                                              df["pre"].to_numpy(float)) if len(df) > 2 else np.nan
    if alliance is not None and sessions:
        a_rows = _instrument_rows(data, alliance)
        a = a_rows[a_rows["session"].isin(list(sessions))].dropna(subset=["total"])
        df["alliance"] = a.groupby("episode")["total"].mean()
    else:
        df["alliance"] = np.nan
    eps = data.episodes.set_index("episode")
    df["clinician"] = eps["clinician"]
    df["organization"] = eps["organization"]
    df["format"] = eps["format"]
    df["diagnosis"] = eps["diagnosis"]
    df.index = df.index.astype(np.int64)
    return df


def alliance_outcome_correlation(
    data: Any, *, outcome: str = "phq9", alliance: str = "wai_sr",
    sessions: tuple[int, ...] = (3,), alpha: float = 0.05,
) -> AnalysisResult:
    """Correlation of early alliance with outcome (Table 1 of the paper).

    The outcome is the residual gain: the last score adjusted for the first by
    least squares, signed so that a positive correlation means a stronger
    alliance goes with a better outcome (the usual convention of the
    meta-analyses, which control for intake severity where they can). Returns
    the Pearson r with its Fisher-z confidence interval and the t-test p-value.
    """
    df = episode_outcomes(data, outcome=outcome, alliance=alliance, sessions=sessions)
    df = df.dropna(subset=["alliance", "residual_gain"])
    n = len(df)
    if n < 4:
        raise EstimationError(f"alliance_outcome_correlation needs at least 4 episodes, got {n}")
    r = float(np.corrcoef(df["alliance"], df["residual_gain"])[0, 1])
    z = np.arctanh(r)
    h = stats.norm.ppf(1 - alpha / 2) / np.sqrt(n - 3)
    t = r * np.sqrt((n - 2) / max(1 - r**2, 1e-300))
    p = float(2 * stats.t.sf(abs(t), n - 2))
    return AnalysisResult("alliance_outcome_correlation", r, float(np.tanh(z - h)),
                          float(np.tanh(z + h)), p, n)


def _residualise(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    X = np.column_stack([np.ones(len(x)), x])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return y - X @ beta


def therapist_icc(
    data: Any, *, outcome: str = "phq9", formats: tuple[str, ...] = ("individual",),
) -> AnalysisResult:
    """Share of outcome variance between therapists (one-way ANOVA estimator).

    The outcome is the last score residualised on the first (adjusting for
    intake severity, as therapist-effect studies do). The p-value is the
    ANOVA F test of no therapist variance; the interval is Searle's exact one
    for balanced data with the unbalanced-design ``n0`` (approximate).
    """
    df = episode_outcomes(data, outcome=outcome, alliance=None, sessions=())
    df = df[df["format"].isin(list(formats))].dropna(subset=["pre", "post"])
    if len(df) < 10:
        raise EstimationError(f"therapist_icc needs at least 10 episodes, got {len(df)}")
    res = _residualise(df["post"].to_numpy(float), df["pre"].to_numpy(float))
    groups = df["clinician"].to_numpy()
    codes, inv = np.unique(groups, return_inverse=True)
    k, N = len(codes), len(res)
    if k < 2 or N - k < 1:
        raise EstimationError("therapist_icc needs at least two therapists with replication")
    n_i = np.bincount(inv).astype(float)
    means = np.bincount(inv, weights=res) / n_i
    grand = res.mean()
    msb = float((n_i * (means - grand) ** 2).sum() / (k - 1))
    msw = float(((res - means[inv]) ** 2).sum() / (N - k))
    n0 = (N - (n_i**2).sum() / N) / (k - 1)
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    F = msb / msw
    p = float(stats.f.sf(F, k - 1, N - k))
    fl = F / stats.f.ppf(0.975, k - 1, N - k)
    fu = F / stats.f.ppf(0.025, k - 1, N - k)
    lo, hi = (fl - 1) / (fl + n0 - 1), (fu - 1) / (fu + n0 - 1)
    return AnalysisResult("therapist_icc", float(icc), float(lo), float(hi), p, N)


def baldwin_slopes(
    data: Any, *, outcome: str = "core10", alliance: str = "wai_sr",
    sessions: tuple[int, ...] = (3,),
) -> dict[str, AnalysisResult]:
    """Within- and between-therapist alliance slopes on post-treatment outcome.

    Ordinary least squares of ``post ~ pre + therapist mean alliance + patient
    deviation from it`` (Baldwin, Wampold & Imel 2007 disaggregation), with
    standard errors clustered by therapist (CR1). Alliance is standardised
    (SD of patients' early alliance) so slopes are per SD.
    """
    df = episode_outcomes(data, outcome=outcome, alliance=alliance, sessions=sessions)
    df = df.dropna(subset=["alliance", "pre", "post"])
    if len(df) < 10:
        raise EstimationError(f"baldwin_slopes needs at least 10 episodes, got {len(df)}")
    a = (df["alliance"] - df["alliance"].mean()) / df["alliance"].std(ddof=1)
    tmean = a.groupby(df["clinician"]).transform("mean")
    X = np.column_stack([np.ones(len(df)), df["pre"].to_numpy(float), tmean.to_numpy(),
                         (a - tmean).to_numpy()])
    y = df["post"].to_numpy(float)
    XtX_inv = np.linalg.pinv(X.T @ X)
    beta = XtX_inv @ X.T @ y
    e = y - X @ beta
    _, cl = np.unique(df["clinician"].to_numpy(), return_inverse=True)
    G = cl.max() + 1
    scores = np.zeros((G, X.shape[1]))
    np.add.at(scores, cl, X * e[:, None])
    n, kx = X.shape
    c = (G / (G - 1)) * ((n - 1) / (n - kx))
    V = c * XtX_inv @ (scores.T @ scores) @ XtX_inv
    out = {}
    for name, j in (("between", 2), ("within", 3)):
        se = float(np.sqrt(V[j, j]))
        tq = stats.t.ppf(0.975, G - 1)
        p = float(2 * stats.t.sf(abs(beta[j] / se), G - 1))
        out[name] = AnalysisResult(f"baldwin_{name}", float(beta[j]), float(beta[j] - tq * se),
                                   float(beta[j] + tq * se), p, n)
    return out


BUILT_INS = {
    "alliance_outcome_correlation": alliance_outcome_correlation,
    "therapist_icc": therapist_icc,
    "baldwin_between": lambda d: baldwin_slopes(d)["between"],
    "baldwin_within": lambda d: baldwin_slopes(d)["within"],
}
