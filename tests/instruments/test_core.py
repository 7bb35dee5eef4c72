"""Scoring of PHQ-9 and WAI-SR against hand-worked examples, and the error messages."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bordin.errors import InputError
from bordin.instruments import registry, score, score_frame


def test_phq9_complete_sum_band_cutoff_and_risk() -> None:
    # Kroenke 2001: total = sum of nine 0-3 items; bands 0-4/5-9/10-14/15-19/20-27.
    # responses 3,2,2,1,1,1,0,0,1 -> 3+2+2+1+1+1+0+0+1 = 11 -> "moderate", >= 10.
    r = dict(zip(range(1, 10), [3, 2, 2, 1, 1, 1, 0, 0, 1], strict=True))
    s = score("phq9", r)
    assert s.total == 11
    assert s.band == "moderate"
    assert s.above_cutoff is True and s.clinical is True
    assert s.risk_items == ("phq9_9",)
    assert s.n_answered == 9 and s.n_missing == 0 and not s.prorated


def test_phq9_band_edges() -> None:
    # 4 -> minimal, 5 -> mild, 9 -> mild (below cutoff 10), 20 -> severe.
    spec = registry.get("phq9")
    for total, band in [(4, "minimal"), (5, "mild"), (9, "mild"), (20, "severe")]:
        vals = [3] * (total // 3) + ([total % 3] if total % 3 else [])
        vals += [0] * (9 - len(vals))
        s = score(spec, dict(zip(spec.item_ids, vals, strict=True)))
        assert (s.total, s.band) == (total, band)
    assert score(spec, dict.fromkeys(spec.item_ids, 1)).clinical is False  # 9 < 10


def test_phq9_proration_two_missing_allowed_three_not() -> None:
    # NHS Data Dictionary: one or two missing items take the mean of the answered ones.
    # answered 7 items: 2,2,2,1,1,1,0 -> sum 9, mean 9/7, total 9/7*9 = 81/7 = 11.571...
    r = {1: 2, 2: 2, 3: 2, 4: 1, 5: 1, 6: 1, 7: 0, 8: None}  # item 9 absent
    s = score("phq9", r)
    assert s.total == pytest.approx(81 / 7)
    assert s.prorated and s.n_missing == 2
    assert s.band == "moderate"  # 11.57 has reached 10
    assert s.risk_items == ()
    with pytest.raises(InputError) as err:
        score("phq9", {1: 2, 2: 2, 3: 2, 4: 1, 5: 1, 6: 1})
    msg = str(err.value)
    assert "phq9" in msg and "phq9_7" in msg and "phq9_9" in msg and "at most 2" in msg


def test_wai_sr_subscales() -> None:
    # Hatcher & Gillaspy 2006: task 1,2,10,12; bond 3,5,7,9; goal 4,6,8,11; sums.
    # items 1..12 = 5,4,3,2,1,5,4,3,2,1,5,4
    vals = [5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5, 4]
    s = score("wai_sr", dict(zip(range(1, 13), vals, strict=True)))
    assert s.subscales == {"task": 5 + 4 + 1 + 4, "bond": 3 + 1 + 4 + 2, "goal": 2 + 5 + 3 + 5}
    assert s.total == sum(vals) == 39
    assert s.band is None and s.above_cutoff is None


def test_wai_sr_missing_item_prorates_total_not_subscale() -> None:
    # item 3 (bond) missing: total = mean(11 answered) * 12; bond is NaN.
    vals = {i: 4 for i in range(1, 13) if i != 3}
    vals[1] = 1
    s = score("wai_sr", vals)
    assert s.total == pytest.approx((4 * 10 + 1) / 11 * 12)
    assert math.isnan(s.subscales["bond"])
    assert s.subscales["task"] == 1 + 4 + 4 + 4
    assert s.to_dict()["subscales"]["bond"] is None


@pytest.mark.parametrize(
    ("responses", "item", "value", "allowed"),
    [
        ({1: 4}, "phq9_1", "4", "from 0 to 3"),
        ({2: -1}, "phq9_2", "-1", "from 0 to 3"),
        ({3: 1.5}, "phq9_3", "1.5", "from 0 to 3"),
        ({"phq9_10": 1}, "phq9_10", "1", "an item of phq9"),
        ({4: "2"}, "phq9_4", "'2'", "from 0 to 3"),
    ],
)
def test_bad_input_names_instrument_item_value_and_allowed(
    responses: dict, item: str, value: str, allowed: str
) -> None:
    full = dict.fromkeys(range(1, 10), 0)
    full.update(responses)
    with pytest.raises(InputError) as err:
        score("phq9", full)
    msg = str(err.value)
    assert msg.startswith("phq9: ")
    assert item in msg and value in msg and allowed in msg
    assert err.value.context == "phq9" and err.value.field == item


def test_unknown_instrument() -> None:
    with pytest.raises(InputError) as err:
        registry.get("nope")
    assert err.value.field == "instrument" and "phq9" in str(err.value)


def test_score_frame_matches_score_rowwise() -> None:
    df = pd.DataFrame(
        {f"phq9_{i}": [0, 1, 3, None, 2] for i in range(1, 10)}
    )
    df.loc[3, "phq9_1"] = 2  # row 3: one answered item -> too many missing
    out = score_frame("phq9", df, missing="nan")
    assert math.isnan(out.loc[3, "total"])
    for idx in [0, 1, 2, 4]:
        s = score("phq9", df.loc[idx].to_dict())
        assert out.loc[idx, "total"] == s.total
        assert out.loc[idx, "band"] == s.band
    with pytest.raises(InputError) as err:
        score_frame("phq9", df)
    assert "row 3" in str(err.value)
