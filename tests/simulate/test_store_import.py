"""A simulated clinic goes straight into the store: ``bordin import`` accepts every row."""

import sys
from pathlib import Path

import bordin.simulate as sim
from bordin.cli import main


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["bordin", *args])
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    out = capsys.readouterr()
    return code, out.out + out.err


def test_simulated_tables_import_into_the_store(tmp_path: Path, monkeypatch, capsys) -> None:
    data = sim.clinic("clinic", seed=21, n_episodes=80, repeat_episode_probability=0.3)
    assert data.episodes["patient"].duplicated().any()  # patients with two courses
    data.save(tmp_path / "tidy", format="csv")
    db = f"sqlite:///{tmp_path / 'bordin.sqlite'}"
    code, text = _cli(monkeypatch, capsys, "init", "--db", db)
    assert code == 0, text
    code, text = _cli(monkeypatch, capsys, "import", str(tmp_path / "tidy"), "--db", db)
    assert code == 0, text
    assert f"imported {len(data.administrations)} administration(s)" in text
    assert f"{len(data.episodes)} episode(s)" in text
    assert f"{data.episodes['patient'].nunique()} patient(s)" in text
