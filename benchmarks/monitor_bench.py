"""Benchmark: batch monitoring of a large clinic, and one incremental update.

Targets (issue 7): 100k episodes / 1M administrations in under 30 s on two cores; one
incremental update in under 10 ms.

There is no outside tool that detects rupture-repair sequences, so the reference is
the obvious pure-Python way of doing the same thing: a loop over every series calling
:func:`bordin.monitor.detect_ruptures` (and one reliable-change call per episode). It
runs on a sample of episodes and is scaled up to the whole clinic; the ratio printed
is reference time / batch time.

Run:  .venv/bin/python benchmarks/monitor_bench.py [--episodes 100000]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from monitor_data import big_clinic

from bordin.monitor import EpisodeMonitor, detect_ruptures, monitor_frame
from bordin.monitor.batch import DEFAULT_WATCHES


def reference_loop(adm: pd.DataFrame) -> int:
    """Per-series Python loop: the default rupture rule (combined, k=1) on every scale,
    series by series (the batch runs it on the subscales too, as evidence)."""
    from bordin.instruments import reliable_change

    n = 0
    alliance = adm.loc[adm["instrument"].isin(["wai_sr", "wai_sr_t"])]
    long = alliance.melt(id_vars=["episode", "instrument", "rater", "session"],
                         value_vars=["total", "goal", "task", "bond"], var_name="scale")
    for (_e, _i, _r, _s), g in long.groupby(["episode", "instrument", "rater", "scale"]):
        s = pd.Series(g["value"].to_numpy(), index=g["session"].to_numpy())
        n += len(detect_ruptures(s, "combined", k=1.0, population_sd=2.0))
    phq = adm.loc[adm["instrument"] == "phq9"].sort_values(["episode", "session"])
    for _e, g in phq.groupby("episode"):
        if len(g) > 1:
            reliable_change("phq9", before=float(g["total"].iloc[0]),
                            after=float(g["total"].iloc[-1]))
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=100_000)
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--sample", type=int, default=1_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    adm = big_clinic(args.episodes, sessions=args.sessions, seed=1)
    print(f"data: {adm['episode'].nunique():,} episodes, {len(adm):,} administrations "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    monitor_frame(adm.iloc[:200])  # load the instrument specs once, outside the timing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        alerts = monitor_frame(adm)
        t_batch, c_batch = time.perf_counter() - t0, time.process_time() - c0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"batch monitor_frame: {t_batch:.2f} s wall, {c_batch:.2f} s CPU (load average "
          f"{load:.1f} on {os.cpu_count()} cores), {len(alerts):,} alerts "
          f"({', '.join(f'{k} {v:,}' for k, v in alerts['kind'].value_counts().items())})")

    tracemalloc.start()
    monitor_frame(adm)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"batch peak memory (tracemalloc, second run): {peak / 2**20:.0f} MiB")

    eps = adm["episode"].drop_duplicates().sample(args.sample, random_state=0)
    sub = adm.loc[adm["episode"].isin(eps)]
    t0 = time.perf_counter()
    reference_loop(sub)
    t_ref = (time.perf_counter() - t0) * adm["episode"].nunique() / args.sample
    print(f"reference per-series Python loop (the default rule + reliable change), scaled "
          f"from {args.sample:,} episodes: {t_ref:.1f} s; ratio reference/batch = "
          f"{t_ref / t_batch:.1f}x (the batch also merges rupture events and runs ceiling, "
          "discrepancy, not-on-track and risk)")

    # One incremental update: a monitor holding 20 sessions gets session 21.
    rng = np.random.default_rng(0)
    base = EpisodeMonitor(episode="e", rules=[w for w in DEFAULT_WATCHES],
                          population_sd=2.0, discrepancy_threshold=3.0)
    for s in range(1, 21):
        parts = rng.integers(12, 18, size=3)
        base.add(session=s, instrument="wai_sr",
                 scores={"total": float(parts.sum()), "goal": float(parts[0]),
                         "task": float(parts[1]), "bond": float(parts[2])})
        base.add(session=s, instrument="phq9", scores={"total": float(20 - s // 2)},
                 items={"9": 0})
    times_w, times_p = [], []
    for _ in range(200):
        m = copy.deepcopy(base)
        t0 = time.perf_counter()
        m.add(session=21, instrument="wai_sr",
              scores={"total": 30.0, "goal": 10.0, "task": 10.0, "bond": 10.0})
        times_w.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        m.add(session=21, instrument="phq9", scores={"total": 19.0}, items={"9": 1})
        times_p.append(time.perf_counter() - t0)
    print(f"incremental update (WAI-SR, 4 scales, all rules): median "
          f"{statistics.median(times_w) * 1e3:.2f} ms, max {max(times_w) * 1e3:.2f} ms")
    print(f"incremental update (PHQ-9 with a risk item): median "
          f"{statistics.median(times_p) * 1e3:.2f} ms, max {max(times_p) * 1e3:.2f} ms")
    print(f"targets: batch < 30 s -> {'met' if t_batch < 30 else 'NOT met'}; incremental "
          f"< 10 ms -> {'met' if statistics.median(times_w) < 0.01 else 'NOT met'}")


if __name__ == "__main__":
    main()
