"""Shrout-Fleiss ICCs against psych::ICC (scripts/r/psychometrics_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bordin.errors import InputError
from bordin.stats.psychometrics import interrater_icc

REF = json.loads((Path(__file__).parent / "fixtures" / "psychometrics_reference.json").read_text())


@pytest.mark.parametrize("name", ["ratings", "shrout_fleiss"])
def test_icc_matches_psych(name: str) -> None:
    res = interrater_icc(pd.DataFrame(REF["data"][name]))
    ref = REF["icc"][name]
    t = res.table
    assert list(t.index) == ref["type"]
    # Closed-form ANOVA quantities and F quantiles: agreement to rounding error.
    for col, rcol in [("ICC", "ICC"), ("F", "F"), ("df1", "df1"), ("df2", "df2"),
                      ("ci_lower", "lower"), ("ci_upper", "upper")]:
        np.testing.assert_allclose(t[col].to_numpy(), ref[rcol], atol=1e-9, err_msg=col)
    np.testing.assert_allclose(t["p"].to_numpy(), ref["p"], rtol=1e-7, atol=1e-15)


def test_shrout_fleiss_published_values() -> None:
    # Shrout & Fleiss (1979), Table 4: ICC(1,1)=.17, (2,1)=.29, (3,1)=.71,
    # (1,4)=.44, (2,4)=.62, (3,4)=.91 (to two decimals as printed).
    res = interrater_icc(pd.DataFrame(REF["data"]["shrout_fleiss"]))
    printed = {"ICC1": 0.17, "ICC2": 0.29, "ICC3": 0.71, "ICC1k": 0.44, "ICC2k": 0.62,
               "ICC3k": 0.91}
    for form, v in printed.items():
        assert res[form] == pytest.approx(v, abs=0.005)


def test_long_format_equals_wide() -> None:
    wide = pd.DataFrame(REF["data"]["ratings"])
    long = wide.reset_index(names="session").melt(
        id_vars="session", var_name="observer", value_name="total"
    )
    a = interrater_icc(wide)
    b = interrater_icc(long, target="session", rater="observer", value="total")
    np.testing.assert_allclose(a.table["ICC"], b.table["ICC"], atol=1e-12)
    json.dumps(b.to_dict())
    assert b.plot().axes


def test_bad_input() -> None:
    wide = pd.DataFrame(REF["data"]["ratings"])
    long = wide.reset_index(names="s").melt(id_vars="s", var_name="r", value_name="v")
    with pytest.raises(InputError, match="target/rater/value"):
        interrater_icc(long, target="s")
    with pytest.raises(InputError, match="rater"):
        interrater_icc(long, target="s", rater="nope", value="v")
    dup = pd.concat([long, long.iloc[:1]])
    with pytest.raises(InputError, match="duplicate"):
        interrater_icc(dup, target="s", rater="r", value="v")
    with pytest.raises(InputError, match="form"):
        interrater_icc(wide)["ICC9"]
