"""Benchmark: REML + Knapp–Hartung + prediction interval, Bordin against R's metafor.

Run:  .venv/bin/python benchmarks/meta_bench.py [--ks 100,1000,10000,100000] [--r-max-k 2000]
                                                [--mv]

For each k the same simulated data are fitted by ``bordin.stats.meta.rma`` and, when
Rscript with metafor is installed and k ≤ --r-max-k, by ``metafor::rma`` on the same CSV
in the same run. Only the fit (and predict) is timed on both sides: ``time.perf_counter``
around the Python call, ``system.time`` around the R call (R's start-up and CSV reading
are not counted). metafor's rma.uni forms k × k matrices (O(k²) memory, O(k³) time), so it
is skipped above --r-max-k, which would take minutes and gigabytes; the skip is printed.
Peak memory: tracemalloc for Bordin (numpy allocations included), R's gc() "max used"
for metafor. metafor runs with its default control (Fisher scoring stops at a change of
1e-5 in τ²), which is what bounds the "max rel diff" column (Bordin stops at 1e-12; the
test suite compares at tight control instead). With --mv, the nested multilevel model
(rma_mv, two levels) is timed too.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from bordin.stats.meta import rma, rma_mv

R_UNI = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
invisible(gc(reset = TRUE))
tm <- system.time({
  res <- rma(yi, vi, data = d, method = "REML", test = "knha")
  pr <- predict(res)
})
mem <- sum(gc()[, 6])
cat(sprintf("%.6f %.17g %.17g %.17g %.17g %.1f\n", tm[["elapsed"]], res$tau2, res$beta[1],
            pr$pi.lb, pr$pi.ub, mem))
"""

R_MV = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
invisible(gc(reset = TRUE))
tm <- system.time({
  res <- rma.mv(yi, vi, random = ~ 1 | study/esid, data = d, method = "REML")
})
mem <- sum(gc()[, 6])
cat(sprintf("%.6f %.17g %.17g %.17g %.17g %.1f\n", tm[["elapsed"]], res$sigma2[1],
            res$sigma2[2], res$beta[1], res$se[1], mem))
"""


def simulate(k: int, seed: int = 2023) -> pd.DataFrame:
    """Correlations from studies of 20-400 patients around r = .28 with τ = .1 (z scale)."""
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 400, size=k)
    theta = rng.normal(np.arctanh(0.28), 0.1, size=k)
    yi = rng.normal(theta, 1 / np.sqrt(n - 3))
    study = np.repeat(np.arange(k // 4 + 1), 4)[:k]
    return pd.DataFrame({"yi": yi, "vi": 1 / (n - 3), "study": study, "esid": np.arange(k)})


def time_bordin(df: pd.DataFrame, *, mv: bool) -> tuple[float, float, tuple[float, ...]]:
    def fit() -> tuple[float, ...]:
        if mv:
            r = rma_mv(yi=df["yi"].to_numpy(), vi=df["vi"].to_numpy(),
                       random="~ 1 | study/esid", data=df, method="REML")
            return (r.sigma2[0], r.sigma2[1], r.beta[0], r.se[0])
        r = rma(yi=df["yi"].to_numpy(), vi=df["vi"].to_numpy(), method="REML", test="knha")
        return (r.tau2, r.beta[0], r.pi_lb, r.pi_ub)

    fit()  # warm-up (imports, caches)
    best = np.inf
    reps = 3 if len(df) <= 10_000 else 1
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fit()
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20, out


def time_metafor(df: pd.DataFrame, script: str) -> tuple[float, float, tuple[float, ...]] | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        df.to_csv(csv, index=False, float_format="%.17g")
        rfile = Path(tmp) / "fit.R"
        rfile.write_text(script)
        out = subprocess.run([rscript, str(rfile), str(csv)], capture_output=True, text=True,
                             timeout=3600)
    if out.returncode != 0:
        print(f"   metafor failed: {out.stderr.strip()[:200]}")
        return None
    vals = [float(x) for x in out.stdout.split()]
    return vals[0], vals[-1], tuple(vals[1:-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ks", default="100,1000,10000,100000")
    ap.add_argument("--r-max-k", type=int, default=1000,
                    help="largest k given to metafor (its k x k algebra takes minutes above)")
    ap.add_argument("--r-max-k-mv", type=int, default=200,
                    help="largest k given to metafor's rma.mv (k = 1,000 took 30 min here)")
    ap.add_argument("--mv", action="store_true", help="also time the nested multilevel model")
    args = ap.parse_args()
    ks = [int(x) for x in args.ks.split(",")]
    models = [("rma REML+knha+PI", False, R_UNI, args.r_max_k)]
    if args.mv:
        models.append(("rma_mv REML study/esid", True, R_MV, args.r_max_k_mv))
    for label, mv, script, r_max_k in models:
        print(f"\n{label}")
        print(f"{'k':>8} {'bordin s':>10} {'peak MiB':>9} {'metafor s':>10} {'R MiB':>8} "
              f"{'ratio':>8} {'max rel diff':>13}")
        for k in ks:
            df = simulate(k)
            tb, mem, ours = time_bordin(df, mv=mv)
            ref = time_metafor(df, script) if k <= r_max_k else None
            if ref is None:
                note = (f"skipped (k > {r_max_k}: its k x k algebra would take minutes)"
                        if k > r_max_k else "not available")
                print(f"{k:>8} {tb:>10.4f} {mem:>9.2f} {'-':>10} {'-':>8} {'-':>8}  metafor "
                      f"{note}")
                continue
            tr, rmem, theirs = ref
            # relative, except for a variance component at (or near) zero, where metafor's
            # log parameterisation leaves a tiny positive value: absolute below 1e-6
            diff = max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(ours, theirs,
                                                                    strict=True))
            print(f"{k:>8} {tb:>10.4f} {mem:>9.2f} {tr:>10.3f} {rmem:>8.1f} "
                  f"{tr / max(tb, 1e-9):>7.1f}x {diff:>13.2e}")


if __name__ == "__main__":
    main()
