"""``bordin meta`` end to end: summary printed, plots written, bad input → exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ._reference import cases, dataset


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``bordin meta ...`` in-process through ``bordin.cli.main`` (same exit codes as
    the console script; a subprocess per case would spend most of its time importing)."""
    from bordin.cli import main

    def _run(*args: str) -> Outcome:
        monkeypatch.setattr(sys, "argv", ["bordin", "meta", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        cap = capsys.readouterr()
        return Outcome(code, cap.out, cap.err)

    return _run


@pytest.mark.slow  # a fresh interpreter imports every CLI module
def test_console_entry_point_runs_meta(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    pd.DataFrame({"r": [0.2, 0.3, 0.1, 0.25], "n": [40, 50, 60, 80]}).to_csv(path, index=False)
    out = subprocess.run([sys.executable, "-m", "bordin.cli", "meta", str(path), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["k"] == 4


@pytest.fixture
def molloy_csv(tmp_path: Path) -> Path:
    df = dataset("molloy2014")[["authors", "ri", "ni", "meanage"]]
    path = tmp_path / "molloy.csv"
    df.rename(columns={"authors": "study", "ri": "r", "ni": "n"}).to_csv(path, index=False)
    return path


def test_cli_prints_summary_and_writes_plots(run: Any, molloy_csv: Path, tmp_path: Path
                                              ) -> None:
    forest, funnel = tmp_path / "forest.png", tmp_path / "funnel.png"
    out = run(str(molloy_csv), "--r", "r", "--n", "n", "--method", "REML", "--test", "knha",
              "--study", "study", "--forest", str(forest), "--funnel", str(funnel))
    assert out.returncode == 0, out.stderr
    (ref,) = [c for c in cases("rma") if c["id"] == "molloy_REML_knha"]
    # the printed estimate and back-transformed r are metafor's, to the digits printed
    assert f"{ref['result']['beta']:.4f}" in out.stdout
    assert f"r = {ref['result']['r_pred']:.4f}" in out.stdout
    assert "I2" in out.stdout and "tau2" in out.stdout
    for p in (forest, funnel):
        assert p.stat().st_size > 5000
        assert p.read_bytes()[:4] == b"\x89PNG"


def test_cli_json_with_moderator_formula(run: Any, molloy_csv: Path) -> None:
    out = run(str(molloy_csv), "--mods", "meanage", "--method", "DL", "--test", "z", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    (ref,) = [c for c in cases("rma") if c["id"] == "molloy_meanage_DL_z"]
    np.testing.assert_allclose(res["beta"], ref["result"]["beta"], rtol=1e-10)
    np.testing.assert_allclose(res["QM"], ref["result"]["QM"], rtol=1e-10)


def test_cli_yi_vi_columns(run: Any, tmp_path: Path) -> None:
    df = dataset("bcg")[["yi", "vi", "ablat"]]
    path = tmp_path / "bcg.csv"
    df.to_csv(path, index=False)
    out = run(str(path), "--yi", "yi", "--vi", "vi", "--test", "z", "--json")
    assert out.returncode == 0, out.stderr
    (ref,) = [c for c in cases("rma") if c["id"] == "bcg_REML_z"]
    np.testing.assert_allclose(json.loads(out.stdout)["tau2"], ref["result"]["tau2"], rtol=1e-7)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--r", "nope"], "--r = 'nope'"),
        (["--method", "BOGUS"], "method = 'BOGUS'"),
        (["--test", "f"], "test = 'f'"),
        (["--mods", "no_such_column"], "mods"),
    ],
)
def test_cli_bad_input_exits_1_with_message(run: Any, molloy_csv: Path, args: list[str],
                                            needle: str) -> None:
    out = run(str(molloy_csv), *args)
    assert out.returncode == 1
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_missing_file_and_bad_r(run: Any, tmp_path: Path) -> None:
    out = run(str(tmp_path / "missing.csv"))
    assert out.returncode == 1 and "existing CSV" in out.stderr
    path = tmp_path / "bad.csv"
    pd.DataFrame({"r": [0.2, 1.5, 0.1], "n": [40, 50, 60]}).to_csv(path, index=False)
    out = run(str(path))
    assert out.returncode == 1 and "ri = 1.5" in out.stderr
