"""FHIR API: GAD-7 answers coded as LOINC's own form codes them.

LOINC's GAD-7 form (Questionnaire 69737-5, Regenstrief, as published in the HL7 PCO IG,
``Questionnaire-GAD7.json``) answers item 2 (68509-9) with LA18938-3 "More days than not"
for the value 2 and carries no ordinalValue; every other item uses LA6570-1 there.
"""

from __future__ import annotations

from typing import Any

import pytest

LOINC = "http://loinc.org"
SHARED = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
VALUES = [2, 2, 1, 0, 3, 2, 1]  # items 1..7; item 2 at 2 is the case in question


def _h(env) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.login('own')}"}


def _loinc_coded(value: int, n: int) -> str:
    return "LA18938-3" if (n, value) == (2, 2) else SHARED[value]


def _qr(key: str, codes: dict[int, str] | None = None, session: int = 7) -> dict[str, Any]:
    codes = codes or {}
    return {
        "resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "https://bordin.dev/fhir/Questionnaire/gad7",
        "identifier": {"system": "https://bordin.dev/fhir/NamingSystem/idempotency-key",
                       "value": key},
        "subject": {"reference": "Patient/PA-001"}, "authored": "2026-02-23T10:00:00+00:00",
        "extension": [{"url": "https://bordin.dev/fhir/StructureDefinition/session-number",
                       "valueInteger": session}],
        "item": [{"linkId": f"gad7_{n}", "answer": [{"valueCoding": {
            "system": LOINC, "code": codes.get(n, _loinc_coded(v, n))}}]}
            for n, v in enumerate(VALUES, start=1)],
    }


def _values(qr: dict[str, Any]) -> list[float]:
    """The scale points of a response Bordin wrote (its ordinalValue extensions)."""
    out = []
    for item in qr["item"]:
        coding = item["answer"][0]["valueCoding"]
        [ordinal] = [e["valueDecimal"] for e in coding["extension"]
                     if e["url"] == "http://hl7.org/fhir/StructureDefinition/ordinalValue"]
        out.append(ordinal)
    return out


def test_loinc_coded_gad7_response_is_stored_and_round_trips(env) -> None:
    h = {**_h(env), "Content-Type": "application/fhir+json"}
    body = _qr("loinc-gad7")
    body["item"][1]["answer"][0]["valueCoding"]["display"] = "More days than not"
    first = env.client.post("/fhir/QuestionnaireResponse", json=body, headers=h)
    assert first.status_code == 201, first.text
    stored = env.client.get(first.headers["Location"].removeprefix("http://testserver"),
                            headers=h).json()
    assert _values(stored) == VALUES
    codes = [i["answer"][0]["valueCoding"]["code"] for i in stored["item"]]
    assert codes == [_loinc_coded(v, n) for n, v in enumerate(VALUES, start=1)]
    assert "display" not in stored["item"][1]["answer"][0]["valueCoding"]

    # Bordin's own export posted back (a new key, another session) reads the same values.
    again = {k: v for k, v in stored.items() if k != "id"}
    again["identifier"] = {**stored["identifier"], "value": "loinc-gad7-again"}
    again["extension"] = [e if not e["url"].endswith("session-number")
                          else {**e, "valueInteger": 8} for e in stored["extension"]]
    second = env.client.post("/fhir/QuestionnaireResponse", json=again, headers=h)
    assert second.status_code == 201, second.text
    assert _values(second.json()) == VALUES
    assert second.json()["id"] != stored["id"]


@pytest.mark.parametrize(
    ("codes", "item", "code"),
    [({2: "LA6572-7"}, "gad7_2", "LA6572-7"),   # a PHQ-9 difficulty answer
     ({1: "LA18938-3"}, "gad7_1", "LA18938-3"),  # item 2's own code on another item
     ({2: "2"}, "gad7_2", "2")],                 # a bare number is not a LOINC answer
)
def test_a_code_that_is_not_the_items_answer_is_refused(env, codes, item, code) -> None:
    h = {**_h(env), "Content-Type": "application/fhir+json"}
    r = env.client.post("/fhir/QuestionnaireResponse", json=_qr("bad-code", codes), headers=h)
    assert r.status_code == 422, r.text
    text = r.text
    assert f"item {item} answer code" in text and repr(code) in text
    allowed = ("LA6568-5 (0), LA6569-3 (1), LA18938-3 (2), LA6570-1 (2), LA6571-9 (3)"
               if item == "gad7_2" else "LA6568-5 (0), LA6569-3 (1), LA6570-1 (2), "
               "LA6571-9 (3)")
    assert allowed in text
    listed = env.client.get("/fhir/QuestionnaireResponse", params={"patient": "PA-001"},
                            headers=h).json()
    assert all("gad7" not in e["resource"]["questionnaire"] for e in listed.get("entry", []))


def test_gad7_questionnaire_lists_item_2s_own_answer(env) -> None:
    q = env.client.get("/fhir/Questionnaire/gad7", headers=_h(env)).json()
    for n, item in enumerate(q["item"], start=1):
        options = [(o["valueCoding"]["code"], o["extension"][0]["valueDecimal"])
                   for o in item["answerOption"]]
        want = {**SHARED, 2: "LA18938-3"} if n == 2 else SHARED
        assert options == [(want[v], v) for v in range(4)], item["linkId"]
