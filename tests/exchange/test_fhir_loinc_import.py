"""FHIR import of QuestionnaireResponses to LOINC's own PHQ-9 and GAD-7 forms.

The shapes follow the published forms: LOINC's Questionnaires 44249-1 and 69737-5
(Regenstrief, canonical ``http://loinc.org/q/<panel>``, as in the HL7 PCO IG) name
their items by LOINC's internal numbers (14363 ... for the PHQ-9) and carry each item's
LOINC code on the Questionnaire item; NLM's LHC-Forms name them by the LOINC code as a
path (``/44250-9``), with the total score (``/44261-6``) and, on the PHQ-9, the
difficulty item (``/69722-7``) beside them. Answers are LOINC answer codes.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest
from exchange_helpers import counts, snapshot
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import ImportRowsError, InputError
from bordin.exchange.fhir import import_fhir_json
from bordin.exchange.fhir.common import link_code
from bordin.exchange.fhir.reader import identify_form, resolve_link_id
from bordin.instruments import registry

LOINC = "http://loinc.org"
KEY_SYSTEM = "https://bordin.dev/fhir/NamingSystem/idempotency-key"
ANSWERS = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
PHQ9_VALUES = [2, 1, 3, 0, 2, 1, 1, 0, 1]  # total 11: moderate; item 9 endorsed
PHQ9_CODES = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
              "44253-3", "44260-8"]
PHQ9_FORM_LINKS = ["14363", "14364", "14365", "14366", "14367", "14368", "14369", "14370",
                   "14371"]  # LOINC's Questionnaire 44249-1
GAD7_VALUES = [1, 2, 0, 3, 2, 1, 2]
GAD7_CODES = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]


def _answer(value: int, code: str | None = None) -> list[dict[str, Any]]:
    return [{"valueCoding": {"system": LOINC, "code": code or ANSWERS[value]}}]


def _qr(key: str, questionnaire: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A response for the stored session E01-s9 of patient P01."""
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": questionnaire,
            "identifier": {"system": KEY_SYSTEM, "value": key},
            "subject": {"reference": "Patient/P01"}, "source": {"reference": "Patient/P01"},
            "encounter": {"reference": "Encounter/E01-s9"},
            "authored": "2024-03-04T10:00:00+00:00", "item": items}


def _bordin_phq9(key: str) -> dict[str, Any]:
    return _qr(key, "https://bordin.dev/fhir/Questionnaire/phq9|1.0.0",
               [{"linkId": f"phq9_{n}", "answer": _answer(v)}
                for n, v in enumerate(PHQ9_VALUES, start=1)])


def _lhc_phq9(key: str, link: str = "/{code}") -> dict[str, Any]:
    """LHC-Forms' shape: linkIds from the LOINC codes, total score and difficulty beside."""
    items = [{"linkId": link.format(code=code), "answer": _answer(v)}
             for code, v in zip(PHQ9_CODES, PHQ9_VALUES, strict=True)]
    items.append({"linkId": "/69722-7", "answer": _answer(0, "LA6573-5")})  # somewhat difficult
    items.append({"linkId": "/44261-6", "answer": [{"valueDecimal": sum(PHQ9_VALUES)}]})
    return _qr(key, "http://loinc.org/q/44249-1", items)


def _stored(factory: sessionmaker[Session], key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The administration (without its key and import time) and its item values."""
    snap = snapshot(factory)
    adm = snap["administrations"]
    adm = adm[adm["idempotency_key"] == key].drop(columns=["idempotency_key"])
    adm = adm.drop(columns=[c for c in ("authored_at", "created_at", "imported_at")
                            if c in adm.columns]).reset_index(drop=True)
    resp = snap["responses"]
    resp = resp[resp["key"] == key].drop(columns=["key"]).reset_index(drop=True)
    return adm, resp


def _import(factory: sessionmaker[Session], raw: dict[str, Any]) -> int:
    with factory() as db:
        return import_fhir_json(db, raw).administrations


@pytest.mark.parametrize(
    "shape",
    ["lhc-path", "bare-code", "group-path", "loinc-form"],
)
def test_loinc_shaped_phq9_stores_what_the_bordin_shaped_one_does(
    sample: sessionmaker[Session], shape: str
) -> None:
    assert _import(sample, _bordin_phq9("bordin-shaped")) == 1
    if shape == "lhc-path":
        raw = _lhc_phq9("loinc-shaped")
    elif shape == "bare-code":
        raw = _lhc_phq9("loinc-shaped", link="{code}")
    elif shape == "group-path":
        # The items under a group of the panel, each named by its path from the root.
        flat = _lhc_phq9("loinc-shaped", link="/44249-1/{code}")
        raw = {**flat, "item": [{"linkId": "/44249-1", "item": flat["item"]}]}
    else:
        # LOINC's own form: numeric linkIds, its version on the canonical, the total
        # score item (14372) and the difficulty item (57492).
        items = [{"linkId": link, "answer": _answer(v)}
                 for link, v in zip(PHQ9_FORM_LINKS, PHQ9_VALUES, strict=True)]
        items += [{"linkId": "57492", "answer": _answer(0, "LA6573-5")},
                  {"linkId": "14372", "answer": [{"valueDecimal": sum(PHQ9_VALUES)}]}]
        raw = _qr("loinc-shaped", "http://loinc.org/q/44249-1|2.74", items)
    assert _import(sample, raw) == 1
    bordin_adm, bordin_resp = _stored(sample, "bordin-shaped")
    loinc_adm, loinc_resp = _stored(sample, "loinc-shaped")
    assert bordin_resp["item"].tolist() == [f"phq9_{n}" for n in range(1, 10)]
    assert bordin_resp["value"].tolist() == PHQ9_VALUES
    pd.testing.assert_frame_equal(loinc_resp, bordin_resp)
    pd.testing.assert_frame_equal(loinc_adm, bordin_adm)
    assert loinc_adm.loc[0, "total"] == sum(PHQ9_VALUES)
    assert loinc_adm.loc[0, "instrument"] == "phq9"


def test_loinc_shaped_gad7_with_loincs_item_2_answer(sample: sessionmaker[Session]) -> None:
    """LOINC's GAD-7 answers item 2 (68509-9) at 2 with LA18938-3; the total is 70274-6."""
    items = [{"linkId": f"/{code}",
              "answer": _answer(v, "LA18938-3" if (n, v) == (2, 2) else None)}
             for n, (code, v) in enumerate(zip(GAD7_CODES, GAD7_VALUES, strict=True), start=1)]
    items.append({"linkId": "/70274-6", "answer": [{"valueDecimal": sum(GAD7_VALUES)}]})
    assert _import(sample, _qr("gad7-lhc", "http://loinc.org/q/69737-5", items)) == 1
    adm, resp = _stored(sample, "gad7-lhc")
    assert resp["item"].tolist() == [f"gad7_{n}" for n in range(1, 8)]
    assert resp["value"].tolist() == GAD7_VALUES
    assert (adm.loc[0, "instrument"], adm.loc[0, "total"]) == ("gad7", sum(GAD7_VALUES))

    # LOINC's own form names item 2 57542 and the total 58628.
    form = [{"linkId": str(57541 + i), "answer": it["answer"]} for i, it in enumerate(items[:7])]
    form.append({"linkId": "58628", "answer": [{"valueDecimal": sum(GAD7_VALUES)}]})
    assert _import(sample, _qr("gad7-form", "http://loinc.org/q/69737-5", form)) == 1
    assert _stored(sample, "gad7-form")[1]["value"].tolist() == GAD7_VALUES


def test_items_are_matched_by_the_code_on_the_forms_questionnaire(
    sample: sessionmaker[Session],
) -> None:
    """A form of its own (canonical and linkIds unknown to Bordin) whose Questionnaire is in
    the bundle, coded with the PHQ-9 panel and each item's LOINC code."""
    url = "https://forms.example.org/Questionnaire/depression-screen"
    q_items = [{"linkId": f"q{n}", "type": "choice",
                "code": [{"system": LOINC, "code": code}]}
               for n, code in enumerate(PHQ9_CODES, start=1)]
    q_items.append({"linkId": "score", "type": "decimal",
                    "code": [{"system": LOINC, "code": "44261-6"}]})
    questionnaire = {"resourceType": "Questionnaire", "id": "depression-screen", "url": url,
                     "status": "active",
                     "code": [{"system": LOINC, "code": "44249-1"}], "item": q_items}
    qr = _qr("own-form", f"{url}|3", [
        {"linkId": f"q{n}", "answer": _answer(v)} for n, v in enumerate(PHQ9_VALUES, start=1)
    ] + [{"linkId": "score", "answer": [{"valueDecimal": sum(PHQ9_VALUES)}]}])
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": questionnaire}, {"resource": qr}]}
    assert _import(sample, bundle) == 1
    adm, resp = _stored(sample, "own-form")
    assert resp["value"].tolist() == PHQ9_VALUES
    assert adm.loc[0, "total"] == sum(PHQ9_VALUES)


@pytest.mark.parametrize("link", ["/99999-9", "PHQ.10", "/44249-1/69737-5"])
def test_an_unknown_link_id_of_a_loinc_form_is_refused_naming_it(
    sample: sessionmaker[Session], link: str
) -> None:
    raw = _lhc_phq9("unknown-link")
    raw["item"][3]["linkId"] = link
    before = counts(sample)
    with pytest.raises(ImportRowsError) as caught:
        _import(sample, raw)
    [(line, _field, message)] = caught.value.problems
    assert line == 1
    assert f"item linkId = {link!r} is not allowed" in message
    assert "a linkId of an item of phq9" in message
    assert "phq9_1 ... phq9_9" in message and "44254-1" in message and "14363" in message
    assert isinstance(caught.value, InputError)
    assert counts(sample) == before


def test_bordin_shaped_import_still_works_and_refuses_unknown_items(
    sample: sessionmaker[Session],
) -> None:
    raw = _bordin_phq9("unknown-bordin-item")
    raw["item"][0]["linkId"] = "phq9_99"
    before = counts(sample)
    with pytest.raises(ImportRowsError) as caught:
        _import(sample, raw)
    [(_line, _field, message)] = caught.value.problems
    assert "phq9: item linkId = 'phq9_99' is not allowed" in message
    assert "phq9_1 ... phq9_9 or 1 ... 9" in message
    assert "ignored" not in message  # Bordin's own form has no panel items to ignore
    assert counts(sample) == before
    # Bordin's canonical has no panel items: a total-score linkId is an unknown item there.
    raw = _bordin_phq9("bordin-total")
    raw["item"].append({"linkId": "44261-6", "answer": [{"valueDecimal": 11}]})
    with pytest.raises(ImportRowsError, match="item linkId = '44261-6' is not allowed"):
        _import(sample, raw)
    assert counts(sample) == before
    # A Bordin-shaped response, by ids and by bare numbers, imports as before.
    assert _import(sample, _bordin_phq9("bordin-ok")) == 1
    by_number = _bordin_phq9("bordin-numbers")
    for n, item in enumerate(by_number["item"], start=1):
        item["linkId"] = str(n)
    assert _import(sample, by_number) == 1
    assert _stored(sample, "bordin-numbers")[1]["value"].tolist() == PHQ9_VALUES


def test_a_loinc_panel_no_spec_declares_is_an_unknown_instrument(
    sample: sessionmaker[Session],
) -> None:
    raw = _lhc_phq9("phq15")
    raw["questionnaire"] = "http://loinc.org/q/69728-4"  # PHQ-15: not an instrument of Bordin
    with pytest.raises(ImportRowsError, match="instrument = '69728-4' is not allowed"):
        _import(sample, raw)


def test_canonicals_and_link_ids_resolve() -> None:
    for canonical in ("http://loinc.org/q/44249-1", "http://loinc.org/q/44249-1|2.74",
                      "http://loinc.org/vs/44249-1", "Questionnaire/44249-1",
                      "https://bordin.dev/fhir/Questionnaire/phq9|1.0.0"):
        assert identify_form(canonical).instrument == "phq9", canonical
    assert identify_form("http://loinc.org/q/44249-1|2.74").version is None
    assert identify_form("https://bordin.dev/fhir/Questionnaire/phq9|1.0.0").version == "1.0.0"
    assert identify_form("https://bordin.dev/fhir/Questionnaire/phq9").panel is None
    assert identify_form("http://loinc.org/q/00000-0").instrument == "00000-0"
    assert link_code("/44249-1/44250-9") == "44250-9"
    assert link_code("44250-9") == link_code("/44250-9/") == "44250-9"
    spec, form = registry.get("phq9"), identify_form("http://loinc.org/q/44249-1")
    assert resolve_link_id(spec, "/44260-8", form) == "phq9_9"
    assert resolve_link_id(spec, "14371", form) == "phq9_9"
    assert resolve_link_id(spec, "9", form) == "phq9_9"
    assert resolve_link_id(spec, "/70274-6", form) is None  # GAD-7's total, not PHQ-9's


def _api_qr(key: str, raw: dict[str, Any], session: int) -> dict[str, Any]:
    """The FHIR API's shape of a response: session number as an extension, no encounter."""
    body = {k: v for k, v in raw.items() if k not in ("encounter", "source")}
    body["extension"] = [{"url": "https://bordin.dev/fhir/StructureDefinition/session-number",
                          "valueInteger": session}]
    body["identifier"] = {"system": KEY_SYSTEM, "value": key}
    return body


def test_the_fhir_api_reads_a_loinc_form_as_the_import_does(
    sample: sessionmaker[Session],
) -> None:
    """POST /fhir/QuestionnaireResponse resolves the canonical and the linkIds alike."""
    from sqlalchemy import select

    from bordin.store.models.auth import User
    from bordin.store.models.core import ItemResponse, Organization, Score
    from bordin.web.fhir.service import qr_to_submission

    def total(db: Session, adm_id: int) -> float | None:
        return db.scalar(select(Score.value).where(Score.administration_id == adm_id,
                                                   Score.scale == "total"))

    with sample() as db:
        org = db.scalar(select(Organization).where(Organization.code == "NORTH"))
        user = User(role="supervisor", organization_id=org.id)
        flat = _lhc_phq9("x", link="/44249-1/{code}")
        grouped = {**flat, "item": [{"linkId": "/44249-1", "item": flat["item"]}]}
        adm = qr_to_submission(db, user=user, body=_api_qr("api-loinc", grouped, 10))
        db.commit()
        values = {r.item: r.value for r in db.scalars(
            select(ItemResponse).where(ItemResponse.administration_id == adm.id))}
        assert (adm.instrument_id, total(db, adm.id)) == ("phq9", sum(PHQ9_VALUES))
        assert [values[f"phq9_{n}"] for n in range(1, 10)] == PHQ9_VALUES

        bad = _lhc_phq9("y")
        bad["item"][0]["linkId"] = "/99999-9"
        with pytest.raises(InputError, match="item linkId = '/99999-9' is not allowed"):
            qr_to_submission(db, user=user, body=_api_qr("api-bad", bad, 11))
        db.rollback()
        # Bordin's own canonical and an unknown one behave as before.
        adm = qr_to_submission(db, user=user, body=_api_qr("api-bordin", _bordin_phq9("z"), 11))
        db.commit()
        assert total(db, adm.id) == sum(PHQ9_VALUES)
        unknown = _bordin_phq9("w")
        unknown["questionnaire"] = "http://loinc.org/q/69728-4"
        with pytest.raises(InputError, match=re.escape("questionnaire = 'http://loinc.org/q/69728-4'")):
            qr_to_submission(db, user=user, body=_api_qr("api-unknown", unknown, 12))
