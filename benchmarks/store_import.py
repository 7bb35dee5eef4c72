"""Import speed: Bordin's validated, scored, all-or-nothing import against a raw bulk load.

Generates N PHQ-9 + WAI-SR administrations (tidy folder: administrations + responses),
then times, on one SQLite file each and in the same run:

* ``bordin``: :func:`bordin.exchange.tidy.import_tidy` (reads the CSVs, checks every
  row, scores every administration, writes everything in one transaction);
* ``reference``: pandas ``DataFrame.to_sql`` of the same two tables into an empty
  SQLite file (no validation, no scoring: the floor a loader cannot beat by much).

Prints rows per second, the ratio, and the process's peak RSS after the Bordin run
(tracemalloc is not used: it slowed the run about fourfold).
Usage: ``python benchmarks/store_import.py [N]`` (default 20000).
"""

from __future__ import annotations

import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make(folder: Path, n: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    adm, resp = [], []
    per_episode = 10
    for i in range(n):
        ep, session = divmod(i // 2, per_episode)
        inst = "phq9" if i % 2 == 0 else "wai_sr"
        adm.append({
            "administration_id": i + 1, "organization": f"O{ep % 5}",
            "clinician": f"T{ep % 40}", "patient": f"P{ep}", "episode": f"E{ep}",
            "session": session + 1, "date": f"2024-{1 + session % 12:02d}-01",
            "instrument": inst, "rater": "patient",
            "authored_at": f"2024-{1 + session % 12:02d}-01T10:{i % 60:02d}:00+00:00",
        })
        k, lo, hi = (9, 0, 3) if inst == "phq9" else (12, 1, 5)
        for j, v in enumerate(rng.integers(lo, hi + 1, size=k), start=1):
            resp.append((i + 1, f"{inst}_{j}", int(v)))
    pd.DataFrame(adm).to_csv(folder / "administrations.csv", index=False)
    pd.DataFrame(resp, columns=["administration_id", "item", "value"]).to_csv(
        folder / "responses.csv", index=False)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    from bordin.exchange.tidy import import_tidy
    from bordin.store.db import init_db, session_factory

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make(folder, n)
        engine = init_db(f"sqlite:///{tmp}/bordin.sqlite")
        t0 = time.perf_counter()
        with session_factory(engine)() as db:
            result = import_tidy(db, folder)
        t_bordin = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        engine.dispose()
        assert result.administrations == n

        t0 = time.perf_counter()
        con = sqlite3.connect(f"{tmp}/raw.sqlite")
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        pd.read_csv(folder / "administrations.csv").to_sql("administrations", con, index=False)
        pd.read_csv(folder / "responses.csv").to_sql("responses", con, index=False)
        con.commit()
        con.close()
        t_raw = time.perf_counter() - t0

    print(f"administrations: {n}")
    print(f"bordin import_tidy: {t_bordin:.2f} s ({n / t_bordin:,.0f} administrations/s), "
          f"peak RSS of the process {peak / 2**20:.0f} MiB")
    print(f"pandas to_sql (no validation, no scoring): {t_raw:.2f} s")
    print(f"ratio bordin / raw load: {t_bordin / t_raw:.1f}x")


if __name__ == "__main__":
    main()
