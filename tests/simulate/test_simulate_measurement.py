"""Item-level measurement: responses on the instrument specs, scoring recovers the latent."""

import numpy as np
import pandas as pd
import pytest

import bordin.simulate as sim
from bordin.instruments import registry, score_frame


@pytest.fixture(scope="module")
def data() -> sim.SimulatedClinic:
    schedule = (
        *sim.Parameters().schedule,
        sim.Schedule("wai_sr_o", "alliance", "observer", "clinician", (3, 4, 5)),
        sim.Schedule("core10", "symptoms", "patient", "none", "first_last"),
        sim.Schedule("haq2_patient", "alliance", "patient", "clinician", (3,)),
        sim.Schedule("calpas", "alliance", "patient", "clinician", (4,)),
        sim.Schedule("ors", "symptoms", "patient", "none", "all"),
    )
    return sim.clinic("clinic", seed=11, n_episodes=3000, schedule=schedule)


def _wide(data, instrument: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if instrument == "fis":
        adm = data.skill_ratings.rename(columns={"rating_id": "administration_id"})
        resp = data.skill_responses.rename(columns={"rating_id": "administration_id"})
    else:
        adm, resp = data.administrations, data.responses
    a = adm[adm["instrument"] == instrument].set_index("administration_id")
    r = resp[resp["administration_id"].isin(a.index)]
    wide = r.pivot(index="administration_id", columns="item", values="value")
    wide = wide.reindex(index=a.index, columns=list(registry.get(instrument).item_ids))
    return a, wide


@pytest.mark.parametrize("instrument", ["phq9", "gad7", "wai_sr", "wai_sr_t", "wai_sr_o",
                                        "wai_tech_sf", "srs", "ceq", "who5", "fis", "core10",
                                        "haq2_patient", "calpas", "ors"])
def test_responses_lie_on_the_spec_and_score_like_score_frame(data, instrument) -> None:
    spec = registry.get(instrument)
    a, wide = _wide(data, instrument)
    assert len(a) > 50
    for item in spec.items:
        v = wide[item.id].dropna()
        assert v.between(item.scale.min, item.scale.max).all()
        k = (v - item.scale.min) / item.scale.step
        assert np.allclose(k, np.round(k))
    public = score_frame(spec, wide, missing="nan")
    np.testing.assert_allclose(a["total"].to_numpy(), public["total"].to_numpy(), equal_nan=True)
    for name in spec.subscales:
        np.testing.assert_allclose(a[name].to_numpy(), public[name].to_numpy(), equal_nan=True)


def test_totals_recover_the_latent_course(data) -> None:
    s = data.truth.sessions.set_index(["episode", "session"])
    adm = data.administrations.dropna(subset=["episode"])
    key = list(zip(adm["episode"], adm["session"], strict=True))
    adm = adm.assign(symptoms=s.loc[key, "symptoms"].to_numpy(),
                     alliance=s.loc[key, "alliance"].to_numpy())
    adm = adm.dropna(subset=["total"])
    phq = adm[adm["instrument"] == "phq9"]
    ors = adm[adm["instrument"] == "ors"]
    wai = adm[adm["instrument"] == "wai_sr"]
    # PHQ-9 (9 items, 4 categories) has reliability ~.85-.9; its total tracks latent symptoms
    assert np.corrcoef(phq["total"], phq["symptoms"])[0, 1] > 0.85
    assert np.corrcoef(ors["total"], ors["symptoms"])[0, 1] < -0.7  # higher ORS is better
    # patient WAI-SR is attenuated by the ceiling but still tracks the latent alliance
    assert np.corrcoef(wai["total"], wai["alliance"])[0, 1] > 0.7
    # the bond subscale carries the dyad's bond-specific part: subscales are not identical
    sub = wai.dropna(subset=["bond", "goal"])
    assert np.corrcoef(sub["bond"], sub["goal"])[0, 1] < 0.97


def test_raters_differ_and_patient_alliance_ratings_have_a_ceiling(data) -> None:
    adm = data.administrations.dropna(subset=["total"])
    pt = adm[(adm["instrument"] == "wai_sr")]
    th = adm[(adm["instrument"] == "wai_sr_t")]
    assert pt["total"].mean() > th["total"].mean() + 3
    at_max_pt = (pt["total"] == 60).mean()
    at_max_th = (th["total"] == 60).mean()
    assert at_max_pt > 0.05 and at_max_pt > 3 * at_max_th
    # patient and clinician views of the same session correlate only moderately
    m = pt.merge(th, on=["episode", "session"], suffixes=("_p", "_t"))
    r = np.corrcoef(m["total_p"], m["total_t"])[0, 1]
    assert 0.2 < r < 0.75


def test_missing_items_and_missing_questionnaires(data) -> None:
    p = data.parameters
    adm = data.administrations
    phq = adm[adm["instrument"] == "phq9"]
    n_items = data.responses[data.responses["administration_id"].isin(
        phq["administration_id"])].shape[0]
    missing_share = 1 - n_items / (9 * len(phq))
    # 1% item non-response: binomial SE with ~250k items is 0.0002; allow 0.003
    assert abs(missing_share - p.item_missing_rate) < 0.003
    # scheduled every session, given unless the questionnaire is missing (8%)
    held = len(data.truth.sessions)
    assert abs(len(phq) / held - (1 - p.administration_missing_rate)) < 0.02
    # a questionnaire with more blanks than its scoring rule allows is not completed, so
    # every administration has a total (what the store and the analyses expect)
    assert adm["total"].notna().all()


def test_fis_is_rated_by_observers_per_clinician(data) -> None:
    fis = data.skill_ratings
    assert (fis["instrument"] == "fis").all() and (fis["rater"] == "observer").all()
    assert not (data.administrations["instrument"] == "fis").any()
    clin = data.clinicians
    rated = set(clin.loc[clin["role"] != "staff", "clinician"])
    assert set(fis["clinician"]) == rated
    per = fis.groupby("clinician").size()
    assert (per == data.parameters.fis_raters).all()
    # FIS totals track the clinician's true skills
    truth = data.truth.clinicians.set_index("clinician")
    skill = truth.loc[fis["clinician"], ["verbal_fluency", "hope", "persuasiveness",
                                         "emotional_expression", "warmth", "empathy",
                                         "bond_capacity", "rupture_repair"]].mean(axis=1)
    assert np.corrcoef(fis["total"], skill)[0, 1] > 0.7


def test_scores_come_through_the_public_fast_path(monkeypatch) -> None:
    """The simulator scores through ``bordin.instruments.score_matrix`` (public), not the
    library's private core: every administered instrument passes through it."""
    import bordin.instruments as inst

    seen: list[str] = []
    real = inst.score_matrix

    def spy(spec, values, **kw):
        seen.append(spec.id)
        return real(spec, values, **kw)

    monkeypatch.setattr(inst, "score_matrix", spy)
    out = sim.clinic("clinic", seed=3, n_episodes=40)
    assert set(out.administrations["instrument"].astype(str)) <= set(seen)
    assert "phq9" in seen
