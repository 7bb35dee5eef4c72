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
for an open one. Overlap is transitive (connected spans are one event).

The merged event keeps the session of its first per-scale start, and that never
changes as sessions arrive: spans only ever start at the latest session, and an end
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

    ``lead`` indexes the input rows: the first event of the *lead scale*, the first of
    the watched scales that moved (the total, when it moved). The evidence (observed,
    baseline, threshold, lowest, depth) is the lead scale's; ``start`` is the event's
    (the earliest of any scale); ``scales`` maps every scale that moved to its depth.
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
    """
    n = int(start.size)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        e = np.zeros(0)
        o = np.zeros(0, dtype=object)
        return MergedEvents(z, e, e, z, e, e, e, e, o, o, z)
    start = np.asarray(start, dtype=float)
    end = np.asarray(end, dtype=float)
    order = np.lexsort((rank, start, series))
    s, st, en = series[order], start[order], end[order]
    # Running maximum of the end inside each series, without a loop over series: put
    # each series on its own stretch of the number line (sessions are small whole
    # numbers, so the sums are exact in float64).
    finite = np.concatenate((st, en[np.isfinite(en)]))
    span = float(finite.max() - min(finite.min(), 0.0)) + 2.0
    lo = min(float(st.min()), 0.0)
    base = s.astype(float) * span
    key_end = base + np.where(np.isfinite(en), en - lo, span - 1.0)
    run = np.maximum.accumulate(key_end)
    prev = np.concatenate(([-np.inf], run[:-1]))
    new = np.ones(n, dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (base[1:] + st[1:] - lo >= prev[1:])
    first = np.flatnonzero(new)
    cluster = np.cumsum(new) - 1

    pr = _PRIORITY[state[order]]
    merged_state = _FROM_PRIORITY[np.maximum.reduceat(pr, first)]
    merged_session = np.maximum.reduceat(np.asarray(session, dtype=float)[order], first)
    rep = np.asarray(repaired_at, dtype=float)[order]
    last_repair = np.maximum.reduceat(np.where(np.isnan(rep), -np.inf, rep), first)
    merged_repaired = np.where(merged_state == STATE_REPAIRED, last_repair, np.nan)

    # Per (event, scale) pair: the baseline of the scale's first event and the lowest
    # score (the earliest on a tie), hence the depth of that scale.
    rk = rank[order]
    low_s = np.asarray(lowest_score, dtype=float)[order]
    low_t = np.asarray(lowest, dtype=float)[order]
    o2 = np.lexsort((low_t, low_s, rk, cluster))
    c2, r2 = cluster[o2], rk[o2]
    head = np.ones(n, dtype=bool)
    head[1:] = (c2[1:] != c2[:-1]) | (r2[1:] != r2[:-1])
    o3 = np.lexsort((st, rk, cluster))  # the same pairs, each led by its first event
    c3, r3 = cluster[o3], rk[o3]
    h3 = np.ones(n, dtype=bool)
    h3[1:] = (c3[1:] != c3[:-1]) | (r3[1:] != r3[:-1])
    pair_first = o3[h3]  # row (in sorted order) of each pair's first event
    pair_c, pair_r = c2[head], r2[head]
    pair_low, pair_low_t = low_s[o2][head], low_t[o2][head]
    pair_depth = np.asarray(baseline, dtype=float)[order][pair_first] - pair_low
    # The lead scale is the event's first scale in the watched order (the total when
    # it moved): its pair comes first in each event.
    bounds = np.flatnonzero(np.concatenate(([True], pair_c[1:] != pair_c[:-1])))
    top = bounds
    lead = order[pair_first[top]]
    n_ev = first.size
    scale_txt = np.empty(n_ev, dtype=object)
    scales = np.empty(n_ev, dtype=object)
    # Dicts and labels per event: a Python pass over (event, scale) pairs, which are
    # few (at most the watched scales per event).
    stops = np.append(bounds, pair_c.size)
    nm = [str(x) for x in names]
    pr_list = pair_r.tolist()
    pd_list = pair_depth.tolist()
    for i in range(n_ev):
        a, b = int(stops[i]), int(stops[i + 1])
        labels = [nm[r] for r in pr_list[a:b]]
        scale_txt[i] = labels[0]
        scales[i] = dict(zip(labels, pd_list[a:b], strict=True))
    counts = np.diff(np.append(first, n))
    return MergedEvents(
        lead=lead,
        start=st[first],
        session=merged_session,
        state=merged_state,
        lowest=pair_low_t[top],
        lowest_score=pair_low[top],
        depth=pair_depth[top],
        repaired_at=merged_repaired,
        scale=scale_txt,
        scales=scales,
        n_merged=counts,
    )

