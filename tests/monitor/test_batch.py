"""Batch, single-series and incremental monitoring agree; the frame API behaves."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from monitor_gen import clinic_frame

from bordin.errors import DataDroppedWarning, InputError
from bordin.monitor import (
    EpisodeMonitor,
    detect_ruptures,
    estimate_population_sd,
    monitor_frame,
    rules,
)
from bordin.monitor.batch import ALERT_COLUMNS, Watch

RULES = [rules.PersonalSDRule(k=2.0), rules.PersonalSDRule(k=1.0, repair_to="threshold"),
         rules.CombinedRule(k=2.0, window=3), rules.DropRule(min_drop=2.0),
         rules.PersonalSDRule(k=1.5, reference="series")]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return clinic_frame(30, seed=7)


def _alerts(frame: pd.DataFrame, *, per_scale: bool = False) -> pd.DataFrame:
    return monitor_frame(frame, rules=RULES, population_sd=2.5, discrepancy_threshold=3.0,
                         per_scale=per_scale)


def test_batch_equals_detect_ruptures_series_by_series(frame: pd.DataFrame) -> None:
    import dataclasses

    al = _alerts(frame, per_scale=True)
    rup = al.loc[al["kind"] == "rupture"]
    by_key = {k: g.sort_values("start") for k, g in
              rup.groupby(["episode", "instrument", "scale", "rule"])}
    alliance = frame.loc[frame["instrument"].isin(["wai_sr", "wai_sr_t"])]
    long = alliance.melt(id_vars=["episode", "instrument", "session"],
                         value_vars=["total", "goal", "task", "bond"], var_name="scale")
    n_checked = 0
    for (ep, ins, scale), grp in long.groupby(["episode", "instrument", "scale"]):
        s = pd.Series(grp["value"].to_numpy(), index=grp["session"].to_numpy())
        for r in RULES:
            key = r.key
            if isinstance(r, rules.CombinedRule):
                r = dataclasses.replace(r, population_sd=2.5)
            ev = detect_ruptures(s, r, scale=scale)
            got = by_key.get((ep, ins, scale, key), rup.iloc[:0])
            exp = [(e.start, e.state, e.lowest, e.repaired_at, e.threshold) for e in ev]
            obs = [(int(a.start), a.state, int(a.lowest),
                    None if np.isnan(a.repaired_at) else int(a.repaired_at), a.threshold)
                   for a in got.itertuples()]
            assert obs == exp, (ep, ins, scale, key)
            n_checked += len(exp)
    assert n_checked > 15  # the comparison saw real events


@pytest.mark.parametrize("per_scale", [False, True])
def test_incremental_replay_equals_batch(frame: pd.DataFrame, per_scale: bool) -> None:
    # The batch reports the clinic as it is now; the incremental monitor also keeps
    # what it raised along the way (a not-on-track run that ended, a whole-series
    # event that later data dissolved). So: every batch alert is in the incremental
    # set with the same evidence, and for the running rules the two sets are equal.
    al = _alerts(frame, per_scale=per_scale).drop(columns=["params", "suggestions"])
    running = [r.key for r in RULES if getattr(r, "reference", "running") == "running"]
    n = 0
    for ep in frame["episode"].unique():
        m = EpisodeMonitor.from_frame(frame, episode=ep, rules=RULES, population_sd=2.5,
                                      discrepancy_threshold=3.0, per_scale=per_scale)
        inc = m.alerts().drop(columns=["params", "suggestions"]).set_index("dedupe_key")
        bat = al.loc[al["episode"] == ep].set_index("dedupe_key")
        assert set(bat.index) <= set(inc.index), ep
        run_inc = {k for k, r in inc["rule"].items() if r in running}
        run_bat = {k for k, r in bat["rule"].items() if r in running}
        assert run_inc == run_bat, ep
        a = inc.loc[sorted(bat.index)]
        b = bat.loc[sorted(bat.index)]
        cols = ["state", "start", "session", "lowest", "severity", "pathway", "kind", "scale",
                "scales"]
        if b.empty:
            continue
        pd.testing.assert_frame_equal(a[cols], b[cols], check_dtype=False)
        for c in ["baseline", "threshold", "depth", "observed", "lowest_score", "repaired_at"]:
            # Same arithmetic in the same order: equal to the last bit.
            np.testing.assert_array_equal(a[c].astype(float).to_numpy(),
                                          b[c].astype(float).to_numpy())
        n += len(b)
    assert n > 20


def test_rerun_gives_the_same_dedupe_keys(frame: pd.DataFrame) -> None:
    a = _alerts(frame)
    b = _alerts(frame.sample(frac=1.0, random_state=3))  # row order does not matter
    assert a["dedupe_key"].is_unique
    assert sorted(a["dedupe_key"]) == sorted(b["dedupe_key"])


def test_alert_columns_feedback_and_severity(frame: pd.DataFrame) -> None:
    al = monitor_frame(frame, population_sd=estimate_population_sd(frame))
    assert list(al.columns) == ALERT_COLUMNS
    # The default raises rupture alerts on the total; the subscales that moved with it
    # route the advice: the bond to CARE, goals and tasks to EXPECTANCY and SPECIFIC.
    rup = al.loc[(al["kind"] == "rupture") & (al["state"] != "repaired")]
    assert len(rup) and (rup["scale"] == "total").all()
    paths = {"bond": {"CARE"}, "goal": {"EXPECTANCY", "SPECIFIC"},
             "task": {"EXPECTANCY", "SPECIFIC"}}
    with_subscales = 0
    for r in rup.itertuples():
        assert next(iter(r.scales)) == "total"
        subs = [sc for sc in r.scales if sc != "total"]
        with_subscales += bool(subs)
        want = set().union(*(paths[sc] for sc in subs)) if subs else {
            "CARE", "EXPECTANCY", "SPECIFIC"}
        assert set(r.pathway.split(",")) == want, r.scales
    assert with_subscales > 0  # the routing by subscale was exercised
    risk = al.loc[al["kind"] == "risk"]
    expected = frame.loc[frame["phq9_9"] > 0]
    assert len(risk) == len(expected)
    assert (risk["severity"] == "urgent").all() and (risk["pathway"] == "RISK").all()
    # Risk alerts come first.
    assert (al["kind"].iloc[: len(risk)] == "risk").all()


def test_risk_from_a_responses_frame() -> None:
    adm = pd.DataFrame({"episode": ["e1", "e1"], "session": [1, 2], "instrument": "phq9",
                        "rater": "patient", "total": [20.0, 18.0]})
    resp = pd.DataFrame({"episode": ["e1", "e1"], "session": [1, 2], "instrument": "phq9",
                         "item": ["9", "phq9_9"], "value": [0, 2]})
    al = monitor_frame(adm, responses=resp)
    r = al.loc[al["kind"] == "risk"]
    assert list(r["session"]) == [2] and list(r["observed"]) == [2.0]


def test_watch_restricts_a_rule() -> None:
    adm = pd.DataFrame({"episode": "e1", "session": [1, 2, 3], "instrument": "srs",
                        "rater": "patient", "target": "clinician", "total": [38.0, 34.0, 37.0]})
    al = monitor_frame(adm, rules=[Watch(rules.CutoffRule(), instruments=("srs",))],
                       outcomes=False)
    assert list(al["rule"]) == ["cutoff(cutoff=None,window=5)"] or len(al) == 1
    assert al["start"].tolist() == [2] and al["state"].tolist() == ["repaired"]
    assert al["threshold"].tolist() == [36.0]


def test_duplicates_warn_and_bad_input_names_the_field() -> None:
    adm = pd.DataFrame({"episode": "e1", "session": [1, 1, 2], "instrument": "wai_sr",
                        "rater": "patient", "target": "clinician", "total": [40.0, 41.0, 42.0]})
    with pytest.warns(DataDroppedWarning):
        monitor_frame(adm)
    with pytest.raises(InputError) as ei:
        monitor_frame(adm.drop(columns=["rater"]))
    assert ei.value.field == "administrations.columns"
    bad = adm.assign(session=[1, 2.5, 3])
    with pytest.raises(InputError) as ei:
        monitor_frame(bad)
    assert ei.value.field == "session"
    bad = adm.assign(total=["40", "x", "41"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDroppedWarning)
        with pytest.raises(InputError) as ei:
            monitor_frame(bad)
    assert ei.value.field == "total"
    with pytest.raises(InputError):
        monitor_frame([1, 2, 3])  # type: ignore[arg-type]


def test_empty_and_single_session_frames() -> None:
    adm = pd.DataFrame({"episode": ["e1"], "session": [1], "instrument": ["wai_sr"],
                        "rater": ["patient"], "target": ["clinician"], "total": [40.0]})
    assert monitor_frame(adm).empty
    assert list(monitor_frame(adm.iloc[:0]).columns) == ALERT_COLUMNS


def test_incremental_rejects_out_of_order_and_bad_scores() -> None:
    m = EpisodeMonitor(episode="e1")
    m.add(session=2, instrument="wai_sr", scores={"total": 40})
    with pytest.raises(InputError) as ei:
        m.add(session=2, instrument="wai_sr", scores={"total": 41})
    assert ei.value.field == "session"
    with pytest.raises(InputError) as ei:
        m.add(session=3, instrument="wai_sr", scores={"total": "x"})  # type: ignore[dict-item]
    assert ei.value.field == "scores['total']"
    with pytest.raises(InputError):
        m.add(session=-1, instrument="wai_sr", scores={"total": 40})


def test_incremental_risk_is_immediate() -> None:
    m = EpisodeMonitor(episode="e1")
    new = m.add(session=1, instrument="phq9", scores={"total": 5}, items={"9": 1})
    assert [(a["kind"], a["severity"], a["pathway"]) for a in new] == [
        ("risk", "urgent", "RISK")]


def test_risk_items_column_as_the_store_gives_it() -> None:
    adm = pd.DataFrame({"episode": ["e1", "e1", "e2"], "session": [1, 2, 1],
                        "instrument": "phq9", "rater": "patient",
                        "total": [20.0, 18.0, 9.0], "risk_items": ["", "phq9_9", ""]})
    al = monitor_frame(adm)
    r = al.loc[al["kind"] == "risk"]
    assert list(zip(r["episode"], r["session"], strict=True)) == [("e1", 2)]
    m = EpisodeMonitor.from_frame(adm, episode="e1")
    assert set(m.alerts()["dedupe_key"]) == set(al.loc[al["episode"] == "e1", "dedupe_key"])
    # A skipped risk item (NaN) is not an endorsement.
    m2 = EpisodeMonitor(episode="x")
    assert m2.add(session=1, instrument="phq9", scores={"total": 3},
                  items={"9": float("nan")}) == []


def test_categorical_columns_give_the_same_alerts(frame: pd.DataFrame) -> None:
    # The simulator and Parquet files give categoricals; missing targets among them.
    cat = frame.astype({c: "category" for c in ("episode", "instrument", "rater", "target",
                                                 "clinician", "organization", "patient")})
    a = monitor_frame(frame, population_sd=2.5)
    b = monitor_frame(cat, population_sd=2.5)
    assert sorted(a["dedupe_key"]) == sorted(b["dedupe_key"])


def test_monitor_state_survives_pickling() -> None:
    import pickle

    m = EpisodeMonitor(episode="e1", population_sd=2.0)
    for s, x in enumerate([50, 52, 51, 50, 41], start=1):
        m.add(session=s, instrument="wai_sr", scores={"total": x})
    copy = pickle.loads(pickle.dumps(m))
    a = m.add(session=6, instrument="wai_sr", scores={"total": 51})
    b = copy.add(session=6, instrument="wai_sr", scores={"total": 51})
    assert a == b and [x["state"] for x in a] == ["repaired"]


def test_estimated_population_sd_by_hand(frame: pd.DataFrame) -> None:
    from bordin.monitor import estimate_population_sd

    est = estimate_population_sd(frame)
    w = frame.loc[frame["instrument"] == "wai_sr"]
    by_hand = w.groupby("episode")["bond"].mean().std(ddof=1)
    assert est["wai_sr.bond"] == pytest.approx(by_hand, rel=1e-12)  # same sums, other order
    assert not any(k.startswith("phq9") for k in est)  # alliance scales only
    # The batch's default equals passing the estimate explicitly.
    a = monitor_frame(frame)
    b = monitor_frame(frame, population_sd=est)
    pd.testing.assert_frame_equal(a, b)
