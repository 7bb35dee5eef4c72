"""A small clinic generator with known rupture events, for the monitor's tests.

Each episode has patient WAI-SR ratings (total and subscales), some clinician WAI-SR-T
ratings and PHQ-9 totals (with item 9); some episodes carry a planted V-shaped
rupture (a dip and a return) or an unrepaired decline. Sessions go missing at random.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def clinic_frame(n_episodes: int, *, seed: int = 0, max_sessions: int = 16) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(n_episodes):
        n = int(rng.integers(1, max_sessions + 1))
        level = rng.uniform(35, 55)
        sub = rng.normal(0, 1.2, size=(n, 3))
        dip_at = int(rng.integers(4, n)) if n > 5 and rng.random() < 0.4 else None
        repaired = rng.random() < 0.6
        intake = int(rng.integers(5, 27))
        for s in range(1, n + 1):
            if s > 1 and rng.random() < 0.1:
                continue  # a missed session
            parts = np.clip(np.round(level / 3 + sub[s - 1]), 4, 20)
            if dip_at is not None and (s == dip_at or (not repaired and s > dip_at)):
                parts = np.clip(parts - rng.integers(3, 6, size=3), 4, 20)
            goal, task, bond = (float(x) for x in parts)
            rows.append({"organization": "o1", "clinician": f"c{e % 7}", "patient": f"p{e}",
                         "episode": f"e{e}", "session": s, "instrument": "wai_sr",
                         "rater": "patient", "target": "clinician", "total": goal + task + bond,
                         "goal": goal, "task": task, "bond": bond})
            if rng.random() < 0.3:
                c = np.clip(parts + rng.integers(-1, 4, size=3), 4, 20)
                rows.append({"organization": "o1", "clinician": f"c{e % 7}", "patient": f"p{e}",
                             "episode": f"e{e}", "session": s, "instrument": "wai_sr_t",
                             "rater": "clinician", "target": "clinician",
                             "total": float(c.sum()), "goal": float(c[0]), "task": float(c[1]),
                             "bond": float(c[2])})
            phq = float(np.clip(round(intake - 0.6 * (s - 1) + rng.normal(0, 2)), 0, 27))
            rows.append({"organization": "o1", "clinician": f"c{e % 7}", "patient": f"p{e}",
                         "episode": f"e{e}", "session": s, "instrument": "phq9",
                         "rater": "patient", "target": None, "total": phq,
                         "phq9_9": float(rng.random() < 0.03)})
    return pd.DataFrame(rows)
