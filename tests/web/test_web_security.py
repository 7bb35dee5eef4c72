"""Sessions, passwords, CSRF, throttling, links, audit chain, concurrency, leakage (ASVS V7, V8,
V11, V16)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa
from web_world import PASSWORD

from bordin.errors import InputError
from bordin.store.base import utcnow
from bordin.store.models.audit import AuditEvent
from bordin.store.models.auth import User
from bordin.store.models.core import Administration
from bordin.store.models.links import ClinicSettings, QuestionnaireLink
from bordin.web.audit.chain import verify
from bordin.web.auth import sessions as sessions_mod
from bordin.web.auth.service import disable_user
from bordin.web.settings import WebSettings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_settings_refuse_default_secret_outside_development() -> None:
    with pytest.raises(InputError, match="BORDIN_SECRET_KEY"):
        WebSettings(env="production")
    with pytest.raises(InputError):
        WebSettings(env="test", secret_key="short")
    assert WebSettings(env="development").env == "development"


def test_passwords_are_argon2id_with_owasp_parameters(sqlite_env) -> None:
    with sqlite_env.session() as db:
        hashes = db.scalars(sa.select(User.password_hash)).all()
    assert hashes
    for h in hashes:
        m = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", h)
        assert m, h[:20]
        assert int(m.group(1)) >= 19456 and int(m.group(2)) >= 2 and int(m.group(3)) >= 1


def test_logout_and_disabling_revoke_sessions_at_once(env) -> None:
    t1 = env.login("own")
    assert env.client.get("/api/v1/me", headers=bearer(t1)).status_code == 200
    assert env.client.post("/api/v1/auth/logout", headers=bearer(t1)).status_code == 204
    assert env.client.get("/api/v1/me", headers=bearer(t1)).status_code == 401
    a, b = env.login("own"), env.login("own")
    assert a != b  # a new token at every login
    with env.session() as db:
        assert disable_user(db, username="own") == 2
        db.commit()
    for t in (a, b):
        assert env.client.get("/api/v1/me", headers=bearer(t)).status_code == 401
    r = env.client.post("/api/v1/auth/login", json={"username": "own", "password": PASSWORD})
    assert r.status_code == 401


def test_inactive_user_is_refused_even_with_a_session_row(sqlite_env) -> None:
    t = sqlite_env.login("other")
    with sqlite_env.session() as db:  # disabled behind the app's back: no session deleted
        db.execute(sa.update(User).where(User.username == "other").values(is_active=False))
        db.commit()
    assert sqlite_env.client.get("/api/v1/me", headers=bearer(t)).status_code == 401


def test_idle_and_absolute_timeouts(sqlite_env, monkeypatch) -> None:
    t = sqlite_env.login("own")
    base = utcnow()
    monkeypatch.setattr(sessions_mod, "now", lambda: base + timedelta(minutes=31))
    assert sqlite_env.client.get("/api/v1/me", headers=bearer(t)).status_code == 401
    monkeypatch.setattr(sessions_mod, "now", lambda: base)
    t2 = sqlite_env.login("own")
    for minutes in range(25, 13 * 60, 25):  # active all along, but past 12 hours
        monkeypatch.setattr(sessions_mod, "now", lambda m=minutes: base + timedelta(minutes=m))
        code = sqlite_env.client.get("/api/v1/me", headers=bearer(t2)).status_code
        if minutes < 12 * 60:
            assert code == 200, minutes
        else:
            assert code == 401, minutes
            break


def test_login_throttling_and_every_attempt_audited(sqlite_env) -> None:
    c = sqlite_env.client
    for _ in range(10):
        assert c.post("/api/v1/auth/login",
                      json={"username": "lead", "password": "wrong password"}).status_code == 401
    r = c.post("/api/v1/auth/login", json={"username": "lead", "password": PASSWORD})
    assert r.status_code == 429
    with sqlite_env.session() as db:
        rows = db.execute(sa.select(AuditEvent.outcome).where(AuditEvent.action == "login")).all()
    outcomes = [o for (o,) in rows]
    assert outcomes.count("failure") == 10 and outcomes.count("throttled") == 1


def test_csrf_required_for_cookie_sessions(sqlite_env) -> None:
    c = sqlite_env.client
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    bad = c.post("/login", data={"username": "own", "password": PASSWORD, "csrf_token": "x"})
    assert bad.status_code == 403
    ok = c.post("/login", data={"username": "own", "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 303 and ok.headers["location"] == "/caseload"
    assert "httponly" in ok.headers["set-cookie"].lower()
    alert = sqlite_env.world.ids["alert_a"]
    r = c.post(f"/alerts/{alert}/acknowledge", data={"version": "1"})
    assert r.status_code == 403
    page = c.get(f"/episodes/{sqlite_env.world.ids['episode_a']}")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    r = c.post(f"/alerts/{alert}/acknowledge", data={"version": "1", "csrf_token": csrf})
    assert r.status_code == 303


def test_link_tokens_are_256_bit_and_not_uuids(sqlite_env) -> None:
    tok = sqlite_env.world.tokens["patient_a"]
    assert len(tok) == 43 and not re.fullmatch(r"[0-9a-f-]{36}", tok)
    with sqlite_env.session() as db:
        stored = db.scalars(sa.select(QuestionnaireLink.token_hash)).all()
    assert tok not in stored and all(len(h) == 64 for h in stored)


def _form(key: str) -> dict[str, str]:
    return {"idempotency_key": key, **{f"wai_sr.{i}": "4" for i in range(1, 13)},
            **{f"phq9.{i}": "1" for i in range(1, 10)}}


def test_link_saves_once_and_says_used_or_expired(env) -> None:
    c, tok = env.client, env.world.tokens["patient_a"]
    page = c.get(f"/q/{tok}")
    assert page.status_code == 200
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
    with env.session() as db:
        before = db.scalar(sa.select(sa.func.count()).select_from(Administration))
    first = c.post(f"/q/{tok}", data=_form(key))
    again = c.post(f"/q/{tok}", data=_form(key))  # the browser retries
    assert first.status_code == again.status_code == 200
    assert "saved" in again.text
    other = c.post(f"/q/{tok}", data=_form(secrets.token_urlsafe(8)))
    assert other.status_code == 410 and "already been used" in other.text
    with env.session() as db:
        after = db.scalar(sa.select(sa.func.count()).select_from(Administration))
        link = db.get(QuestionnaireLink, env.world.ids["link_b"])
        link.expires_at = utcnow() - timedelta(minutes=1)
        db.commit()
    assert after - before == 2  # WAI-SR and PHQ-9, once
    expired = c.get(f"/q/{env.world.tokens['patient_b']}")
    assert expired.status_code == 410 and "expired" in expired.text
    assert c.get(f"/q/{secrets.token_urlsafe(32)}").status_code == 404


def test_bad_answer_is_reported_and_nothing_saved(sqlite_env) -> None:
    c, tok = sqlite_env.client, sqlite_env.world.tokens["patient_a"]
    form = _form("k1")
    form["wai_sr.3"] = "9"
    r = c.post(f"/q/{tok}", data=form)
    assert r.status_code == 422 and "wai_sr" in r.text
    assert c.get(f"/q/{tok}").status_code == 200  # the link is still usable


def test_patient_sees_results_only_if_the_clinic_allows(sqlite_env) -> None:
    c, tok = sqlite_env.client, sqlite_env.world.tokens["patient_a"]
    with sqlite_env.session() as db:
        db.add(ClinicSettings(organization_id=sqlite_env.world.ids["org_a"],
                              patients_see_results=True))
        db.commit()
    r = c.post(f"/q/{tok}", data=_form("k2"))
    assert r.status_code == 200 and "Your results" in r.text
    r2 = c.post(f"/api/v1/questionnaires/{sqlite_env.world.tokens['patient_b']}",
                json={"idempotency_key": "k3",
                      "answers": {"wai_sr": {str(i): 3 for i in range(1, 13)}}})
    # A WAI-SR alone: the clinic shows symptom measures only (alliance not chosen).
    assert r2.status_code == 201 and r2.json()["results"] == []


def test_acknowledge_with_a_stale_version_is_409(env) -> None:
    h = bearer(env.login("own"))
    alert = env.world.ids["alert_a"]
    r1 = env.client.post(f"/api/v1/alerts/{alert}/acknowledge", json={"version": 1}, headers=h)
    assert r1.status_code == 200 and r1.json()["state"] == "acknowledged"
    assert r1.json()["version"] == 2
    h2 = bearer(env.login("lead"))
    r2 = env.client.post(f"/api/v1/alerts/{alert}/acknowledge", json={"version": 1}, headers=h2)
    assert r2.status_code == 409


def test_out_of_scope_is_404_and_audited_as_denied(env) -> None:
    h = bearer(env.login("other"))
    ep = env.world.ids["episode_a"]
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=h).status_code == 404
    assert env.client.get("/api/v1/episodes/999999", headers=h).status_code == 404
    with env.session() as db:
        denied = db.execute(sa.select(AuditEvent.resource_id, AuditEvent.route).where(
            AuditEvent.outcome == "denied")).all()
    assert (str(ep), "GET /api/v1/episodes/{episode_id}") in denied


def test_collections_do_not_leak_across_clinics(env) -> None:
    h = bearer(env.login("elsewhere"))
    items = env.client.get("/api/v1/caseload", headers=h).json()["items"]
    assert [i["patient"] for i in items] == ["PC-003"]
    b = env.client.get("/fhir/QuestionnaireResponse", params={"patient": "PA-001"},
                       headers=h).json()
    assert b["total"] == 0
    own = bearer(env.login("own"))
    b = env.client.get("/fhir/QuestionnaireResponse", params={"patient": "PA-001",
                                                             "authored": "ge2026-01-20"},
                       headers=own).json()
    assert b["total"] == 2 * 3  # sessions 3..5 after Jan 20, two instruments each
    rh = bearer(env.login("research"))
    csv_text = env.client.get("/api/v1/research/export", headers=rh).text
    assert "PA-001" not in csv_text and "c-own" not in csv_text and "PC-003" not in csv_text
    assert len(csv_text.splitlines()) == 1 + 2 * 2 * 5  # clinic A only: 2 episodes


def test_audit_chain_verifies_and_names_the_tampered_row(sqlite_env) -> None:
    h = bearer(sqlite_env.login("own"))
    sqlite_env.client.get("/api/v1/caseload", headers=h)
    sqlite_env.client.get(f"/api/v1/episodes/{sqlite_env.world.ids['episode_a']}", headers=h)
    with sqlite_env.session() as db:
        ok = verify(db)
        assert ok.ok and ok.checked >= 3
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            db.execute(sa.text("UPDATE audit_events SET action = 'x' WHERE seq = 2"))
        db.rollback()
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            db.execute(sa.text("DELETE FROM audit_events WHERE seq = 2"))
        db.rollback()
        # An attacker with file access drops the trigger and edits one row.
        db.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        db.execute(sa.text("UPDATE audit_events SET outcome = 'denied' WHERE seq = 2"))
        db.commit()
        bad = verify(db)
    assert not bad.ok and bad.first_bad_seq == 2


def test_audit_chain_on_postgres_refuses_changes(env) -> None:
    env.client.get("/api/v1/caseload", headers=bearer(env.login("own")))
    with env.session() as db:
        if db.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL trigger")
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            db.execute(sa.text("UPDATE audit_events SET action = 'x'"))
        db.rollback()
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            db.execute(sa.text("TRUNCATE audit_events"))
        db.rollback()
        assert verify(db).ok
