"""FHIR searches refuse an empty search value, naming the parameter (no silent match-all)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("path", "param"), [
    ("/fhir/QuestionnaireResponse", "patient"),
    ("/fhir/Questionnaire", "name"),
    ("/fhir/Questionnaire", "url"),
])
def test_empty_search_value_is_refused(env, path, param) -> None:
    h = {"Authorization": f"Bearer {env.login('own')}"}
    r = env.client.get(f"{path}?{param}=", headers=h)
    assert r.status_code == 422, r.text
    assert param in r.text


def test_a_patient_search_still_finds_the_patients_responses(env) -> None:
    h = {"Authorization": f"Bearer {env.login('own')}"}
    r = env.client.get("/fhir/QuestionnaireResponse?patient=PA-001", headers=h)
    assert r.status_code == 200
    assert r.json()["total"] >= 1
