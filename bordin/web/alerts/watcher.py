"""The monitor as its own process: watch the store for new administrations.

``bordin serve`` runs the monitor in a child process rather than in a thread of
each web worker: the monitor's batches are pandas work that holds the GIL for
tenths of a second, and in a worker they would stall that worker's requests. The
child finds episodes with new administrations in the store itself (no message
from the workers, so nothing is lost when a worker dies), runs the monitor on them
in batches (:class:`~bordin.web.alerts.queue.MonitorQueue`, the same code as the
in-process thread), and exits when its parent does.

Administration ids are not committed in id order (a transaction that took a lower
id may commit after a higher one is seen), so each look reads back a window of
recent ids and remembers which of them it has handled.
"""

from __future__ import annotations

import logging
import os
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bordin.store.db import READ, make_engine, session_factory
from bordin.store.models.core import Administration
from bordin.web.alerts.queue import MonitorQueue

__all__ = ["StoreWatcher", "look", "watch_store"]

log = logging.getLogger("bordin.web.monitor")

#: How many ids below the highest seen are read again at each look.
LOOKBACK = 5000


class StoreWatcher:
    """Episodes with administrations not yet seen, at each :meth:`new_episodes` call.

    The first call returns every episode with an administration, so a monitor that
    starts (or restarts) catches up on the whole clinic; dedupe keys keep alerts
    already stored from being raised again.
    """

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._high = 0

    def new_episodes(self, db: Session) -> set[int]:
        """Return the ids of episodes with administrations not returned before."""
        floor = max(self._high - LOOKBACK, 0)
        rows = db.execute(select(Administration.id, Administration.episode_id)
                          .where(Administration.id > floor)).all()
        fresh = [(i, e) for i, e in rows if i not in self._seen]
        self._seen.update(i for i, _ in fresh)
        if rows:
            self._high = max(self._high, max(i for i, _ in rows))
        floor = max(self._high - LOOKBACK, 0)
        self._seen = {i for i in self._seen if i > floor}
        return {e for _, e in fresh}


def watch_store(url: str, *, interval: float = 1.0, parent: int | None = None,
                sessions: sessionmaker[Session] | None = None) -> None:
    """Run the monitor on new administrations until the parent process is gone.

    Parameters
    ----------
    url
        The store's database URL.
    interval
        Seconds between looks (longer after a long batch: the monitor keeps to
        about a tenth of a core, see :class:`MonitorQueue`).
    parent
        The process to outlive not: when it exits, so does this loop (default: the
        process that started this one).
    sessions
        A session factory (tests); default one on ``url``.
    """
    parent = os.getppid() if parent is None else parent
    # Below the web workers: a batch may take a core for a while, and requests first.
    os.nice(10)
    engine = None
    if sessions is None:
        engine = make_engine(url)
        sessions = session_factory(engine)
    queue = MonitorQueue(sessions, interval=interval, enabled=True)
    watcher = StoreWatcher()
    try:
        while os.getppid() == parent:
            try:
                look(sessions, watcher=watcher, queue=queue)
            except Exception as exc:  # keep watching; the next look retries
                log.error("monitor process: %s", type(exc).__name__)
            time.sleep(queue.pause())
    finally:
        if engine is not None:
            engine.dispose()


def look(sessions: sessionmaker[Session], *, watcher: StoreWatcher,
         queue: MonitorQueue) -> int:
    """One look: run the monitor on the episodes with new administrations; alerts added."""
    with sessions() as db:
        db.connection(execution_options=READ)
        episodes = watcher.new_episodes(db)
    for episode in episodes:
        queue.mark(episode, start=False)
    return queue.flush()
