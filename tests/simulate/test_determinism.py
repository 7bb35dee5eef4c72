"""Same seed, same data, byte for byte; different seed, different data."""

import hashlib
import json
from pathlib import Path

import pytest

import bordin.simulate as sim


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_same_bytes(tmp_path: Path, fmt: str) -> None:
    a = sim.clinic("clinic", seed=42, n_episodes=400)
    b = sim.clinic("clinic", seed=42, n_episodes=400)
    a.save(tmp_path / "a", format=fmt)
    b.save(tmp_path / "b", format=fmt)
    da, db = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert len(da) == 15
    assert da == db
    c = sim.clinic("clinic", seed=43, n_episodes=400)
    c.save(tmp_path / "c", format=fmt)
    dc = _digest(tmp_path / "c")
    assert dc["administrations." + fmt] != da["administrations." + fmt]
    assert dc["responses." + fmt] != da["responses." + fmt]


def test_saved_tables_read_back(tmp_path: Path) -> None:
    import pandas as pd

    d = sim.clinic("ipd17", seed=1, n_episodes=170)
    d.save(tmp_path, format="parquet")
    adm = pd.read_parquet(tmp_path / "administrations.parquet")
    assert len(adm) == len(d.administrations)
    assert adm["instrument"].astype(str).tolist() == d.administrations["instrument"].astype(
        str).tolist()
    meta = json.loads((tmp_path / "parameters.json").read_text())
    assert meta["preset"] == "ipd17" and meta["parameters"]["fixed_sessions"] == 7
    rup = pd.read_parquet(tmp_path / "truth_ruptures.parquet")
    assert list(rup.columns) == ["rupture", "episode", "start_session", "depth",
                                 "repaired_session", "repaired"]


def test_to_dict_is_json_safe() -> None:
    d = sim.clinic("baldwin2007", seed=0, n_episodes=40, therapists_per_organization=10)
    out = d.to_dict()
    text = json.dumps(out)
    assert '"preset": "baldwin2007"' in text
    assert len(out["episodes"]) == 40
    assert out["parameters"]["n_episodes"] == 40


def test_bad_save_format(tmp_path: Path) -> None:
    from bordin.errors import InputError

    d = sim.clinic("clinic", seed=0, n_episodes=20)
    with pytest.raises(InputError) as err:
        d.save(tmp_path, format="xlsx")
    assert err.value.field == "format"


def test_same_seed_same_bytes_across_processes(tmp_path: Path) -> None:
    """Separate interpreters (different hash seeds) write identical files."""
    import os
    import subprocess
    import sys

    code = ("import sys, bordin.simulate as sim; "
            "sim.clinic('clinic', seed=5, n_episodes=150).save(sys.argv[1], format='csv')")
    digests = []
    for i, hashseed in enumerate(("1", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = tmp_path / f"run{i}"
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env)
        digests.append(_digest(out))
    assert digests[0] == digests[1]


def test_edge_sizes_and_settings() -> None:
    one = sim.clinic(seed=1, n_episodes=1)
    assert len(one.episodes) == 1 and len(one.truth.sessions) >= 1
    med = sim.clinic(seed=1, n_episodes=6, psychiatrists_per_organization=0,
                     format_probabilities={"individual": 0, "couple": 0, "family": 0,
                                           "group": 0, "internet": 0, "medication": 1})
    roles = med.clinicians.set_index("clinician")["role"]
    assert (roles.loc[med.episodes["clinician"]] == "therapist").all()
    blank = sim.clinic(seed=1, n_episodes=20, item_missing_rate=1.0, fis_raters=0)
    assert len(blank.responses) == 0 and len(blank.administrations) == 0


def test_plot_episode(tmp_path: Path) -> None:
    from bordin.errors import InputError

    d = sim.clinic("clinic", seed=3, n_episodes=200)
    ep = int(d.truth.ruptures["episode"].iloc[0])
    fig = d.plot_episode(ep)
    assert len(fig.axes) >= 2
    fig.savefig(tmp_path / "episode.png")
    assert (tmp_path / "episode.png").stat().st_size > 1000
    with pytest.raises(InputError) as err:
        d.plot_episode(10_000)
    assert err.value.field == "episode"
