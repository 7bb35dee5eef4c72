"""score_matrix: the fast path equals score_frame on totals and subscales, and
rejects bad input like the rest of the library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bordin.errors import InputError
from bordin.instruments import ScoreMatrix, registry, score_frame, score_matrix


def _random_values(spec, n: int, rng: np.random.Generator) -> np.ndarray:
    cols = []
    for item in spec.items:
        m = round((item.scale.max - item.scale.min) / item.scale.step)
        cols.append(item.scale.min + item.scale.step * rng.integers(0, m + 1, size=n))
    values = np.column_stack(cols).astype(float)
    values[rng.random(values.shape) < 0.08] = np.nan  # some blanks, some rows unscorable
    return values


@pytest.mark.parametrize("instrument", sorted(registry.ids()))
def test_equals_score_frame_on_totals_and_subscales(instrument: str) -> None:
    spec = registry.get(instrument)
    values = _random_values(spec, 400, np.random.default_rng(11))
    fast = score_matrix(spec, values, missing="nan")
    frame = score_frame(spec, pd.DataFrame(values, columns=list(spec.item_ids)),
                        item_columns=list(spec.item_ids), missing="nan")
    assert isinstance(fast, ScoreMatrix)
    # the same core on the same float64 input: identical, NaN where unscorable included
    np.testing.assert_array_equal(fast.total, frame["total"].to_numpy())
    assert list(fast.subscales) == list(spec.subscales)
    for name in spec.subscales:
        np.testing.assert_array_equal(fast.subscales[name], frame[name].to_numpy())
    assert np.isnan(fast.total).any() and np.isfinite(fast.total).any()
    assert list(fast.summary().columns) == ["total", *spec.subscales]


def test_other_dtypes_and_json() -> None:
    values = np.full((3, 9), 2, dtype=np.int8)
    out = score_matrix("phq9", values)
    np.testing.assert_array_equal(out.total, [18.0, 18.0, 18.0])
    f32 = score_matrix("phq9", values.astype(np.float32)).total
    np.testing.assert_array_equal(f32, out.total)
    d = score_matrix("phq9", np.vstack([np.full(9, np.nan), np.ones(9)]), missing="nan").to_dict()
    assert d["total"] == [None, 9.0]


def test_bad_input_names_field_value_allowed() -> None:
    with pytest.raises(InputError) as err:
        score_matrix("phq9", np.ones((2, 8)))
    assert err.value.field == "values" and "(n, 9)" in str(err.value)
    with pytest.raises(InputError):
        score_matrix("phq9", np.array([["a"] * 9]))
    with pytest.raises(InputError):
        score_matrix("phq9", np.ones(9))
    bad = np.ones((3, 9))
    bad[2, 4] = 7
    with pytest.raises(InputError) as err:
        score_matrix("phq9", bad)
    assert err.value.field == "phq9_5" and "7" in str(err.value) and "row 2" in str(err.value)
    with pytest.raises(InputError) as err:
        score_matrix("phq9", np.full((1, 9), np.nan))
    assert "missing" in str(err.value)
    with pytest.raises(InputError):
        score_matrix("phq9", np.ones((1, 9)), missing="drop")
