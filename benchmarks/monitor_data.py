"""Vectorised generator of a large clinic's administrations, for the monitor benchmarks.

Not the project simulator (``bordin.simulate``): this one builds a million rows in a
second or two, with planted V-shaped ruptures of known start and repair, so that the
benchmarks measure monitoring rather than data generation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def big_clinic(n_episodes: int, *, sessions: int = 10, seed: int = 0) -> pd.DataFrame:
    """About ``n_episodes * sessions`` administrations: WAI-SR (patient), PHQ-9, and a
    clinician WAI-SR-T at a fifth of the sessions."""
    rng = np.random.default_rng(seed)
    n_sess = rng.integers(max(2, sessions // 2), sessions + sessions // 2 + 1, size=n_episodes)
    ep = np.repeat(np.arange(n_episodes), n_sess)
    start = np.repeat(np.cumsum(n_sess) - n_sess, n_sess)
    sess = np.arange(ep.size) - start + 1
    keep = (sess == 1) | (rng.random(ep.size) > 0.08)  # missed sessions
    ep, sess = ep[keep], sess[keep]
    level = rng.uniform(11, 19, size=n_episodes)[ep]
    dip = rng.integers(4, sessions + 1, size=n_episodes)
    has = rng.random(n_episodes) < 0.3
    parts = np.clip(np.round(level[:, None] + rng.normal(0, 1.2, size=(ep.size, 3))), 4, 20)
    hit = has[ep] & (sess == dip[ep])
    parts[hit] = np.clip(parts[hit] - rng.integers(3, 7, size=(int(hit.sum()), 3)), 4, 20)
    n = ep.size
    wai = pd.DataFrame({
        "organization": "o1", "clinician": (ep % 500).astype(str), "patient": ep.astype(str),
        "episode": ep, "session": sess, "instrument": "wai_sr", "rater": "patient",
        "target": "clinician", "total": parts.sum(axis=1), "goal": parts[:, 0],
        "task": parts[:, 1], "bond": parts[:, 2]})
    intake = rng.integers(5, 27, size=n_episodes)[ep]
    phq = np.clip(np.round(intake - 0.6 * (sess - 1) + rng.normal(0, 2, size=n)), 0, 27)
    out = pd.DataFrame({
        "organization": "o1", "clinician": (ep % 500).astype(str), "patient": ep.astype(str),
        "episode": ep, "session": sess, "instrument": "phq9", "rater": "patient",
        "target": None, "total": phq, "phq9_9": (rng.random(n) < 0.02).astype(float)})
    cl = rng.random(n) < 0.2
    cparts = np.clip(parts[cl] + rng.integers(-1, 3, size=(int(cl.sum()), 3)), 4, 20)
    clin = pd.DataFrame({
        "organization": "o1", "clinician": (ep[cl] % 500).astype(str),
        "patient": ep[cl].astype(str), "episode": ep[cl], "session": sess[cl],
        "instrument": "wai_sr_t", "rater": "clinician", "target": "clinician",
        "total": cparts.sum(axis=1), "goal": cparts[:, 0], "task": cparts[:, 1],
        "bond": cparts[:, 2]})
    return pd.concat([wai, out, clin], ignore_index=True)
