"""Load benchmark of the web app: sustained questionnaire submissions per second, p50/p99.

Starts ``bordin serve`` on SQLite and on PostgreSQL, makes single-use links, and has
``--concurrency`` clients submit a WAI-SR each through the patient API
(``POST /api/v1/questionnaires/{token}``: link check, scoring, one transaction with
the administration, its items and scores, the link marked used, the monitor's update
of the episode and a hash-chained audit row). Prints throughput, latency, and the CPU
the server processes spent per submission; asserts nothing (targets: >= 300/s and
p99 < 150 ms on PostgreSQL).

The load comes from ``wrk`` (Debian's package: a C load generator that takes little of
the two cores the server shares with it), each request with its own single-use link;
without ``wrk`` an httpx client in Python is used, which itself takes a core.

    .venv/bin/python benchmarks/web_load.py --duration 20 --concurrency 8,16,32
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
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

from bordin.store.db import init_db, session_factory
from bordin.store.models.core import Clinician, Episode, Organization, Patient
from bordin.store.models.links import QuestionnaireLink
from bordin.web.auth.sessions import hash_token, now

PG = os.environ.get("BORDIN_TEST_POSTGRES_URL",
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ITEMS = 12  # WAI-SR

WRK_SCRIPT = r"""
local tokens, i = {}, 0
function setup(thread)
  thread:set("tid", nthreads or 0)
  nthreads = (nthreads or 0) + 1
end
function init(args)
  for line in io.lines(args[1] .. "." .. tid) do tokens[#tokens + 1] = line end
end
function request()
  i = i + 1
  local t = tokens[i] or tokens[#tokens]  -- past the end: a used link, counted as an error
  local a = {}
  for k = 1, ITEMS do a[#a + 1] = string.format('"%d":%d', k, math.random(1, 5)) end
  local body = '{"idempotency_key":"' .. string.sub(t, 1, 20) .. '","answers":{"wai_sr":{'
               .. table.concat(a, ",") .. '}}}'
  return wrk.format("POST", "/api/v1/questionnaires/" .. t,
                    {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
""".replace("ITEMS", str(ITEMS))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str, n: int, episodes: int = 2000) -> list[str]:
    """A clinic of ``episodes`` episodes and ``n`` unused WAI-SR links (tokens returned).

    Links go round the episodes, one session each time: with 2,000 episodes a run of
    about 30,000 submissions gives each episode some 15 sessions, a course of therapy
    (with 200 it would give 150, and the monitor would read histories no clinic has).
    """
    engine = init_db(url)
    with session_factory(engine)() as db:
        org = Organization(code="bench", name="Bench clinic")
        db.add(org)
        db.flush()
        clins = [Clinician(code=f"bc{i}", organization_id=org.id) for i in range(10)]
        db.add_all(clins)
        db.flush()
        pats = [Patient(code=f"bp{i}", organization_id=org.id) for i in range(episodes)]
        db.add_all(pats)
        db.flush()
        eps = [Episode(code=f"be{i}", patient_id=p.id, clinician_id=clins[i % 10].id,
                       organization_id=org.id, format="individual", start=date(2026, 1, 1))
               for i, p in enumerate(pats)]
        db.add_all(eps)
        db.flush()
        tokens = [secrets.token_urlsafe(32) for _ in range(n)]
        t0 = now()
        # Links written in bulk (create_link writes one at a time, too slow for 20k).
        db.execute(sa.insert(QuestionnaireLink), [
            {"token_hash": hash_token(tok), "episode_id": eps[i % episodes].id,
             "session_number": 1 + i // episodes, "instruments": ["wai_sr"],
             "created_at": t0, "expires_at": t0 + timedelta(hours=24)}
            for i, tok in enumerate(tokens)])
        db.commit()
    engine.dispose()
    return tokens


def start(url: str, port: int, workers: int, data_dir: Path,
          monitor: bool = True) -> subprocess.Popen:
    env = {**os.environ, "BORDIN_SECRET_KEY": "k" * 48, "BORDIN_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "bordin.cli", "serve", "--db", url,
                             "--port", str(port), "--workers", str(workers),
                             "--monitor" if monitor else "--no-monitor"], env=env,
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


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants still running (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for child in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() != "postgres":
                    continue
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def descendants(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                out += [int(p.name), *descendants(int(p.name))]
    return out


def count_stored(url: str) -> dict[str, int]:
    """Rows the run left in the store (to check what was acknowledged was written)."""
    engine = sa.create_engine(url)
    queries = {
        "administrations": "SELECT count(*) FROM administrations",
        "items": "SELECT count(*) FROM item_responses",
        "used_links": "SELECT count(*) FROM questionnaire_links WHERE used_at IS NOT NULL",
        "audit_events": "SELECT count(*) FROM audit_events",
        "alerts": "SELECT count(*) FROM alerts",
    }
    with engine.connect() as c:
        out = {k: int(c.execute(sa.text(q)).scalar_one()) for k, q in queries.items()}
    engine.dispose()
    return out


def load_wrk(base: str, tokens: list[str], concurrency: int, duration: int,
             tmp: Path) -> tuple[int, float, int, float, float]:
    threads = 2
    for t in range(threads):
        (tmp / f"tokens.{t}").write_text("\n".join(tokens[t::threads]) + "\n")
    (tmp / "load.lua").write_text(WRK_SCRIPT)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(concurrency), "-d",
                          f"{duration}s", "--timeout", "10s", "-s", str(tmp / "load.lua"),
                          base, "--", str(tmp / "tokens")],
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    n, micros, errors, p50, p99, _mx = (int(v) for v in line.split()[1:])
    return n, micros / 1e6, errors, p50 / 1000, p99 / 1000


async def load_httpx(base: str, tokens: list[str],
                     concurrency: int) -> tuple[int, float, int, float, float]:
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
            body = {"idempotency_key": tok[:20], "answers": {
                "wai_sr": {str(i): random.randint(1, 5) for i in range(1, ITEMS + 1)}}}
            t0 = time.perf_counter()
            r = await http.post(f"{base}/api/v1/questionnaires/{tok}", json=body)
            lat.append(time.perf_counter() - t0)
            if r.status_code != 201:
                errors += 1

    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return len(lat), elapsed, errors, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def run(backend: str, duration: int, concurrencies: list[int], workers: int,
        use_wrk: bool, monitor: bool) -> None:
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
    warm = 200
    per_run = duration * 700 if use_wrk else 1500  # more links than can be used
    tokens = prepare(url, warm + per_run * len(concurrencies))
    port = free_port()
    proc = start(url, port, workers, tmp, monitor)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        warm_done, _t, warm_errors, _p50, _p99 = asyncio.run(load_httpx(base, tokens[:warm], 8))
        for i, conc in enumerate(concurrencies):
            mine = tokens[warm + i * per_run: warm + (i + 1) * per_run]
            cpu0, pg0 = cpu_seconds(proc.pid), postgres_cpu_seconds()
            if use_wrk:
                result = load_wrk(base, mine, conc, duration, tmp)
            else:
                result = asyncio.run(load_httpx(base, mine, conc))
            rows.append((conc, result, cpu_seconds(proc.pid) - cpu0,
                         postgres_cpu_seconds() - pg0))
        time.sleep(1)  # let requests in flight when wrk stopped finish
        stored = count_stored(url)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if schema:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    for conc, (done, elapsed, errors, p50, p99), cpu, pg in rows:
        n = max(done, 1)
        print(f"{backend:<10} workers={workers} clients={conc:>3} "
              f"({'wrk' if use_wrk else 'httpx'}): {done:>5} in {elapsed:4.1f} s = "
              f"{done / elapsed:6.1f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
              f"errors {errors}  CPU per submission: server {1000 * cpu / n:.1f} ms, "
              f"PostgreSQL {1000 * pg / n:.1f} ms")
    # What the server acknowledged must be in the store: a 201 is one administration
    # with its 12 items and its scores, its link used and its audit event. wrk stops
    # with requests in flight, which the server may still store: up to one per client.
    acked = warm_done - warm_errors + sum(
        done - errors for _c, (done, _e, errors, _p, _q), _cpu, _pg in rows)
    slack = sum(rows_conc for rows_conc, *_ in rows)
    print(f"stored: {stored['administrations']} administrations for {acked} acknowledged "
          f"submissions (up to {slack} more in flight when wrk stopped), "
          f"{stored['items']} item responses, {stored['used_links']} links used, "
          f"{stored['audit_events']} audit events, {stored['alerts']} monitor alerts")
    if not acked <= stored["administrations"] <= acked + slack:
        print("MISMATCH: the store does not hold what the server acknowledged")
    print(f"(benchmark peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} "
          f"MiB; load average now {os.getloadavg()[0]:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--duration", type=int, default=20, help="seconds of load (wrk)")
    ap.add_argument("--concurrency", default="8,16,32",
                    help="clients (connections), a comma-separated list for a sweep")
    ap.add_argument("--workers", type=int, default=2, help="server processes on PostgreSQL")
    ap.add_argument("--httpx", action="store_true", help="use the Python client, not wrk")
    ap.add_argument("--no-monitor", action="store_true",
                    help="serve without the monitor's process (to see what it costs)")
    a = ap.parse_args()
    use_wrk = not a.httpx and shutil.which("wrk") is not None
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    print(f"cores: {os.cpu_count()} ({model}); load average {os.getloadavg()[0]:.1f}; "
          "target on PostgreSQL: >= 300/s, p99 < 150 ms")
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        run(backend, a.duration, [int(c) for c in a.concurrency.split(",")], a.workers,
            use_wrk, not a.no_monitor)


if __name__ == "__main__":
    main()
