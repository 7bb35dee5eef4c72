"""Shared helpers: the metafor reference values written by scripts/r/meta_reference.R."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIXTURE = Path(__file__).parent / "fixtures" / "meta_reference.json"


def load_reference() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


REFERENCE = load_reference()


def dataset(name: str) -> pd.DataFrame:
    """A metadat dataset as copied into the fixture, with yi/vi where the R script made them."""
    df = pd.DataFrame(REFERENCE["datasets"][name])
    if name in ("molloy2014", "mcdaniel1994"):
        # escalc(measure = "ZCOR"): checked separately against the escalc case.
        df["yi"] = np.arctanh(df["ri"])
        df["vi"] = 1 / (df["ni"] - 3)
    if name == "aloe2013":
        # escalc(measure = "PCOR"): checked separately against the escalc case.
        dfree = df["n"] - df["preds"] - 1
        df["yi"] = df["tval"] / np.sqrt(df["tval"] ** 2 + dfree)
        df["vi"] = (1 - df["yi"] ** 2) ** 2 / dfree
    return df


def cases(kind: str) -> list[dict[str, Any]]:
    return [c for c in REFERENCE["cases"] if c["kind"] == kind]
