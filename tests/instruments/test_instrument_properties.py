"""Property tests: valid responses always score inside the range; frames equal scalars."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from bordin.instruments import InstrumentSpec, registry, score, score_frame

SPECS = registry.all()


@st.composite
def responses(draw: st.DrawFn, spec: InstrumentSpec | None = None):
    spec = spec or draw(st.sampled_from(SPECS))
    values: dict[str, float | None] = {}
    for item in spec.items:
        n = round((item.scale.max - item.scale.min) / item.scale.step)
        k = draw(st.integers(0, n))
        values[item.id] = round(item.scale.min + k * item.scale.step, 10)
    n_missing = draw(st.integers(0, spec.max_missing))
    for item_id in draw(st.permutations(spec.item_ids))[:n_missing]:
        values[item_id] = None
    return spec, values


@settings(max_examples=200, deadline=None)
@given(responses())
def test_total_and_subscales_within_range(case) -> None:
    spec, values = case
    s = score(spec, values)
    lo, hi = spec.range
    assert lo - 1e-9 <= s.total <= hi + 1e-9
    for name, v in s.subscales.items():
        slo, shi = spec.subscale_range(name)
        assert math.isnan(v) or slo - 1e-9 <= v <= shi + 1e-9
    if spec.bands:
        assert s.band is not None


def _unreversed(spec: InstrumentSpec) -> InstrumentSpec:
    items = tuple(it.model_copy(update={"reverse": False}) for it in spec.items)
    return spec.model_copy(update={"items": items})


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_reverse_key_is_the_mirror_image(data: st.DataObject) -> None:
    # Scoring with reverse keys equals scoring the mirrored answers (min + max - x)
    # without them; mirroring twice gives back the original answers.
    spec = data.draw(st.sampled_from([registry.get("core10"), registry.get("haq2_patient")]))
    _, values = data.draw(responses(spec))
    mirrored = {}
    for item in spec.items:
        x = values[item.id]
        flip = item.reverse and x is not None
        mirrored[item.id] = item.scale.min + item.scale.max - x if flip else x
    plain = _unreversed(spec)
    assert score(plain, mirrored).total == score(spec, values).total
    twice = {
        k: (spec.item(k).scale.min + spec.item(k).scale.max - v) if spec.item(k).reverse
        and v is not None else v
        for k, v in mirrored.items()
    }
    assert twice == values


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_score_frame_equals_rowwise_score(data: st.DataObject) -> None:
    spec = data.draw(st.sampled_from(SPECS))
    rows = [data.draw(responses(spec))[1] for _ in range(data.draw(st.integers(1, 6)))]
    df = pd.DataFrame(rows, columns=list(spec.item_ids)).astype(float)
    out = score_frame(spec, df)
    for i, row in enumerate(rows):
        s = score(spec, row)
        assert np.isclose(out.loc[i, "total"], s.total, rtol=0, atol=1e-12)
        for name, v in s.subscales.items():
            assert np.isclose(out.loc[i, name], v, equal_nan=True, rtol=0, atol=1e-12)
        assert out.loc[i, "n_missing"] == s.n_missing
        band = out.loc[i, "band"]
        assert (pd.isna(band) and s.band is None) or band == s.band
        assert out.loc[i, "risk_items"] == ",".join(s.risk_items)
        if s.clinical is not None:
            assert bool(out.loc[i, "clinical"]) == s.clinical
