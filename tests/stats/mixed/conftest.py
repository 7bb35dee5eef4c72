"""Shared fixtures: the lme4/lmerTest reference values and their data sets.

Constants live in ``mixed_fixtures`` (import that, never ``conftest``).
"""

from __future__ import annotations

import pandas as pd
import pytest
from mixed_fixtures import load_reference


@pytest.fixture(scope="session")
def reference() -> dict:
    return load_reference()


@pytest.fixture(scope="session")
def datasets(reference: dict) -> dict[str, pd.DataFrame]:
    return {k: pd.DataFrame(v) for k, v in reference["data"].items()}
