"""The core commands: init, import, export, demo (exit codes, output, help)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bordin.cli import _register, app
from bordin.data import sample_dir

_register()
runner = CliRunner()


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BORDIN_DATABASE_URL", None)
    env["BORDIN_DATA_DIR"] = str(tmp_path / "data")
    env["COLUMNS"] = "200"
    return env


def _bordin(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bordin.cli", *args], capture_output=True,
                          text=True, env=_env(tmp_path), timeout=600)


@pytest.mark.parametrize("command", ["init", "import", "export", "demo"])
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output and len(result.output) > 200


def test_demo_loads_scores_and_summarises(tmp_path: Path) -> None:
    out = _bordin(["demo", "--data-dir", str(tmp_path / "demo")], tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert (tmp_path / "demo" / "bordin.sqlite").exists()
    assert "12 patients" in text and "289 questionnaires" in text
    assert "Alliance by therapist" in text
    for therapist in ("T01", "T02", "T03", "T04"):
        assert therapist in text
    # P01: PHQ-9 18 -> 6 (a reliable fall of 12 points that crosses the cutoff of 10).
    assert "18→6" in text and "recovered" in text
    # P06 worsens: PHQ-9 14 -> 20.
    assert "14→20" in text and "deteriorated" in text
    assert "phq9 item 9 (s1, s2, s3)" in text
    # A second run reuses the database: the sample is stored once.
    again = _bordin(["demo", "--data-dir", str(tmp_path / "demo")], tmp_path)
    assert again.returncode == 0 and "289 questionnaires" in again.stdout


def test_init_import_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("BORDIN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BORDIN_PSEUDONYM_SECRET", "a test secret that is long enough")
    result = runner.invoke(app, ["init", "--db", url])
    assert result.exit_code == 0 and "database ready" in result.output

    result = runner.invoke(app, ["import", str(sample_dir()), "--db", url])
    assert result.exit_code == 0, result.output
    assert "imported 289 administration(s)" in result.output

    result = runner.invoke(app, ["export", str(tmp_path / "tidy"), "--db", url,
                                 "--file-type", "parquet"])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "tidy" / "administrations.parquet")) == 289

    result = runner.invoke(app, ["export", str(tmp_path / "b.json"), "--format", "fhir",
                                 "--bundle", "transaction", "--db", url])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b.json").read_text())["type"] == "transaction"

    result = runner.invoke(app, ["export", str(tmp_path / "research"), "--pseudonymise",
                                 "--dates", "sessions", "--db", url])
    assert result.exit_code == 0, result.output
    assert "P07" not in (tmp_path / "research" / "administrations.csv").read_text()

    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    result = runner.invoke(app, ["import", str(tmp_path / "b.json"), "--format", "fhir",
                                 "--db", fresh])
    assert result.exit_code == 0, result.output
    assert "imported 289 administration(s)" in result.output


def test_bad_import_exits_1_and_lists_every_bad_line(tmp_path: Path) -> None:
    rows = pd.DataFrame([
        {"organization": "O", "clinician": "T", "patient": "P", "episode": "E", "session": s,
         "date": "2024-03-01", "instrument": "gad7", "rater": "patient",
         **{f"gad7_{i}": 1 for i in range(1, 8)}}
        for s in range(1, 6)
    ])
    rows.loc[1, "gad7_3"] = 4     # line 3: off the 0-3 scale
    rows.loc[3, "rater"] = "cat"  # line 5
    path = tmp_path / "bad.csv"
    rows.to_csv(path, index=False)
    out = _bordin(["import", str(path), "--db", f"sqlite:///{tmp_path / 'x.sqlite'}"], tmp_path)
    assert out.returncode == 1
    assert "2 bad row(s)" in out.stderr
    assert "gad7_3 = 4" in out.stderr and "'cat'" in out.stderr


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "x.csv", "--format", "xml"])
    assert result.exit_code == 2
