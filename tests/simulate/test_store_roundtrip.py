"""Simulated clinics of several presets go into the store with no row refused.

Both ways in are checked: the bulk import (``bordin import``) and single
submissions (``submit_administration``, what the questionnaire form calls).
The simulator emits the store's own episode formats (``couple`` and ``family``
apart), drops a questionnaire whose blanks exceed its instrument's
``max_missing`` (it was not completed), and numbers every administration's
session (intake is session 1).
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import bordin.simulate as sim
from bordin.exchange.frames import TidyData, to_batch
from bordin.instruments import registry
from bordin.store.bulk import import_batch
from bordin.store.db import init_db
from bordin.store.models.core import EPISODE_FORMATS, Administration, Episode
from bordin.store.submit import submit_administration

_ALL_FORMATS = (("individual", 0.2), ("couple", 0.2), ("family", 0.2), ("group", 0.2),
                ("internet", 0.1), ("medication", 0.1))

CASES = {
    # every format, and far more blanks and skipped questionnaires than a real clinic,
    # so that the item-level rule is exercised on every instrument of the schedule
    "clinic-missing": ("clinic", dict(n_episodes=60, item_missing_rate=0.15,
                                      administration_missing_rate=0.3,
                                      format_probabilities=_ALL_FORMATS,
                                      repeat_episode_probability=0.3)),
    "baldwin2007": ("baldwin2007", dict(n_episodes=30)),
    "ipd17": ("ipd17", dict(n_episodes=40)),
}


def _simulate(case: str) -> sim.SimulatedClinic:
    name, kw = CASES[case]
    return sim.clinic(name, seed=11, **kw)


def test_simulated_tables_follow_the_store_rules() -> None:
    data = _simulate("clinic-missing")
    assert set(data.episodes["format"].astype(str)) <= set(EPISODE_FORMATS)
    assert {"couple", "family"} <= set(data.episodes["format"].astype(str))
    adm = data.administrations
    assert adm["session"].notna().all() and (adm["session"] >= 1).all()
    answered = data.responses.dropna(subset=["value"]).groupby("administration_id").size()
    missing = {
        str(i): len(registry.get(str(i)).items) for i in adm["instrument"].unique()
    }
    n_missing = adm["instrument"].astype(str).map(missing) - adm["administration_id"].map(
        answered).fillna(0)
    allowed = adm["instrument"].astype(str).map(
        {i: registry.get(i).max_missing for i in missing})
    assert (n_missing <= allowed).all()
    assert (n_missing > 0).any()  # the rule was exercised: some prorated questionnaires


@pytest.mark.parametrize("case", sorted(CASES))
def test_bulk_import_accepts_every_row(case: str, tmp_path: Path) -> None:
    data = _simulate(case)
    tidy = TidyData(administrations=data.administrations, responses=data.responses,
                    episodes=data.episodes, clinicians=data.clinicians)
    engine = init_db(f"sqlite:///{tmp_path / 'bordin.sqlite'}")
    try:
        with Session(engine) as db:
            result = import_batch(db, to_batch(tidy, source=case), source=case)
            assert result.administrations == len(data.administrations)
            assert result.episodes == len(data.episodes)
            assert result.skipped == 0
            stored = dict(db.execute(select(Episode.format, func.count()).group_by(
                Episode.format)).all())
            expected = data.episodes["format"].astype(str).value_counts()
            assert stored == {k: int(v) for k, v in expected.items() if v}
    finally:
        engine.dispose()


def test_single_submissions_accept_every_row(tmp_path: Path) -> None:
    data = _simulate("clinic-missing")
    adm = data.administrations
    # the store gets every episode but only the odd episodes' questionnaires; the even
    # episodes' questionnaires are then submitted one by one, as the form would
    odd = adm["episode"] % 2 == 1
    tidy = TidyData(administrations=adm[odd], responses=data.responses[
        data.responses["administration_id"].isin(adm.loc[odd, "administration_id"])],
        episodes=data.episodes, clinicians=data.clinicians)
    engine = init_db(f"sqlite:///{tmp_path / 'bordin.sqlite'}")
    rest = adm[~odd]
    items = data.responses[data.responses["administration_id"].isin(
        rest["administration_id"])].dropna(subset=["value"]).groupby("administration_id")
    answers = {k: dict(zip(g["item"].astype(str), g["value"], strict=True))
               for k, g in items}
    try:
        with Session(engine) as db:
            import_batch(db, to_batch(tidy, source="odd"), source="odd")
            ids = dict(db.execute(select(Episode.code, Episode.id)).all())
            for r in rest.itertuples(index=False):
                when = pd.Timestamp(r.date).to_pydatetime().replace(tzinfo=UTC)
                submit_administration(
                    db, episode_id=ids[str(r.episode)], session_number=int(r.session),
                    instrument_id=str(r.instrument), rater=str(r.rater),
                    target=None if pd.isna(r.target) else str(r.target),
                    responses=answers.get(r.administration_id, {}), authored_at=when,
                    idempotency_key=f"sim-{r.administration_id}", commit=False,
                )
            db.commit()
            n = db.scalar(select(func.count()).select_from(Administration))
            assert n == len(adm)
    finally:
        engine.dispose()

