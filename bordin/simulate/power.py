"""Power analysis by simulation: how often does an analysis detect the effect?"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import BordinError, InputError
from bordin.simulate.analyses import BUILT_INS, AnalysisResult
from bordin.simulate.clinic import clinic
from bordin.simulate.parameters import PRESETS

__all__ = ["PowerResult", "power"]


@dataclass(frozen=True)
class PowerResult:
    """The result of :func:`power`.

    Attributes
    ----------
    power
        Share of replications in which the analysis detected the effect.
    mcse
        Monte-Carlo standard error of ``power``: sqrt(power (1 - power) / n_reps).
    n_reps, n_ok, n_failed
        Replications asked for, analysed, and those whose analysis raised a
        Bordin error (an estimate the data could not support; counted as not
        detected and listed here).
    alpha
        Significance level (p < alpha, or a (1 - alpha) interval excluding ``null``).
    estimates, p_values, significant
        Per replication (NaN where the analysis gave no estimate or p-value).
    analysis, design
        Names of what was run.
    """

    power: float
    mcse: float
    n_reps: int
    n_ok: int
    n_failed: int
    alpha: float
    null: float
    estimates: np.ndarray = field(repr=False)
    p_values: np.ndarray = field(repr=False)
    significant: np.ndarray = field(repr=False)
    analysis: str
    design: dict[str, Any]

    @property
    def ci(self) -> tuple[float, float]:
        """Normal 95% Monte-Carlo interval for the power, clipped to [0, 1]."""
        h = 1.959963984540054 * self.mcse
        return (max(0.0, self.power - h), min(1.0, self.power + h))

    def summary(self) -> pd.DataFrame:
        """A one-row table: power, its Monte-Carlo SE and interval, mean estimate."""
        est = self.estimates[np.isfinite(self.estimates)]
        return pd.DataFrame([{
            "analysis": self.analysis,
            "design": self.design.get("preset", "custom"),
            "n_reps": self.n_reps,
            "failed": self.n_failed,
            "alpha": self.alpha,
            "power": self.power,
            "mcse": self.mcse,
            "ci_low": self.ci[0],
            "ci_high": self.ci[1],
            "mean_estimate": float(est.mean()) if len(est) else math.nan,
            "sd_estimate": float(est.std(ddof=1)) if len(est) > 1 else math.nan,
        }])

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN becomes None)."""
        def clean(a: np.ndarray) -> list[Any]:
            return [None if not np.isfinite(x) else float(x) for x in a]

        return {
            "analysis": self.analysis, "design": _plain(self.design),
            "power": self.power, "mcse": self.mcse, "ci": list(self.ci),
            "n_reps": self.n_reps, "n_ok": self.n_ok, "n_failed": self.n_failed,
            "alpha": self.alpha, "null": self.null,
            "estimates": clean(self.estimates), "p_values": clean(self.p_values),
            "significant": [bool(x) for x in self.significant],
        }

    def plot(self) -> Any:
        """Histogram of the estimates across replications (matplotlib Figure)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        est = self.estimates[np.isfinite(self.estimates)]
        if len(est):
            ax.hist(est, bins=min(30, max(5, len(est) // 5)), color="#4c72b0", alpha=0.8)
        ax.axvline(self.null, color="k", lw=1, ls="--")
        ax.set_xlabel(f"{self.analysis} estimate")
        ax.set_ylabel("replications")
        ax.set_title(f"power {self.power:.2f} (MCSE {self.mcse:.3f}), {self.n_reps} replications")
        fig.tight_layout()
        return fig


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "__dataclass_fields__"):
        from dataclasses import asdict

        return _plain(asdict(v))
    if isinstance(v, np.generic):
        return v.item()
    return v


def _design(design: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(design, str):
        if design not in PRESETS:
            raise InputError(field="design", value=design,
                             allowed=f"a preset name {sorted(PRESETS)} or a dict of overrides")
        return design, {}
    if isinstance(design, Mapping):
        d = dict(design)
        name = d.pop("preset", "clinic")
        if name not in PRESETS:
            raise InputError(field="design['preset']", value=name,
                             allowed=f"one of {sorted(PRESETS)}")
        return name, d
    raise InputError(field="design", value=design,
                     allowed="a preset name or a dict of Parameters overrides")


def _interpret(out: Any, alpha: float, null: float) -> tuple[float, float, bool]:
    """(estimate, p, significant) from whatever the analysis returned."""
    if isinstance(out, AnalysisResult):
        sig = out.p_value < alpha if math.isfinite(out.p_value) else not (
            out.ci_low <= null <= out.ci_high)
        return out.estimate, out.p_value, bool(sig)
    if isinstance(out, (bool, np.bool_)):
        return math.nan, math.nan, bool(out)
    if isinstance(out, (int, float, np.floating, np.integer)):
        p = float(out)
        if not 0.0 <= p <= 1.0:
            raise InputError(field="analysis()", value=p,
                             allowed="a p-value in [0, 1], (estimate, ci_low, ci_high), "
                                     "a dict or a bool")
        return math.nan, p, p < alpha
    if isinstance(out, Mapping):
        est = float(out.get("estimate", math.nan))
        if "p" in out or "p_value" in out:
            p = float(out.get("p", out.get("p_value")))
            return est, p, p < alpha
        if "ci_low" in out and "ci_high" in out:
            lo, hi = float(out["ci_low"]), float(out["ci_high"])
            return est, math.nan, not (lo <= null <= hi)
    if isinstance(out, (tuple, list)) and len(out) == 3:
        est, lo, hi = (float(x) for x in out)
        return est, math.nan, not (lo <= null <= hi)
    raise InputError(field="analysis()", value=type(out).__name__,
                     allowed="a p-value, (estimate, ci_low, ci_high), a dict with 'p' or "
                             "'ci_low'/'ci_high', a bool, or an AnalysisResult")


def power(
    analysis: str | Callable[[Any], Any],
    design: str | Mapping[str, Any] = "clinic",
    *,
    n_reps: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    null: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> PowerResult:
    """Estimate the power of an analysis for a design by simulating it ``n_reps`` times.

    Parameters
    ----------
    analysis
        A callable taking a :class:`SimulatedClinic` and returning a p-value, an
        ``(estimate, ci_low, ci_high)`` tuple, a dict (``p``/``p_value`` or
        ``ci_low``/``ci_high``, optional ``estimate``), a bool (detected), or an
        ``AnalysisResult``; or the name of a built-in:
        ``"alliance_outcome_correlation"``, ``"therapist_icc"``,
        ``"baldwin_between"``, ``"baldwin_within"``.
    design
        A preset name, or a dict of :class:`Parameters` overrides with an
        optional ``"preset"`` key (default ``"clinic"``), e.g.
        ``{"preset": "baldwin2007", "n_episodes": 200}``.
    n_reps
        Number of simulated data sets (the Monte-Carlo SE of the power is at
        most 0.5 / sqrt(n_reps)).
    seed
        Master seed; replication i uses an independent child seed, so results
        are reproducible.
    alpha
        Significance level.
    null
        Value a confidence interval must exclude to count as a detection.
    progress
        Optional callback ``progress(done, n_reps)``.

    Returns
    -------
    PowerResult
    """
    if isinstance(analysis, str):
        if analysis not in BUILT_INS:
            raise InputError(field="analysis", value=analysis,
                             allowed=f"a callable or one of {sorted(BUILT_INS)}")
        name, fn = analysis, BUILT_INS[analysis]
    elif callable(analysis):
        name, fn = getattr(analysis, "__name__", "analysis"), analysis
    else:
        raise InputError(field="analysis", value=analysis,
                         allowed=f"a callable or one of {sorted(BUILT_INS)}")
    if isinstance(n_reps, bool) or not isinstance(n_reps, int) or n_reps < 1:
        raise InputError(field="n_reps", value=n_reps, allowed="a positive integer")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(field="seed", value=seed, allowed="a non-negative integer")
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise InputError(field="alpha", value=alpha, allowed="a number strictly between 0 and 1")
    preset_name, overrides = _design(design)
    # validate the design once, before any replication runs
    from bordin.simulate.parameters import preset as _preset

    _preset(preset_name, **overrides)
    seeds = np.random.SeedSequence(seed).generate_state(n_reps, dtype=np.uint32)
    est = np.full(n_reps, np.nan)
    pv = np.full(n_reps, np.nan)
    sig = np.zeros(n_reps, dtype=bool)
    failed = 0
    for i, s in enumerate(seeds):
        data = clinic(preset_name, seed=int(s), **overrides)
        try:
            out = fn(data)
        except InputError:
            raise
        except BordinError:
            failed += 1
        else:
            est[i], pv[i], sig[i] = _interpret(out, alpha, null)
        if progress is not None:
            progress(i + 1, n_reps)
    n_ok = n_reps - failed
    pw = float(sig.sum() / n_reps)
    mcse = float(math.sqrt(pw * (1 - pw) / n_reps))
    return PowerResult(
        power=pw, mcse=mcse, n_reps=n_reps, n_ok=n_ok, n_failed=failed, alpha=float(alpha),
        null=float(null), estimates=est, p_values=pv, significant=sig, analysis=name,
        design={"preset": preset_name, **overrides},
    )
