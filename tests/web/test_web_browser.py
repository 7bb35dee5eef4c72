"""End to end in Debian's Chromium (headless, through Playwright) against a real server.

A patient fills the questionnaire on a phone-sized screen, endorsing the PHQ-9 risk
item; a clinician logs in, finds the new risk alert at the top of the caseload, opens
the patient and acknowledges it; a supervisor sees the therapist effects. The server
is ``bordin serve`` (uvicorn) on a free port, started by the test. Screenshots go to
``test-artifacts/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from web_world import PASSWORD, build, wai

from bordin.store.db import init_db, session_factory
from bordin.store.models.alerts import Alert
from bordin.store.models.core import Clinician, Episode, Patient
from bordin.store.submit import submit_administration

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "BORDIN_SECRET_KEY": "b" * 48, "BORDIN_DATA_DIR": str(data_dir),
           "BORDIN_ENV": "test"}
    proc = subprocess.Popen([sys.executable, "-m", "bordin.cli", "serve", "--db", url,
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


def more_therapists(db, org_id: int) -> None:
    """Four more therapists in clinic A with three patients each, for therapist effects."""
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    for t in range(4):
        c = Clinician(code=f"T{t + 1}", organization_id=org_id, role="therapist")
        db.add(c)
        db.flush()
        for p in range(3):
            pat = Patient(code=f"X{t}{p}", organization_id=org_id)
            db.add(pat)
            db.flush()
            ep = Episode(code=f"XE{t}{p}", patient_id=pat.id, clinician_id=c.id,
                         organization_id=org_id, treatment="CBT", format="individual")
            db.add(ep)
            db.flush()
            for s in range(1, 5):
                submit_administration(db, episode_id=ep.id, session_number=s,
                                      instrument_id="wai_sr", rater="patient", target=None,
                                      responses=wai(min(5, 1 + t + (p + s) % 2)),
                                      authored_at=t0 + timedelta(days=7 * s),
                                      idempotency_key=f"x-{t}-{p}-{s}", commit=False)
    db.commit()


@pytest.fixture
def server(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'e2e.sqlite'}"
    engine = init_db(url)
    with session_factory(engine)() as db:
        world = build(db)
        more_therapists(db, world.ids["org_a"])
        # Only the patient's submission should raise the alert the clinician then sees.
        db.execute(sa.update(Alert).values(state="acknowledged"))
        db.commit()
    engine.dispose()
    port = free_port()
    proc = start_server(url, port, tmp_path)
    yield f"http://127.0.0.1:{port}", world
    proc.kill()
    proc.wait(timeout=10)


def test_patient_clinician_supervisor_journey(server) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, world = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        # 1. The patient, on a phone.
        phone = browser.new_context(viewport={"width": 390, "height": 844},
                                    device_scale_factor=2, is_mobile=True, has_touch=True)
        page = phone.new_page()
        page.goto(f"{base}/q/{world.tokens['patient_a']}")
        expect(page.get_by_role("heading", name="After your session")).to_be_visible()
        for i in range(1, 13):  # every WAI-SR item answered with the keyboard-usable radios
            page.locator(f"#wai_sr-wai_sr_{i}-2").check()
        for i in range(1, 10):
            page.locator(f"#phq9-phq9_{i}-{2 if i == 9 else 1}").check()
        page.screenshot(path=str(ARTIFACTS / "1-patient-form-phone.png"), full_page=True)
        page.get_by_role("button", name="Send my answers").click()
        expect(page.locator("#saved")).to_contain_text("saved")
        page.screenshot(path=str(ARTIFACTS / "2-patient-thanks-phone.png"))
        page.go_back()
        page.reload()
        expect(page.get_by_role("alert")).to_contain_text("already been used")
        phone.close()

        # 2. The clinician: the new risk alert tops the caseload; open it; acknowledge.
        desk = browser.new_context(viewport={"width": 1280, "height": 900})
        page = desk.new_page()
        page.goto(f"{base}/caseload")
        page.get_by_label("Username").fill("own")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Caseload")).to_be_visible()
        first = page.locator("#caseload tbody tr").first
        expect(first).to_have_attribute("data-attention", "risk")
        expect(first).to_contain_text("PA-001")
        page.screenshot(path=str(ARTIFACTS / "3-clinician-caseload.png"), full_page=True)
        first.get_by_role("link", name="PA-001").click()
        card = page.locator("article.alert-card.risk[data-session='6']")
        expect(card).to_contain_text("Risk")
        expect(card).to_contain_text("open")
        expect(page.locator("div.chart[data-spec='alliance-spec']")).to_have_attribute(
            "data-rendered", "1", timeout=15000)
        page.screenshot(path=str(ARTIFACTS / "4-clinician-patient.png"), full_page=True)
        with page.expect_response(lambda r: r.url.endswith("/acknowledge")) as acked:
            card.get_by_role("button", name="Acknowledge").click()
        answer = acked.value
        assert answer.status == 200, (answer.status, answer.text()[:500])
        expect(page.locator("article.alert-card.risk[data-session='6']")).to_contain_text(
            "acknowledged")
        page.screenshot(path=str(ARTIFACTS / "5-clinician-acknowledged.png"), full_page=True)
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.go_back()  # the back button must not resume the session
        page.reload()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        desk.close()

        # 3. The supervisor: therapist effects with intervals.
        lead = browser.new_context(viewport={"width": 1280, "height": 900})
        page = lead.new_page()
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill("lead")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Therapist effects", exact=True)).to_be_visible()
        expect(page.locator("#therapist-effects table tbody tr")).to_have_count(6)
        expect(page.locator("div.chart[data-spec='forest']")).to_have_attribute(
            "data-rendered", "1", timeout=15000)
        page.screenshot(path=str(ARTIFACTS / "6-supervisor-therapist-effects.png"),
                        full_page=True)
        lead.close()
        browser.close()

    # The acknowledgement and the patient's answers are in the database, audited.
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "own", "password": PASSWORD})
    h = {"Authorization": f"Bearer {r.json()['token']}"}
    ep = httpx.get(f"{base}/api/v1/episodes/{world.ids['episode_a']}", headers=h).json()
    assert any(s["session"] == 6 for s in ep["scores"])
    risk = [a for a in ep["alerts"] if a["kind"] == "risk" and a["evidence"].get("session") == 6]
    assert risk and risk[0]["state"] == "acknowledged"
