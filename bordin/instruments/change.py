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

import pandas as pd

from bordin.errors import InputError
from bordin.instruments.scoring import Score, _spec, score
from bordin.instruments.spec import InstrumentSpec, ScaleNorms

__all__ = ["Z_RELIABLE", "ReliableChange", "reliable_change"]

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
    if scale != "total" and scale not in spec.subscales:
        raise InputError(
            field="scale", value=scale,
            allowed=f"'total' or one of {sorted(spec.subscales)}" if spec.subscales
            else "'total'",
            context=spec.id,
        )
    if norms is None and spec.norms is not None:
        norms = spec.norms if scale == "total" else spec.norms.subscales.get(scale)
    if norms is None:
        raise InputError(
            field="norms", value=None,
            allowed=f"published reliability and SD for the {scale} scale "
            "(pass norms=ScaleNorms(...))",
            context=spec.id,
        )
    x1 = _value(spec, before, scale, "before")
    x2 = _value(spec, after, scale, "after")
    change = x2 - x1
    if norms.reliability is not None and norms.sd is not None:
        method: Literal["jacobson-truax", "published-points"] = "jacobson-truax"
        se = norms.sd * math.sqrt(1.0 - norms.reliability)
        s_diff = math.sqrt(2.0 * se**2)
        rci = change / s_diff
        reliable = abs(rci) > Z_RELIABLE
        threshold = Z_RELIABLE * s_diff
    else:
        # Only a published criterion in points: a change of at least that many points.
        method = "published-points"
        se = s_diff = rci = math.nan
        threshold = float(norms.change_points)  # type: ignore[arg-type]
        reliable = abs(change) >= threshold - 1e-9
    if change == 0:
        direction: Literal["better", "worse", "none"] = "none"
    else:
        better = (change > 0) == spec.higher_is_better
        direction = "better" if better else "worse"
    cutoff = spec.cutoff if scale == "total" else None
    category: Category
    if not reliable:
        category = "unchanged"
    elif direction == "worse":
        category = "deteriorated"
    elif cutoff is not None and _clinical(spec, x1, cutoff) and not _clinical(spec, x2, cutoff):
        category = "recovered"
    else:
        category = "improved"
    return ReliableChange(
        instrument=spec.id, scale=scale, before=x1, after=x2, change=change, se=se,
        s_diff=s_diff, rci=rci, reliable=reliable, threshold=threshold,
        direction=direction, category=category, cutoff=cutoff, method=method,
    )


def _clinical(spec: InstrumentSpec, x: float, cutoff: float) -> bool:
    above = x >= cutoff - 1e-9
    return (not above) if spec.higher_is_better else above
