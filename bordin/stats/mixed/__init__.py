"""Exact linear mixed models for nested designs, from per-group sufficient statistics.

>>> from bordin.stats.mixed import fit, lrt
>>> m = fit("phq9 ~ session + alliance + (1 + session | patient)", data)  # doctest: +SKIP

Supported random-effects structures: nested random intercepts (any depth, e.g.
``(1 | clinic/therapist/patient)``); correlated random intercept and slopes for one
grouping factor (``(1 + session | patient)``, up to 4 terms); and both together
(``(1 + session | patient) + (1 | therapist)`` with patients nested in therapists).
Crossed grouping factors are refused. Results agree with lme4/lmerTest.
"""

from bordin.stats.mixed.fit import fit
from bordin.stats.mixed.lrt import LRTResult, lrt
from bordin.stats.mixed.results import MixedModel

__all__ = ["LRTResult", "MixedModel", "fit", "lrt"]
