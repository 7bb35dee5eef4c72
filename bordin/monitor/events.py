"""Rupture events and the list of them that a detection returns."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = ["RuptureEvent", "RuptureEvents"]

State = Literal["open", "repaired", "unrepaired"]


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _session(x: float | None) -> int | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else int(x)


@dataclass(frozen=True)
class RuptureEvent:
    """One rupture: a drop below a rule's threshold and what became of it.

    Attributes
    ----------
    start
        Session number at which the score first fell below the threshold.
    start_score
        The score at ``start``.
    depth
        ``baseline - lowest_score``: how far below the patient's level (or the
        cutoff) the alliance fell, in scale points.
    baseline
        The reference level at ``start`` (running mean, previous score or cutoff).
    threshold
        The level the score had to fall below to start the event.
    lowest, lowest_score
        Session number and score of the lowest point before repair.
    state
        ``"open"`` (the repair window has not passed), ``"repaired"`` or
        ``"unrepaired"`` (the window passed without repair).
    repaired_at
        Session number of the repair, or None.
    rule, params
        The rule's name and the parameters it ran with.
    scale
        ``"total"`` or the subscale (``"goal"``, ``"task"``, ``"bond"``).
    """

    start: int
    start_score: float
    depth: float
    baseline: float
    threshold: float
    lowest: int
    lowest_score: float
    state: State
    repaired_at: int | None
    rule: str
    params: dict[str, Any] = field(hash=False)
    scale: str = "total"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        d = asdict(self)
        for k in ("start_score", "depth", "baseline", "threshold", "lowest_score"):
            d[k] = _num(d[k])
        d["params"] = dict(self.params)
        return d


class RuptureEvents(list[RuptureEvent]):
    """The events one rule found in one series (a list), with what the rule saw.

    Attributes
    ----------
    rule, params, scale
        Which rule ran, with which parameters, on which scale.
    sessions, scores
        The observed series (missed sessions dropped).
    reason
        Why no event *could* be found (too few sessions, no variability), else None.
    ceiling
        True when most scores sit at the scale maximum (``maximum`` was given), so a
        missing event says little: the scale cannot show a drop it cannot measure.
    """

    def __init__(
        self,
        events: list[RuptureEvent],
        *,
        rule: str,
        params: dict[str, Any],
        scale: str,
        sessions: np.ndarray,
        scores: np.ndarray,
        reason: str | None,
        ceiling: bool,
    ) -> None:
        super().__init__(events)
        self.rule = rule
        self.params = params
        self.scale = scale
        self.sessions = sessions
        self.scores = scores
        self.reason = reason
        self.ceiling = ceiling

    def summary(self) -> pd.DataFrame:
        """One row per event."""
        cols = [f for f in RuptureEvent.__dataclass_fields__ if f != "params"]
        return pd.DataFrame([{c: getattr(e, c) for c in cols} for e in self], columns=cols)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: the events and what the rule saw."""
        return {
            "rule": self.rule,
            "params": dict(self.params),
            "scale": self.scale,
            "n_sessions": int(self.sessions.size),
            "reason": self.reason,
            "ceiling": bool(self.ceiling),
            "events": [e.to_dict() for e in self],
        }

    def plot(self, ax: Any = None) -> Any:
        """The series with each event's threshold and its start, lowest and repair."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 3))
        else:
            fig = ax.figure
        ax.plot(self.sessions, self.scores, marker="o", color="0.3", lw=1)
        colours = {"repaired": "tab:green", "unrepaired": "tab:red", "open": "tab:orange"}
        for e in self:
            c = colours[e.state]
            end = e.repaired_at if e.repaired_at is not None else e.lowest
            ax.hlines(e.threshold, e.start - 0.5, end + 0.5, colors=c, linestyles="--")
            ax.axvspan(e.start - 0.5, end + 0.5, color=c, alpha=0.12)
        ax.set_xlabel("session")
        ax.set_ylabel(self.scale)
        ax.set_title(f"{self.rule}: {len(self)} event(s)")
        return fig

    def __repr__(self) -> str:
        extra = f", reason={self.reason!r}" if self.reason else ""
        return f"RuptureEvents(rule={self.rule!r}, n={len(self)}{extra}, {list.__repr__(self)})"
