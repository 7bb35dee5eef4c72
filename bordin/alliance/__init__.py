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
from bordin.alliance.ipd import IPDResult, two_stage_ipd
from bordin.alliance.longitudinal import LongitudinalResult, within_between
from bordin.alliance.moderators import ModeratorResult, moderator_analysis
from bordin.alliance.therapist import (
    ContributionResult,
    TherapistEffectsResult,
    therapist_effects,
    therapist_patient_contribution,
)
from bordin.alliance.tidy import Columns, patient_table, session_panel

__all__ = [
    "AssociationResult",
    "Columns",
    "ContributionResult",
    "Correlation",
    "IPDResult",
    "LongitudinalResult",
    "ModeratorResult",
    "TherapistEffectsResult",
    "alliance_outcome",
    "moderator_analysis",
    "partial_correlation",
    "patient_table",
    "session_panel",
    "therapist_effects",
    "therapist_patient_contribution",
    "two_stage_ipd",
    "within_between",
]
