"""Speed of instrument scoring: Bordin's vectorised ``score_frame`` against R and a loop.

Same data for all: N administrations of the PHQ-9 (0-3 items, about 2% missing) and of
the CORE-10 (reverse keys, proration). Reference: base R computing the same total with
proration, reverse keys and band (rowSums/rowMeans + findInterval), run by Rscript on
the same CSV in the same run. Also Bordin's scalar ``score`` in a Python loop on a
subsample, scaled up. Prints seconds, ratios and peak Python memory. Bordin's time
includes validating every value (range, step) and the band, cutoff and risk columns; R's is the
arithmetic only, timed inside R (not the CSV read).

Run: .venv/bin/python benchmarks/instruments_scoring.py [N]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from bordin.instruments import registry, score, score_frame

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
x <- as.matrix(read.csv(args[1]))
rev <- as.integer(strsplit(args[2], ",")[[1]])
lo <- as.numeric(args[3]); hi <- as.numeric(args[4]); maxmiss <- as.integer(args[5])
breaks <- as.numeric(strsplit(args[6], ",")[[1]])
t0 <- proc.time()[["elapsed"]]
if (length(rev) > 0 && !is.na(rev[1])) x[, rev] <- lo + hi - x[, rev]
k <- ncol(x)
nmiss <- rowSums(is.na(x))
total <- rowMeans(x, na.rm = TRUE) * k
total[nmiss > maxmiss] <- NA
band <- findInterval(total, breaks)
elapsed <- proc.time()[["elapsed"]] - t0
cat(sprintf("%.6f %.17g %s\n", elapsed, sum(total, na.rm = TRUE), R.version.string))
"""


def _data(spec_id: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    spec = registry.get(spec_id)
    k = len(spec.items)
    lo, hi = spec.items[0].scale.min, spec.items[0].scale.max
    x = rng.integers(int(lo), int(hi) + 1, size=(n, k)).astype(float)
    # at most max_missing missing per row, about 2% of rows
    rows = rng.random(n) < 0.02
    x[rows, rng.integers(0, k, size=rows.sum())] = np.nan
    return pd.DataFrame(x, columns=list(spec.item_ids))


def _bench(spec_id: str, n: int) -> None:
    rng = np.random.default_rng(1)
    spec = registry.get(spec_id)
    df = _data(spec_id, n, rng)

    t0 = time.perf_counter()
    out = score_frame(spec, df)
    t_bordin = time.perf_counter() - t0
    # Memory in a second run: tracemalloc slows allocation, so it is not timed.
    tracemalloc.start()
    score_frame(spec, df)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    sub = df.iloc[: min(n, 20_000)]
    t0 = time.perf_counter()
    loop_totals = [score(spec, row).total for row in sub.to_dict("records")]
    t_loop = (time.perf_counter() - t0) * n / len(sub)
    assert np.allclose(loop_totals, out["total"].to_numpy()[: len(sub)])

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "x.csv"
        df.to_csv(csv, index=False)
        script = Path(tmp) / "score.R"
        script.write_text(R_SCRIPT, encoding="utf-8")
        rev = ",".join(str(i + 1) for i, it in enumerate(spec.items) if it.reverse) or "NA"
        breaks = ",".join(str(b.lower) for b in spec.bands) or "0"
        lo, hi = spec.items[0].scale.min, spec.items[0].scale.max
        res = subprocess.run(
            ["Rscript", str(script), str(csv), rev, str(lo), str(hi), str(spec.max_missing),
             breaks],
            capture_output=True, text=True, check=True,
        )
    r_seconds, r_sum, *r_version = res.stdout.split()
    r_seconds = float(r_seconds)
    ours = float(np.nansum(out["total"]))
    print(f"{spec_id}: N = {n:,}")
    mib = peak / 2**20
    print(f"  Bordin score_frame      {t_bordin:8.3f} s   peak Python memory {mib:.0f} MiB")
    print(f"  R base (rowMeans etc.)  {r_seconds:8.3f} s   ({' '.join(r_version)}; compute only)")
    print(f"  Bordin score() loop     {t_loop:8.3f} s   (extrapolated from {len(sub):,} rows)")
    ratio = r_seconds / t_bordin
    print(f"  ratio R / Bordin = {ratio:.2f}; loop / frame = {t_loop / t_bordin:.0f}")
    print(f"  sum of totals: Bordin {ours:.6f}, R {float(r_sum):.6f} "
          f"(rel. diff {abs(ours - float(r_sum)) / abs(ours):.2e})")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for sid in ("phq9", "core10"):
        _bench(sid, n)
