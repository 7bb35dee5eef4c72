"""Each instrument scored against hand-worked examples from its published scoring rule.

The arithmetic is written out in each comment so a reader can check it by hand.
"""

from __future__ import annotations

import math

import pytest

from bordin.errors import InputError
from bordin.instruments import registry, score


def _resp(values: list[float | None]) -> dict[int, float | None]:
    return dict(enumerate(values, start=1))


def test_gad7_sum_band_cutoff() -> None:
    # Spitzer 2006: sum of seven 0-3 items; 3+3+2+2+1+1+0 = 12 -> moderate (10-14), >= 10.
    s = score("gad7", _resp([3, 3, 2, 2, 1, 1, 0]))
    assert (s.total, s.band, s.clinical) == (12, "moderate", True)
    # 1+1+1+1+1+1+3 = 9 -> mild, below the cutoff.
    s = score("gad7", _resp([1, 1, 1, 1, 1, 1, 3]))
    assert (s.total, s.band, s.clinical) == (9, "mild", False)
    # one missing: 2,2,2,2,2,2 answered -> mean 2 x 7 = 14 (prorated)
    s = score("gad7", _resp([2, 2, 2, 2, 2, 2, None]))
    assert s.total == 14 and s.prorated


def test_who5_raw_percentage_and_cutoff() -> None:
    # Topp 2015: raw = sum of five 0-5 items; percentage = raw x 4; raw < 13 is poor.
    # 3+4+2+1+3 = 13 -> 52 %, not below 13.
    s = score("who5", _resp([3, 4, 2, 1, 3]))
    assert s.total == 13 and s.derived == {"percentage": 52}
    assert s.clinical is False and s.above_cutoff is True
    # 2+2+2+2+2 = 10 -> 40 %, below 13 -> poor wellbeing.
    s = score("who5", _resp([2, 2, 2, 2, 2]))
    assert s.derived["percentage"] == 40 and s.clinical is True
    with pytest.raises(InputError, match="at most 0 missing"):
        score("who5", _resp([2, 2, 2, 2, None]))


def test_core10_reverse_keys_risk_and_band() -> None:
    # Items 2 and 3 reverse-keyed (0+4-x): raw 1 -> 3, raw 3 -> 1.
    # 2 + 3 + 1 + 2 + 1 + 0 + 3 + 2 + 2 + 1 = 17 -> moderate (15-19), >= 11.
    s = score("core10", _resp([2, 1, 3, 2, 1, 0, 3, 2, 2, 1]))
    assert s.total == 17 and s.band == "moderate" and s.clinical is True
    assert s.risk_items == ()
    # Same with item 6 (risk) endorsed at 1: total 18, risk flagged.
    s = score("core10", _resp([2, 1, 3, 2, 1, 1, 3, 2, 2, 1]))
    assert s.total == 18 and s.risk_items == ("core10_6",)
    # All zeros: reversed items score 4 each -> 8 -> "low" (6-10).
    s = score("core10", _resp([0] * 10))
    assert s.total == 8 and s.band == "low"


def test_core10_proration_one_missing() -> None:
    # CORE System Trust: one missing item may be prorated: 10 x mean of the nine.
    # items (1..10, item 10 missing) 2,1,3,2,1,0,3,2,2 -> scored 2,3,1,2,1,0,3,2,2 = 16
    # 16 / 9 x 10 = 17.78
    s = score("core10", _resp([2, 1, 3, 2, 1, 0, 3, 2, 2, None]))
    assert s.total == pytest.approx(160 / 9)
    assert s.band == "moderate"
    with pytest.raises(InputError) as err:
        score("core10", _resp([2, 1, 3, 2, 1, 0, 3, 2, None, None]))
    assert "core10_9, core10_10" in str(err.value)


def test_srs_and_ors_visual_analogue_sums() -> None:
    # SRS: 9.1 + 8.5 + 9.0 + 9.3 = 35.9 -> below 36: possible alliance problem.
    s = score("srs", _resp([9.1, 8.5, 9.0, 9.3]))
    assert s.total == pytest.approx(35.9) and s.clinical is True
    # 9.5 + 9.0 + 9.0 + 9.5 = 37.0 -> fine.
    assert score("srs", _resp([9.5, 9.0, 9.0, 9.5])).clinical is False
    # ORS: 5.2 + 6.0 + 4.8 + 5.0 = 21 -> below 25 (clinical range for adults).
    s = score("ors", _resp([5.2, 6.0, 4.8, 5.0]))
    assert s.total == pytest.approx(21.0) and s.clinical is True
    # The VAS is measured to the millimetre: 8.55 is not a point of the scale.
    with pytest.raises(InputError) as err:
        score("srs", _resp([8.55, 9, 9, 9]))
    assert "srs_1" in str(err.value) and "8.55" in str(err.value) and "0.1" in str(err.value)


@pytest.mark.parametrize("form", ["haq2_patient", "haq2_therapist"])
def test_haq2_reverse_keyed_items(form: str) -> None:
    # Items 4, 8, 11, 16, 19 reverse-keyed on 1-6: scored 1 + 6 - x.
    # Raw 5 everywhere but 2 on the reversed items: 14 x 5 + 5 x (7 - 2) = 95.
    raw = [2 if i in (4, 8, 11, 16, 19) else 5 for i in range(1, 20)]
    assert score(form, _resp(raw)).total == 95
    # Raw 6 everywhere: 14 x 6 + 5 x 1 = 89.
    assert score(form, _resp([6] * 19)).total == 89


def test_calpas_mean_scoring() -> None:
    # Mean of 24 items on 1-7: twelve 4s and twelve 6s -> (48 + 72) / 24 = 5.
    s = score("calpas", _resp([4] * 12 + [6] * 12))
    assert s.total == 5
    # Mean scoring prorates implicitly: two missing -> mean of the 22 answered.
    # twelve 4s and ten 6s: (48 + 60) / 22 = 4.909...
    s = score("calpas", _resp([4] * 12 + [6] * 10 + [None, None]))
    assert s.total == pytest.approx(108 / 22) and s.prorated


def test_ceq_mixed_scales_and_factors() -> None:
    # Devilly & Borkovec: credibility = items 1-3 (1-9); expectancy = items 4-6, where
    # 4 and 6 are percentages mapped onto 1-9 here: 1 + x * 8 / 100.
    # item 4 = 70 % -> 6.6, item 6 = 60 % -> 5.8.
    # credibility 7 + 8 + 6 = 21; expectancy 6.6 + 7 + 5.8 = 19.4; total 40.4.
    s = score("ceq", _resp([7, 8, 6, 70, 7, 60]))
    assert s.subscales["credibility"] == 21
    assert s.subscales["expectancy"] == pytest.approx(19.4)
    assert s.total == pytest.approx(40.4)
    # 0 % and 100 % are the ends of 1-9.
    s = score("ceq", _resp([1, 1, 1, 0, 1, 100]))
    assert s.subscales["expectancy"] == pytest.approx(1 + 1 + 9)
    with pytest.raises(InputError) as err:
        score("ceq", _resp([7, 8, 6, 75, 7, 60]))
    assert "ceq_4" in str(err.value) and "steps of 10" in str(err.value)


def test_fis_mean_of_eight_skills() -> None:
    # 3+4+2+5+3+4+3+2 = 26 / 8 = 3.25
    s = score("fis", _resp([3, 4, 2, 5, 3, 4, 3, 2]))
    assert s.total == 3.25
    assert registry.get("fis").range == (1, 5)


def test_wai_variants() -> None:
    # Observer form on 1-7: all 7 -> 84; each subscale 4 x 7 = 28.
    s = score("wai_sr_o", _resp([7] * 12))
    assert s.total == 84 and set(s.subscales.values()) == {28}
    # Therapist form and the programme form share the WAI-SR key.
    vals = [5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5, 4]
    for form in ("wai_sr_t", "wai_tech_sf"):
        s = score(form, _resp(vals))
        assert s.subscales == {"task": 14, "bond": 10, "goal": 15}
        assert s.total == 39


def test_bare_and_prefixed_item_ids_agree() -> None:
    a = score("gad7", {"gad7_1": 1, "gad7_2": 2, 3: 0, "4": 1, 5: 1, 6: 1, 7: 1})
    assert a.total == 7


def test_to_dict_is_json_safe() -> None:
    import json

    s = score("wai_sr", _resp([4] * 11 + [None]))
    d = s.to_dict()
    json.dumps(d)
    assert d["subscales"]["task"] is None and math.isnan(s.subscales["task"])
    assert d["total"] == pytest.approx(48.0)
    assert list(s.summary().index)[:1] == ["total"]
