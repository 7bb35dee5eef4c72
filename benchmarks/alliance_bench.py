"""Speed of the alliance analyses against lme4/lmerTest on the same data, same run.

Data: a simulated multi-site caseload (patients nested in therapists; session-by-
session alliance and symptoms), written to CSV once. For each analysis Bordin's
time (Python, in-process) is compared with R's (Rscript, timed inside R after
reading the CSV, so R's parse time is not counted):

* contribution  Baldwin et al.: lmerTest::lmer(post ~ within + between + baseline
                + (1|therapist)) and the contrast (contest1D)
* therapist     lme4 REML random intercept + ranef(condVar) + profile ICC CI
                (lme4 devfun + uniroot), against bordin's therapist_effects
* longitudinal  lmerTest lagged model with (1|episode), against within_between
                (both directions for Bordin; R fits one direction, so R's time is doubled)

Prints seconds, ratio R/Bordin and Bordin's peak Python memory (tracemalloc).

Run: .venv/bin/python benchmarks/alliance_bench.py [N_PATIENTS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import print_timed

from bordin.alliance import therapist_effects, therapist_patient_contribution, within_between

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
args <- commandArgs(trailingOnly = TRUE)
pt <- read.csv(args[1]); lw <- read.csv(args[2])
pt$therapist <- factor(pt$therapist); lw$episode <- factor(lw$episode)
tm <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
t1 <- tm({
  pt$between <- ave(pt$alliance, pt$therapist); pt$within <- pt$alliance - pt$between
  f <- lmer(post ~ within + between + baseline + (1 | therapist), data = pt)
  s <- summary(f)
  cvec <- c(0, -1, 1, 0); ct <- contest1D(f, cvec)
  ft <- summary(lmer(post ~ alliance + baseline + (1 | therapist), data = pt))
})
t2 <- tm({
  f <- lmer(post ~ baseline + (1 | therapist), data = pt)
  re <- ranef(f, condVar = TRUE)
  dev <- lmer(post ~ baseline + (1 | therapist), data = pt, devFunOnly = TRUE)
  th <- getME(f, "theta"); dmin <- dev(th); g <- function(x) dev(x) - dmin - qchisq(.95, 1)
  lo <- if (g(0) > 0) uniroot(g, c(0, th))$root else 0
  hi <- uniroot(g, c(th, 10 * th + 5))$root
})
t3 <- tm({
  f <- lmer(y_next ~ a_w + a_b + y_w + y_b + session + (1 | episode), data = lw)
  s <- summary(f)
})
cat(sprintf("%.4f %.4f %.4f %s\n", t1, t2, t3, R.version.string))
"""


def simulate(n_patients: int, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_ther = max(3, n_patients // 8)
    ther = rng.integers(0, n_ther, n_patients)
    u_a = rng.normal(0, 0.5, n_ther)
    u_y = rng.normal(0, 1.0, n_ther)
    dev = rng.normal(0, 0.7, n_patients)
    base = rng.normal(17, 4, n_patients)
    sessions = 8
    a = (4.6 + u_a[ther] + dev)[:, None] + rng.normal(0, 0.4, (n_patients, sessions))
    y = np.empty((n_patients, sessions))
    y[:, 0] = base
    for t in range(1, sessions):
        y[:, t] = (y[:, t - 1] - 0.8 - 0.6 * (a[:, t - 1] - a[:, t - 1].mean())
                   + 0.2 * u_y[ther] + rng.normal(0, 1.5, n_patients))
    pt = pd.DataFrame({"therapist": ther, "alliance": a[:, 2:4].mean(axis=1),
                       "baseline": base, "post": y[:, -1]})
    ep = np.repeat(np.arange(n_patients), sessions - 1)
    ses = np.tile(np.arange(1, sessions), n_patients)
    ab, yb = a.mean(axis=1), y.mean(axis=1)
    lw = pd.DataFrame({
        "episode": ep, "session": ses,
        "alliance_within": (a[:, :-1] - ab[:, None]).ravel(),
        "alliance_between": np.repeat(ab, sessions - 1),
        "symptoms_within": (y[:, :-1] - yb[:, None]).ravel(),
        "symptoms_between": np.repeat(yb, sessions - 1),
        "symptoms_next": y[:, 1:].ravel(), "alliance_next": a[:, 1:].ravel(),
    })
    return pt, lw


def main(n_patients: int) -> None:
    pt, lw = simulate(n_patients)
    with tempfile.TemporaryDirectory() as tmp:
        p1, p2 = Path(tmp) / "pt.csv", Path(tmp) / "lw.csv"
        pt.to_csv(p1, index=False)
        lw.rename(columns={"alliance_within": "a_w", "alliance_between": "a_b",
                           "symptoms_within": "y_w", "symptoms_between": "y_b",
                           "symptoms_next": "y_next"}).to_csv(p2, index=False)
        rs = Path(tmp) / "bench.R"
        rs.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(rs), str(p1), str(p2)], capture_output=True,
                             text=True, check=True).stdout.split(maxsplit=3)
    r_times = [float(out[0]), float(out[1]), 2 * float(out[2])]
    pt_b = pt.rename(columns={"therapist": "clinician", "alliance": "patient_total"})
    jobs = [
        ("contribution", lambda: therapist_patient_contribution(pt_b)),
        ("therapist", lambda: therapist_effects(pt_b)),
        ("longitudinal", lambda: within_between(lw)),
    ]
    print(f"{n_patients} patients, {pt['therapist'].nunique()} therapists, "
          f"{len(lw)} lagged session pairs; {out[3].strip()}")
    print_timed(jobs, r_times, width=14)

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
