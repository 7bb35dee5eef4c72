"""When to run the monitor: risk at once, everything else batched in the background.

A submission that endorses a risk item (PHQ-9 item 9, the CORE-10 risk item) gets
its risk alert in the submission's own transaction, so it is never lost or late.
Rupture, not-on-track, discrepancy and ceiling alerts need the episode's whole
series; running the monitor per submission costs a few hundred milliseconds of
pandas work, so episodes are marked dirty and a background thread runs the monitor
on all dirty episodes together about once a second (one vectorised batch). Alerts
are derived data: if the process dies with episodes still queued, re-running the
monitor over the clinic recovers them, and dedupe keys keep re-runs from duplicating.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import BordinError
from bordin.monitor.batch import risk_record
from bordin.monitor.service import alert_values, population_sd, store_alerts, store_key
from bordin.store.models.alerts import Alert
from bordin.store.models.core import Administration, Episode, TherapySession
from bordin.store.queries import administrations_frame, responses_frame
from bordin.store.submit import StoredAdministration
from bordin.web.alerts.raise_alerts import monitor_alerts

__all__ = ["MonitorQueue", "risk_alerts_now"]

log = logging.getLogger("bordin.web.monitor")

#: Seconds between refreshes of the clinic's between-patient SDs.
POPULATION_SD_TTL = 300.0


def risk_alerts_now(db: Session, *,
                    adms: Sequence[Administration | StoredAdministration]) -> int:
    """Store a risk alert for every endorsed risk item of ``adms`` (caller commits).

    The dedupe key is the monitor's own (episode|instrument|rater|target|item|rule|session),
    so the background run does not raise the same alert again.
    """
    added = 0
    for adm in adms:
        if not adm.risk_items:
            continue
        ep_code = db.scalar(select(Episode.code).where(Episode.id == adm.episode_id))
        number = adm.session_number if isinstance(adm, StoredAdministration) else \
            db.scalar(select(TherapySession.number).where(TherapySession.id == adm.session_id))
        for item in adm.risk_items:
            value = next((r.value for r in adm.responses if r.item == item), None)
            # The monitor's own record: its background run then finds nothing to change.
            rec = risk_record(episode=str(ep_code), instrument=adm.instrument_id,
                              rater=adm.rater, target=adm.target, session=int(number),
                              item=item, value=value)
            key = store_key(rec)
            if db.scalar(select(Alert.id).where(Alert.dedupe_key == key)) is not None:
                continue
            db.add(Alert(episode_id=adm.episode_id, dedupe_key=key, state="open",
                         **alert_values(rec)))
            added += 1
    if added:
        db.flush()
    return added


class MonitorQueue:
    """Episodes waiting for the monitor, run in batches by one background thread."""

    def __init__(self, sessions: sessionmaker[Any], *, readers: sessionmaker[Any] | None = None,
                 interval: float = 1.0, enabled: bool = True, max_share: float = 0.1) -> None:
        self.enabled = enabled
        # Under heavy load a batch takes longer; the pause after it grows with it, so
        # the monitor takes at most about ``max_share`` of a core and the batches grow
        # (an episode submitted to many times is run once per batch). Alerts then come
        # a few seconds after the submission instead of one; risk alerts never wait.
        self._max_share = max_share
        self._last_run = 0.0
        # The clinic's between-patient SDs for the combined rupture rule: one aggregate
        # query over the store, refreshed every few minutes (they move slowly).
        self._population_sd: dict[str, float] = {}
        self._population_sd_at = -math.inf
        self._sessions = sessions
        # Reading and computing happen outside the write lock (SQLite); only storing
        # the new alerts takes it, briefly.
        self._readers = readers or sessions
        self._interval = interval
        self._dirty: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = False

    def mark(self, episode_id: int, *, start: bool = True) -> None:
        """Queue an episode for the next batch (``start``: the background thread, if needed)."""
        if not self.enabled:
            return
        with self._lock:
            self._dirty.add(episode_id)
            if start and self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="bordin-monitor",
                                                daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Run the monitor on every queued episode now; return the alerts added."""
        with self._lock:
            batch, self._dirty = self._dirty, set()
        if not batch:
            return 0
        started = time.thread_time()
        try:
            return self._run(batch)
        finally:
            self._last_run = time.thread_time() - started

    def _run(self, batch: set[int]) -> int:
        with self._run_lock:
            try:
                with self._readers() as rdb:
                    codes = list(rdb.scalars(select(Episode.code).where(Episode.id.in_(batch))))
                    adm = administrations_frame(rdb, episode=codes)
                    resp = responses_frame(rdb, episode=codes)
                    if time.monotonic() - self._population_sd_at > POPULATION_SD_TTL:
                        self._population_sd = population_sd(rdb)
                        self._population_sd_at = time.monotonic()
                alerts = monitor_alerts(adm, resp, population_sd=self._population_sd)
                if alerts.empty:
                    return 0
                with self._sessions() as db:
                    return store_alerts(db, alerts).inserted
            except (BordinError, ValueError, KeyError) as exc:
                log.error("monitor batch failed: %s", type(exc).__name__)
                return 0

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def pause(self) -> float:
        """Seconds to wait before the next batch: the interval, or longer after a long batch."""
        return max(self._interval, self._last_run * (1 - self._max_share) / self._max_share)

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.pause())
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # keep the thread alive; the next batch retries
                log.error("monitor thread: %s", type(exc).__name__)
