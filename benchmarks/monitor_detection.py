"""How well does each rupture rule find the simulator's known ruptures?

The project simulator (:func:`bordin.simulate.clinic`) records every rupture it
generates (``truth.ruptures``: episode, start session, depth, repair session). Each rule
runs on the patients' WAI-SR totals through :func:`bordin.monitor.monitor_frame`; a
detected event *matches* a true rupture of the same episode when its start is within
``--tolerance`` sessions of the true start (each true rupture is matched at most once).

Printed per rule: detections, true ruptures, recall (matched true / all true), recall
among the *detectable* ruptures (at least ``min_prior`` rated sessions before the start,
so a running rule could see them), precision (matched detections / detections), and,
for matched events whose window has closed, how often the rule's repaired/unrepaired
state agrees with the truth (repaired within the rule's window or not).

Run:  .venv/bin/python benchmarks/monitor_detection.py [--episodes 2000 --seed 1]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

import bordin.simulate as sim
from bordin.monitor import monitor_frame, rules


def match(det: pd.DataFrame, truth: pd.DataFrame, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching by episode and nearest start (within ``tol``)."""
    det_hit = np.zeros(len(det), dtype=bool)
    true_of = np.full(len(det), -1)
    used = np.zeros(len(truth), dtype=bool)
    t_by_ep = {e: g for e, g in truth.reset_index(drop=True).groupby("episode")}
    for k, (ep, start) in enumerate(zip(det["episode"], det["start"], strict=True)):
        g = t_by_ep.get(ep)
        if g is None:
            continue
        d = (g["start_session"] - start).abs()
        ok = (d <= tol) & ~used[g.index]
        if ok.any():
            j = d[ok].idxmin()
            used[j] = True
            det_hit[k] = True
            true_of[k] = j
    return det_hit, true_of


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--episodes", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tolerance", type=int, default=1)
    args = ap.parse_args()
    data = sim.clinic("clinic", seed=args.seed, n_episodes=args.episodes)
    adm = data.administrations
    wai = adm.loc[(adm["instrument"] == "wai_sr") & (adm["rater"] == "patient")]
    truth = data.truth.ruptures.reset_index(drop=True)
    truth = truth.loc[truth["episode"].isin(wai["episode"].unique())].reset_index(drop=True)
    # Rated sessions before each true start (what a running rule has to go on).
    rated = wai.groupby("episode")["session"].apply(np.sort).to_dict()
    n_before = np.array([int(np.sum(rated[e] < s)) for e, s in
                         zip(truth["episode"], truth["start_session"], strict=True)])
    cut = float(np.percentile(wai["total"].dropna(), 20))
    candidates = {
        "cutoff (clinic 20th percentile)": rules.CutoffRule(cutoff=cut),
        "drop >= 1 point (OpenFIT-style)": rules.DropRule(min_drop=1.0),
        "drop >= 3 points": rules.DropRule(min_drop=3.0),
        "personal_sd k=2 (Stiles 2004)": rules.PersonalSDRule(k=2.0),
        "personal_sd k=1 (Strauss 2006)": rules.PersonalSDRule(k=1.0),
        "personal_sd k=1, whole series": rules.PersonalSDRule(k=1.0, reference="series"),
        "combined k=2 (Gumz 2012)": rules.CombinedRule(k=2.0),
        "combined k=1": rules.CombinedRule(k=1.0),
    }
    print(f"simulated clinic: {args.episodes} episodes (seed {args.seed}), "
          f"{len(wai):,} patient WAI-SR administrations, {len(truth)} true ruptures "
          f"({truth['repaired'].mean():.0%} repaired); match tolerance ±{args.tolerance}")
    rows = []
    for label, rule in candidates.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            al = monitor_frame(wai, rules=[rule], scales=("total",), discrepancy=False,
                               outcomes=False, risk=False)
        det = al.loc[al["kind"] == "rupture"].reset_index(drop=True)
        hit, true_of = match(det, truth, args.tolerance)
        matched_true = np.unique(true_of[true_of >= 0])
        min_prior = getattr(rule, "min_prior", 1)
        detectable = n_before >= min_prior
        closed = hit & (det["state"] != "open").to_numpy()
        agree = np.nan
        if closed.any():
            t = truth.loc[true_of[closed]]
            true_rep = (t["repaired"].to_numpy(dtype=bool)
                        & ((t["repaired_session"].astype("float") - t["start_session"])
                           .to_numpy() <= rule.window))
            agree = float(np.mean((det.loc[closed, "state"] == "repaired").to_numpy()
                                  == true_rep))
        rows.append({
            "rule": label, "detections": len(det),
            "recall": len(matched_true) / max(len(truth), 1),
            "recall_detectable": (np.isin(np.flatnonzero(detectable), matched_true).sum()
                                  / max(int(detectable.sum()), 1)),
            "precision": float(hit.mean()) if len(det) else np.nan,
            "repair_state_agreement": agree,
        })
    out = pd.DataFrame(rows).set_index("rule")
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.precision", 3):
        print(out)


if __name__ == "__main__":
    main()
