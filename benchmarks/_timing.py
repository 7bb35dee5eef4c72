"""Shared timing loop for the benchmarks that compare a list of Bordin jobs with R's times."""

from __future__ import annotations

import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence


def print_timed(
    jobs: Sequence[tuple[str, Callable[[], object]]], r_times: Sequence[float], *, width: int
) -> None:
    """Run each job once and print its time, R's time, their ratio and the peak memory."""
    print(f"{'analysis':<{width}}{'bordin s':>10}{'R s':>10}{'R/bordin':>10}{'peak MiB':>10}")
    for (name, job), rt in zip(jobs, r_times, strict=True):
        tracemalloc.start()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            job()
        bt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"{name:<{width}}{bt:>10.3f}{rt:>10.3f}{rt / bt:>10.2f}{peak:>10.1f}")
