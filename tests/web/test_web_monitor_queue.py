"""The background monitor's pacing: a long batch makes the next pause longer."""

from __future__ import annotations

import pytest

from bordin.web.alerts.queue import MonitorQueue


def test_pause_keeps_the_monitor_to_its_share_of_a_core() -> None:
    q = MonitorQueue(sessions=None, interval=1.0, enabled=False, max_share=0.1)  # type: ignore[arg-type]
    assert q.pause() == 1.0  # nothing run yet: the configured interval
    q._last_run = 0.05  # a cheap batch: still the interval
    assert q.pause() == 1.0
    q._last_run = 0.4  # 0.4 s of CPU: wait 3.6 s, so the batch is 10% of the time
    assert q.pause() == pytest.approx(3.6)
    assert q._last_run / (q._last_run + q.pause()) == pytest.approx(0.1)
