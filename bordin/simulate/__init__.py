"""A generative model of mental-health care built on the alliance's three pathways.

Organisations employ clinicians (therapists, psychiatrists, staff) who differ in
facilitative interpersonal skills; patients differ in attachment, social support,
motivation, diagnosis and severity; episodes of individual, couple/family, group,
internet or medication care unfold session by session through the CARE,
EXPECTANCY and SPECIFIC pathways of Wampold & Flückiger (2023, Figure 1), with
reciprocal alliance–symptom dynamics, ruptures and repairs, and dropout; and
everything is observed item by item through Bordin's instruments.

>>> import bordin.simulate as sim
>>> data = sim.clinic("clinic", seed=0, n_episodes=300)
>>> data.administrations.columns[:4].tolist()
['administration_id', 'organization', 'clinician', 'patient']

Every effect is a documented field of :class:`Parameters`
(``Parameters.describe()``); :func:`power` estimates the power of an analysis
for a design by simulation.
"""

from bordin.simulate.clinic import clinic
from bordin.simulate.parameters import PRESETS, Parameters, Schedule, preset
from bordin.simulate.power import PowerResult, power
from bordin.simulate.result import SimulatedClinic, Truth

__all__ = [
    "PRESETS",
    "Parameters",
    "PowerResult",
    "Schedule",
    "SimulatedClinic",
    "Truth",
    "clinic",
    "power",
    "preset",
]
