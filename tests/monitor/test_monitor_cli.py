"""``bordin monitor FILE``: alerts printed and written; bad input exits 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from monitor_gen import clinic_frame

from bordin.monitor import monitor_frame


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bordin.cli", "monitor", *args],
                          capture_output=True, text=True)


def test_monitor_writes_the_same_alerts_as_the_library(tmp_path: Path) -> None:
    adm = clinic_frame(25, seed=5)
    src = tmp_path / "adm.parquet"
    adm.to_parquet(src, index=False)
    out = _run(str(src), "-o", str(tmp_path / "alerts.json"), "--limit", "3")
    assert out.returncode == 0, out.stderr
    recs = json.loads((tmp_path / "alerts.json").read_text())
    lib = monitor_frame(adm)
    assert sorted(r["dedupe_key"] for r in recs) == sorted(lib["dedupe_key"])
    assert f"{len(lib)} alert(s)" in out.stdout
    risk = [r for r in recs if r["kind"] == "risk"]
    assert risk and risk[0]["suggestions"][0]["id"] == "assess_risk_now"


def test_monitor_csv_with_rules_and_kind(tmp_path: Path) -> None:
    adm = clinic_frame(25, seed=5)
    src = tmp_path / "adm.csv"
    adm.to_csv(src, index=False)
    out = _run(str(src), "--rule", "personal_sd:k=1", "--kind", "rupture",
               "-o", str(tmp_path / "a.csv"))
    assert out.returncode == 0, out.stderr
    got = pd.read_csv(tmp_path / "a.csv")
    assert set(got["kind"]) == {"rupture"}
    assert set(got["rule"].str.split("(").str[0]) == {"personal_sd"}
    assert json.loads(got["params"].iloc[0])["k"] == 1


def test_monitor_bad_input_exits_1(tmp_path: Path) -> None:
    assert _run(str(tmp_path / "missing.csv")).returncode == 1
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"episode": [1], "session": [1]}).to_csv(bad, index=False)
    out = _run(str(bad))
    assert out.returncode == 1 and "administrations.columns" in out.stderr
    good = tmp_path / "good.csv"
    clinic_frame(3, seed=1).to_csv(good, index=False)
    out = _run(str(good), "--rule", "personal_sd:k=-1")
    assert out.returncode == 1 and "k = -1" in out.stderr
    out = _run(str(good), "-o", str(tmp_path / "x.xlsx"))
    assert out.returncode == 1
