"""Constants and helpers shared by the mixed-model tests.

A uniquely named module (not ``conftest``): with pytest's default import mode a bare
``from conftest import ...`` resolves to whichever ``conftest`` directory was put on
``sys.path`` first, which depends on what else is collected in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES_DIR = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES_DIR / "mixed_reference.json"
THREE_LEVEL_FIXTURE = FIXTURES_DIR / "mixed_three_level.json"

DATASET_OF = {
    "sleepstudy": "sleepstudy", "dyestuff2": "Dyestuff2", "dyestuff": "Dyestuff",
    "pastes": "Pastes", "clinic": "clinic",
}


def load_reference() -> dict:
    """The lme4/lmerTest reference values written by ``scripts/r/mixed_reference.R``."""
    with FIXTURE.open() as fh:
        return json.load(fh)


def dataset_for(model_name: str) -> str:
    """The data set a reference model was fitted to."""
    return next(v for k, v in DATASET_OF.items() if model_name.startswith(k))


def load_three_level() -> dict:
    """lme4 fits where a variance can strand at 0 (``scripts/r/mixed_three_level.R``)."""
    with THREE_LEVEL_FIXTURE.open() as fh:
        return json.load(fh)
