"""Watch every episode: rupture and repair, reliable change, not-on-track, feedback.

- :func:`detect_ruptures` runs one rupture rule (:mod:`bordin.monitor.rules`) on one
  plain series and returns :class:`RuptureEvent` objects with a state of ``open``,
  ``repaired`` or ``unrepaired``.
- :func:`reliable_change_status` and :func:`not_on_track` judge an outcome series;
  :class:`ExpectedRecovery` fits expected-recovery curves with tolerance bands.
- :func:`feedback_for` says which pathway an alert points at and what to try.
- :class:`EpisodeMonitor` updates one episode as administrations arrive;
  :func:`monitor_frame` runs everything over a whole clinic's administrations. Both
  raise one rupture alert per *event* (the scales that moved are its evidence; an
  ongoing rupture updates its alert), with the default rule of
  :data:`bordin.monitor.batch.DEFAULT_WATCHES`, chosen on the simulator's ground truth.
"""

from __future__ import annotations

from bordin.monitor import rules
from bordin.monitor.batch import Watch, estimate_population_sd, monitor_frame
from bordin.monitor.change import ChangeStatus, reliable_change_status
from bordin.monitor.detect import detect_ruptures
from bordin.monitor.discrepancy import discrepancy
from bordin.monitor.episode import EpisodeMonitor
from bordin.monitor.events import RuptureEvent, RuptureEvents
from bordin.monitor.feedback import Feedback, feedback_for
from bordin.monitor.not_on_track import ExpectedRecovery, NotOnTrack, not_on_track
from bordin.monitor.rules import RuptureRule

__all__ = [
    "ChangeStatus",
    "EpisodeMonitor",
    "ExpectedRecovery",
    "Feedback",
    "NotOnTrack",
    "RuptureEvent",
    "RuptureEvents",
    "RuptureRule",
    "Watch",
    "detect_ruptures",
    "discrepancy",
    "estimate_population_sd",
    "feedback_for",
    "monitor_frame",
    "not_on_track",
    "reliable_change_status",
    "rules",
]
