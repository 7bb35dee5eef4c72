"""What a patient sees after a questionnaire: the clinic decides, symptoms and alliance apart."""

from __future__ import annotations

import pytest

from bordin.instruments import registry
from bordin.store.models.core import Episode
from bordin.store.models.links import ClinicSettings
from bordin.web.forms.service import create_link


def _answers() -> dict[str, dict[str, int]]:
    return {"wai_sr": {str(i): 4 for i in range(1, 13)},
            "phq9": {str(i): 1 for i in range(1, 10)}}


def build_link(env, *, instruments: list[str]) -> str:
    with env.session() as db:
        ep = db.get(Episode, env.world.ids["episode_a"])
        token, _link = create_link(db, episode=ep, session_number=7, instruments=instruments,
                                   created_by_id=None, ttl_hours=24)
        db.commit()
    return token


def _settings(env, **values: bool) -> None:
    with env.session() as db:
        db.merge(ClinicSettings(organization_id=env.world.ids["org_a"], **values))
        db.commit()


@pytest.mark.parametrize(("results", "alliance", "shown"), [
    (False, False, None),
    (False, True, None),  # the alliance setting alone shows nothing
    (True, False, ["phq9"]),
    (True, True, ["wai_sr", "phq9"]),
])
def test_results_shown_by_clinic_setting(env, results, alliance, shown) -> None:
    _settings(env, patients_see_results=results, patients_see_alliance=alliance)
    tok = build_link(env, instruments=["wai_sr", "phq9"])
    r = env.client.post(f"/api/v1/questionnaires/{tok}",
                        json={"idempotency_key": "k", "answers": _answers()})
    assert r.status_code == 201
    got = r.json()["results"]
    if shown is None:
        assert got is None
    else:
        assert [x["instrument"] for x in got] == [registry.get(i).name for i in shown]
        assert all(x["total"] is not None for x in got)


def test_supervisor_sets_both_choices(env) -> None:
    h = {"Authorization": f"Bearer {env.login('lead')}"}
    page = env.client.get("/supervisor", headers=h)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = env.client.post("/supervisor/settings", headers=h, data={
        "csrf_token": csrf, "patients_see_results": "on", "patients_see_alliance": "on"})
    assert r.status_code == 303
    with env.session() as db:
        row = db.get(ClinicSettings, env.world.ids["org_a"])
        assert row.patients_see_results and row.patients_see_alliance
    r = env.client.post("/supervisor/settings", headers=h, data={
        "csrf_token": csrf, "patients_see_results": "on"})
    with env.session() as db:
        row = db.get(ClinicSettings, env.world.ids["org_a"])
        assert row.patients_see_results and not row.patients_see_alliance
