"""Speed of bordin.stats.psychometrics against psych and lavaan on the same data, same run.

Data: N respondents x 12 alliance-like 1-7 Likert items (goal/task/bond, 4 items each) and a
targets x 4 raters table. R is timed inside R after reading the CSVs:
psych::alpha, psych::ICC(lmer = FALSE), lavaan::cfa one-factor with an omega
``:=`` parameter, lavaan::cfa three factors (+ fitMeasures, lavPredict).
Prints seconds, ratio R/Bordin and Bordin's peak Python memory (tracemalloc).

Run: .venv/bin/python benchmarks/psychometrics_bench.py [N]  (default 10000)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import print_timed

from bordin.stats.psychometrics import cfa, cronbach_alpha, interrater_icc, mcdonald_omega

R_SCRIPT = r"""
suppressPackageStartupMessages({library(psych); library(lavaan)})
args <- commandArgs(trailingOnly = TRUE)
x <- read.csv(args[1]); r <- as.matrix(read.csv(args[2]))
tm <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
t1 <- tm(a <- psych::alpha(x, warnings = FALSE))
t2 <- tm(i <- psych::ICC(r, lmer = FALSE))
items <- names(x); lab <- paste0("l", seq_along(items)); th <- paste0("t", seq_along(items))
m1 <- paste0("f =~ ", paste0(lab, "*", items, collapse = " + "), "\n",
             paste0(items, " ~~ ", th, "*", items, collapse = "\n"), "\n",
             "omega := (", paste(lab, collapse = "+"), ")^2 / ((", paste(lab, collapse = "+"),
             ")^2 + ", paste(th, collapse = "+"), ")")
t3 <- tm(pe <- parameterEstimates(cfa(m1, data = x, std.lv = TRUE)))
m3 <- "goal =~ goal1 + goal2 + goal3 + goal4
task =~ task1 + task2 + task3 + task4
bond =~ bond1 + bond2 + bond3 + bond4"
t4 <- tm({f <- cfa(m3, data = x); fm <- fitMeasures(f); fs <- lavPredict(f)})
cat(sprintf("%.4f %.4f %.4f %.4f %s\n", t1, t2, t3, t4, R.version.string))
"""


def simulate(n: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    phi = np.array([[1, 0.7, 0.6], [0.7, 1, 0.65], [0.6, 0.65, 1]])
    f = rng.multivariate_normal(np.zeros(3), phi, size=n)
    lam = np.array([0.8, 0.7, 0.75, 0.6])
    cols = {}
    for k, name in enumerate(("goal", "task", "bond")):
        for j, lj in enumerate(lam):
            latent = lj * f[:, k] + np.sqrt(1 - lj**2) * rng.normal(size=n)
            # 1-7 Likert responses, as alliance items are answered
            cols[f"{name}{j + 1}"] = np.clip(np.round(4 + 1.3 * latent), 1, 7)
    # psych::ICC fits an aov on targets x raters dummies: keep the table moderate
    targets = max(50, n // 20)
    truth = rng.normal(size=targets)
    ratings = pd.DataFrame({f"rater{j}": 5 + truth + 0.3 * j + rng.normal(0, 0.6, targets)
                            for j in range(4)})
    return pd.DataFrame(cols), ratings


def main(n: int) -> None:
    import semopy  # noqa: F401  (imported up front, as R's libraries are loaded before timing)

    items, ratings = simulate(n)
    with tempfile.TemporaryDirectory() as tmp:
        p1, p2, rs = Path(tmp) / "x.csv", Path(tmp) / "r.csv", Path(tmp) / "b.R"
        items.to_csv(p1, index=False)
        ratings.to_csv(p2, index=False)
        rs.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(rs), str(p1), str(p2)], capture_output=True,
                             text=True, check=True).stdout.split(maxsplit=4)
    r_times = [float(v) for v in out[:4]]
    spec = {g: [f"{g}{j}" for j in range(1, 5)] for g in ("goal", "task", "bond")}
    jobs = [
        ("alpha", lambda: cronbach_alpha(items)),
        ("icc", lambda: interrater_icc(ratings)),
        ("omega", lambda: mcdonald_omega(items)),
        ("cfa", lambda: cfa(items, factors=spec).factor_scores()),
    ]
    print(f"n = {n} respondents x 12 items; {len(ratings)} targets x 4 raters; "
          f"{out[4].strip()}")
    print_timed(jobs, r_times, width=10)

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)
