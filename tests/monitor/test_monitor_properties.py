"""Properties: the three ways of running a rule agree on any series; events are sane."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bordin.monitor import EpisodeMonitor, detect_ruptures, monitor_frame, rules

RULES = [rules.PersonalSDRule(k=1.0, window=3), rules.PersonalSDRule(k=2.0, min_prior=2),
         rules.CombinedRule(k=1.0, population_sd=2.0, repair_to="threshold"),
         rules.DropRule(min_drop=2.0, window=2), rules.CutoffRule(cutoff=40.0, window=4)]

series = st.lists(
    st.tuples(st.integers(1, 3), st.one_of(st.integers(20, 60).map(float),
                                           st.floats(20, 60, allow_nan=False).map(
                                               lambda x: round(x, 1)))),
    min_size=0, max_size=18,
).map(lambda steps: pd.Series([v for _, v in steps],
                              index=np.cumsum([g for g, _ in steps]).astype(int)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=series, which=st.integers(0, len(RULES) - 1))
def test_detect_incremental_and_batch_agree(s: pd.Series, which: int) -> None:
    rule = RULES[which]
    ev = detect_ruptures(s, rule)
    exp = [(e.start, e.state, e.lowest, e.repaired_at, e.threshold, e.depth) for e in ev]
    m = EpisodeMonitor(episode="e", rules=[rule])
    for sess, v in s.items():
        m.add(session=int(sess), instrument="wai_sr", scores={"total": float(v)})
    inc = m.alerts()
    inc = inc.loc[(inc["kind"] == "rupture")].sort_values("start")
    got = [(int(a.start), a.state, int(a.lowest),
            None if np.isnan(a.repaired_at) else int(a.repaired_at), a.threshold, a.depth)
           for a in inc.itertuples()]
    assert got == exp
    if len(s):
        adm = pd.DataFrame({"episode": "e", "session": s.index, "instrument": "wai_sr",
                            "rater": "patient", "target": "clinician", "total": s.to_numpy()})
        al = monitor_frame(adm, rules=[rule], discrepancy=False, outcomes=False, risk=False)
        al = al.loc[al["kind"] == "rupture"].sort_values("start")
        bat = [(int(a.start), a.state, int(a.lowest),
                None if np.isnan(a.repaired_at) else int(a.repaired_at), a.threshold, a.depth)
               for a in al.itertuples()]
        assert bat == exp


@settings(max_examples=60, deadline=None)
@given(s=series)
def test_events_are_ordered_disjoint_and_consistent(s: pd.Series) -> None:
    for rule in RULES:
        ev = detect_ruptures(s, rule)
        last_end = -np.inf
        for e in ev:
            assert e.start > last_end  # events never overlap
            assert e.start <= e.lowest
            assert e.lowest_score <= e.start_score
            if e.state == "repaired":
                assert e.start < e.repaired_at <= e.start + rule.window
                assert e.lowest < e.repaired_at
                last_end = e.repaired_at
            elif e.state == "unrepaired":
                assert s.index.max() >= e.start + rule.window
                last_end = e.start + rule.window
            else:
                assert s.index.max() < e.start + rule.window
                assert e is ev[-1]  # an open event is the last one


int_series = st.lists(st.integers(20, 60), max_size=18).map(
    lambda xs: pd.Series([float(x) for x in xs], index=range(1, len(xs) + 1), dtype=float))


@settings(max_examples=30, deadline=None)
@given(s=int_series, shift=st.integers(-10, 10))
def test_personal_rules_ignore_a_shift_of_level(s: pd.Series, shift: int) -> None:
    # Adding a constant to every score moves the baseline, not the events (whole-number
    # scores keep every sum exact, so ties stay ties).
    for rule in (RULES[0], dataclasses.replace(RULES[2], population_sd=3.0)):
        a = [(e.start, e.state, e.repaired_at) for e in detect_ruptures(s, rule)]
        b = [(e.start, e.state, e.repaired_at) for e in detect_ruptures(s + shift, rule)]
        assert a == b
