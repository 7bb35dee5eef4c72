"""Jacobson-Truax reliable change, checked by hand.

RC = (x2 - x1) / S_diff,  S_diff = sqrt(2 * SE**2),  SE = SD * sqrt(1 - r_xx).
CORE-10 norms in the spec: SD = 7.7, r_xx = .90, so
SE = 7.7 * sqrt(.10) = 2.434954,  S_diff = sqrt(2) * 2.434954 = 3.443545,
reliable change needs |x2 - x1| > 1.96 * 3.443545 = 6.749 points.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bordin.errors import InputError
from bordin.instruments import ScaleNorms, reliable_change, score

SE = 7.7 * math.sqrt(0.10)
S_DIFF = math.sqrt(2 * SE**2)


def test_formula_by_hand() -> None:
    rc = reliable_change("core10", before=20, after=10)
    assert rc.se == pytest.approx(2.434954, abs=1e-6)
    assert rc.s_diff == pytest.approx(3.443545, abs=1e-6)
    assert rc.rci == pytest.approx(-10 / 3.443545, abs=1e-6)  # -2.904
    assert rc.threshold == pytest.approx(6.749348, abs=1e-6)
    assert rc.reliable and rc.direction == "better" and rc.method == "jacobson-truax"


@pytest.mark.parametrize(
    ("before", "after", "category"),
    [
        (20, 10, "recovered"),  # RC -2.90, from >= 11 (clinical) to 10 (not clinical)
        (25, 15, "improved"),  # RC -2.90, but 15 is still >= 11
        (20, 16, "unchanged"),  # RC -1.16
        (10, 18, "deteriorated"),  # RC +2.32, higher is worse
        (10, 16, "unchanged"),  # RC +1.74: worse, but not reliably
    ],
)
def test_all_four_categories(before: float, after: float, category: str) -> None:
    rc = reliable_change("core10", before=before, after=after)
    assert rc.rci == pytest.approx((after - before) / S_DIFF)
    assert rc.category == category


def test_direction_when_higher_is_better() -> None:
    # WAI-SR has no published norms in the spec: pass them. SD 8, r .90:
    # S_diff = sqrt(2) * 8 * sqrt(.1) = 3.5777; 30 -> 40 gives RC = 2.795 (better).
    norms = ScaleNorms(reliability=0.9, sd=8.0, source="test")
    rc = reliable_change("wai_sr", before=30, after=40, norms=norms)
    assert rc.rci == pytest.approx(10 / (math.sqrt(2) * 8 * math.sqrt(0.1)))
    assert rc.direction == "better" and rc.category == "improved"  # no cutoff: never recovered
    rc = reliable_change("wai_sr", before=40, after=30, norms=norms)
    assert rc.category == "deteriorated"
    # WHO-5 (higher is better, cutoff 13): 8 -> 18 crosses from below 13 to above.
    rc = reliable_change("who5", before=8, after=18, norms=norms)
    assert rc.category == "recovered"


def test_subscale_and_score_inputs() -> None:
    norms = ScaleNorms(reliability=0.8, sd=3.0, source="test")
    before = score("wai_sr", dict.fromkeys(range(1, 13), 2))  # bond = 8
    after = score("wai_sr", dict.fromkeys(range(1, 13), 4))  # bond = 16
    rc = reliable_change("wai_sr", before=before, after=after, scale="bond", norms=norms)
    # S_diff = sqrt(2) * 3 * sqrt(.2) = 1.8974; RC = 8 / 1.8974 = 4.216
    assert rc.rci == pytest.approx(8 / (math.sqrt(2) * 3 * math.sqrt(0.2)))
    assert rc.cutoff is None and rc.category == "improved"
    # A mapping of responses is scored first.
    rc2 = reliable_change(
        "wai_sr", before=dict.fromkeys(range(1, 13), 2), after=after, scale="bond", norms=norms
    )
    assert rc2.rci == rc.rci


def test_published_points_criterion() -> None:
    # PHQ-9: a change of 6 or more points (IAPT manual) is reliable.
    rc = reliable_change("phq9", before=18, after=12)
    assert rc.method == "published-points" and rc.reliable and rc.category == "improved"
    rc = reliable_change("phq9", before=18, after=9)
    assert rc.category == "recovered"  # 18 >= 10 -> 9 < 10
    rc = reliable_change("phq9", before=18, after=13)
    assert not rc.reliable and rc.category == "unchanged"
    d = rc.to_dict()
    json.dumps(d)
    assert d["rci"] is None and d["threshold"] == 6


def test_errors() -> None:
    with pytest.raises(InputError) as err:
        reliable_change("wai_sr", before=30, after=40)
    assert err.value.field == "norms" and "wai_sr" in str(err.value)
    with pytest.raises(InputError) as err:
        reliable_change("core10", before=20, after=10, scale="mood")
    assert err.value.field == "scale"
    with pytest.raises(InputError) as err:
        reliable_change("core10", before=20, after=41)
    assert err.value.field == "after" and "0 to 40" in str(err.value)
    with pytest.raises(InputError):
        reliable_change("core10", before=score("phq9", dict.fromkeys(range(1, 10), 0)), after=3)


def test_frame_equals_scalar_for_every_category() -> None:
    from bordin.instruments import reliable_change_frame

    pairs = [(20, 10), (25, 15), (20, 16), (10, 18), (10, 16), (12, 12)]
    before = pd.Series([p[0] for p in pairs] + [np.nan], index=list("abcdefg"))
    after = [p[1] for p in pairs] + [12]
    out = reliable_change_frame("core10", before=before, after=after)
    assert list(out.index) == list("abcdefg")
    for key, (x1, x2) in zip("abcdef", pairs, strict=False):
        rc = reliable_change("core10", before=x1, after=x2)
        row = out.loc[key]
        assert row["rci"] == pytest.approx(rc.rci)
        assert (bool(row["reliable"]), row["direction"], row["category"]) == (
            rc.reliable, rc.direction, rc.category,
        )
    assert out.loc["f", "direction"] == "none" and out.loc["f", "category"] == "unchanged"
    assert pd.isna(out.loc["g", "category"]) and pd.isna(out.loc["g", "reliable"])
    assert out.attrs["threshold"] == pytest.approx(1.96 * S_DIFF)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 27), st.integers(0, 27)), min_size=1, max_size=20),
)
def test_frame_equals_scalar_property(pairs) -> None:
    from bordin.instruments import reliable_change_frame

    x1 = [p[0] for p in pairs]
    x2 = [p[1] for p in pairs]
    out = reliable_change_frame("phq9", before=x1, after=x2)
    for i, (a, b) in enumerate(pairs):
        rc = reliable_change("phq9", before=a, after=b)
        assert out["category"].iloc[i] == rc.category
        assert bool(out["reliable"].iloc[i]) == rc.reliable


def test_frame_errors() -> None:
    from bordin.instruments import reliable_change_frame

    with pytest.raises(InputError, match="as many values"):
        reliable_change_frame("core10", before=[1, 2], after=[1])
    with pytest.raises(InputError) as err:
        reliable_change_frame("core10", before=[1, 2], after=[1, 50])
    assert err.value.field == "after" and "row 1" in str(err.value)
    with pytest.raises(InputError):
        reliable_change_frame("core10", before=["a"], after=[1])
