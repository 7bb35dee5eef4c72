"""The expected-recovery band on the patient's symptom chart: the monitor's numbers, or why not.

The band must be :meth:`bordin.monitor.ExpectedRecovery.fit` on the clinic's own
patient-rated totals, evaluated at this patient's intake score; the test fits it again
from the store, independently of the web code, and compares the chart's data with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bordin.monitor import ExpectedRecovery
from bordin.store.db import init_db
from bordin.store.models.core import Administration, Episode, Organization
from bordin.store.queries import administrations_frame
from bordin.web.app import create_app
from bordin.web.demo import seed_demo
from bordin.web.settings import WebSettings

SECRET = "band-test-secret-" + "x" * 40


def _spec(html: str, spec_id: str) -> dict[str, Any]:
    m = re.search(rf'<script type="application/json" id="{spec_id}">(.*?)</script>', html, re.S)
    assert m, f"no {spec_id} on the page"
    return json.loads(m.group(1))


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    charts = spec.get("vconcat", [spec])
    return [layer for c in charts for layer in c.get("layer", [])]


def _named(spec: dict[str, Any], name: str) -> dict[str, Any] | None:
    # Altair suffixes the names of layers inside a vconcat with the chart's index.
    pattern = re.compile(rf"{re.escape(name)}(_\d+)?")
    return next((x for x in _layers(spec) if pattern.fullmatch(x.get("name", ""))), None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, TestClient, dict]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('band') / 'demo.sqlite'}"
    engine = init_db(url)
    app = create_app(WebSettings(env="test", secret_key=SECRET), engine=engine)
    with app.state.sessions() as db:
        logins = seed_demo(db, n_episodes=40)
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    name, password = logins.users["supervisor"]
    r = client.post("/api/v1/auth/login", json={"username": name, "password": password})
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    yield app, client, headers
    engine.dispose()


def test_band_layer_holds_the_monitors_band_for_this_patient(demo) -> None:
    app, client, headers = demo
    with app.state.sessions() as db:
        # The episode with the longest PHQ-9 course.
        ep_id, ep_code, org_code = db.execute(
            select(Episode.id, Episode.code, Organization.code)
            .join(Administration, Administration.episode_id == Episode.id)
            .join(Organization, Organization.id == Episode.organization_id)
            .where(Administration.instrument_id == "phq9")
            .group_by(Episode.id, Episode.code, Organization.code)
            .order_by(func.count().desc(), Episode.id)).first()
        history = administrations_frame(db, organization=org_code, instrument="phq9",
                                        rater="patient")
        mine = history[history["episode"] == ep_code].dropna(subset=["total"])
    curves = ExpectedRecovery.fit(history, instrument="phq9")
    intake, intake_s = float(mine["total"].iloc[0]), int(mine["session"].iloc[0])
    last_s = int(mine["session"].iloc[-1])
    want = curves.band(intake=intake, sessions_since_intake=np.arange(0, last_s - intake_s + 2))

    page = client.get(f"/episodes/{ep_id}", headers=headers)
    assert page.status_code == 200
    spec = _spec(page.text, "symptom-spec")
    band = _named(spec, "expected_band_phq9")
    assert band is not None and band["mark"]["type"] == "area"
    rows = spec["datasets"][band["data"]["name"]]
    assert [r["session"] for r in rows] == [intake_s + t for t in range(len(want))]
    # The same fit on the same rows, once in the app and once here: only the order of
    # floating-point sums in the linear algebra could differ, far below 1e-9.
    for col in ("expected", "lower", "upper"):
        np.testing.assert_allclose([r[col] for r in rows], want[col], rtol=1e-9, atol=0)
    # Its legend entry says what it is and the model's level.
    legend = f"expected recovery ({curves.coverage:.0%} band)"
    assert legend == "expected recovery (90% band)"
    assert legend in band["encoding"]["color"]["scale"]["domain"]
    assert {r["series"] for r in rows} == {legend}
    # One line under the chart explains it.
    note = re.search(r'<p class="chart-note muted" id="expected-phq9" data-available="1">'
                     r"(.*?)</p>", page.text, re.S)
    assert note and "9 in 10 of this clinic&#39;s patients who started at PHQ-9 " \
        f"{intake:g}" in note.group(1)

    api = client.get(f"/api/v1/episodes/{ep_id}", headers=headers).json()
    got = api["expected_recovery"]["phq9"]
    assert got["available"] and got["coverage"] == curves.coverage
    assert got["intake"] == intake and got["intake_session"] == intake_s
    assert got["n_episodes"] == curves.n_episodes
    assert [b["upper"] for b in got["band"]] == [r["upper"] for r in rows]


def test_too_little_clinic_data_is_said_in_words(sqlite_env) -> None:
    h = {"Authorization": f"Bearer {sqlite_env.login('own')}"}
    ep = sqlite_env.world.ids["episode_a"]
    page = sqlite_env.client.get(f"/episodes/{ep}", headers=h)
    assert page.status_code == 200
    spec = _spec(page.text, "symptom-spec")
    assert _named(spec, "expected_band_phq9") is None
    assert _named(spec, "observed_phq9") is not None  # the course itself is still drawn
    title = spec.get("title") or spec["vconcat"][0]["title"]
    assert title["subtitle"] == ["No expected recovery band yet: too little clinic data "
                                 "(2 of 20 patients needed)."]
    assert ('id="expected-phq9" data-available="0">Expected recovery band not shown: it is '
            "estimated from this clinic&#39;s own PHQ-9 courses and needs at least 20 patients "
            "with a follow-up score; the clinic has 2 so far.</p>") in page.text
    api = sqlite_env.client.get(f"/api/v1/episodes/{ep}", headers=h).json()
    got = api["expected_recovery"]["phq9"]
    assert not got["available"] and got["band"] == [] and got["n_episodes"] == 2
