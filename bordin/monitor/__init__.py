"""Watch every episode: rupture and repair, reliable change, not-on-track, feedback.

The public surface:

- :func:`detect_ruptures` runs one rupture rule (:mod:`bordin.monitor.rules`) on one
  plain series and returns :class:`RuptureEvent` objects with a state of ``open``,
  ``repaired`` or ``unrepaired``.
"""

from __future__ import annotations

from bordin.monitor import rules
from bordin.monitor.detect import detect_ruptures
from bordin.monitor.events import RuptureEvent, RuptureEvents
from bordin.monitor.rules import RuptureRule

__all__ = [
    "RuptureEvent",
    "RuptureEvents",
    "RuptureRule",
    "detect_ruptures",
    "rules",
]
