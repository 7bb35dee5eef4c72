"""The analyses on data from the project's simulator, whose generating values are known."""

from __future__ import annotations

import warnings

import pytest

sim = pytest.importorskip("bordin.simulate")

from bordin.alliance import (  # noqa: E402
    patient_table,
    therapist_patient_contribution,
)


def test_baldwin_preset_recovers_therapist_not_patient_contribution() -> None:
    # The baldwin2007 preset generates outcomes from the therapist's contribution to the
    # alliance only (patient_alliance_weight = 0): the within-therapist coefficient is
    # 0 by construction and the between-therapist one is not.
    data = sim.clinic("baldwin2007", seed=3, n_episodes=2000)
    assert data.truth.parameters.patient_alliance_weight == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pt = patient_table(data.administrations, alliance_instrument="wai_sr",
                           outcome_instrument="core10", window=(3, 3))
        res = therapist_patient_contribution(pt)
    assert res.n_patients > 1900  # a few episodes lack the session-3 alliance
    assert res.within["ci_lower"] < 0.0 < res.within["ci_upper"]
    assert res.between["ci_upper"] < 0.0  # CORE-10: lower is better
    assert res.difference["ci_upper"] < 0.0
