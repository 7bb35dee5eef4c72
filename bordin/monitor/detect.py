"""``detect_ruptures``: run one rupture rule on one plain series."""

from __future__ import annotations

from typing import Any

import numpy as np

from bordin.errors import InputError
from bordin.monitor import rules as _rules
from bordin.monitor._engine import STATE_NAMES, Grouped, assemble
from bordin.monitor._series import as_series
from bordin.monitor.events import RuptureEvent, RuptureEvents

__all__ = ["ceiling_flag", "detect_ruptures"]


def ceiling_flag(values: np.ndarray, maximum: float | None, share: float) -> bool:
    """Whether at least ``share`` of the observed scores sit at ``maximum``."""
    if maximum is None or values.size == 0:
        return False
    return bool(np.mean(values >= maximum) >= share)


def detect_ruptures(
    scores: Any,
    rule: str | _rules.RuptureRule = "personal_sd",
    *,
    scale: str = "total",
    maximum: float | None = None,
    ceiling_share: float = 0.8,
    **params: Any,
) -> RuptureEvents:
    """Find rupture events in one alliance series with one rule.

    Parameters
    ----------
    scores
        One score per session: a sequence (position ``i`` is session ``i + 1``, None or
        NaN for a missed session) or a pandas Series indexed by session number. Gaps
        are kept: windows count session numbers, not positions.
    rule
        ``"personal_sd"`` (default), ``"combined"``, ``"cutoff"``, ``"drop"``, or a rule
        object from :mod:`bordin.monitor.rules`.
    scale
        Name of the scale the series is (``"total"``, ``"goal"``, ``"task"``,
        ``"bond"``); carried onto the events.
    maximum
        The scale maximum; when given, a series with at least ``ceiling_share`` of its
        scores at the maximum is flagged as at the ceiling.
    **params
        The rule's parameters (``k``, ``min_prior``, ``window``, ``repair_to``,
        ``cutoff``, ``min_drop``, ``population_sd``, ...).

    Returns
    -------
    RuptureEvents
        A list of :class:`RuptureEvent`, with ``reason`` set when the series is too short
        (or too flat) for the rule to judge any session, and ``ceiling``.

    Examples
    --------
    >>> ev = detect_ruptures([50, 52, 51, 50, 41, 51, 52], rule="personal_sd", k=2)
    >>> [(e.start, e.state, e.repaired_at) for e in ev]
    [(5, 'repaired', 6)]
    """
    r = _rules.get(rule, **params)
    if not (isinstance(ceiling_share, int | float) and 0 < ceiling_share <= 1):
        raise InputError(field="ceiling_share", value=ceiling_share,
                         allowed="a number in (0, 1]")
    sess, val = as_series(scores)
    g = Grouped.single(sess, val)
    ceiling = ceiling_flag(val, maximum, ceiling_share)
    common = {"rule": r.name, "params": r.params, "scale": scale, "sessions": sess,
              "scores": val, "ceiling": ceiling}
    if val.size < r.min_sessions:
        reason = (f"too few sessions: {val.size} observed, rule {r.name!r} needs at "
                  f"least {r.min_sessions}")
        return RuptureEvents([], reason=reason, **common)
    flag, base, thr, target = r.quantities(g)
    raw = assemble(g, flag=flag, target=target, window=r.window)
    reason = None
    if raw.start.size == 0 and r.zero_variability(g):
        reason = ("no within-patient variability (SD 0) before any session"
                  + (": the series is at the ceiling" if ceiling else ""))
    events = [
        RuptureEvent(
            start=int(sess[s]), start_score=float(val[s]),
            depth=float(base[s] - val[lo]), baseline=float(base[s]),
            threshold=float(thr[s]), lowest=int(sess[lo]), lowest_score=float(val[lo]),
            state=STATE_NAMES[st],  # type: ignore[arg-type]
            repaired_at=int(sess[rp]) if rp >= 0 else None,
            rule=r.name, params=r.params, scale=scale,
        )
        for s, lo, rp, st in zip(raw.start, raw.lowest, raw.repaired, raw.state, strict=True)
    ]
    return RuptureEvents(events, reason=reason, **common)
