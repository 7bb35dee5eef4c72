"""The server's SQLite write lock is granted in arrival order and never to two holders."""

from __future__ import annotations

import threading
import time

import pytest

from bordin.web.fifo_lock import FifoLock


def _wait_until(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.001)


def test_waiters_get_the_lock_in_the_order_they_asked() -> None:
    lock = FifoLock()
    lock.acquire()
    order: list[int] = []
    threads = []
    for i in range(12):
        def take(i: int = i) -> None:
            lock.acquire()
            order.append(i)
            lock.release()
        t = threading.Thread(target=take)
        t.start()
        _wait_until(lambda i=i: lock.waiting == i + 1)  # queued before the next one starts
        threads.append(t)
    # A caller that asks while others wait does not jump the queue.
    assert not lock.try_acquire()
    lock.release()
    for t in threads:
        t.join(10)
    assert order == list(range(12))
    assert lock.try_acquire()  # free again once the last waiter released it
    lock.release()


def test_never_two_holders_under_contention() -> None:
    lock = FifoLock()
    inside = 0
    worst = 0
    count = 0

    def work() -> None:
        nonlocal inside, worst, count
        for _ in range(300):
            if not lock.try_acquire():
                lock.acquire()
            inside += 1
            worst = max(worst, inside)
            count += 1
            inside -= 1
            lock.release()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert worst == 1
    assert count == 8 * 300
    assert lock.waiting == 0


def test_release_of_a_free_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not held"):
        FifoLock().release()
