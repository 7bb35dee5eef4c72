"""Crash safety: SIGKILL the server during concurrent submissions; every acknowledged one
is stored exactly once after a restart, and retries (same idempotency key) add nothing.

Note what this can and cannot show: ``kill -9`` of the application leaves the operating
system's page cache intact, so it proves the app acknowledges only committed work and
that retries are idempotent; it does not simulate a power loss (that needs a filesystem
that drops unsynced writes, such as LazyFS).
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from test_web_browser import free_port, start_server
from web_world import build

from bordin.store.db import init_db, session_factory
from bordin.store.models.core import Administration, Episode
from bordin.web.audit.chain import verify
from bordin.web.forms.service import create_link

pytestmark = pytest.mark.slow

N_LINKS = 240
N_THREADS = 12


def _answers() -> dict[str, dict[str, int]]:
    return {"wai_sr": {str(i): random.randint(1, 5) for i in range(1, 13)}}


def _prepare(url: str) -> list[tuple[str, str]]:
    engine = init_db(url)
    out = []
    with session_factory(engine)() as db:
        build(db)
        eps = db.scalars(sa.select(Episode).order_by(Episode.id)).all()
        for i in range(N_LINKS):
            ep = eps[i % len(eps)]
            token, _ = create_link(db, episode=ep, session_number=100 + i, instruments=["wai_sr"],
                                   created_by_id=None, ttl_hours=24)
            out.append((token, f"crash-key-{i}"))
        db.commit()
    engine.dispose()
    return out


def _submit(base: str, token: str, key: str, body: dict) -> int | None:
    try:
        r = httpx.post(f"{base}/api/v1/questionnaires/{token}",
                       json={"idempotency_key": key, "answers": body}, timeout=10)
        return r.status_code
    except httpx.HTTPError:
        return None


def test_kill_during_submissions_loses_no_acknowledged_one(database_url: str,
                                                           tmp_path: Path) -> None:
    links = _prepare(database_url)
    bodies = {key: _answers() for _t, key in links}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(database_url, port, tmp_path)
    acked: dict[str, int] = {}
    lock = threading.Lock()

    def worker(chunk: list[tuple[str, str]]) -> None:
        for token, key in chunk:
            status = _submit(base, token, key, bodies[key])
            if status is None:
                return  # the server is gone
            with lock:
                acked[key] = status

    chunks = [links[i::N_THREADS] for i in range(N_THREADS)]
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill once a fair share is acknowledged
        with lock:
            done = len(acked)
        if done >= N_LINKS // 3:
            break
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.3))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for t in threads:
        t.join(timeout=30)
    ok = {k for k, s in acked.items() if s == 201}
    assert 0 < len(ok) < N_LINKS, f"{len(ok)} acknowledged before the kill"
    assert all(s == 201 for s in acked.values()), set(acked.values())

    # Restart; every client retries everything with the same keys.
    proc = start_server(database_url, port, tmp_path)
    try:
        statuses = [_submit(base, token, key, bodies[key]) for token, key in links]
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert statuses.count(201) == N_LINKS, {s: statuses.count(s) for s in set(statuses)}

    engine = init_db(database_url)
    with session_factory(engine)() as db:
        keys = db.scalars(sa.select(Administration.idempotency_key).where(
            Administration.idempotency_key.like("link%:crash-key-%"))).all()
        per_key = {}
        for k in keys:
            short = k.split(":")[1]
            per_key[short] = per_key.get(short, 0) + 1
        assert set(per_key) == {key for _t, key in links}
        assert all(n == 1 for n in per_key.values()), "a submission was stored twice"
        assert ok <= set(per_key)
        assert verify(db).ok
        if db.get_bind().dialect.name == "sqlite":
            assert db.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
    print(f"{len(ok)} of {N_LINKS} acknowledged before SIGKILL; all stored once after restart"
          f" ({sys.platform})")
