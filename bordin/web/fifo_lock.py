"""A lock granted in the order it was asked for: SQLite's one writer in a server process.

On SQLite one transaction writes at a time, so the server's requests take turns
on a lock in the process (:func:`bordin.web.deps.get_db`). :class:`threading.Lock`
is not fair: a request that arrives just as the lock is released can take it
before a thread that has waited for a second is woken, and under load some
requests then wait for seconds while most pass at once. Here each waiter parks on
a gate of its own, and :meth:`FifoLock.release` hands the lock to the oldest one.
"""

from __future__ import annotations

import threading
from collections import deque

__all__ = ["FifoLock"]


class FifoLock:
    """A mutual-exclusion lock whose waiters get it first come, first served."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def try_acquire(self) -> bool:
        """Take the lock if it is free (nobody holds it, so nobody waits); never blocks."""
        with self._mutex:
            if self._held:
                return False
            self._held = True
            return True

    def acquire(self) -> None:
        """Take the lock, after every caller that asked for it earlier."""
        with self._mutex:
            if not self._held:
                self._held = True
                return
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
        gate.acquire()  # opened by release(), which hands the lock over still held

    def release(self) -> None:
        """Give the lock to the longest waiter, or free it when nobody waits."""
        with self._mutex:
            if not self._held:
                raise RuntimeError("FifoLock released while not held")
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False

    @property
    def waiting(self) -> int:
        """How many callers wait for the lock."""
        return len(self._waiters)
