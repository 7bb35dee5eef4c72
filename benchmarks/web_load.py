"""Load benchmark of the web app: sustained questionnaire submissions per second, p50/p99.

Starts ``bordin serve`` on SQLite and on PostgreSQL, makes single-use links, and has
``--concurrency`` clients submit a WAI-SR each through the patient API
(``POST /api/v1/questionnaires/{token}``: link check, scoring, one transaction with
the administration, its items and scores, the link marked used, the monitor's update
of the episode and a hash-chained audit row). Prints throughput and latency; asserts
nothing (targets: >= 300/s and p99 < 150 ms on PostgreSQL).

    .venv/bin/python benchmarks/web_load.py --n 1500 --concurrency 32
    .venv/bin/python benchmarks/web_load.py --backend postgres --workers 2

PostgreSQL is read from BORDIN_TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); a fresh schema is made and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

from bordin.store.db import init_db, session_factory
from bordin.store.models.core import Clinician, Episode, Organization, Patient
from bordin.web.forms.service import create_link

PG = os.environ.get("BORDIN_TEST_POSTGRES_URL",
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str, n: int, episodes: int = 200) -> list[str]:
    engine = init_db(url)
    tokens = []
    with session_factory(engine)() as db:
        org = Organization(code="bench", name="Bench clinic")
        db.add(org)
        db.flush()
        clins = [Clinician(code=f"bc{i}", organization_id=org.id) for i in range(10)]
        db.add_all(clins)
        db.flush()
        eps = []
        for i in range(episodes):
            p = Patient(code=f"bp{i}", organization_id=org.id)
            db.add(p)
            db.flush()
            e = Episode(code=f"be{i}", patient_id=p.id, clinician_id=clins[i % 10].id,
                        organization_id=org.id, format="individual", start=date(2026, 1, 1))
            db.add(e)
            eps.append(e)
        db.flush()
        for i in range(n):
            tok, _ = create_link(db, episode=eps[i % episodes], session_number=1 + i // episodes,
                                 instruments=["wai_sr"], created_by_id=None, ttl_hours=24)
            tokens.append(tok)
        db.commit()
    engine.dispose()
    return tokens


def start(url: str, port: int, workers: int, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "BORDIN_SECRET_KEY": "k" * 48, "BORDIN_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "bordin.cli", "serve", "--db", url,
                             "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
    raise RuntimeError("server did not start")


async def load(base: str, tokens: list[str], concurrency: int) -> tuple[list[float], float, int]:
    lat: list[float] = []
    errors = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in tokens:
        queue.put_nowait(t)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            tok = queue.get_nowait()
            body = {"idempotency_key": secrets.token_urlsafe(12),
                    "answers": {"wai_sr": {str(i): random.randint(1, 5) for i in range(1, 13)}}}
            t0 = time.perf_counter()
            r = await http.post(f"{base}/api/v1/questionnaires/{tok}", json=body)
            lat.append(time.perf_counter() - t0)
            if r.status_code != 201:
                errors += 1

    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return lat, elapsed, errors


def run(backend: str, n: int, concurrency: int, workers: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bordin-load-"))
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'load.sqlite'}"
        workers = 1  # one writer at a time anyway; more processes only contend
    else:
        schema = f"load_{secrets.token_hex(4)}"
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG else "?"
        url = f"{PG}{sep}options=-csearch_path%3D{schema}"
    warm = 50
    tokens = prepare(url, n + warm)
    port = free_port()
    proc = start(url, port, workers, tmp)
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(load(base, tokens[:warm], min(concurrency, 8)))
        lat, elapsed, errors = asyncio.run(load(base, tokens[warm:], concurrency))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if schema:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    ms = np.array(lat) * 1000
    print(f"{backend:<10} workers={workers} clients={concurrency} n={n}: "
          f"{n / elapsed:7.1f} submissions/s  p50 {np.percentile(ms, 50):6.1f} ms  "
          f"p99 {np.percentile(ms, 99):6.1f} ms  errors {errors}  "
          f"(client peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="server processes on PostgreSQL")
    a = ap.parse_args()
    print(f"cores: {os.cpu_count()}; target on PostgreSQL: >= 300/s, p99 < 150 ms")
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        run(backend, a.n, a.concurrency, a.workers)


if __name__ == "__main__":
    main()
