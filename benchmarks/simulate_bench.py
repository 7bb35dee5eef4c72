"""Benchmark: one million simulated sessions with item-level PHQ-9 and WAI-SR responses.

Target: under 10 s on the project's two-core machine. Prints the wall time of
``bordin.simulate.clinic`` (structure, session-by-session course, item
responses, scoring, tables), its peak memory, and — as a reference point — the
time a plain per-episode Python loop over the same latent model needs per
session (measured on a small slice and extrapolated), with the ratio.

Run: ``.venv/bin/python benchmarks/simulate_bench.py [--sessions 1000000]``
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
import tracemalloc

import numpy as np

import bordin.simulate as sim


def _reference_loop(n_episodes: int, seed: int) -> tuple[int, float]:
    """The same latent recursion written the obvious way: one episode, one session at a time."""
    rng = np.random.default_rng(seed)
    p = sim.Parameters()
    t0 = time.perf_counter()
    sessions = 0
    for _ in range(n_episodes):
        planned = 1 + rng.negative_binomial(2.5, 2.5 / (2.5 + 11.0))
        y = rng.normal()
        y1 = y
        base = rng.normal(0, 1.0)
        fluct = rng.normal(0, p.alliance_session_sd)
        for s in range(1, min(planned, p.max_sessions) + 1):
            fluct = p.alliance_ar * fluct + rng.normal(0, 0.26)
            a = base + fluct - p.alliance_growth * math.exp(-(s - 1) / 2) + 0.12 * (y1 - y)
            x = 0.4 * a + rng.normal(0, 0.5)
            adh = 1 / (1 + math.exp(-(0.8 + 0.9 * a + 0.4 * x)))
            rate = min(max(0.05 + 0.015 * a + 0.015 * x + 0.04 * adh, -0.05), 0.5)
            # item responses of one PHQ-9 and one WAI-SR (graded response model)
            for theta, k, m in ((y, 9, 4), (a + 1.7, 12, 5)):
                for _j in range(k):
                    u = rng.random()
                    v = 1.8 * theta + math.log(u / (1 - u))
                    sum(v > 1.8 * t for t in np.linspace(-1.3, 1.3, m - 1))
            y = y - rate * (y + 2.2) + rng.normal(0, 0.22)
            sessions += 1
    return sessions, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also measure peak allocation with tracemalloc (a second run)")
    args = ap.parse_args()

    schedule = (sim.Schedule("phq9", "symptoms", "patient", "none", "all"),
                sim.Schedule("wai_sr", "alliance", "patient", "clinician", "all"))
    kw = dict(n_organizations=20, therapists_per_organization=60, schedule=schedule)
    # warm-up: imports and the instrument registry (not part of the timed run)
    sim.clinic("clinic", seed=1, n_episodes=200, **kw)
    # about 9.3 sessions per episode in the clinic preset; size the run from a pilot
    pilot = sim.clinic("clinic", seed=2, n_episodes=5000, **kw)
    per_episode = len(pilot.truth.sessions) / 5000
    n_episodes = math.ceil(args.sessions / per_episode * 1.01)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]
    c0, t0 = time.process_time(), time.perf_counter()
    data = sim.clinic("clinic", seed=args.seed, n_episodes=n_episodes, **kw)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_sessions = len(data.truth.sessions)
    print(f"bordin.simulate.clinic: {n_episodes:,} episodes, {n_sessions:,} sessions, "
          f"{len(data.administrations):,} administrations, {len(data.responses):,} item "
          "responses")
    print(f"  wall time   {elapsed:8.2f} s   (target < 10 s for 1M sessions; load average "
          f"{load:.1f} on {os.cpu_count()} cores at start)")
    print(f"  CPU time    {cpu:8.2f} s   (summed over threads; on an otherwise idle machine the "
          "wall time is at most this: instruments are drawn in two threads)")
    print(f"  peak memory {rss_after:8.0f} MiB max RSS of the process ({rss_before:.0f} MiB "
          "before the run)")
    if args.tracemalloc:
        tracemalloc.start()
        sim.clinic("clinic", seed=args.seed, n_episodes=n_episodes, **kw)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  peak memory {peak / 2**20:8.0f} MiB allocated during the run (tracemalloc)")

    ref_sessions, ref_time = _reference_loop(500, args.seed)
    per_session = ref_time / ref_sessions
    print(f"reference: plain Python per-episode loop, {ref_sessions:,} sessions in "
          f"{ref_time:.2f} s; extrapolated to {n_sessions:,} sessions: "
          f"{per_session * n_sessions:.0f} s")
    print(f"  ratio (reference / bordin wall time): {per_session * n_sessions / elapsed:.0f}x")


if __name__ == "__main__":
    main()
