"""One alert per rupture *event*: the per-scale events of one series merged.

A rule runs on every watched scale of a rating (the total and the goal, task and bond
subscales) as its own series, so one fall of the alliance is found up to four times,
once per scale, and an alliance that stays low after an unrepaired rupture is found
again each time the rule may start a new event. Clinically these are one rupture.

:func:`merge_events` groups the per-scale events of one *series* (episode, instrument,
rater, target and rule) into events: two per-scale events belong to the same rupture
when their spans overlap, a span being ``[start, end)`` with ``end`` the session of
the repair for a repaired event, the session at which the scale came back to its repair
target after the window for an unrepaired one (never, so far: infinite), and infinite
for an open one. Overlap is transitive (connected spans are one event). When only
some scales raise alerts (``Watch.triggers``, the total by default), only their events
make events and decide the span, start and state; an event of another scale that
overlaps one joins it as evidence (its scale is named, its depth given) and changes
nothing else, so a subscale that never recovers cannot hold an alert open.

The merged event keeps the session of its first (trigger) per-scale start, and that
never changes as sessions arrive: spans only ever start at the latest session, and an end
becomes known only after every session that overlapped it, so events only grow and
two events never merge later. Dedupe keys built on the start are therefore stable
(for the running rules; a ``reference="series"`` rule sees the future and is not).

The batch (:func:`bordin.monitor.monitor_frame`) and the incremental
:class:`bordin.monitor.EpisodeMonitor` both call :func:`merge_events`, so they agree
to the last bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bordin.monitor._engine import STATE_OPEN, STATE_REPAIRED, STATE_UNREPAIRED

__all__ = ["MergedEvents", "merge_events", "scale_label"]

# State of a merged event: unrepaired if any scale went unrepaired, else open if any is
# still open, else repaired (every scale came back).
_PRIORITY = np.zeros(3, dtype=np.int64)
_PRIORITY[[STATE_REPAIRED, STATE_OPEN, STATE_UNREPAIRED]] = [0, 1, 2]
_FROM_PRIORITY = np.array([STATE_REPAIRED, STATE_OPEN, STATE_UNREPAIRED], dtype=np.int64)


def scale_label(scales: Any) -> str:
    """The scales that moved, as :func:`bordin.monitor.feedback.route` takes them
    (``"total+goal+bond"``), from an alert's ``scales`` mapping."""
    return "+".join(str(k) for k in scales)


@dataclass(frozen=True)
class MergedEvents:
    """Merged events as parallel arrays, one entry per event.

    ``lead`` indexes the input rows: the first event of the *lead scale*, the first
    trigger scale in the watched order that moved (the total, when it did). The
    evidence (observed, baseline, threshold, lowest, depth) is the lead scale's;
    ``start``, ``session``, ``state`` and ``repaired_at`` are the trigger scales';
    ``scales`` maps every scale that moved (evidence scales too) to its depth.
    """

    lead: np.ndarray
    start: np.ndarray
    session: np.ndarray
    state: np.ndarray
    lowest: np.ndarray
    lowest_score: np.ndarray
    depth: np.ndarray
    repaired_at: np.ndarray
    scale: np.ndarray  # object: the lead scale
    scales: np.ndarray  # object: {"total": depth, "goal": depth}
    n_merged: np.ndarray  # per-scale events in the event


def _on_line(series: np.ndarray, x: np.ndarray, span: float, lo: float) -> np.ndarray:
    """Series and session as one number: each series on its own stretch of the line
    (sessions are small whole numbers, so the sums are exact in float64); inf (an end
    not yet known) at the end of the stretch."""
    return series.astype(float) * span + np.where(np.isfinite(x), x - lo, span - 1.0)


def merge_events(
    *,
    series: np.ndarray,
    rank: np.ndarray,
    names: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    session: np.ndarray,
    state: np.ndarray,
    baseline: np.ndarray,
    lowest: np.ndarray,
    lowest_score: np.ndarray,
    repaired_at: np.ndarray,
    trigger: np.ndarray | None = None,
) -> MergedEvents:
    """Merge per-scale rupture events into events (see the module notes).

    Parameters
    ----------
    series
        Per row, an integer code of (episode, instrument, rater, target, rule).
    rank, names
        Per row, the scale's position in the watched order, and ``names[rank]`` its name.
    start, end
        Per row, the span ``[start, end)`` in session numbers (``end`` may be inf).
    session, state, baseline, lowest, lowest_score, repaired_at
        Per row, the per-scale event's evidence (``state`` as engine codes).
    trigger
        Per row, whether its scale raises alerts (None: every scale). Only trigger
        rows make events, and decide their span, start and state; a row of another
        scale is evidence: it joins the first event of its series whose span overlaps
        its own, and is dropped when none does.
    """
    n = int(start.size)
    trig_all = np.ones(n, dtype=bool) if trigger is None else np.asarray(trigger, dtype=bool)
    if not trig_all.any():
        z = np.zeros(0, dtype=np.int64)
        e = np.zeros(0)
        o = np.zeros(0, dtype=object)
        return MergedEvents(z, e, e, z, e, e, e, e, o, o, z)
    series = np.asarray(series, dtype=np.int64)
    start = np.asarray(start, dtype=float)
    end = np.asarray(end, dtype=float)
    finite = np.concatenate((start, end[np.isfinite(end)]))
    lo = min(float(finite.min()), 0.0)
    span = float(finite.max() - lo) + 2.0

    # Events: connected spans of the trigger rows, series by series.
    t_rows = np.flatnonzero(trig_all)
    order = t_rows[np.lexsort((rank[t_rows], start[t_rows], series[t_rows]))]
    s, st = series[order], start[order]
    run = np.maximum.accumulate(_on_line(s, end[order], span, lo))
    new = np.ones(order.size, dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (_on_line(s[1:], st[1:], span, lo) >= run[:-1])
    first = np.flatnonzero(new)
    ev_of = np.cumsum(new) - 1
    n_ev = first.size
    ev_start, ev_series = st[first], s[first]
    ev_end = np.maximum.reduceat(_on_line(s, end[order], span, lo), first)

    merged_state = _FROM_PRIORITY[np.maximum.reduceat(_PRIORITY[state[order]], first)]
    merged_session = np.maximum.reduceat(np.asarray(session, dtype=float)[order], first)
    rep = np.asarray(repaired_at, dtype=float)[order]
    last_repair = np.maximum.reduceat(np.where(np.isnan(rep), -np.inf, rep), first)
    merged_repaired = np.where(merged_state == STATE_REPAIRED, last_repair, np.nan)

    # Evidence rows: the first event of their series whose span overlaps theirs (events
    # of a series are disjoint and in order, so the first whose end is after the row's
    # start, if it also starts before the row's end).
    e_rows = np.flatnonzero(~trig_all)
    member_rows = order
    member_ev = ev_of
    if e_rows.size:
        k = np.searchsorted(ev_end, _on_line(series[e_rows], start[e_rows], span, lo),
                            side="right")
        ok = k < n_ev
        kk = np.minimum(k, n_ev - 1)
        ok &= ev_series[kk] == series[e_rows]
        ok &= ev_start[kk] < np.where(np.isfinite(end[e_rows]), end[e_rows], np.inf)
        member_rows = np.concatenate((order, e_rows[ok]))
        member_ev = np.concatenate((ev_of, kk[ok]))

    # Per (event, scale) pair: the baseline of the scale's first event in the event and
    # its lowest score (the earliest on a tie), hence the depth of that scale.
    rk = rank[member_rows]
    low_s = np.asarray(lowest_score, dtype=float)[member_rows]
    low_t = np.asarray(lowest, dtype=float)[member_rows]
    o2 = np.lexsort((low_t, low_s, rk, member_ev))
    c2, r2 = member_ev[o2], rk[o2]
    head = np.ones(o2.size, dtype=bool)
    head[1:] = (c2[1:] != c2[:-1]) | (r2[1:] != r2[:-1])
    o3 = np.lexsort((start[member_rows], rk, member_ev))  # the same pairs, first event first
    pair_first = member_rows[o3[head]]  # input row of each pair's first event
    pair_c, pair_r = c2[head], r2[head]
    pair_low, pair_low_t = low_s[o2][head], low_t[o2][head]
    pair_depth = np.asarray(baseline, dtype=float)[pair_first] - pair_low
    # The lead pair: the event's first trigger scale in the watched order.
    bounds = np.flatnonzero(np.concatenate(([True], pair_c[1:] != pair_c[:-1])))
    idx = np.where(trig_all[pair_first], np.arange(pair_c.size), pair_c.size)
    top = np.minimum.reduceat(idx, bounds)
    lead = pair_first[top]
    # Dicts per event: a Python pass over (event, scale) pairs, which are few (at most
    # the watched scales per event).
    scales = np.empty(n_ev, dtype=object)
    stops = np.append(bounds, pair_c.size).tolist()
    nm = [str(x) for x in names]
    labels = [nm[r] for r in pair_r.tolist()]
    depths = pair_depth.tolist()
    for i in range(n_ev):
        a, b = stops[i], stops[i + 1]
        scales[i] = dict(zip(labels[a:b], depths[a:b], strict=True))
    scale_txt = np.asarray([labels[t] for t in top.tolist()], dtype=object)
    return MergedEvents(
        lead=lead,
        start=ev_start,
        session=merged_session,
        state=merged_state,
        lowest=pair_low_t[top],
        lowest_score=pair_low[top],
        depth=pair_depth[top],
        repaired_at=merged_repaired,
        scale=scale_txt,
        scales=scales,
        n_merged=np.bincount(member_ev, minlength=n_ev),
    )
