"""``bordin simulate`` writes the tables; bad input exits 1 with a message."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bordin.cli import main


def _run_inprocess(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["bordin", "simulate", *args])
    try:
        main()
    except SystemExit as exc:  # typer/click exit or Bordin's exit codes
        code = int(exc.code or 0)
    else:
        code = 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_simulate_writes_csv_and_parquet(tmp_path: Path, monkeypatch, capsys) -> None:
    code, out, err = _run_inprocess(
        monkeypatch, capsys, "--preset", "ipd17", "--seed", "3", "--out", str(tmp_path / "csv"),
        "--episodes", "120", "--set", "rupture_rate=0.05")
    assert code == 0, err
    assert "episodes: 120" in out
    eps = pd.read_csv(tmp_path / "csv" / "episodes.csv")
    assert len(eps) == 120 and eps["n_sessions"].max() == 7
    code, out, err = _run_inprocess(
        monkeypatch, capsys, "--preset", "ipd17", "--seed", "3", "--out", str(tmp_path / "pq"),
        "--episodes", "120", "--set", "rupture_rate=0.05", "--format", "parquet")
    assert code == 0, err
    adm_csv = pd.read_csv(tmp_path / "csv" / "administrations.csv")
    adm_pq = pd.read_parquet(tmp_path / "pq" / "administrations.parquet")
    # CSV keeps 10 significant digits (prorated totals are not integers)
    np.testing.assert_allclose(adm_csv["total"], adm_pq["total"], rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--preset", "nope"), "preset"),
        (("--format", "xlsx"), "--format"),
        (("--set", "no_such=1"), "overrides"),
        (("--episodes", "0"), "n_episodes"),
    ],
)
def test_simulate_bad_input_exits_1_naming_the_field(tmp_path: Path, monkeypatch, capsys,
                                                     args, needle) -> None:
    code, _out, err = _run_inprocess(monkeypatch, capsys, "--out", str(tmp_path), *args)
    assert code == 1
    assert needle in err


def test_simulate_is_registered_on_the_command_line() -> None:
    out = subprocess.run([sys.executable, "-m", "bordin.cli", "simulate", "--help"],
                         capture_output=True, text=True)
    assert out.returncode == 0
    assert "--preset" in out.stdout and "--episodes" in out.stdout
