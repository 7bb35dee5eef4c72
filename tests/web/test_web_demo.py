"""``bordin serve --demo``: what it seeds keeps the README's promise, and seeding twice is safe.

The README says the demo prints logins for a clinician, a supervisor and a researcher
and a patient's questionnaire link; this seeds the demo clinic as ``serve --demo`` does
and uses what it returns through the app, as a person would.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bordin.store.db import init_db
from bordin.store.models.alerts import Alert
from bordin.store.models.auth import User
from bordin.store.models.core import Administration, Episode, Organization
from bordin.web.app import create_app
from bordin.web.demo import seed_demo
from bordin.web.settings import WebSettings

SECRET = "demo-test-secret-" + "x" * 40
TABLES = (Organization, Episode, Administration, Alert, User)


def _counts(db) -> dict[str, int]:
    return {t.__tablename__: db.scalar(select(func.count()).select_from(t)) for t in TABLES}


def _form_login(client: TestClient, username: str, password: str) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": csrf})
    assert r.status_code == 303, r.text[:300]
    return r.headers["location"]


def test_demo_seed_gives_working_logins_and_is_safe_to_run_twice(database_url: str) -> None:
    engine = init_db(database_url)
    app = create_app(WebSettings(env="test", secret_key=SECRET), engine=engine)
    try:
        with app.state.sessions() as db:
            logins = seed_demo(db)
        assert logins.created
        assert set(logins.users) == {"clinician", "supervisor", "researcher"}
        assert logins.link_path and logins.link_path.startswith("/q/")

        # The clinician logs in on the login page with the printed password and lands on
        # a caseload with at least one alert, each said in words.
        desk = TestClient(app, base_url="http://testserver", follow_redirects=False)
        name, password = logins.users["clinician"]
        assert _form_login(desk, name, password) == "/caseload"
        page = desk.get("/caseload")
        assert page.status_code == 200
        attention = re.findall(r'<tr data-attention="([a-z_]+)">', page.text)
        assert attention and attention[0] != "none"
        assert '<p class="case-evidence">' in page.text
        items = desk.get("/api/v1/caseload").json()["items"]
        assert sum(len(i["alerts"]) for i in items) >= 1
        first = items[0]
        assert desk.get(f"/episodes/{first['episode_id']}").status_code == 200

        # The other printed logins work too, each on its own home page.
        for role, home in (("supervisor", "/supervisor"), ("researcher", "/research")):
            other = TestClient(app, base_url="http://testserver", follow_redirects=False)
            assert _form_login(other, *logins.users[role]) == home
            assert other.get(home).status_code == 200

        # The patient's link opens the questionnaire, with no login.
        patient = TestClient(app, base_url="http://testserver", follow_redirects=False)
        form = patient.get(logins.link_path)
        assert form.status_code == 200
        assert f'<form method="post" action="{logins.link_path}"' in form.text
        assert 'name="idempotency_key"' in form.text

        # A second run changes nothing and prints no new passwords; the first ones stand.
        with app.state.sessions() as db:
            before = _counts(db)
            again = seed_demo(db)
            after = _counts(db)
        assert not again.created and again.users == {} and again.link_path is None
        assert after == before and before["alerts"] >= 1
        desk2 = TestClient(app, base_url="http://testserver", follow_redirects=False)
        assert _form_login(desk2, name, password) == "/caseload"
    finally:
        engine.dispose()
