"""Shared fixtures: the lme4/lmerTest reference values and their data sets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "mixed_reference.json"

DATASET_OF = {
    "sleepstudy": "sleepstudy", "dyestuff2": "Dyestuff2", "dyestuff": "Dyestuff",
    "pastes": "Pastes", "clinic": "clinic",
}


@pytest.fixture(scope="session")
def reference() -> dict:
    with FIXTURE.open() as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def datasets(reference: dict) -> dict[str, pd.DataFrame]:
    return {k: pd.DataFrame(v) for k, v in reference["data"].items()}


def dataset_for(model_name: str) -> str:
    return next(v for k, v in DATASET_OF.items() if model_name.startswith(k))
