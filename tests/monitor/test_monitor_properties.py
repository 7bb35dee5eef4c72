"""Properties: the three ways of running a rule agree on any series; events are sane;
merged rupture events agree between batch and incremental and keep their keys."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bordin.monitor import EpisodeMonitor, detect_ruptures, monitor_frame, rules
from bordin.monitor.batch import Watch

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
    m = EpisodeMonitor(episode="e", rules=[rule], per_scale=True)
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
        al = monitor_frame(adm, rules=[rule], discrepancy=False, outcomes=False, risk=False,
                           per_scale=True)
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


# Two scales of one rating; a subscale score may be missing at a session (NaN).
two_scales = st.lists(
    st.tuples(st.integers(1, 2), st.integers(20, 60), st.one_of(st.none(), st.integers(4, 20))),
    min_size=1, max_size=16,
).map(lambda steps: pd.DataFrame({
    "episode": "e", "session": np.cumsum([g for g, _, _ in steps]).astype(int),
    "instrument": "wai_sr", "rater": "patient", "target": "clinician",
    "total": [float(t) for _, t, _ in steps],
    "bond": [np.nan if b is None else float(b) for _, _, b in steps]}))

_COLS = ["start", "session", "state", "scale", "lowest", "observed", "baseline", "threshold",
         "depth", "lowest_score", "repaired_at"]


def _events(adm: pd.DataFrame, rule: Watch) -> pd.DataFrame:
    al = monitor_frame(adm, rules=[rule], discrepancy=False, outcomes=False, risk=False)
    return al.loc[al["kind"] == "rupture"].set_index("dedupe_key").sort_index()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(adm=two_scales, which=st.integers(0, len(RULES) - 1), on_total=st.booleans())
def test_merged_events_agree_and_keep_their_keys(adm: pd.DataFrame, which: int,
                                                 on_total: bool) -> None:
    # Every scale raises alerts, or only the total does (the bond is then evidence).
    rule = Watch(RULES[which], triggers=("total",) if on_total else None)
    bat = _events(adm, rule)
    if on_total:
        assert (bat["scale"] == "total").all()
    m = EpisodeMonitor(episode="e", rules=[rule])
    for r in adm.itertuples():
        m.add(session=int(r.session), instrument="wai_sr",
              scores={"total": r.total, "bond": r.bond})
    inc = m.alerts()
    inc = inc.loc[inc["kind"] == "rupture"].set_index("dedupe_key").sort_index()
    # Running rules: the incremental monitor's alerts are the batch's, field by field
    # (equal to the last bit: the same arithmetic in the same order).
    assert list(inc.index) == list(bat.index)
    pd.testing.assert_frame_equal(inc[_COLS], bat[_COLS], check_dtype=False, rtol=0, atol=0)
    # An alert's key, once raised, stays: each prefix of the series raises only keys
    # that the whole series has (events only grow; two events never merge later).
    for k in range(1, len(adm)):
        assert set(_events(adm.iloc[:k], rule).index) <= set(bat.index)
    # One alert per rupture: never more alerts than per-scale events, one per start.
    per = monitor_frame(adm, rules=[rule], discrepancy=False, outcomes=False, risk=False,
                        per_scale=True)
    assert len(bat) <= int((per["kind"] == "rupture").sum())
    assert bat["start"].is_unique
