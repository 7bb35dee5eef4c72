"""Watching episodes with bordin.monitor: one series, one episode, a whole clinic.

Run:  .venv/bin/python examples/monitor_quickstart.py
"""

from __future__ import annotations

import pandas as pd

import bordin.simulate as sim
from bordin.monitor import (
    EpisodeMonitor,
    ExpectedRecovery,
    detect_ruptures,
    feedback_for,
    monitor_frame,
    not_on_track,
)

# 1. A researcher's plain series: WAI-SR totals, session 6 missed.
wai = pd.Series([50, 52, 51, 50, 41, 44, 51], index=[1, 2, 3, 4, 5, 7, 8])
for rule, params in [("personal_sd", {"k": 2}), ("personal_sd", {"k": 1}),
                     ("combined", {"k": 2, "population_sd": 4.0})]:
    events = detect_ruptures(wai, rule, **params)
    print(rule, params, "->", [(e.start, e.state, e.repaired_at, round(e.depth, 1))
                               for e in events], events.reason or "")

# 2. What to try, by the pathway the rupture points at.
bond = detect_ruptures([17, 18, 17, 18, 11, 12], "personal_sd", scale="bond")
fb = feedback_for(bond[0])
print("\nbond rupture ->", fb.pathways, "|", fb.suggestions[0].text)

# 3. A clinic's history: expected-recovery curves for the PHQ-9, then one patient.
clinic = sim.clinic("clinic", seed=3, n_episodes=400)
adm = clinic.administrations
curves = ExpectedRecovery.fit(adm, instrument="phq9")
print("\n", curves.summary().round(3).to_string(), sep="")
print(not_on_track([19, 18, 19, 20, 19, 21], instrument="phq9", expected=curves).to_dict())

# 4. One episode, one administration at a time (what the web app does on submit).
m = EpisodeMonitor(episode="demo")
for s, x in enumerate([50, 52, 51, 50, 41], start=1):
    new = m.add(session=s, instrument="wai_sr", scores={"total": x})
print("\nnew alerts at session 5:", [(a["rule"].split("(")[0], a["state"]) for a in new])

# 5. The whole clinic at once.
alerts = monitor_frame(adm, expected=curves, responses=clinic.responses)
print(f"\n{len(alerts)} alerts:", alerts["kind"].value_counts().to_dict())
print(alerts[["episode", "instrument", "scale", "kind", "state", "severity", "pathway"]]
      .head(8).to_string(index=False))
