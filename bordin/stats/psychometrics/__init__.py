"""Psychometrics: reliability (alpha, omega), inter-rater ICCs and CFA.

>>> from bordin.stats.psychometrics import cronbach_alpha, mcdonald_omega, interrater_icc, cfa
"""

from bordin.stats.psychometrics.cfa import CFAResult, cfa, finsrud_two_factor, goal_task_bond
from bordin.stats.psychometrics.icc import ICCResult, interrater_icc
from bordin.stats.psychometrics.reliability import (
    AlphaResult,
    OmegaResult,
    cronbach_alpha,
    mcdonald_omega,
)

__all__ = [
    "AlphaResult",
    "CFAResult",
    "ICCResult",
    "OmegaResult",
    "cfa",
    "cronbach_alpha",
    "finsrud_two_factor",
    "goal_task_bond",
    "interrater_icc",
    "mcdonald_omega",
]
