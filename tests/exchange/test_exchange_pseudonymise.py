"""Pseudonymised research exports: keyed hashes, per-patient date shifts or no dates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import InputError
from bordin.exchange.frames import read_store
from bordin.exchange.pseudonymise import Pseudonymiser, load_or_create_secret
from bordin.exchange.tidy import export_tidy

SECRET = b"0123456789abcdef0123456789abcdef"


def test_pseudonyms_are_keyed_and_stable() -> None:
    a = Pseudonymiser(secret=SECRET)
    b = Pseudonymiser(secret=SECRET)
    other = Pseudonymiser(secret=b"another secret of 32 bytes......")
    assert a.pseudonym("patient", "P01") == b.pseudonym("patient", "P01")
    assert a.pseudonym("patient", "P01") != other.pseudonym("patient", "P01")
    assert a.pseudonym("patient", "P01") != a.pseudonym("clinician", "P01")
    assert a.pseudonym("patient", "P01").startswith("p")
    assert a.shift_days("P01") != 0 and abs(a.shift_days("P01")) <= 180


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"secret": b"short"}, "secret"), ({"secret": SECRET, "dates": "blur"}, "dates"),
     ({"secret": SECRET, "max_shift_days": 0}, "max_shift_days")],
)
def test_bad_settings_are_input_errors(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError, match=field):
        Pseudonymiser(**kwargs)


def test_shifted_export_keeps_intervals_and_scores(sample: sessionmaker[Session]) -> None:
    with sample() as db:
        raw = read_store(db)
    p = Pseudonymiser(secret=SECRET)
    out = p.apply(raw)
    adm = out.administrations
    # Rows are reordered; align the source on the pseudonymised keys.
    src = raw.administrations.assign(
        _k=raw.administrations["idempotency_key"].map(lambda k: p.pseudonym("key", k)))
    src = src.set_index("_k").loc[adm["idempotency_key"]].reset_index(drop=True)
    assert set(adm["patient"]).isdisjoint(src["patient"])
    assert set(adm["clinician"]).isdisjoint(src["clinician"])
    assert set(adm["episode"]).isdisjoint(src["episode"])
    assert set(adm["idempotency_key"]).isdisjoint(src["idempotency_key"])
    pd.testing.assert_series_equal(adm["total"], src["total"])
    shift = (adm["date"] - src["date"]).dt.days
    expected = src["patient"].map(p.shift_days)
    assert (shift == expected).all() and (shift != 0).all()
    # Intervals between sessions of one patient are unchanged.
    gaps_out = adm.groupby("episode")["date"].apply(lambda d: d.diff().dropna().tolist())
    gaps_in = src.groupby("episode")["date"].apply(lambda d: d.diff().dropna().tolist())
    assert sorted(map(tuple, gaps_out)) == sorted(map(tuple, gaps_in))
    assert out.clinicians["name"].isna().all() and out.organizations["name"].isna().all()


def test_sessions_only_export_has_no_dates(sample: sessionmaker[Session], tmp_path: Path) -> None:
    with sample() as db:
        export_tidy(db, tmp_path, pseudonymiser=Pseudonymiser(secret=SECRET, dates="sessions"))
    adm = pd.read_csv(tmp_path / "administrations.csv")
    eps = pd.read_csv(tmp_path / "episodes.csv")
    assert adm["date"].isna().all() and adm["authored_at"].isna().all()
    assert eps["start"].isna().all() and eps["end"].isna().all()
    assert adm["session"].between(1, 10).all()
    text = "".join(p.read_text() for p in tmp_path.glob("*.csv"))
    for code in ("P01", "T02", "E07", "sample-", "Riverside"):
        assert code not in text


def test_secret_file_is_created_private_and_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("BORDIN_PSEUDONYM_SECRET", raising=False)
    path = tmp_path / "s" / "pseudonym.secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32 and path.stat().st_mode & 0o077 == 0
    assert load_or_create_secret(path) == first


def test_research_export_reimports_with_the_same_scores(
    sample: sessionmaker[Session], empty_sqlite: sessionmaker[Session], tmp_path: Path
) -> None:
    """A shifted research export is itself a valid tidy dataset: it imports whole,
    its administrations are renumbered, and every score survives."""
    from bordin.exchange.tidy import import_tidy
    from bordin.store.queries import administrations_frame

    with sample() as db:
        export_tidy(db, tmp_path, pseudonymiser=Pseudonymiser(secret=SECRET))
    adm = pd.read_csv(tmp_path / "administrations.csv")
    assert adm["administration_id"].tolist() == list(range(1, len(adm) + 1))
    with empty_sqlite() as db:
        assert import_tidy(db, tmp_path).administrations == 289
    with sample() as a, empty_sqlite() as b:
        before = administrations_frame(a)["total"].sort_values().tolist()
        after = administrations_frame(b)["total"].sort_values().tolist()
    assert before == after
