"""The measurement section: reliability and CFA per instrument from item responses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bordin.report.html import render
from bordin.report.psychometrics import measurement_sections

sim = pytest.importorskip("bordin.simulate")


@pytest.fixture(scope="module")
def clinic():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sim.clinic("clinic", seed=2, n_episodes=200)


def test_sections_per_instrument(clinic) -> None:
    adm, resp = clinic.administrations, clinic.responses
    out = dict((s.key, (s, r)) for s, r in measurement_sections(adm, resp))
    sec, res = out["measurement_wai_sr"]
    assert sec.error is None
    # Alpha of the first administration per episode, recomputed here by hand.
    first = adm[adm.instrument == "wai_sr"].sort_values("session").drop_duplicates("episode")
    wide = resp[resp.administration_id.isin(first.administration_id)].pivot_table(
        index="administration_id", columns="item", values="value").dropna()
    c = np.cov(wide.to_numpy(), rowvar=False)
    k = c.shape[0]
    assert res["alpha"].alpha == pytest.approx(k / (k - 1) * (1 - np.trace(c) / c.sum()),
                                               abs=1e-12)
    assert res["omega"].model == "bifactor"  # goal/task/bond, 4 items each
    assert set(res["cfa"].factors) == {"goal", "task", "bond"}
    assert sec.figures and sec.tables
    phq = out["measurement_phq9"][1]
    assert "cfa" not in phq and phq["omega"].model == "one-factor"
    html = render(title="t", subtitle="s", sections=[s for s, _ in out.values()], skipped={})
    assert html.count("<img") == len(out)


def test_bad_responses(clinic) -> None:
    out = measurement_sections(clinic.administrations, clinic.responses.rename(
        columns={"value": "score"}))
    assert out[0][0].error is not None and "administration_id, item, value" in out[0][0].error
