"""Tidy import and export: every row checked first, all or nothing, round trips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from exchange_helpers import assert_same, counts, snapshot
from sqlalchemy.orm import Session, sessionmaker

from bordin.data import sample_dir
from bordin.errors import ImportRowsError, InputError
from bordin.exchange.tidy import export_tidy, import_tidy

N_SAMPLE = 289  # administrations in bordin/data/sample/administrations.csv


def test_sample_imports_once(sample: sessionmaker[Session]) -> None:
    c = counts(sample)
    assert c["administrations"] == N_SAMPLE
    assert (c["organizations"], c["clinicians"], c["patients"], c["episodes"]) == (2, 4, 12, 12)
    with sample() as db:
        again = import_tidy(db, sample_dir())
    assert (again.administrations, again.skipped) == (0, N_SAMPLE)
    assert counts(sample) == c


def _sample_copy(tmp_path: Path) -> Path:
    out = tmp_path / "in"
    out.mkdir()
    for f in sample_dir().glob("*.csv"):
        (out / f.name).write_text(f.read_text())
    return out


def test_one_bad_row_among_many_writes_nothing(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    folder = _sample_copy(tmp_path)
    adm = pd.read_csv(folder / "administrations.csv", dtype=str)
    resp = pd.read_csv(folder / "responses.csv", dtype=str)
    # CSV line = row index + 2 (the header is line 1).
    adm.loc[10, "instrument"] = "no_such_questionnaire"   # line 12
    adm.loc[40, "session"] = "third"                      # line 42
    adm.loc[100, "rater"] = "observer"                    # line 102 (WAI-SR/PHQ-9/GAD-7: patient)
    first_of_200 = resp.index[resp["administration_id"] == adm.loc[200, "administration_id"]][0]
    resp.loc[first_of_200, "value"] = "9"                 # an item out of range, admin on line 202
    adm.to_csv(folder / "administrations.csv", index=False)
    resp.to_csv(folder / "responses.csv", index=False)

    with factory() as db, pytest.raises(ImportRowsError) as caught:
        import_tidy(db, folder)
    lines = [line for line, _field, _msg in caught.value.problems]
    assert lines == [12, 42, 102, 202]
    messages = dict((ln, msg) for ln, _f, msg in caught.value.problems)
    assert "no_such_questionnaire" in messages[12]
    assert "third" in messages[42]
    assert "observer" in messages[102]
    assert "= 9" in messages[202]
    assert "4 bad row(s)" in str(caught.value)
    assert all(n == 0 for n in counts(factory).values())


def test_problems_in_the_responses_file_name_that_file(
    factory: sessionmaker[Session], tmp_path: Path
) -> None:
    folder = _sample_copy(tmp_path)
    with (folder / "responses.csv").open("a") as fh:
        fh.write("99999,phq9_1,1\n")
        fh.write("1,wai_sr_1,abc\n")
    n_lines = len((folder / "responses.csv").read_text().splitlines())
    with factory() as db, pytest.raises(ImportRowsError) as caught:
        import_tidy(db, folder)
    got = {(ln, msg.split(":")[0]) for ln, _f, msg in caught.value.problems}
    assert (n_lines - 1, "responses.csv") in got
    assert (n_lines, "responses.csv") in got
    assert all(n == 0 for n in counts(factory).values())


def test_scores_in_the_file_are_checked(factory: sessionmaker[Session], tmp_path: Path) -> None:
    # PHQ-9 items 1..9 = 1,1,1,1,1,1,1,1,0: total 8, not the 12 the file claims.
    wide = pd.DataFrame([{
        "organization": "O", "clinician": "T", "patient": "P", "episode": "E", "session": 1,
        "date": "2024-03-01", "instrument": "phq9", "rater": "patient", "total": 12,
        **{f"phq9_{i}": 1 for i in range(1, 9)}, "phq9_9": 0,
    }])
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    with factory() as db, pytest.raises(ImportRowsError) as caught:
        import_tidy(db, path)
    assert caught.value.problems == [(2, "total", "total = 12 in the file, but the items score 8")]


def test_wide_item_columns(factory: sessionmaker[Session], tmp_path: Path) -> None:
    rows = []
    for s, values in enumerate([[2, 2, 2, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0, 0, 0]], 1):
        rows.append({"organization": "O", "clinician": "T", "patient": "P", "episode": "E",
                     "session": s, "date": f"2024-03-0{s}", "instrument": "phq9",
                     "rater": "patient", **{f"phq9_{i}": v for i, v in enumerate(values, 1)}})
    path = tmp_path / "wide.parquet"
    pd.DataFrame(rows).to_parquet(path)
    with factory() as db:
        result = import_tidy(db, path)
    assert (result.administrations, result.episodes, result.patients) == (2, 1, 1)
    adm = snapshot(factory)["administrations"].sort_values("session")
    # Hand sums: 2+2+2+1+1+1+1+1+1 = 12; 1+1+1+1 = 4.
    assert adm["total"].tolist() == [12.0, 4.0]
    assert adm["risk_items"].tolist() == ["phq9_9", ""]


def test_missing_column_is_an_input_error(factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    pd.DataFrame({"episode": ["E"], "session": [1]}).to_csv(path, index=False)
    with factory() as db, pytest.raises(InputError, match="instrument"):
        import_tidy(db, path)


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_round_trip_into_an_empty_database(
    sample: sessionmaker[Session], empty_sqlite: sessionmaker[Session], tmp_path: Path,
    file_format: str,
) -> None:
    with sample() as db:
        files = export_tidy(db, tmp_path / "out", file_format=file_format)
    assert {f.name for f in files} == {f"{n}.{file_format}" for n in (
        "organizations", "clinicians", "episodes", "administrations", "responses")}
    with empty_sqlite() as db:
        result = import_tidy(db, tmp_path / "out")
    assert result.administrations == N_SAMPLE
    assert_same(snapshot(sample), snapshot(empty_sqlite))
    assert counts(sample) == counts(empty_sqlite)


def test_export_follows_the_contract(sample: sessionmaker[Session], tmp_path: Path) -> None:
    with sample() as db:
        export_tidy(db, tmp_path / "out")
    adm = pd.read_csv(tmp_path / "out" / "administrations.csv")
    assert list(adm.columns[:10]) == ["organization", "clinician", "patient", "episode",
                                      "session", "date", "instrument", "rater", "target",
                                      "total"]
    assert {"goal", "task", "bond"} <= set(adm.columns)
    resp = pd.read_csv(tmp_path / "out" / "responses.csv")
    assert list(resp.columns) == ["administration_id", "item", "value"]
    eps = pd.read_csv(tmp_path / "out" / "episodes.csv")
    assert list(eps.columns) == ["episode", "patient", "clinician", "organization", "treatment",
                                 "format", "diagnosis", "start", "end"]


def test_bulk_scores_equal_one_by_one_scoring(sample: sessionmaker[Session]) -> None:
    """The import scores each instrument's rows together; that must equal score() per row."""
    import math

    from bordin.instruments import score
    from bordin.store.queries import administrations_frame, responses_frame

    with sample() as db:
        adm = administrations_frame(db)
        resp = responses_frame(db)
    by_admin = {k: dict(zip(g["item"], g["value"], strict=True))
                for k, g in resp.groupby("administration_id")}
    assert adm["prorated"].sum() == 1  # E05 session 4, PHQ-9 with item 5 skipped
    for row in adm.itertuples():
        stored = by_admin[row.administration_id]
        answers = {k: (None if math.isnan(v) else v) for k, v in stored.items()}
        sc = score(row.instrument, answers)
        assert sc.total == row.total
        assert (sc.band or None) == (row.band if isinstance(row.band, str) else None)
        for name, value in sc.subscales.items():
            assert value == getattr(row, name)
        assert ";".join(sc.risk_items) == row.risk_items


def test_reimporting_an_export_into_the_same_store_adds_nothing(
    sample: sessionmaker[Session], tmp_path: Path
) -> None:
    """A submission and a bulk import fingerprint an administration the same way, so an
    export read back into its own store is recognised row by row (no duplicates, no
    conflicts), including a questionnaire that came in through submit_administration."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from bordin.store.models.core import Episode
    from bordin.store.submit import submit_administration

    with sample() as db:
        ep = db.scalars(select(Episode).where(Episode.code == "E04")).one()
        submit_administration(
            db, episode_id=ep.id, session_number=7, instrument_id="phq9", rater="patient",
            target=None, responses={1: 2, 2: 2, 3: 1, 4: None, 5: 1, 6: 1, 7: 0, 8: 0, 9: 0},
            authored_at=datetime(2024, 3, 18, 9, 0, tzinfo=UTC), idempotency_key="web-1",
        )
    with sample() as db:
        export_tidy(db, tmp_path / "out")
    with sample() as db:
        result = import_tidy(db, tmp_path / "out")
    assert (result.administrations, result.skipped) == (0, N_SAMPLE + 1)


def test_a_clinic_read_holds_nothing_of_the_other_clinic(sample: sessionmaker[Session]) -> None:
    from bordin.exchange.frames import read_store

    with sample() as db:
        data = read_store(db, organization="NORTH")
    assert set(data.administrations["organization"]) == {"NORTH"}
    assert set(data.episodes["organization"]) == {"NORTH"}
    assert set(data.clinicians["clinician"]) == {"T01", "T02"}
    assert data.organizations["organization"].tolist() == ["NORTH"]
    ids = set(data.administrations["administration_id"])
    assert set(data.responses["administration_id"]) == ids
