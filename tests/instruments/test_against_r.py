"""Scoring and reliable change compared with base R (scripts/r/instruments_reference.R).

Tolerance 1e-12 absolute: both sides do the same few IEEE double operations on small
integers (a sum, a division, a square root); only the order of summation may differ,
which moves results by at most a few ulps on values below 100.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bordin.instruments import registry, reliable_change, reliable_change_frame, score_frame

FIXTURE = json.loads(
    (Path(__file__).parent / "fixtures" / "instruments_reference.json").read_text("utf-8")
)
TOL = 1e-12


def _matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def test_fixture_records_r_version() -> None:
    assert FIXTURE["R"].startswith("R version")


def test_core10_prorated_totals_with_reverse_keys_match_r() -> None:
    spec = registry.get("core10")
    x = _matrix(FIXTURE["core10"]["responses"])
    df = pd.DataFrame(x, columns=list(spec.item_ids))
    ours = score_frame(spec, df, missing="nan")["total"].to_numpy()
    ref = np.array([np.nan if v is None else v for v in FIXTURE["core10"]["total"]])
    assert np.isnan(ref).sum() > 0 and (df.isna().sum(axis=1) == 1).sum() > 0  # both paths hit
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)


def test_wai_sr_subscales_match_r() -> None:
    spec = registry.get("wai_sr")
    df = pd.DataFrame(_matrix(FIXTURE["wai_sr"]["responses"]), columns=list(spec.item_ids))
    ours = score_frame(spec, df)
    ref = pd.DataFrame(FIXTURE["wai_sr"]["scores"])  # one record per row, as R wrote it
    for col in ("total", "task", "bond", "goal"):
        np.testing.assert_allclose(
            ours[col].to_numpy(), ref[col].to_numpy(float), rtol=0, atol=TOL
        )


def test_reliable_change_matches_r() -> None:
    ref = FIXTURE["rci"]
    out = reliable_change_frame("core10", before=ref["before"], after=ref["after"])
    assert out.attrs["s_diff"] == pytest.approx(ref["s_diff"], abs=TOL)
    np.testing.assert_allclose(out["rci"].to_numpy(), np.array(ref["rc"]), rtol=0, atol=TOL)
    assert list(out["reliable"].astype(bool)) == ref["reliable"]
    assert list(out["category"]) == ref["category"]
    assert set(ref["category"]) == {"recovered", "improved", "unchanged", "deteriorated"}
    for i in range(0, len(ref["before"]), 37):  # and the scalar on a sample of rows
        rc = reliable_change("core10", before=ref["before"][i], after=ref["after"][i])
        assert rc.rci == pytest.approx(ref["rc"][i], abs=TOL)
        assert rc.category == ref["category"][i]
