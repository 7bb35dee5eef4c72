"""Fixtures of the alliance tests: the R reference (scripts/r/alliance_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "alliance_reference.json"


@pytest.fixture(scope="session")
def ref() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="session")
def administrations(ref: dict) -> pd.DataFrame:
    return pd.DataFrame(ref["data"]["administrations"])
