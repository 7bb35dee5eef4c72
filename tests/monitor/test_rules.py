"""Hand-built series for every rupture rule, with the numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bordin.errors import InputError
from bordin.monitor import RuptureEvent, detect_ruptures, rules


def _sd(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def test_v_shaped_rupture_repaired_in_time() -> None:
    # Prior 50, 52, 51, 50: mean 50.75, SD 0.9574; 2 SD threshold 48.835.
    ev = detect_ruptures([50, 52, 51, 50, 41, 51, 52], rule="personal_sd", k=2)
    assert len(ev) == 1
    e = ev[0]
    assert (e.start, e.lowest, e.state, e.repaired_at) == (5, 5, "repaired", 6)
    assert e.baseline == pytest.approx(50.75, abs=1e-12)
    assert e.threshold == pytest.approx(50.75 - 2 * _sd([50, 52, 51, 50]), abs=1e-12)
    assert e.depth == pytest.approx(9.75, abs=1e-12)
    assert ev.reason is None


def test_repair_to_baseline_versus_threshold() -> None:
    # Session 6 (49) is above the threshold 48.835 but below the baseline 50.75.
    s = [50, 52, 51, 50, 41, 49, 51]
    base = detect_ruptures(s, rule="personal_sd", k=2, repair_to="baseline")
    thr = detect_ruptures(s, rule="personal_sd", k=2, repair_to="threshold")
    assert base[0].repaired_at == 7
    assert thr[0].repaired_at == 6


def test_unrepaired_decline_and_open_event() -> None:
    s = [50, 52, 51, 50, 41, 42, 43]
    open_ = detect_ruptures(s, rule="personal_sd", k=2, window=3)
    assert [(e.start, e.state) for e in open_] == [(5, "open")]
    closed = detect_ruptures([*s, 44], rule="personal_sd", k=2, window=3)
    # Window 3 from session 5 ends at session 8: no return to 50.75 by then.
    assert closed[0].state == "unrepaired"
    assert closed[0].repaired_at is None
    assert closed[0].lowest == 5
    assert closed[0].lowest_score == 41


def test_multi_session_decline_with_sudden_repair() -> None:
    # Gumz et al.'s second pattern: a slow slide, then an abrupt return.
    s = [50, 51, 50, 51, 49, 47, 45, 43, 51]
    ev = detect_ruptures(s, rule="personal_sd", k=2, window=5)
    prior = [50, 51, 50, 51]
    thr = sum(prior) / 4 - 2 * _sd(prior)  # 49.345: session 5 (49) is already below
    assert ev[0].threshold == pytest.approx(thr, abs=1e-12)
    assert (ev[0].start, ev[0].lowest, ev[0].lowest_score) == (5, 8, 43)
    assert (ev[0].state, ev[0].repaired_at) == ("repaired", 9)
    assert ev[0].depth == pytest.approx(50.5 - 43, abs=1e-12)
    # The same slide with a window too short for it is unrepaired.
    short = detect_ruptures(s, rule="personal_sd", k=2, window=3)
    assert short[0].state == "unrepaired"


def test_ceiling_series_gives_no_event_and_a_flag() -> None:
    ev = detect_ruptures([40] * 10, rule="personal_sd", maximum=40)
    assert list(ev) == []
    assert ev.ceiling is True
    assert "variability" in ev.reason
    comb = detect_ruptures([40] * 10, rule="combined", population_sd=4.0, maximum=40)
    assert list(comb) == [] and comb.ceiling is True
    # A real fall from the ceiling is seen by the combined rule (clinic SD 4: 40-8=32).
    fall = detect_ruptures([40, 40, 40, 40, 31, 40], rule="combined", population_sd=4.0)
    assert [(e.start, e.threshold, e.state) for e in fall] == [(5, 32.0, "repaired")]
    near = detect_ruptures([40, 40, 40, 40, 33, 40], rule="combined", population_sd=4.0)
    assert list(near) == []


def test_combined_takes_the_stricter_sd() -> None:
    prior = [50, 52, 51, 50]
    within = _sd(prior)  # 0.957
    ev = detect_ruptures([*prior, 47, 51], rule="combined", population_sd=2.0)
    assert list(ev) == []  # 50.75 - 2*2 = 46.75 and 47 is not below
    ev = detect_ruptures([*prior, 46, 51], rule="combined", population_sd=2.0)
    assert ev[0].threshold == pytest.approx(46.75, abs=1e-12)
    ev = detect_ruptures([*prior, 46, 51], rule="combined", population_sd=0.5)
    assert ev[0].threshold == pytest.approx(50.75 - 2 * within, abs=1e-12)


def test_single_session_and_short_series() -> None:
    for rule, kw in [("personal_sd", {}), ("drop", {}), ("combined", {"population_sd": 3.0})]:
        ev = detect_ruptures([30], rule=rule, **kw)
        assert list(ev) == [] and ev.reason.startswith("too few sessions")
    ev = detect_ruptures([50, 52, 40], rule="personal_sd", min_prior=3)
    assert list(ev) == [] and "needs at least 4" in ev.reason
    ev = detect_ruptures([30], rule="cutoff", cutoff=36)
    assert [(e.start, e.state) for e in ev] == [(1, "open")]


def test_gaps_count_by_session_number() -> None:
    # Sessions 1-4, missed 5 and 6, low at 7, back at 9. With window 2 the repair
    # at 9 is inside (9 - 7 = 2); at window 1 it is not.
    s = pd.Series([50, 52, 51, 50, 41, 43, 51], index=[1, 2, 3, 4, 7, 8, 9])
    ev = detect_ruptures(s, rule="personal_sd", window=2)
    assert (ev[0].start, ev[0].state, ev[0].repaired_at) == (7, "repaired", 9)
    ev = detect_ruptures(s, rule="personal_sd", window=1)
    assert (ev[0].start, ev[0].state) == (7, "unrepaired")
    # None/NaN in a plain sequence mark missed sessions and keep numbering.
    seq = [50, 52, None, 51, 50, float("nan"), 41, 51]
    ev = detect_ruptures(seq, rule="personal_sd")
    assert (ev[0].start, ev[0].repaired_at) == (7, 8)


def test_drop_rule_srs() -> None:
    # OpenFIT: down 1 point or more since the last session (across a gap).
    s = pd.Series([38.0, 38.5, 37.4, 37.9, 38.6, 36.0], index=[1, 2, 3, 5, 6, 7])
    ev = detect_ruptures(s, rule="drop", min_drop=1.0)
    assert [(e.start, e.baseline, e.state, e.repaired_at) for e in ev] == [
        (3, 38.5, "repaired", 6), (7, 38.6, "open", None)]
    assert ev[0].threshold == pytest.approx(37.5, abs=1e-12)


def test_cutoff_rule_srs() -> None:
    ev = detect_ruptures([37, 35, 34, 36.5, 38, 30, 31, 32, 33, 33, 33], rule="cutoff",
                         cutoff=36, window=3)
    assert [(e.start, e.lowest, e.state, e.repaired_at) for e in ev] == [
        (2, 3, "repaired", 4), (6, 6, "unrepaired", None), (10, 10, "open", None)]
    assert ev[0].depth == pytest.approx(2.0)


def test_strauss_one_sd_finds_more_than_stiles_two_sd() -> None:
    s = [50, 52, 51, 50, 49.5, 51, 52]
    assert len(detect_ruptures(s, rule="personal_sd", k=1)) == 1
    assert len(detect_ruptures(s, rule="personal_sd", k=2)) == 0


def test_series_reference_uses_the_whole_series() -> None:
    s = [50, 52, 51, 50, 41, 51, 52]
    m, sd = float(np.mean(s)), float(np.std(s, ddof=1))
    ev = detect_ruptures(s, rule="personal_sd", k=1, reference="series")
    assert ev[0].threshold == pytest.approx(m - sd, abs=1e-12)
    assert ev[0].start == 5


def test_event_to_dict_and_summary_are_json_safe() -> None:
    import json

    ev = detect_ruptures([50, 52, 51, 50, 41, 51, 52], rule="personal_sd")
    d = json.loads(json.dumps(ev.to_dict()))
    assert d["events"][0]["state"] == "repaired"
    assert isinstance(ev[0], RuptureEvent)
    assert list(ev.summary()["start"]) == [5]
    fig = ev.plot()
    assert fig.axes


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rule": "nope"}, "rule"),
        ({"rule": "personal_sd", "k": -1}, "k"),
        ({"rule": "personal_sd", "window": 0}, "window"),
        ({"rule": "personal_sd", "min_prior": 1}, "min_prior"),
        ({"rule": "personal_sd", "repair_to": "mean"}, "repair_to"),
        ({"rule": "personal_sd", "bogus": 1}, "bogus"),
        ({"rule": "combined"}, "population_sd"),
        ({"rule": "cutoff"}, "cutoff"),
        ({"rule": "drop", "min_drop": 0}, "min_drop"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as ei:
        detect_ruptures([50, 52, 51, 50, 41, 51], **kwargs)
    assert ei.value.field == field


@pytest.mark.parametrize(
    ("scores", "field"),
    [
        ("abc", "scores"),
        ([1, "x", 3], "scores[1]"),
        ([1, float("inf")], "scores[1]"),
        (pd.Series([1, 2], index=[1, 1]), "scores.index"),
        (pd.Series([1, 2], index=[1, 1.5]), "scores.index"),
    ],
)
def test_bad_series_name_the_field(scores: object, field: str) -> None:
    with pytest.raises(InputError) as ei:
        detect_ruptures(scores)
    assert ei.value.field == field


def test_rules_module_lists_the_rules_with_citations() -> None:
    assert set(rules.RULES) == {"cutoff", "drop", "personal_sd", "combined"}
    for cls in rules.RULES.values():
        assert cls.citation
    r = rules.get("personal_sd", k=1)
    assert r.key.startswith("personal_sd(") and "k=1" in r.key
