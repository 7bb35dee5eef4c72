"""Risk items (PHQ-9 item 9, CORE-10 item 6) are endorsed about as often as in real
outpatient care: about 10-25% at intake (Simon et al. 2013, Psychiatr Serv 64:1195;
see Parameters.risk_item_location), fewer as treatment works, more in severer patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bordin.simulate as sim

# the published intake range the parameters are calibrated to
LOW, HIGH = 0.10, 0.25


@pytest.fixture(scope="module")
def data() -> sim.SimulatedClinic:
    schedule = (*sim.Parameters().schedule,
                sim.Schedule("core10", "symptoms", "patient", "none", "all"))
    # seed 3 is the data set in which the earlier model endorsed item 9 in ~67% of PHQ-9s
    return sim.clinic("clinic", seed=3, n_episodes=3000, schedule=schedule)


def _risk(data, instrument: str, item: str) -> pd.DataFrame:
    adm = data.administrations
    a = adm.loc[adm["instrument"] == instrument, ["administration_id", "episode", "session",
                                                  "total"]]
    r = data.responses
    v = r.loc[r["item"] == item].set_index("administration_id")["value"]
    a = a.assign(value=v.reindex(a["administration_id"]).to_numpy()).dropna(subset=["value"])
    return a.assign(endorsed=a["value"] > 0, session=a["session"].astype(int),
                    episode=a["episode"].astype(int))


def _rate_and_se(g: pd.DataFrame) -> tuple[float, float]:
    """Proportion endorsed and its standard error with episodes as clusters (several
    administrations of one episode are not independent): the ratio-estimator SE."""
    by = g.groupby("episode")["endorsed"].agg(["sum", "count"])
    rate = by["sum"].sum() / by["count"].sum()
    resid = by["sum"] - rate * by["count"]
    n = len(by)
    se = float(np.sqrt(n / (n - 1) * (resid**2).sum()) / by["count"].sum())
    return float(rate), se


@pytest.mark.parametrize(("instrument", "item"), [("phq9", "phq9_9"), ("core10", "core10_6")])
def test_risk_item_endorsement_is_realistic(data, instrument: str, item: str) -> None:
    g = _risk(data, instrument, item)
    intake, se_in = _rate_and_se(g[g["session"] == 1])
    late, se_late = _rate_and_se(g[g["session"] >= 9])
    assert len(g[g["session"] == 1]) > 2000
    # intake inside the published range by more than 3 standard errors on each side
    # (SE ~ .007 with ~2,700 intakes), so sampling error cannot carry it across an edge
    assert LOW + 3 * se_in < intake < HIGH - 3 * se_in, (intake, se_in)
    # falling with treatment: clearly fewer endorsements after 9+ sessions (a real drop,
    # more than 5 combined SEs), yet the item is not dead
    assert late < intake - 5 * np.hypot(se_in, se_late), (late, intake)
    assert 0.02 < late < LOW, late
    # tied to severity: within one occasion, the most severe third endorses far more often
    # than the least severe third (the earlier model endorsed it at every severity)
    first = g[g["session"] == 1]
    lo, hi = first["total"].quantile([1 / 3, 2 / 3])
    severe = first.loc[first["total"] >= hi, "endorsed"].mean()
    mild = first.loc[first["total"] <= lo, "endorsed"].mean()
    assert severe > 3 * mild, (severe, mild)


def test_risk_item_parameters_move_the_rate() -> None:
    """The parameters do what their documentation says (a lower risk threshold means more
    endorsement), so the calibration above is not an accident of the item draws."""
    base = sim.clinic("clinic", seed=5, n_episodes=600)
    low = sim.clinic("clinic", seed=5, n_episodes=600, risk_item_location=1.0)

    def rate(d) -> float:
        r = d.responses
        return float((r.loc[r["item"] == "phq9_9", "value"] > 0).mean())

    assert rate(low) > rate(base) + 0.15
    # the other PHQ-9 items are drawn exactly as before: only the risk item moved
    def others(d) -> pd.Series:
        r = d.responses
        return r.loc[r["item"].isin([f"phq9_{i}" for i in range(1, 9)]), "value"]

    pd.testing.assert_series_equal(others(base), others(low))
