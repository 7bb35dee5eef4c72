"""The analyses of alliance research, one call each, on anyone's data.

Every function takes a tidy data frame (the ``administrations`` contract of
DESIGN.md, or a study-level table) plus column names, and returns a results
object with the numbers as attributes, ``summary()``, ``to_dict()`` and ``plot()``.
"""

from bordin.alliance.association import (
    AssociationResult,
    Correlation,
    alliance_outcome,
    partial_correlation,
)
from bordin.alliance.tidy import Columns, patient_table, session_panel

__all__ = [
    "AssociationResult",
    "Columns",
    "Correlation",
    "alliance_outcome",
    "partial_correlation",
    "patient_table",
    "session_panel",
]
