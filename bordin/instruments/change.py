"""Reliable change and clinical significance (Jacobson & Truax, 1991).

``RC = (x2 - x1) / S_diff`` with ``S_diff = sqrt(2 * SE**2)`` and
``SE = SD * sqrt(1 - r_xx)``, where SD and r_xx are the norm SD and reliability of the
scale stored in the spec. A change is reliable when ``|RC| > 1.96``. The category:

- ``deteriorated``: a reliable change in the worse direction;
- ``recovered``: a reliable improvement that also crosses the spec's cutoff from the
  clinical to the non-clinical side;
- ``improved``: any other reliable improvement;
- ``unchanged``: no reliable change.

The arithmetic is three lines; a library (e.g. R's ``JanSouren/rci``) would add a
dependency for nothing, so it is written here and checked by hand in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.instruments.scoring import Score, _spec, score
from bordin.instruments.spec import InstrumentSpec, ScaleNorms

__all__ = ["Z_RELIABLE", "ReliableChange", "reliable_change", "reliable_change_frame"]

Z_RELIABLE = 1.96

Category = Literal["recovered", "improved", "unchanged", "deteriorated"]


@dataclass(frozen=True)
class ReliableChange:
    """The reliable change between two administrations of one scale.

    Attributes
    ----------
    instrument, scale
        The instrument and the scale compared (``"total"`` or a subscale).
    before, after, change
        The two scores and ``after - before``.
    se, s_diff
        Standard error of measurement and of the difference (NaN with
        ``method="published-points"``).
    rci
        The reliable change index ``change / s_diff`` (NaN with published points).
    reliable
        ``|rci| > 1.96``, or ``|change| >= threshold`` with published points.
    threshold
        The change in points that is reliable (``1.96 * s_diff``, or the published
        criterion).
    direction
        ``"better"``, ``"worse"`` or ``"none"``, using ``higher_is_better``.
    category
        ``"recovered"``, ``"improved"``, ``"unchanged"`` or ``"deteriorated"``.
    cutoff
        The cutoff used for recovery (``None`` for subscales or without a cutoff).
    method
        ``"jacobson-truax"`` (reliability and SD) or ``"published-points"`` (a
        criterion in points published for the instrument).
    """

    instrument: str
    scale: str
    before: float
    after: float
    change: float
    se: float
    s_diff: float
    rci: float
    reliable: bool
    threshold: float
    direction: Literal["better", "worse", "none"]
    category: Category
    cutoff: float | None
    method: Literal["jacobson-truax", "published-points"] = "jacobson-truax"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN becomes ``None``)."""
        out: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            out[k] = None if isinstance(v, float) and not math.isfinite(v) else v
        return out

    def summary(self) -> pd.DataFrame:
        """A one-column table, for reading."""
        return pd.DataFrame({self.instrument: pd.Series(self.to_dict(), dtype=object)})


def _value(spec: InstrumentSpec, x: Any, scale: str, which: str) -> float:
    if isinstance(x, Score):
        if x.instrument != spec.id:
            raise InputError(
                field=which, value=x.instrument, allowed=f"a score of {spec.id}", context=spec.id
            )
        v = x.total if scale == "total" else x.subscales[scale]
    elif isinstance(x, Mapping):
        s = score(spec, x)
        v = s.total if scale == "total" else s.subscales[scale]
    elif isinstance(x, int | float) and not isinstance(x, bool):
        v = float(x)
    else:
        raise InputError(
            field=which, value=x,
            allowed="a Score, a mapping of item responses, or a number", context=spec.id,
        )
    lo, hi = spec.range if scale == "total" else spec.subscale_range(scale)
    if not (math.isfinite(v) and lo - 1e-9 <= v <= hi + 1e-9):
        raise InputError(
            field=which, value=v, allowed=f"a {scale} score from {lo:g} to {hi:g}",
            context=spec.id,
        )
    return v


def reliable_change(
    spec: InstrumentSpec | str,
    *,
    before: Score | Mapping[Any, float | None] | float,
    after: Score | Mapping[Any, float | None] | float,
    scale: str = "total",
    norms: ScaleNorms | None = None,
) -> ReliableChange:
    """Jacobson–Truax reliable change between two administrations.

    Parameters
    ----------
    spec
        The instrument (a spec or its id).
    before, after
        Each a :class:`Score`, a mapping of item responses (scored here), or a number
        on the scale.
    scale
        ``"total"`` or a subscale name.
    norms
        Override the spec's norms (reliability and SD) for this comparison.

    Raises
    ------
    InputError
        For an unknown scale, a scale without norms, or a score outside the range.
    """
    spec = _spec(spec)
    norms = _norms(spec, scale, norms)
    x1 = _value(spec, before, scale, "before")
    x2 = _value(spec, after, scale, "after")
    core = _core(spec, np.array([x1]), np.array([x2]), scale, norms)
    return ReliableChange(
        instrument=spec.id,
        scale=scale,
        before=x1,
        after=x2,
        change=float(core["change"][0]),
        se=core["se"],
        s_diff=core["s_diff"],
        rci=float(core["rci"][0]),
        reliable=bool(core["reliable"][0]),
        threshold=core["threshold"],
        direction=core["direction"][0],
        category=core["category"][0],
        cutoff=core["cutoff"],
        method=core["method"],
    )


def reliable_change_frame(
    spec: InstrumentSpec | str,
    *,
    before: Any,
    after: Any,
    scale: str = "total",
    norms: ScaleNorms | None = None,
) -> pd.DataFrame:
    """Reliable change for many pairs of scores at once (same rules as
    :func:`reliable_change`, which is this computation on one pair).

    Parameters
    ----------
    spec
        The instrument (a spec or its id).
    before, after
        Equal-length array-likes of scores on ``scale`` (NaN allowed: the row's result
        is NaN / None).
    scale, norms
        As in :func:`reliable_change`.

    Returns
    -------
    pandas.DataFrame
        ``before, after, change, rci, reliable, direction, category`` per pair, indexed
        like ``before`` when it is a Series; ``threshold``, ``se``, ``s_diff``,
        ``cutoff`` and ``method`` are in ``DataFrame.attrs``.
    """
    spec = _spec(spec)
    norms = _norms(spec, scale, norms)
    index = before.index if isinstance(before, pd.Series) else None
    try:
        x1 = np.asarray(before, dtype=float).reshape(-1)
        x2 = np.asarray(after, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(
            field="before/after", value=type(before).__name__,
            allowed="numeric array-likes of scores", context=spec.id,
        ) from exc
    if x1.shape != x2.shape:
        raise InputError(
            field="after", value=f"{x2.size} values",
            allowed=f"as many values as before ({x1.size})", context=spec.id,
        )
    lo, hi = spec.range if scale == "total" else spec.subscale_range(scale)
    for name, x in (("before", x1), ("after", x2)):
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(x) & ((x < lo - 1e-9) | (x > hi + 1e-9) | ~np.isfinite(x))
        if bad.any():
            r = int(np.argmax(bad))
            raise InputError(
                field=name, value=float(x[r]), allowed=f"a {scale} score from {lo:g} to {hi:g}",
                context=f"{spec.id}, row {r}",
            )
    core = _core(spec, x1, x2, scale, norms)
    out = pd.DataFrame(
        {
            "before": x1,
            "after": x2,
            "change": core["change"],
            "rci": core["rci"],
            "reliable": pd.array(core["reliable"], dtype="boolean"),
            "direction": core["direction"],
            "category": core["category"],
        },
        index=index,
    )
    valid = ~(np.isnan(x1) | np.isnan(x2))
    out.loc[~valid, "reliable"] = pd.NA
    out.attrs.update(
        {k: core[k] for k in ("threshold", "se", "s_diff", "cutoff", "method")}
        | {"instrument": spec.id, "scale": scale}
    )
    return out


def _norms(spec: InstrumentSpec, scale: str, norms: ScaleNorms | None) -> ScaleNorms:
    if scale != "total" and scale not in spec.subscales:
        raise InputError(
            field="scale",
            value=scale,
            allowed=f"'total' or one of {sorted(spec.subscales)}" if spec.subscales
            else "'total'",
            context=spec.id,
        )
    if norms is None and spec.norms is not None:
        norms = spec.norms if scale == "total" else spec.norms.subscales.get(scale)
    if norms is None:
        raise InputError(
            field="norms",
            value=None,
            allowed=f"published reliability and SD for the {scale} scale "
            "(pass norms=ScaleNorms(...))",
            context=spec.id,
        )
    return norms


def _core(
    spec: InstrumentSpec, x1: np.ndarray, x2: np.ndarray, scale: str, norms: ScaleNorms
) -> dict[str, Any]:
    """The Jacobson–Truax arithmetic and categories on arrays (NaN in, None out)."""
    change = x2 - x1
    if norms.reliability is not None and norms.sd is not None:
        method = "jacobson-truax"
        se = norms.sd * math.sqrt(1.0 - norms.reliability)
        s_diff = math.sqrt(2.0 * se**2)
        rci = change / s_diff
        with np.errstate(invalid="ignore"):
            reliable = np.abs(rci) > Z_RELIABLE
        threshold = Z_RELIABLE * s_diff
    else:
        # Only a published criterion in points: a change of at least that many points.
        method = "published-points"
        se = s_diff = math.nan
        rci = np.full(change.shape, math.nan)
        threshold = float(norms.change_points)  # type: ignore[arg-type]
        with np.errstate(invalid="ignore"):
            reliable = np.abs(change) >= threshold - 1e-9
    valid = ~np.isnan(change)
    better = (change > 0) if spec.higher_is_better else (change < 0)
    direction = np.where(change == 0, "none", np.where(better, "better", "worse")).astype(object)
    cutoff = spec.cutoff if scale == "total" else None
    if cutoff is not None:
        crossed = _clinical(spec, x1, cutoff) & ~_clinical(spec, x2, cutoff)
    else:
        crossed = np.zeros(change.shape, dtype=bool)
    category = np.select(
        [~reliable, direction == "worse", crossed],
        ["unchanged", "deteriorated", "recovered"],
        default="improved",
    ).astype(object)
    direction[~valid] = None
    category[~valid] = None
    return {
        "change": change, "rci": rci, "reliable": reliable & valid, "direction": direction,
        "category": category, "se": se, "s_diff": s_diff, "threshold": threshold,
        "cutoff": cutoff, "method": method,
    }


def _clinical(spec: InstrumentSpec, x: np.ndarray, cutoff: float) -> np.ndarray:
    above = x >= cutoff - 1e-9
    return ~above if spec.higher_is_better else above
