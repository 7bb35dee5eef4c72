"""The vectorised core shared by every rupture rule.

Everything here works on *grouped* arrays: many series laid end to end, sorted by
group and then by session number, with missing sessions already dropped. One series
is simply one group, so :func:`bordin.monitor.detect_ruptures`, the batch
:func:`bordin.monitor.monitor_frame` and the incremental
:class:`bordin.monitor.EpisodeMonitor` share the same arithmetic (the running sums
are accumulated in the same order, so the three agree to the last bit).

Event assembly loops over the *ordinal* of the event (first event of every group,
then the second, ...) and over the sessions of the repair window, never over groups,
so a clinic of 100k episodes costs a handful of numpy passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Grouped", "RawEvents", "assemble", "running_stats", "series_stats"]

STATE_OPEN, STATE_REPAIRED, STATE_UNREPAIRED = 0, 1, 2
STATE_NAMES = ("open", "repaired", "unrepaired")


@dataclass(frozen=True)
class Grouped:
    """Series laid end to end: ``grp`` codes 0..n_groups-1, sorted by (grp, sess)."""

    grp: np.ndarray
    sess: np.ndarray
    val: np.ndarray
    starts: np.ndarray  # first row of each group
    ends: np.ndarray  # one past the last row of each group

    @property
    def n_groups(self) -> int:
        return int(self.starts.size)

    @property
    def pos(self) -> np.ndarray:
        """Position of each row inside its group (0 for the first observed session)."""
        return np.arange(self.grp.size) - self.starts[self.grp]

    @classmethod
    def single(cls, sess: np.ndarray, val: np.ndarray) -> Grouped:
        n = sess.size
        return cls(grp=np.zeros(n, dtype=np.int64), sess=sess, val=val,
                   starts=np.array([0], dtype=np.int64), ends=np.array([n], dtype=np.int64))

    @classmethod
    def from_codes(cls, grp: np.ndarray, sess: np.ndarray, val: np.ndarray) -> Grouped:
        """From group codes already sorted by (grp, sess) and numbered 0..G-1 densely."""
        n = grp.size
        if n == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(grp=empty, sess=sess, val=val, starts=empty, ends=empty)
        change = np.flatnonzero(np.diff(grp)) + 1
        starts = np.concatenate(([0], change)).astype(np.int64)
        ends = np.concatenate((change, [n])).astype(np.int64)
        return cls(grp=grp.astype(np.int64), sess=sess, val=val, starts=starts, ends=ends)


def _group_cumsum(g: Grouped, x: np.ndarray) -> np.ndarray:
    """Running sum inside each group, added strictly in order.

    Written by hand rather than with pandas' grouped cumsum, which compensates
    (Kahan) and so differs in the last bits from a plain running sum: the incremental
    monitor adds one score at a time, and the two must agree exactly. The loop runs
    over the position in the series (a few dozen), vectorised over every group.
    """
    if g.n_groups <= 1:
        return np.cumsum(x, dtype=float)  # numpy accumulates strictly in order
    out = x.astype(float, copy=True)
    starts = g.starts
    lens = g.ends - g.starts
    for k in range(1, int(lens.max())):
        keep = lens > k
        starts, lens = starts[keep], lens[keep]
        idx = starts + k
        out[idx] = out[idx - 1] + x[idx]
    return out


def running_stats(g: Grouped) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and SD (ddof 1) of the *previous* sessions of each row's series.

    The mean is NaN with no previous session; the SD is NaN with fewer than two.
    """
    n = g.pos.astype(float)
    cs = _group_cumsum(g, g.val)
    cq = _group_cumsum(g, g.val * g.val)
    s = np.concatenate(([0.0], cs[:-1])) if cs.size else cs
    q = np.concatenate(([0.0], cq[:-1])) if cq.size else cq
    s[g.starts] = 0.0
    q[g.starts] = 0.0
    return n, *moments(n, s, q)


def moments(n: np.ndarray, s: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD (ddof 1) from count, sum and sum of squares (same formula everywhere)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        var = np.where(n > 1, (q - s * s / n) / (n - 1), np.nan)
    var = np.where(var < 0, 0.0, var)
    return mean, np.sqrt(var)


def series_stats(g: Grouped) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and SD of each row's *whole* series (the retrospective reference)."""
    n = (g.ends - g.starts).astype(float)
    cs = _group_cumsum(g, g.val)
    cq = _group_cumsum(g, g.val * g.val)
    s = cs[g.ends - 1] if cs.size else cs
    q = cq[g.ends - 1] if cq.size else cq
    mean, sd = moments(n, s, q)
    return n[g.grp], mean[g.grp], sd[g.grp]


@dataclass(frozen=True)
class RawEvents:
    """Events as parallel arrays of row indices into the grouped arrays."""

    grp: np.ndarray
    start: np.ndarray
    lowest: np.ndarray
    repaired: np.ndarray  # row index, -1 when not repaired
    state: np.ndarray
    last_row: np.ndarray  # last row looked at for the event (for the evidence)

    @classmethod
    def empty(cls) -> RawEvents:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z, z, z)


def assemble(
    g: Grouped,
    *,
    flag: np.ndarray,
    target: np.ndarray,
    window: int,
) -> RawEvents:
    """Turn flagged sessions into rupture events with a state.

    An event starts at the first flagged session from which a new event may start (at
    first, any). Its repair target is frozen at the start. The event is *repaired* at
    the first later session, at most ``window`` session numbers after the start, whose
    score reaches the target; *unrepaired* when the series has reached ``start +
    window`` without that; *open* otherwise. After a repair a new event may start at
    the next session; after an unrepaired event, once the window has passed; an open
    event is the last one.
    """
    if g.grp.size == 0 or not flag.any():
        return RawEvents.empty()
    sess, val = g.sess, g.val
    cursor = np.full(g.n_groups, -np.inf)
    last_sess = sess[g.ends - 1]
    out: list[tuple[np.ndarray, ...]] = []
    cand = np.flatnonzero(flag)
    while cand.size:
        cand = cand[sess[cand] >= cursor[g.grp[cand]]]
        if not cand.size:
            break
        cg = g.grp[cand]
        first = np.concatenate(([True], cg[1:] != cg[:-1]))
        st = cand[first]
        sg = cg[first]
        tgt = target[st]
        horizon = sess[st] + window
        end = g.ends[sg]
        repaired = np.full(st.size, -1, dtype=np.int64)
        lowest = st.copy()
        last_row = st.copy()
        live = np.ones(st.size, dtype=bool)
        # Sessions are unique whole numbers, so at most `window` rows follow inside
        # the window: loop over the offset, vectorised over every event at once.
        for j in range(1, window + 1):
            idx = st + j
            ok = live & (idx < end)
            ok[ok] &= sess[idx[ok]] <= horizon[ok]
            if not ok.any():
                break
            rows = idx[ok]
            hit = val[rows] >= tgt[ok]
            okw = np.flatnonzero(ok)
            repaired[okw[hit]] = rows[hit]
            live[okw[hit]] = False
            miss = okw[~hit]
            rows_miss = rows[~hit]
            lower = val[rows_miss] < val[lowest[miss]]
            lowest[miss[lower]] = rows_miss[lower]
            last_row[miss] = rows_miss
            live[okw] &= ~hit
        state = np.where(
            repaired >= 0, STATE_REPAIRED,
            np.where(last_sess[sg] >= horizon, STATE_UNREPAIRED, STATE_OPEN),
        )
        out.append((sg, st, lowest, repaired, state, last_row))
        cursor[sg] = np.where(
            state == STATE_REPAIRED, sess[np.maximum(repaired, 0)] + 1,
            np.where(state == STATE_UNREPAIRED, horizon + 1, np.inf),
        )
        cand = cand[~first]
    if not out:
        return RawEvents.empty()
    cols = [np.concatenate(c) for c in zip(*out, strict=True)]
    order = np.lexsort((cols[1], cols[0]))
    return RawEvents(*(c[order] for c in cols))


def recovery(g: Grouped, raw: RawEvents, target: np.ndarray) -> np.ndarray:
    """Per event: the row at which an *unrepaired* event's series came back to its
    repair target after the window (-1: not yet, or the event is not unrepaired).

    An unrepaired rupture goes on until then: a new event of the same series that
    starts before it is the same rupture, still going, not a new one (see
    :func:`bordin.monitor._events.merge_events`). The loop runs over the position after
    the window (a few dozen at most), vectorised over every event, as in
    :func:`assemble`.
    """
    out = np.full(raw.start.size, -1, dtype=np.int64)
    todo = np.flatnonzero(raw.state == STATE_UNREPAIRED)
    if not todo.size:
        return out
    tgt = target[raw.start[todo]]
    row = raw.last_row[todo] + 1
    end = g.ends[raw.grp[todo]]
    while todo.size:
        ok = row < end
        todo, tgt, row, end = todo[ok], tgt[ok], row[ok], end[ok]
        if not todo.size:
            break
        hit = g.val[row] >= tgt
        out[todo[hit]] = row[hit]
        todo, tgt, row, end = todo[~hit], tgt[~hit], row[~hit] + 1, end[~hit]
    return out
