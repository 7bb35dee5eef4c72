"""Break-glass access: a clinician opens a same-clinic patient in an emergency, with a
reason; it is audited (without the reason text), reviewed by supervisors, and expires.

World (web_world): clinic A has patient A (own clinician's, episode_a) and patient B
(other clinician's); clinic B has patient C (the "elsewhere" clinician's).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import sqlalchemy as sa
from web_world import PASSWORD

from bordin.store.models.audit import AuditEvent
from bordin.store.models.auth import AccessGrant
from bordin.web.audit.chain import verify
from bordin.web.auth.service import add_user, disable_user
from bordin.web.auth.sessions import now

REASON = "Crisis call: covering for c-own, who is on leave this week"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def grants(env) -> list[AccessGrant]:
    with env.session() as db:
        return list(db.scalars(sa.select(AccessGrant).order_by(AccessGrant.id)))


def expire_all(env) -> None:
    with env.session() as db:
        db.execute(sa.update(AccessGrant).values(expires_at=now() - timedelta(minutes=1)))
        db.commit()


def break_glass(env, headers: dict[str, str], episode_id: int, reason: str = REASON):
    return env.client.post(f"/api/v1/episodes/{episode_id}/break-glass",
                           json={"reason": reason}, headers=headers)


def test_own_clinician_is_unaffected_and_needs_no_glass(env) -> None:
    h = bearer(env.login("own"))
    ep = env.world.ids["episode_a"]
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=h).status_code == 200
    r = break_glass(env, h, ep)
    assert r.status_code == 409, r.text
    assert "already open" in r.json()["detail"]
    assert grants(env) == []


def test_same_clinic_clinician_breaks_the_glass_until_it_expires(env) -> None:
    h = bearer(env.login("other"))
    ep = env.world.ids["episode_a"]
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=h).status_code == 404
    assert env.client.get(f"/episodes/{ep}", headers=h).status_code == 404
    before = now()
    r = break_glass(env, h, ep)
    after = now()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["episode_id"] == ep and body["patient"] == "PA-001"
    assert body["renewed"] is False
    (g,) = grants(env)
    assert g.id == body["grant_id"]
    assert (g.kind, g.reason, g.user_id) == ("break_glass", REASON,
                                             env.world.ids["user_other_clinician"])
    # The default lifetime is 12 hours from the moment the glass was broken.
    assert before + timedelta(hours=12) <= g.expires_at <= after + timedelta(hours=12)
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=h).status_code == 200
    assert env.client.get(f"/episodes/{ep}", headers=h).status_code == 200
    # The grant opened patient A only: clinic B stays closed.
    assert env.client.get(f"/api/v1/episodes/{env.world.ids['episode_c']}",
                          headers=h).status_code == 404
    expire_all(env)
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=h).status_code == 404
    assert env.client.get(f"/episodes/{ep}", headers=h).status_code == 404


def test_breaking_again_renews_the_same_grant(env) -> None:
    h = bearer(env.login("other"))
    ep = env.world.ids["episode_a"]
    first = break_glass(env, h, ep).json()
    second = break_glass(env, h, ep, reason="Risk alert fired; still covering today")
    assert second.status_code == 200, second.text
    assert second.json()["renewed"] is True
    assert second.json()["grant_id"] == first["grant_id"]
    assert second.json()["created_at"] == first["created_at"]  # one unbroken access
    assert second.json()["expires_at"] >= first["expires_at"]
    (g,) = grants(env)
    assert g.reason == "Risk alert fired; still covering today"
    expire_all(env)
    third = break_glass(env, h, ep).json()
    assert third["renewed"] is True and third["grant_id"] == first["grant_id"]
    assert third["created_at"] > first["created_at"]  # a new period of access
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=h).status_code == 200
    with env.session() as db:
        events = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "break_glass")
                            .order_by(AuditEvent.seq)).all()
    assert [e.detail["renewed"] for e in events] == [False, True, True]


def test_other_clinic_gets_the_same_404_as_for_a_missing_episode(env) -> None:
    h = bearer(env.login("elsewhere"))
    out_of_org = break_glass(env, h, env.world.ids["episode_a"])
    missing = break_glass(env, h, 999_999)
    assert out_of_org.status_code == missing.status_code == 404
    assert out_of_org.json() == missing.json()
    # Whatever the body: the organisation is checked before the reason.
    short = env.client.post(f"/api/v1/episodes/{env.world.ids['episode_a']}/break-glass",
                            json={"reason": " " * 12}, headers=h)
    assert short.status_code == 404 and short.json() == missing.json()
    assert grants(env) == []
    with env.session() as db:
        denied = db.scalars(sa.select(AuditEvent.route).where(
            AuditEvent.outcome == "denied",
            AuditEvent.route == "POST /api/v1/episodes/{episode_id}/break-glass")).all()
    assert len(denied) == 3


def test_a_missing_or_short_reason_is_422_naming_reason(env) -> None:
    h = bearer(env.login("other"))
    url = f"/api/v1/episodes/{env.world.ids['episode_a']}/break-glass"
    secret = "x" * 501
    for body in ({}, {"reason": "too short"}, {"reason": " " * 12},
                 {"reason": "   abc   def   "}, {"reason": secret},
                 {"reason": "a control \x00 character"}, {"reason": "a lone \ud800 surrogate"}):
        # As ASCII JSON: a lone surrogate can be sent only escaped.
        r = env.client.post(url, content=json.dumps(body),
                            headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 422, (body, r.text)
        assert [e["loc"] for e in r.json()["detail"]] == [["body", "reason"]], r.text
        assert secret not in r.text
    assert grants(env) == []


def test_other_roles_cannot_break_the_glass(env) -> None:
    ep = env.world.ids["episode_a"]
    for name in ("lead", "research"):  # supervisors see their clinic; researchers none
        r = break_glass(env, bearer(env.login(name)), ep)
        assert r.status_code == 404, (name, r.text)
    assert break_glass(env, {}, ep).status_code == 401
    gone = bearer(env.login("gone"))
    with env.session() as db:
        disable_user(db, username="gone")
        db.commit()
    assert break_glass(env, gone, ep).status_code == 401
    assert grants(env) == []


def test_supervisors_review_their_clinic_and_the_audit_log_holds_no_reason(env) -> None:
    ep = env.world.ids["episode_a"]
    grant_id = break_glass(env, bearer(env.login("other")), ep).json()["grant_id"]
    lead = bearer(env.login("lead"))
    items = env.client.get("/api/v1/supervisor/break-glass", headers=lead).json()["items"]
    assert [(i["grant_id"], i["username"], i["patient"], i["reason"], i["active"])
            for i in items] == [(grant_id, "other", "PA-001", REASON, True)]
    page = env.client.get("/supervisor", headers=lead)
    assert page.status_code == 200
    section = page.text.split('id="break-glass"', 1)[1].split("</section>", 1)[0]
    assert f'data-grant="{grant_id}"' in section and REASON in section
    assert "PA-001" in section and "other" in section
    # A supervisor of another clinic sees none of it.
    with env.session() as db:
        add_user(db, username="lead-b", password=PASSWORD, role="supervisor",
                 organization_id=env.world.ids["org_b"])
        db.commit()
    lead_b = bearer(env.login("lead-b"))
    assert env.client.get("/api/v1/supervisor/break-glass", headers=lead_b).json() == {
        "items": []}
    # Clinicians do not review.
    r = env.client.get("/api/v1/supervisor/break-glass", headers=bearer(env.login("other")))
    assert r.status_code == 404
    with env.session() as db:
        (event,) = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "break_glass"))
        every = db.scalars(sa.select(AuditEvent)).all()
        assert verify(db).ok
    assert event.actor_id == str(env.world.ids["user_other_clinician"])
    assert (event.resource_type, event.resource_id) == ("access_grant", str(grant_id))
    assert event.patient_id == env.world.ids["patient_a"]
    assert event.detail["grant"] == grant_id
    assert event.detail["reason_length"] == len(REASON)
    for e in every:  # no event anywhere holds the reason, or a word of it
        text = json.dumps([e.detail, e.route, e.resource_id])
        assert "Crisis" not in text and "leave" not in text, e.seq


def _cookie_client(env, username: str) -> str:
    """Log the test client in with a session cookie; return the page's CSRF token."""
    env.client.cookies.set("bordin_session", env.login(username))
    page = env.client.get("/break-glass")
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_page_flow_by_patient_code(sqlite_env) -> None:
    env = sqlite_env
    csrf = _cookie_client(env, "other")
    form = {"patient_code": "PA-001", "reason": REASON}
    assert env.client.post("/break-glass", data=form).status_code == 403  # no CSRF token
    assert grants(env) == []
    short = env.client.post("/break-glass", data={**form, "reason": "short",
                                                  "csrf_token": csrf})
    assert short.status_code == 422 and "reason" in short.text
    r = env.client.post("/break-glass", data={**form, "csrf_token": csrf})
    assert r.status_code == 200, r.text
    assert 'id="break-glass-done"' in r.text
    ep = env.world.ids["episode_a"]
    assert f'href="/episodes/{ep}"' in r.text
    assert env.client.get(f"/episodes/{ep}").status_code == 200
    (g,) = grants(env)
    assert g.kind == "break_glass" and g.reason == REASON


def test_page_answers_alike_for_an_unknown_and_another_clinics_code(sqlite_env) -> None:
    env = sqlite_env
    csrf = _cookie_client(env, "other")
    answers = []
    for code in ("PC-003", "NO-SUCH"):  # clinic B's patient; nobody's
        r = env.client.post("/break-glass", data={"patient_code": code, "reason": REASON,
                                                  "csrf_token": csrf})
        answers.append((r.status_code, r.text.replace(code, "<code>")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404 and "No patient with this code in your clinic" in answers[0][1]
    assert grants(env) == []
    # The clinician's own patient needs no glass: 409, with the link to the record.
    own = env.client.post("/break-glass", data={"patient_code": "PB-002", "reason": REASON,
                                                "csrf_token": csrf})
    assert own.status_code == 409
    assert f'href="/episodes/{env.world.ids["episode_b"]}"' in own.text
    assert grants(env) == []


def test_reads_under_a_broken_glass_are_marked_in_the_audit_trail(env) -> None:
    ep = env.world.ids["episode_a"]
    own, other = bearer(env.login("own")), bearer(env.login("other"))
    grant_id = break_glass(env, other, ep).json()["grant_id"]
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=other).status_code == 200
    assert env.client.get(f"/api/v1/episodes/{ep}", headers=own).status_code == 200
    with env.session() as db:
        reads = db.execute(sa.select(AuditEvent.actor_id, AuditEvent.detail).where(
            AuditEvent.action == "read", AuditEvent.resource_type == "episode",
            AuditEvent.resource_id == str(ep))).all()
    by_actor = {actor: detail for actor, detail in reads}
    other_id = str(env.world.ids["user_other_clinician"])
    own_id = str(env.world.ids["user_own_clinician"])
    assert by_actor[other_id] == {"via": "break_glass", "grant": grant_id}
    assert by_actor[own_id] is None  # the own clinician's reads are plain reads


def test_caseload_says_which_patients_are_there_by_a_broken_glass(env) -> None:
    ep = env.world.ids["episode_a"]
    own, other = bearer(env.login("own")), bearer(env.login("other"))
    ends = break_glass(env, other, ep).json()["expires_at"]
    items = env.client.get("/api/v1/caseload", headers=other).json()["items"]
    by_episode = {i["episode_id"]: i for i in items}
    assert by_episode[ep]["emergency_until"][:16] == ends[:16]
    assert by_episode[env.world.ids["episode_b"]]["emergency_until"] is None  # their own
    page = env.client.get("/caseload", headers=other)
    assert "emergency access until" in page.text
    mine = env.client.get("/api/v1/caseload", headers=own).json()["items"]
    assert all(i["emergency_until"] is None for i in mine)
    expire_all(env)
    items = env.client.get("/api/v1/caseload", headers=other).json()["items"]
    assert ep not in {i["episode_id"] for i in items}
