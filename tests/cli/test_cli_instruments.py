"""`bordin instruments list|show`, `bordin load-wording`, `bordin score`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from bordin.cli import _register, app

_register()
runner = CliRunner()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bordin.cli", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})},
    )


def test_list_shows_every_instrument() -> None:
    out = runner.invoke(app, ["instruments", "list"])
    assert out.exit_code == 0, out.output
    for sid in ("phq9", "wai_sr", "haq2_therapist", "srs", "fis", "ceq"):
        assert sid in out.output
    assert "licence needed" in out.output


def test_show_lists_items_bands_licence_and_sources() -> None:
    out = runner.invoke(app, ["instruments", "show", "phq9"])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "phq9_9" in text and "moderately severe" in text and "44249-1" in text
    assert "Kroenke" in text and "[supports:" in text and "licence" in text
    out = runner.invoke(app, ["instruments", "show", "calpas"])
    assert "not verified" in out.output and "subscales" in out.output


def test_show_unknown_instrument_exits_1() -> None:
    res = _cli("instruments", "show", "bdi2")
    assert res.returncode == 1
    assert "instrument = 'bdi2'" in res.stderr and "phq9" in res.stderr


def test_score_csv_to_parquet_and_stdout(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    df = pd.DataFrame({"patient": ["p1", "p2"], **{str(i): [1, 3] for i in range(1, 10)}})
    df.to_csv(src, index=False)
    out = tmp_path / "scores.parquet"
    res = runner.invoke(app, ["score", str(src), "--instrument", "PHQ-9", "--out", str(out)])
    assert res.exit_code == 0, res.output
    scored = pd.read_parquet(out)
    assert list(scored["patient"]) == ["p1", "p2"]
    assert list(scored["total"]) == [9, 27]  # 9 x 1 and 9 x 3
    assert list(scored["band"]) == ["mild", "severe"]
    res = runner.invoke(app, ["score", str(src), "-i", "phq9"])
    assert res.exit_code == 0 and res.output.splitlines()[0].startswith("patient,total")


def test_score_bad_value_exits_1_naming_row_item_value(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame({f"gad7_{i}": [1, 4 if i == 2 else 1] for i in range(1, 8)}).to_csv(
        src, index=False
    )
    res = _cli("score", str(src), "--instrument", "gad7")
    assert res.returncode == 1
    assert "gad7, row 1: gad7_2 = 4" in res.stderr and "from 0 to 3" in res.stderr
    res = _cli("score", str(src), "--instrument", "gad7", "--out", str(tmp_path / "x.xlsx"))
    assert res.returncode == 1


def test_load_wording_command(tmp_path: Path) -> None:
    body = {"instrument": "who5", "language": "en", "items": {i: f"t{i}" for i in range(1, 6)}}
    path = tmp_path / "who5.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    data = tmp_path / "data"
    res = runner.invoke(app, ["load-wording", str(path), "--data-dir", str(data)])
    assert res.exit_code == 0, res.output
    assert "stored who5 [en]: 5 items" in res.output
    assert (data / "wording" / "who5" / "en.yaml").is_file()
    body["items"].pop(5)
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    bad = _cli("load-wording", str(path), env={"BORDIN_DATA_DIR": str(tmp_path / "d2")})
    assert bad.returncode == 1 and "missing who5_5" in bad.stderr


@pytest.mark.parametrize("cmd", [["instruments", "--help"], ["score", "--help"],
                                 ["load-wording", "--help"]])
def test_help(cmd: list[str]) -> None:
    res = runner.invoke(app, cmd)
    assert res.exit_code == 0 and "Usage" in res.output
