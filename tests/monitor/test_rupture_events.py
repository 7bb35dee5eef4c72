"""Rupture alerts for clinicians: one per event, updated while it goes on, repaired
ones recorded but not on the queue, stable keys, and a default that is right more often."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from monitor_gen import clinic_frame
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import StatisticalWarning
from bordin.monitor import EpisodeMonitor, estimate_population_sd, monitor_frame, rules
from bordin.monitor.batch import DEFAULT_WATCHES, Watch
from bordin.monitor.service import clinician_facing, population_sd, store_alerts
from bordin.store.models.alerts import Alert
from bordin.store.models.core import Episode

POP = {"wai_sr.total": 6.0, "wai_sr.goal": 2.0, "wai_sr.task": 2.0, "wai_sr.bond": 2.0}
# Five steady sessions, then the alliance falls on every scale at session 6.
GOAL = [15, 16, 15, 16, 15, 9]
TASK = [16, 15, 16, 15, 16, 9]
BOND = [14, 15, 14, 15, 14, 8]


def _frame(goal: list[float], task: list[float], bond: list[float], episode: str = "E1"
           ) -> pd.DataFrame:
    g, t, b = (np.asarray(x, dtype=float) for x in (goal, task, bond))
    return pd.DataFrame({"episode": episode, "session": np.arange(1, g.size + 1),
                         "instrument": "wai_sr", "rater": "patient", "target": "clinician",
                         "total": g + t + b, "goal": g, "task": t, "bond": b})


def _ruptures(al: pd.DataFrame) -> pd.DataFrame:
    return al.loc[al["kind"] == "rupture"].reset_index(drop=True)


def test_a_fall_on_all_four_scales_is_one_alert_naming_them() -> None:
    adm = _frame(GOAL, TASK, BOND)
    al = _ruptures(monitor_frame(adm, population_sd=POP))
    assert len(al) == 1
    a = al.iloc[0]
    assert (a["scale"], a["start"], a["state"]) == ("total", 6, "open")
    assert list(a["scales"]) == ["total", "goal", "task", "bond"]
    # The evidence is the total's: it fell from its mean of 45.4 to 26.
    assert a["baseline"] == pytest.approx(45.4) and a["observed"] == 26.0
    assert a["scales"]["bond"] == pytest.approx(14.4 - 8)
    assert a["pathway"] == "CARE,EXPECTANCY,SPECIFIC"
    # The same fall counted per scale, as before: four alerts.
    per = _ruptures(monitor_frame(adm, population_sd=POP, per_scale=True))
    assert sorted(per["scale"]) == ["bond", "goal", "task", "total"]
    # The incremental monitor raises the same one alert.
    m = EpisodeMonitor.from_frame(adm, episode="E1", population_sd=POP)
    inc = _ruptures(m.alerts())
    assert list(inc["dedupe_key"]) == list(al["dedupe_key"])
    assert inc["scales"].iloc[0] == a["scales"]


def test_only_the_bond_moving_routes_to_care() -> None:
    adm = _frame([*GOAL[:5], 15], [*TASK[:5], 16], BOND)
    a = _ruptures(monitor_frame(adm, population_sd={**POP, "wai_sr.total": 1.0})).iloc[0]
    assert list(a["scales"]) == ["total", "bond"] and a["pathway"] == "CARE"


def test_a_subscale_alone_raises_nothing_under_the_default() -> None:
    # The default raises alerts on the total; a subscale that falls alone is not enough.
    adm = _frame(GOAL, [*TASK[:5], 17], [*BOND[:5], 16])
    assert _ruptures(monitor_frame(adm, population_sd=POP)).empty
    anyscale = [Watch(rules.CombinedRule(k=1.0))]
    al = _ruptures(monitor_frame(adm, rules=anyscale, population_sd=POP))
    assert list(al["scale"]) == ["goal"]


def test_an_ongoing_rupture_over_three_sessions_is_one_alert_updated() -> None:
    m = EpisodeMonitor(episode="E1", population_sd=POP)
    adm = _frame([*GOAL, 9, 10], [*TASK, 9, 9], [*BOND, 8, 9])
    keys, sessions = set(), []
    for r in adm.itertuples():
        new = m.add(session=r.session, instrument="wai_sr",
                    scores={"total": r.total, "goal": r.goal, "task": r.task, "bond": r.bond})
        for a in new:
            if a["kind"] == "rupture":
                keys.add(a["dedupe_key"])
                sessions.append((a["session"], a["state"]))
    assert len(keys) == 1  # raised at 6, updated at 7 and 8
    assert sessions == [(6, "open"), (7, "open"), (8, "open")]
    assert len(_ruptures(m.alerts())) == 1


def test_a_rupture_still_unrepaired_after_its_window_stays_one_alert() -> None:
    # A three-point drop, repair within two sessions: 50 -> 44 (starts at 3), still 44
    # at 5 (unrepaired), a further fall to 40 at 6 (the rule's second event), back to 50
    # at 7: one rupture for the clinician. A new fall at 8 is a new rupture.
    rule = rules.DropRule(min_drop=3.0, window=2)
    totals = [50.0, 50.0, 44.0, 44.0, 44.0, 40.0, 50.0, 44.0]
    adm = pd.DataFrame({"episode": "E1", "session": range(1, 9), "instrument": "wai_sr",
                        "rater": "patient", "target": "clinician", "total": totals})
    per = _ruptures(monitor_frame(adm, rules=[rule], per_scale=True))
    assert list(per["start"]) == [3, 6, 8]
    al = _ruptures(monitor_frame(adm, rules=[rule]))
    assert list(zip(al["start"], al["state"], al["lowest_score"], strict=True)) == [
        (3, "unrepaired", 40.0), (8, "open", 44.0)]
    m = EpisodeMonitor.from_frame(adm, episode="E1", rules=[rule])
    assert sorted(_ruptures(m.alerts())["dedupe_key"]) == sorted(al["dedupe_key"])


def test_keys_are_stable_across_reruns_and_as_sessions_arrive() -> None:
    adm = clinic_frame(30, seed=11)
    pop = estimate_population_sd(adm)
    full = monitor_frame(adm, population_sd=pop)
    again = monitor_frame(adm.sample(frac=1.0, random_state=1), population_sd=pop)
    assert full["dedupe_key"].is_unique
    assert sorted(full["dedupe_key"]) == sorted(again["dedupe_key"])
    rup = full.loc[full["kind"] == "rupture", "dedupe_key"]
    assert len(rup) and rup.str.contains("|rupture|", regex=False).all()
    # Cut the clinic at every session: each rupture key raised then is still raised.
    for last in range(2, int(adm["session"].max())):
        part = monitor_frame(adm.loc[adm["session"] <= last], population_sd=pop)
        assert set(part.loc[part["kind"] == "rupture", "dedupe_key"]) <= set(rup)


def test_the_combined_default_warns_when_judged_against_too_few_episodes() -> None:
    adm = _frame(GOAL, TASK, BOND)
    with pytest.warns(StatisticalWarning, match="population_sd"):
        monitor_frame(adm)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StatisticalWarning)
        monitor_frame(adm, population_sd=POP)


# ------------------------------------------------------------------ the store


def test_a_repaired_rupture_is_recorded_but_not_clinician_facing(
    factory: sessionmaker[Session],
) -> None:
    # E1's rupture at 6 is back at 7 before the monitor first runs; E2's is still open.
    e1 = _frame([*GOAL, 16], [*TASK, 16], [*BOND, 15])
    e2 = _frame(GOAL, TASK, BOND, episode="E2")
    al = monitor_frame(pd.concat([e1, e2]), population_sd=POP)
    rup = _ruptures(al)
    assert sorted(rup["state"]) == ["open", "repaired"]
    with factory() as db:
        res = store_alerts(db, al)
        assert (res.inserted, res.recorded) == (2, 1)
        stored = {a.evidence["state"]: a for a in db.scalars(select(Alert))}
        assert stored["repaired"].state == "resolved"  # kept, not on the queue
        assert stored["repaired"].severity == "low"
        assert stored["open"].state == "open"
        queue = db.scalars(select(Alert).where(Alert.state == "open")).all()
        assert [a.evidence["state"] for a in queue] == ["open"]
    # E2's rupture is repaired later: its row keeps the clinician's side (still open,
    # unacknowledged) and its evidence says repaired.
    e2b = _frame([*GOAL, 16], [*TASK, 16], [*BOND, 15], episode="E2")
    with factory() as db:
        res = store_alerts(db, monitor_frame(pd.concat([e1, e2b]), population_sd=POP))
        assert (res.inserted, res.updated, res.unchanged) == (0, 1, 1)
        a = db.scalars(select(Alert).join(Episode).where(Episode.code == "E2")).one()
        assert (a.state, a.evidence["state"], a.evidence["repaired_at"]) == (
            "open", "repaired", 7)
    assert clinician_facing({"kind": "rupture", "evidence": {"state": "unrepaired"}})
    assert not clinician_facing({"kind": "rupture", "evidence": {"state": "repaired"}})
    assert clinician_facing({"kind": "risk", "evidence": {"state": "open"}})


def test_rerunning_never_duplicates(factory: sessionmaker[Session]) -> None:
    adm = pd.concat([_frame([*GOAL, 9], [*TASK, 9], [*BOND, 8]),
                     _frame([*GOAL, 16], [*TASK, 16], [*BOND, 15], episode="E2")])
    with factory() as db:
        first = store_alerts(db, monitor_frame(adm, population_sd=POP))
        again = store_alerts(db, monitor_frame(adm, population_sd=POP))
        m = EpisodeMonitor.from_frame(adm, episode="E1", population_sd=POP)
        inc = store_alerts(db, m.alerts())
        n = len(db.scalars(select(Alert)).all())
    assert first.inserted == n == 2
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert (inc.inserted, inc.updated) == (0, 0)


def test_per_scale_rows_of_an_older_store_are_taken_over(
    factory: sessionmaker[Session],
) -> None:
    adm = _frame(GOAL, TASK, BOND)
    with factory() as db:  # a store filled when the monitor raised one alert per scale
        old = store_alerts(db, monitor_frame(adm, population_sd=POP, per_scale=True))
        assert old.inserted == 4
        goal = db.scalars(select(Alert).where(Alert.dedupe_key.contains("|goal|"))).one()
        goal.state = "acknowledged"
        db.commit()
    with factory() as db:
        new = store_alerts(db, monitor_frame(adm, population_sd=POP))
        assert (new.inserted, new.updated) == (0, 1)  # the acknowledged row, re-keyed
        rows = db.scalars(select(Alert).order_by(Alert.id)).all()
        assert len(rows) == 4
        event = [a for a in rows if "|rupture|" in a.dedupe_key]
        assert len(event) == 1 and event[0].state == "acknowledged"
        assert list(event[0].evidence["scales"]) == ["total", "goal", "task", "bond"]
        again = store_alerts(db, monitor_frame(adm, population_sd=POP))
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1)


def test_population_sd_from_the_store_is_the_frame_estimate(
    factory: sessionmaker[Session],
) -> None:
    from datetime import UTC, datetime

    from bordin.store.queries import administrations_frame
    from bordin.store.submit import submit_administration

    rng = np.random.default_rng(3)
    with factory() as db:
        for code in ("E1", "E2"):
            ep = db.scalars(select(Episode).where(Episode.code == code)).one()
            for s in range(1, 5):
                submit_administration(
                    db, episode_id=ep.id, session_number=s, instrument_id="wai_sr",
                    rater="patient", target="clinician",
                    responses={i: int(rng.integers(1, 6)) for i in range(1, 13)},
                    authored_at=datetime(2024, 1, s, tzinfo=UTC),
                    idempotency_key=f"{code}-{s}")
        got = population_sd(db)
        want = estimate_population_sd(administrations_frame(db))
    assert set(got) == set(want) and len(got) == 4
    for k in want:
        # The database sums the series in another order: equal up to rounding.
        assert got[k] == pytest.approx(want[k], rel=1e-9)


# ------------------------------------------------------------------ the default
def _match(det: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """Greedy one-to-one: per alert, its true rupture (same episode, start within one
    session) or -1, as benchmarks/monitor_detection.py matches them."""
    used = np.zeros(len(truth), dtype=bool)
    out = np.full(len(det), -1)
    for k, (ep, start) in enumerate(zip(det["episode"], det["start"], strict=True)):
        d = np.abs(truth["start_session"].to_numpy() - start)
        ok = (truth["episode"].to_numpy() == ep) & (d <= 1) & ~used
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmin(d[ok])])
            used[j] = True
            out[k] = j
    return out


def _unrepaired_precision(al: pd.DataFrame, truth: pd.DataFrame) -> tuple[int, int]:
    """(right, said): unrepaired alerts on the patients' WAI-SR, and how many of them
    match a true rupture not repaired within 5 sessions."""
    w = al.loc[(al["kind"] == "rupture") & (al["instrument"] == "wai_sr")
               & (al["rater"] == "patient")].sort_values(["episode", "start"], kind="stable")
    j = _match(w, truth)
    rep = truth["repaired_session"].astype("float").to_numpy()
    unrep = np.isnan(rep) | (rep - truth["start_session"].to_numpy() > 5)
    said = (w["state"] == "unrepaired").to_numpy()
    right = said & (j >= 0) & unrep[np.maximum(j, 0)]
    return int(right.sum()), int(said.sum())


@pytest.mark.slow
def test_the_default_says_unrepaired_rightly_more_often_than_the_old_default() -> None:
    import bordin.simulate as sim

    data = sim.clinic("clinic", seed=7)  # 1,500 episodes; seed 7 is in neither of the
    adm = data.administrations            # benchmark's choice (1-3) or report (4-6) sets
    truth = data.truth.ruptures.reset_index(drop=True)
    old_default = [
        Watch(rules.CutoffRule(), scales=("total",)),
        Watch(rules.DropRule(min_drop=1.0), instruments=("srs",), scales=("total",)),
        Watch(rules.PersonalSDRule(k=2.0)), Watch(rules.CombinedRule(k=2.0))]
    opts = {"discrepancy": False, "outcomes": False, "risk": False}
    old = monitor_frame(adm, rules=old_default, per_scale=True, **opts)
    new = monitor_frame(adm, **opts)
    old_right, old_said = _unrepaired_precision(old, truth)
    new_right, new_said = _unrepaired_precision(new, truth)
    # Seen when written: old 8/109 = .07, new 7/12 = .58 (benchmark, seeds 4-6 pooled:
    # .07 and .38). The floor .25 lies between, far from both: a default that fell back
    # to the old rules, or alerts matched by chance, would not reach it.
    floor = 0.25
    assert old_right / old_said < floor
    assert new_said >= 8 and new_right / new_said > floor
    # And far fewer alerts: clinician-facing (not repaired) per 100 episodes.
    n_ep = adm["episode"].nunique()
    old_load = 100 * int((old["kind"] == "rupture").sum()) / n_ep
    new_load = 100 * int(((new["kind"] == "rupture") & (new["state"] != "repaired")).sum()) / n_ep
    assert new_load < old_load / 5  # seen: 13 against 246
    assert DEFAULT_WATCHES[0].rule.key == new.loc[new["kind"] == "rupture", "rule"].iloc[0]
