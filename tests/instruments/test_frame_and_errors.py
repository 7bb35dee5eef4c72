"""score_frame column handling and the error message for every kind of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bordin.errors import InputError
from bordin.instruments import score, score_frame


def _assert_names(err: InputError, *, instrument: str, item: str, value: str, allowed: str):
    msg = str(err)
    assert msg.startswith(instrument), msg
    assert item in msg and value in msg and allowed in msg, msg


@pytest.mark.parametrize(
    ("responses", "item", "value", "allowed"),
    [
        ({5: 7}, "haq2_patient_5", "7", "a number from 1 to 6"),  # above the scale
        ({5: 0}, "haq2_patient_5", "0", "a number from 1 to 6"),  # below the scale
        ({5: 2.5}, "haq2_patient_5", "2.5", "a number from 1 to 6"),  # off the step
        ({5: float("inf")}, "haq2_patient_5", "inf", "a number from 1 to 6"),
        ({5: True}, "haq2_patient_5", "True", "a number from 1 to 6"),  # not a number
        ({20: 3}, "20", "3", "an item of haq2_patient"),  # unknown item
        ({"mood": 3}, "mood", "3", "an item of haq2_patient"),
    ],
)
def test_each_kind_of_bad_value(responses, item: str, value: str, allowed: str) -> None:
    full = dict.fromkeys(range(1, 20), 3)
    full.update(responses)
    with pytest.raises(InputError) as err:
        score("haq2_patient", full)
    _assert_names(err.value, instrument="haq2_patient", item=item, value=value, allowed=allowed)
    assert err.value.field == item


def test_too_many_missing_names_the_items() -> None:
    with pytest.raises(InputError) as err:
        score("haq2_patient", dict.fromkeys(range(1, 18), 3))  # 18 and 19 missing
    _assert_names(
        err.value, instrument="haq2_patient", item="haq2_patient_18, haq2_patient_19",
        value="None", allowed="at most 1 missing item(s) of 19",
    )


def test_responses_must_be_a_mapping() -> None:
    with pytest.raises(InputError, match="mapping"):
        score("phq9", [1, 2, 3])  # type: ignore[arg-type]


def test_frame_columns_by_number_mapping_and_sequence() -> None:
    vals = {str(i): [1, 2] for i in range(1, 8)}
    by_number = score_frame("gad7", pd.DataFrame(vals))
    assert list(by_number["total"]) == [7, 14]
    renamed = pd.DataFrame({f"q{i}": [1, 2] for i in range(1, 8)})
    by_map = score_frame("gad7", renamed, item_columns={i: f"q{i}" for i in range(1, 8)})
    by_seq = score_frame("gad7", renamed, item_columns=[f"q{i}" for i in range(1, 8)])
    pd.testing.assert_frame_equal(by_map, by_seq)
    assert list(by_map["band"]) == ["mild", "moderate"]


def test_frame_keeps_index_and_reports_row_of_bad_value() -> None:
    df = pd.DataFrame({f"gad7_{i}": [1, 1, 1] for i in range(1, 8)}, index=["a", "b", "c"])
    df.loc["b", "gad7_3"] = 7
    with pytest.raises(InputError) as err:
        score_frame("gad7", df)
    assert "row 'b'" in str(err.value) and "gad7_3" in str(err.value) and "7" in str(err.value)
    df = df.astype(object)
    df.loc["b", "gad7_3"] = "x"
    with pytest.raises(InputError) as err:
        score_frame("gad7", df)
    assert "'x'" in str(err.value)


def test_frame_missing_columns_and_bad_options() -> None:
    with pytest.raises(InputError) as err:
        score_frame("gad7", pd.DataFrame({"gad7_1": [1]}))
    assert err.value.field == "item_columns" and "gad7_2" in str(err.value)
    with pytest.raises(InputError):
        score_frame("gad7", pd.DataFrame({"a": [1]}), item_columns=["a"])
    with pytest.raises(InputError):
        score_frame("gad7", pd.DataFrame({"a": [1]}), missing="drop")  # type: ignore[arg-type]


def test_frame_nan_mode_and_nullable_flags() -> None:
    df = pd.DataFrame({f"phq9_{i}": [np.nan, 2.0] for i in range(1, 10)})
    out = score_frame("phq9", df, missing="nan")
    assert np.isnan(out.loc[0, "total"]) and pd.isna(out.loc[0, "band"])
    assert out["clinical"].isna().iloc[0] and bool(out.loc[1, "clinical"])
    assert out.loc[1, "risk_items"] == "phq9_9"
    assert not out.loc[0, "prorated"]


def test_empty_frame() -> None:
    out = score_frame("phq9", pd.DataFrame({f"phq9_{i}": [] for i in range(1, 10)}))
    assert len(out) == 0 and "total" in out.columns


def test_frame_rejects_true_false_columns() -> None:
    df = pd.DataFrame({f"gad7_{i}": [True, False] for i in range(1, 8)})
    with pytest.raises(InputError) as err:
        score_frame("gad7", df)
    assert err.value.field == "gad7_1" and "true/false" in str(err.value)


def test_item_given_twice() -> None:
    full = dict.fromkeys(range(1, 10), 1)
    full["phq9_3"] = 2
    with pytest.raises(InputError) as err:
        score("phq9", full)
    assert err.value.field == "phq9_3" and "once" in str(err.value)
