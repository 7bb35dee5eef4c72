"""Benchmark: bordin.stats.mixed against lme4 (R) and statsmodels MixedLM, same data, one run.

    .venv/bin/python benchmarks/mixed_bench.py            # full: 1M/20k and 10M/100k
    .venv/bin/python benchmarks/mixed_bench.py --quick    # 100k/2k and 1M/10k

Models
  (a) y ~ x1 + x2 + (1 | g)                          random intercept, 2 covariates
  (b) y2 ~ session + x1 + (1 + session | g)          correlated random intercept + slope
  (c) y2 ~ session + x1 + (1 + session | g) + (1 | t) (b) plus therapists above patients
  (d) y3 ~ x1 + (1 | g) + (1 | r)                    patients crossed with raters (200
                                                     raters, each row rated by one at
                                                     random): lme4's penalised least squares

Every fit runs in its own subprocess so that its peak memory (peak RSS, ``ru_maxrss`` /
``VmHWM``) is its own. Timed:
  * Bordin (frame): ``fit()`` on a pandas frame already in memory (sufficient statistics
    with numpy + REML); Satterthwaite df (``m.fixed``) are timed separately. A tiny
    warm-up fit first loads the modules ``fit`` imports lazily.
  * Bordin (Parquet): ``fit()`` on the Parquet path — DuckDB reads the file and computes
    the per-group statistics, then REML; reading the file is *included*.
  * statsmodels: ``MixedLM.from_formula(...).fit(reml=True)`` on a frame in memory.
  * lme4: only the ``lmer()`` call, via ``system.time`` (data read by data.table first).
Nothing here is asserted; the script prints times, ratios, peak memory and max |Δβ|.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FORMULA_A = "y ~ x1 + x2 + (1 | g)"
FORMULA_B = "y2 ~ session + x1 + (1 + session | g)"
FORMULA_C = "y2 ~ session + x1 + (1 + session | g) + (1 | t)"
FORMULA_D = "y3 ~ x1 + (1 | g) + (1 | r)"
RATERS = 200

R_CHILD = r"""
suppressPackageStartupMessages({library(lme4); library(data.table); library(jsonlite)})
args <- commandArgs(TRUE)
d <- fread(args[1], showProgress = FALSE)
d[, g := factor(g)]
if ("t" %in% names(d)) d[, t := factor(t)]
if ("r" %in% names(d)) d[, r := factor(r)]
f <- as.formula(args[2])
tm <- system.time(m <- lmer(f, data = d, REML = TRUE))
st <- readLines("/proc/self/status")
hwm <- as.numeric(gsub("[^0-9]", "", st[grepl("^VmHWM", st)]))
cat(toJSON(list(seconds = tm[["elapsed"]], beta = unname(fixef(m)),
                theta = unname(getME(m, "theta")), criterion = REMLcrit(m),
                peak_mb = hwm / 1024,
                warnings = m@optinfo$conv$lme4$messages), auto_unbox = TRUE, digits = NA))
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- data ---------------------------------------------------------------------------------
def simulate(n: int, groups: int, *, seed: int, slopes: bool) -> dict[str, np.ndarray]:
    """Unbalanced groups (multinomial sizes), true ICC 0.2 for y; slopes and therapists
    (20 patients each) for y2."""
    rng = np.random.default_rng(seed)
    g = np.sort(rng.integers(0, groups, n)).astype(np.int64)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    b = rng.normal(0.0, 0.5, groups)
    out = {"g": g, "x1": x1, "x2": x2,
           "y": 1.0 + 0.5 * x1 - 0.3 * x2 + b[g] + rng.normal(size=n)}
    if slopes:
        t = g // 20
        session = (np.arange(n) - np.searchsorted(g, g)).astype(float) % 12 + 1
        bt = rng.normal(0.0, 0.5, groups // 20 + 1)
        s = rng.normal(0.0, 0.1, groups)
        out.update({"t": t, "session": session,
                    "y2": 10 - 0.5 * session + 0.3 * x1 + b[g] + bt[t] + s[g] * session
                    + rng.normal(size=n)})
        r = rng.integers(0, RATERS, n)  # raters crossed with patients
        br = rng.normal(0.0, 0.3, RATERS)
        out.update({"r": r, "y3": 2.0 + 0.4 * x1 + b[g] + br[r] + rng.normal(size=n)})
    return out


def write_data(cols: dict[str, np.ndarray], stem: Path, *, csv: bool) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.table(cols)
    pq.write_table(table, f"{stem}.parquet")
    if csv:
        pacsv.write_csv(table, f"{stem}.csv")


# -- children -------------------------------------------------------------------------------
def _warm_up(formula: str) -> None:
    """Import everything ``fit`` uses lazily (scipy.optimize, DuckDB, formulaic's parser)
    with a tiny fit, so that the timed call measures computation, not imports."""
    import pandas as pd

    import bordin.engines.duckdb  # noqa: F401
    from bordin.stats.mixed import fit

    rng = np.random.default_rng(0)
    n = 400
    g = np.repeat(np.arange(40), 10)
    tiny = pd.DataFrame({"g": g, "t": g // 4, "x1": rng.normal(size=n),
                         "x2": rng.normal(size=n), "session": np.tile(np.arange(10.0), 40)})
    tiny["y"] = tiny["x1"] + rng.normal(size=40)[g] + rng.normal(size=n)
    tiny["y2"] = tiny["y"] + 0.1 * tiny["session"] * rng.normal(size=40)[g]
    tiny["r"] = rng.integers(0, 8, n)
    tiny["y3"] = tiny["y"] + rng.normal(size=8)[tiny["r"]]
    fit(formula, tiny).fixed  # noqa: B018


def child(kind: str, path: str, formula: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    if kind.startswith("bordin"):
        _warm_up(formula)
    if kind == "bordin-frame":
        import pandas as pd

        from bordin.stats.mixed import fit

        df = pd.read_parquet(path)
        t0 = time.perf_counter()
        m = fit(formula, df)
        t1 = time.perf_counter()
        _ = m.fixed
        t2 = time.perf_counter()
        return {"seconds": t1 - t0, "df_seconds": t2 - t1, "beta": m.beta.tolist(),
                "theta": m.theta.tolist(), "criterion": m.criterion, "peak_mb": peak_mb(),
                "evals": m.n_evals}
    if kind == "bordin-parquet":
        from bordin.stats.mixed import fit

        t0 = time.perf_counter()
        m = fit(formula, path)
        t1 = time.perf_counter()
        return {"seconds": t1 - t0, "beta": m.beta.tolist(), "theta": m.theta.tolist(),
                "criterion": m.criterion, "peak_mb": peak_mb(), "evals": m.n_evals}
    if kind == "statsmodels":
        import pandas as pd
        import statsmodels.formula.api as smf

        df = pd.read_parquet(path)
        t0 = time.perf_counter()
        res = smf.mixedlm("y ~ x1 + x2", df, groups=df["g"]).fit(reml=True)
        t1 = time.perf_counter()
        return {"seconds": t1 - t0, "beta": np.asarray(res.fe_params).tolist(),
                "peak_mb": peak_mb(), "converged": bool(res.converged)}
    raise SystemExit(f"unknown child {kind}")


def run_child(kind: str, stem: Path, formula: str, timeout: float) -> dict | None:
    if kind == "lme4":
        with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
            fh.write(R_CHILD)
        cmd = ["Rscript", fh.name, f"{stem}.csv", formula.replace("y2 ~", "y2 ~")]
    else:
        cmd = [sys.executable, __file__, "--child", kind, "--path", f"{stem}.parquet",
               "--formula", formula]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             cwd=HERE.parent, check=False)
    except subprocess.TimeoutExpired:
        print(f"    {kind}: timed out after {timeout:.0f} s")
        return None
    if out.returncode != 0:
        print(f"    {kind}: failed ({out.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report -----------------------------------------------------------------------------------
def compare(label: str, stem: Path, formula: str, kinds: list[str], timeout: float) -> None:
    print(f"\n== {label}: {formula}")
    results = {}
    for kind in kinds:
        r = run_child(kind, stem, formula, timeout)
        if r is None:
            continue
        results[kind] = r
        extra = f", Satterthwaite df {r['df_seconds']:.3f} s" if "df_seconds" in r else ""
        evals = f", {r['evals']} criterion evaluations" if "evals" in r else ""
        warn = f", lme4 warnings: {r['warnings']}" if r.get("warnings") else ""
        print(f"  {kind:15s} {r['seconds']:9.3f} s   peak {r['peak_mb']:8.0f} MB{extra}"
              f"{evals}{warn}")
    base_kind = "bordin-frame" if "bordin-frame" in results else "bordin-parquet"
    if base_kind not in results:
        return
    base = results[base_kind]
    for kind, r in results.items():
        if kind.startswith("bordin"):
            continue
        ratio = r["seconds"] / base["seconds"]
        dbeta = float(np.max(np.abs(np.asarray(r["beta"]) - np.asarray(base["beta"]))))
        print(f"  {kind} / {base_kind}: {ratio:7.1f}x slower; max |Δβ| = {dbeta:.2e}")
        if "criterion" in r:
            print(f"    REML criterion: Bordin {base['criterion']:.6f}, {kind} "
                  f"{r['criterion']:.6f} (Bordin − {kind} = "
                  f"{base['criterion'] - r['criterion']:.2e})")
    if "bordin-parquet" in results and "bordin-frame" in results:
        d = float(np.max(np.abs(np.asarray(results["bordin-parquet"]["beta"])
                                - np.asarray(results["bordin-frame"]["beta"]))))
        print(f"  Bordin Parquet/DuckDB vs frame: max |Δβ| = {d:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="run 100k/2k and 1M/10k")
    ap.add_argument("--crossed-only", action="store_true",
                    help="run only (d), the crossed design, on 100k rows / 2k patients")
    ap.add_argument("--no-large-references", action="store_true",
                    help="skip statsmodels and lme4 on the large data set")
    ap.add_argument("--no-large-statsmodels", action="store_true",
                    help="skip statsmodels on the large data set only (it takes an hour or "
                         "more on a loaded two-core machine)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(),
                                                      "bordin_mixed_bench"))
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--child")
    ap.add_argument("--path")
    ap.add_argument("--formula")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path, args.formula)))
        return
    small = (100_000, 2_000) if args.quick or args.crossed_only else (1_000_000, 20_000)
    large = (1_000_000, 10_000) if args.quick else (10_000_000, 100_000)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    import platform

    print(f"Bordin mixed-model benchmark — {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    t0 = time.perf_counter()
    s_stem = work / f"small_{small[0]}_r{RATERS}"
    l_stem = work / f"large_{large[0]}"
    if not Path(f"{s_stem}.csv").exists():
        write_data(simulate(*small, seed=1, slopes=True), s_stem, csv=True)
    crossed = (f"(d) {small[0]:,} rows / {small[1]:,} patients crossed with {RATERS} raters",
               s_stem, FORMULA_D, ["bordin-frame", "lme4"], args.timeout)
    if args.crossed_only:
        compare(*crossed)
        return
    if not Path(f"{l_stem}.parquet").exists() or (
            not args.no_large_references and not Path(f"{l_stem}.csv").exists()):
        write_data(simulate(*large, seed=2, slopes=False), l_stem,
                   csv=not args.no_large_references)
    print(f"data written to {work} in {time.perf_counter() - t0:.1f} s")
    refs = ["statsmodels", "lme4"]
    compare(f"(a) {small[0]:,} rows / {small[1]:,} groups", s_stem, FORMULA_A,
            ["bordin-frame", "bordin-parquet", *refs], args.timeout)
    large_refs = [] if args.no_large_references else [
        r for r in refs if not (r == "statsmodels" and args.no_large_statsmodels)]
    compare(f"(a) {large[0]:,} rows / {large[1]:,} groups, from Parquet", l_stem, FORMULA_A,
            ["bordin-parquet", *large_refs], args.timeout)
    compare(f"(b) {small[0]:,} rows / {small[1]:,} patients", s_stem, FORMULA_B,
            ["bordin-frame", "bordin-parquet", "lme4"], args.timeout)
    compare(f"(c) {small[0]:,} rows / {small[1]:,} patients / {small[1] // 20:,} therapists",
            s_stem, FORMULA_C, ["bordin-frame", "bordin-parquet", "lme4"], args.timeout)
    compare(*crossed)


if __name__ == "__main__":
    main()
