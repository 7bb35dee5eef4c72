"""Every route of the app × every kind of caller, against a policy table (ASVS 8.2.1/8.2.2).

Path parameters always name patient A's objects (clinic A, own clinician's caseload).
Users authenticate with a bearer session token; patients hold only their questionnaire
link, which they also present as a bearer token (it must not work as a session).
A route missing from :data:`POLICY` fails the test; so does any cell where a caller
reaches an object the table does not allow (zero unexpected allows), and any cell
where an allowed caller is refused (so the table cannot drift into denying everything).
Out-of-scope objects must answer 404, never 403.
"""

from __future__ import annotations

import secrets

import pytest
from web_world import PASSWORD

from bordin.web.auth.service import disable_user
from bordin.web.routes import iter_routes

PRINCIPALS = ("anonymous", "patient_a", "patient_b", "own_clinician", "other_clinician",
              "other_clinic", "supervisor", "researcher", "disabled")
USERNAMES = {"own_clinician": "own", "other_clinician": "other", "other_clinic": "elsewhere",
             "supervisor": "lead", "researcher": "research", "disabled": "gone"}
PUBLIC = frozenset(PRINCIPALS)
OWNERS = frozenset({"own_clinician", "supervisor"})       # may see patient A's objects
CLINICAL = frozenset({"own_clinician", "other_clinician", "other_clinic", "supervisor"})
USERS = CLINICAL | {"researcher"}
LINK_HOLDERS = frozenset({"patient_a", "patient_b"})      # each with their own link
CLINICIANS = frozenset({"own_clinician", "other_clinician", "other_clinic"})
SAME_CLINIC = frozenset({"own_clinician", "other_clinician"})  # may break the glass on A

#: (method, path) -> callers allowed. PUBLIC routes hold no patient data.
POLICY: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("GET", "/static/{path}"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/fhir/metadata"): PUBLIC,
    ("GET", "/api/v1/me"): USERS,
    ("POST", "/logout"): USERS,
    ("POST", "/api/v1/auth/logout"): USERS,
    ("GET", "/caseload"): CLINICAL,
    ("GET", "/api/v1/caseload"): CLINICAL,
    ("GET", "/episodes/{episode_id}"): OWNERS,
    ("GET", "/api/v1/episodes/{episode_id}"): OWNERS,
    ("GET", "/api/v1/episodes/{episode_id}/schedule"): OWNERS,
    ("PUT", "/api/v1/episodes/{episode_id}/schedule"): OWNERS,
    ("POST", "/episodes/{episode_id}/schedule"): OWNERS,
    ("POST", "/episodes/{episode_id}/links"): OWNERS,
    ("POST", "/api/v1/episodes/{episode_id}/links"): OWNERS,
    ("POST", "/api/v1/episodes/{episode_id}/break-glass"): SAME_CLINIC,
    ("GET", "/break-glass"): CLINICIANS,
    ("POST", "/break-glass"): SAME_CLINIC,
    ("GET", "/api/v1/supervisor/break-glass"): frozenset({"supervisor"}),
    ("POST", "/alerts/{alert_id}/acknowledge"): OWNERS,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): OWNERS,
    ("GET", "/q/{token}"): LINK_HOLDERS,
    ("POST", "/q/{token}"): LINK_HOLDERS,
    ("GET", "/api/v1/questionnaires/{token}"): LINK_HOLDERS,
    ("POST", "/api/v1/questionnaires/{token}"): LINK_HOLDERS,
    ("GET", "/supervisor"): frozenset({"supervisor"}),
    ("GET", "/supervisor/export.csv"): frozenset({"supervisor"}),
    ("GET", "/supervisor/export.html"): frozenset({"supervisor"}),
    ("GET", "/supervisor/export.pdf"): frozenset({"supervisor"}),
    ("POST", "/supervisor/settings"): frozenset({"supervisor"}),
    ("GET", "/api/v1/supervisor/summary"): frozenset({"supervisor"}),
    ("GET", "/research"): frozenset({"researcher"}),
    ("GET", "/api/v1/research/export"): frozenset({"researcher"}),
    ("POST", "/research/analyses"): frozenset({"researcher"}),
    ("POST", "/api/v1/research/analyses"): frozenset({"researcher"}),
    ("GET", "/fhir/Questionnaire"): USERS,
    ("GET", "/fhir/Questionnaire/{qid}"): USERS,
    ("GET", "/fhir/QuestionnaireResponse"): CLINICAL,
    ("GET", "/fhir/QuestionnaireResponse/{rid}"): OWNERS,
    ("POST", "/fhir/QuestionnaireResponse"): OWNERS,
}


def _request_args(method: str, path: str, who: str, env) -> dict[str, object]:
    ids = env.world.ids
    key = secrets.token_urlsafe(12)
    form_q = {"idempotency_key": key, **{f"wai_sr.{i}": "3" for i in range(1, 13)},
              **{f"phq9.{i}": "1" for i in range(1, 10)}}
    json_q = {"idempotency_key": key, "answers": {"wai_sr": {str(i): 3 for i in range(1, 13)},
                                                  "phq9": {str(i): 1 for i in range(1, 10)}}}
    if who == "patient_b":  # patient B's link asks only for the WAI-SR
        form_q = {k: v for k, v in form_q.items() if not k.startswith("phq9")}
        json_q["answers"].pop("phq9")
    qr = {"resourceType": "QuestionnaireResponse", "status": "completed",
          "questionnaire": "https://bordin.dev/fhir/Questionnaire/wai_sr",
          "identifier": {"system": "https://bordin.dev/fhir/NamingSystem/idempotency-key",
                         "value": key},
          "subject": {"reference": "Patient/PA-001"}, "authored": "2026-02-20T10:00:00+00:00",
          "extension": [{"url": "https://bordin.dev/fhir/StructureDefinition/session-number",
                         "valueInteger": 9}],
          "item": [{"linkId": str(i), "answer": [{"valueInteger": 4}]} for i in range(1, 13)]}
    bodies = {
        ("POST", "/login"): {"data": {"username": "x", "password": "y"}},
        ("POST", "/api/v1/auth/login"): {"json": {"username": "x", "password": "y"}},
        ("POST", "/alerts/{alert_id}/acknowledge"): {"data": {"version": "1"}},
        ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): {"json": {"version": 1}},
        ("POST", "/episodes/{episode_id}/links"): {"data": {"session_number": "7"}},
        ("POST", "/api/v1/episodes/{episode_id}/links"): {"json": {"session_number": 7}},
        ("POST", "/episodes/{episode_id}/schedule"): {"data": {"instrument_id": "wai_sr",
                                                               "sessions": "1, 3"}},
        ("PUT", "/api/v1/episodes/{episode_id}/schedule"): {
            "json": {"items": [{"instrument_id": "wai_sr", "sessions": [1, 2]}]}},
        ("POST", "/q/{token}"): {"data": form_q},
        ("POST", "/api/v1/questionnaires/{token}"): {"json": json_q},
        ("POST", "/fhir/QuestionnaireResponse"): {"json": qr},
        ("POST", "/research/analyses"): {"data": {"alliance": "wai_sr", "outcome": "phq9"}},
        ("POST", "/api/v1/research/analyses"): {"json": {}},
        ("POST", "/supervisor/settings"): {"data": {"patients_see_results": "on"}},
        # Reasons that pass the schema but not the reason check, which comes after the
        # organisation check: 404 outside clinic A, 422 inside, and nothing granted (a
        # grant would open patient A to other_clinician for the routes that follow).
        ("POST", "/api/v1/episodes/{episode_id}/break-glass"): {"json": {"reason": " " * 12}},
        ("POST", "/break-glass"): {"data": {"patient_code": "PA-001", "reason": "short"}},
    }
    token = env.world.tokens.get(who, secrets.token_urlsafe(32))
    url = (path.replace("{episode_id}", str(ids["episode_a"]))
           .replace("{alert_id}", str(ids["alert_a"]))
           .replace("{token}", token)
           .replace("{qid}", "wai-sr")
           .replace("{rid}", f"adm-{ids['administration_a']}")
           .replace("{path}", "app.css"))
    return {"url": url, **bodies.get((method, path), {})}


def _allowed(resp) -> bool:
    if resp.status_code in (401, 403, 404):
        return False
    # A refused page redirects to the login page with ?next=; logging out redirects there
    # without it.
    location = resp.headers.get("location", "")
    return not (resp.status_code in (302, 303, 307) and location.startswith("/login?next="))


def _order(route: tuple[str, str]) -> tuple[int, str, str]:
    # Logging out ends the caller's session, so it goes last.
    return (1 if "logout" in route[1] else 0, route[0], route[1])


def test_every_route_is_in_the_policy_table(sqlite_env) -> None:
    routes = set(iter_routes(sqlite_env.app))
    missing = sorted(routes - set(POLICY))
    assert not missing, f"routes without a policy row: {missing}"
    stale = sorted(set(POLICY) - routes)
    assert not stale, f"policy rows without a route: {stale}"


@pytest.mark.slow
def test_route_by_role_matrix(env) -> None:
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for who in ("patient_a", "patient_b"):
        headers[who] = {"Authorization": f"Bearer {env.world.tokens[who]}"}
    for who, name in USERNAMES.items():
        headers[who] = {"Authorization": f"Bearer {env.login(name, PASSWORD)}"}
    with env.session() as db:
        disable_user(db, username="gone")
        db.commit()
    routes = sorted(iter_routes(env.app), key=_order)
    unexpected_allow, unexpected_deny, forbidden = [], [], []
    for method, path in routes:
        expected = POLICY[(method, path)]
        for who in PRINCIPALS:
            args = _request_args(method, path, who, env)
            env.client.cookies.clear()
            hdr = headers[who]
            if "logout" in path and who in USERNAMES and who != "disabled":
                # Each logout ends the session it is called with: log in afresh.
                hdr = {"Authorization": f"Bearer {env.login(USERNAMES[who], PASSWORD)}"}
            resp = env.client.request(method, headers=hdr, **args)
            assert resp.status_code < 500, (method, path, who, resp.status_code, resp.text[:300])
            got = _allowed(resp)
            if got and who not in expected:
                unexpected_allow.append((method, path, who, resp.status_code))
            if not got and who in expected and expected is not PUBLIC:
                unexpected_deny.append((method, path, who, resp.status_code))
            if resp.status_code == 403 and who not in expected and "{" in path:
                forbidden.append((method, path, who))
    assert unexpected_allow == [], unexpected_allow
    assert unexpected_deny == [], unexpected_deny
    assert forbidden == [], f"out-of-scope objects must be 404, not 403: {forbidden}"
