"""FHIR R4 (R4B models): questionnaires, bundles that validate, and a lossless round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from exchange_helpers import assert_same, counts, snapshot
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import ImportRowsError
from bordin.exchange.fhir import bundle_from, export_fhir, import_fhir, questionnaire_for
from bordin.exchange.frames import read_store
from bordin.instruments import registry

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"


@pytest.mark.parametrize("instrument", registry.ids())
def test_every_instrument_is_a_valid_questionnaire(instrument: str) -> None:
    spec = registry.get(instrument)
    q = questionnaire_for(spec)
    again = Questionnaire.model_validate_json(q.model_dump_json(exclude_none=True))
    assert again.url.endswith(f"/Questionnaire/{spec.id}")
    assert again.version == spec.version
    assert [i.linkId for i in again.item] == list(spec.item_ids)
    for item, spec_item in zip(again.item, spec.items, strict=True):
        if item.type == "choice":
            ordinals = [o.extension[0].valueDecimal for o in item.answerOption]
            assert all(o.extension[0].url == ORDINAL for o in item.answerOption)
            assert ordinals == list(range(int(spec_item.scale.min), int(spec_item.scale.max) + 1))
        else:
            assert item.type == "decimal"


def test_phq9_questionnaire_carries_loinc_codes() -> None:
    q = questionnaire_for("phq9")
    assert (q.code[0].system, q.code[0].code) == ("http://loinc.org", "44249-1")
    item9 = q.item[8]
    assert item9.code[0].code == "44260-8"
    answers = [o.valueCoding.code for o in item9.answerOption]
    assert answers == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


def _bundle(sample: sessionmaker[Session], kind: str = "collection") -> Bundle:
    with sample() as db:
        data = read_store(db)
    return bundle_from(data, bundle_type=kind)


def test_bundle_validates_and_links_resources(sample: sessionmaker[Session]) -> None:
    bundle = _bundle(sample)
    parsed = Bundle.model_validate_json(bundle.model_dump_json(exclude_none=True))
    resources = [e.resource for e in parsed.entry]
    kinds = {}
    for r in resources:
        kinds[r.get_resource_type()] = kinds.get(r.get_resource_type(), 0) + 1
    assert kinds["QuestionnaireResponse"] == 289
    assert kinds["Patient"] == 12 and kinds["EpisodeOfCare"] == 12
    assert kinds["Encounter"] == 90
    # WAI-SR: total + 3 subscales; PHQ-9, GAD-7: total; therapist WAI-SR: total + 3.
    assert kinds["Observation"] == 90 * 4 + 90 * 2 + 19 * 4
    ids = {(r.get_resource_type(), r.id) for r in resources}
    qrs = [r for r in resources if r.get_resource_type() == "QuestionnaireResponse"]
    for qr in qrs:
        assert ("Patient", qr.subject.reference.split("/")[1]) in ids
        assert ("Encounter", qr.encounter.reference.split("/")[1]) in ids
        assert qr.authored is not None and qr.status == "completed"
        assert "|" in qr.questionnaire
    therapist_rated = [q for q in qrs if q.questionnaire.split("|")[0].endswith("wai_sr_t")]
    assert therapist_rated and all(
        q.source.reference.startswith("Practitioner/") for q in therapist_rated)
    patient_rated = [q for q in qrs if q.questionnaire.split("|")[0].endswith("/phq9")]
    assert all(q.source.reference == q.subject.reference for q in patient_rated)
    qr_ids = {q.id for q in qrs}
    for obs in (r for r in resources if r.get_resource_type() == "Observation"):
        assert obs.category[0].coding[0].code == "survey"
        assert obs.derivedFrom[0].reference.split("/")[1] in qr_ids


def test_transaction_bundle_puts_every_entry(sample: sessionmaker[Session]) -> None:
    bundle = _bundle(sample, "transaction")
    assert bundle.type == "transaction"
    for e in bundle.entry:
        assert e.request.method == "PUT"
        assert e.request.url == f"{e.resource.get_resource_type()}/{e.resource.id}"


def test_fhir_round_trip_into_an_empty_database(
    sample: sessionmaker[Session], empty_sqlite: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "bundle.json"
    with sample() as db:
        n = export_fhir(db, path)
    assert n == len(json.loads(path.read_text())["entry"])
    with empty_sqlite() as db:
        result = import_fhir(db, path)
    assert result.administrations == 289
    assert_same(snapshot(sample), snapshot(empty_sqlite))
    assert counts(sample) == counts(empty_sqlite)
    # Importing the same bundle again adds nothing.
    with empty_sqlite() as db:
        again = import_fhir(db, path)
    assert (again.administrations, again.skipped) == (0, 289)


def test_bad_entries_are_listed_and_nothing_is_written(
    sample: sessionmaker[Session], empty_sqlite: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "bundle.json"
    with sample() as db:
        export_fhir(db, path)
    raw = json.loads(path.read_text())
    bad_entries = []
    changed = 0
    for n, entry in enumerate(raw["entry"], start=1):
        res = entry["resource"]
        if res["resourceType"] != "QuestionnaireResponse" or "phq9|" not in res["questionnaire"]:
            continue
        if changed == 0:
            res["item"][0]["answer"][0]["valueCoding"]["code"] = "7"  # not a PHQ-9 answer
        elif changed == 1:
            res["questionnaire"] = "https://example.org/Questionnaire/unknown|1"
        else:
            break
        bad_entries.append(n)
        changed += 1
    path.write_text(json.dumps(raw))
    with empty_sqlite() as db, pytest.raises(ImportRowsError) as caught:
        import_fhir(db, path)
    assert [line for line, _f, _m in caught.value.problems] == bad_entries
    assert all(v == 0 for v in counts(empty_sqlite).values())


def test_pseudonymised_bundle_has_no_codes_names_or_real_dates(
    sample: sessionmaker[Session], tmp_path: Path
) -> None:
    from bordin.exchange.pseudonymise import Pseudonymiser

    path = tmp_path / "research.json"
    with sample() as db:
        export_fhir(db, path, pseudonymiser=Pseudonymiser(secret=b"s" * 32))
    text = path.read_text()
    Bundle.model_validate_json(text)
    for code in ("P07", "T01", "E03", "sample-E01", "Northside", "2024-01-08"):
        assert code not in text


def test_a_single_response_for_a_stored_session(
    sample: sessionmaker[Session], tmp_path: Path
) -> None:
    """A bare QuestionnaireResponse naming a stored session (Encounter/E01-s9) is imported;
    one whose subject is not the episode's patient is refused."""
    path = tmp_path / "bundle.json"
    with sample() as db:
        export_fhir(db, path)
    raw = json.loads(path.read_text())
    qr = next(e["resource"] for e in raw["entry"]
              if e["resource"]["resourceType"] == "QuestionnaireResponse"
              and e["resource"]["encounter"]["reference"] == "Encounter/E01-s1"
              and "/gad7|" in e["resource"]["questionnaire"])
    qr["identifier"]["value"] = "new-gad7-E01-9"
    qr["encounter"]["reference"] = "Encounter/E01-s9"
    qr["authored"] = "2024-03-04T10:00:00+00:00"
    single = tmp_path / "qr.json"
    single.write_text(json.dumps(qr))
    before = counts(sample)["administrations"]
    with sample() as db:
        assert import_fhir(db, single).administrations == 1
    assert counts(sample)["administrations"] == before + 1

    # The same through the JSON entry point a FHIR API uses, with the wrong subject.
    from bordin.exchange.fhir import import_fhir_json

    qr["identifier"]["value"] = "wrong-patient"
    qr["subject"]["reference"] = "Patient/P02"
    with sample() as db, pytest.raises(ImportRowsError, match="not the patient of episode"):
        import_fhir_json(db, qr)
    assert counts(sample)["administrations"] == before + 1


# LOINC's own GAD-7 form (Regenstrief; HL7 PCO IG Questionnaire-GAD7.json) answers item 2
# (68509-9) with LA18938-3 "More days than not" for 2, items 1 and 3-7 with LA6570-1 "More
# than half the days", and gives no ordinalValue; the MII PRO form uses LA6570-1 on every item.
LOINC_FORM = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
GAD7_VALUES = [1, 2, 0, 3, 2, 1, 2]


def _loinc_form_gad7(key: str, codes: dict[int, str] | None = None) -> dict:
    """A GAD-7 QuestionnaireResponse for the stored session E01-s9, coded as LOINC's form."""
    codes = codes or {}
    items = []
    for n, v in enumerate(GAD7_VALUES, start=1):
        code = codes.get(n) or ("LA18938-3" if (n, v) == (2, 2) else LOINC_FORM[v])
        items.append({"linkId": f"gad7_{n}", "answer": [{"valueCoding": {
            "system": "http://loinc.org", "code": code}}]})
    return {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "https://bordin.dev/fhir/Questionnaire/gad7|1.0.0",
            "identifier": {"system": "https://bordin.dev/fhir/NamingSystem/idempotency-key",
                           "value": key},
            "subject": {"reference": "Patient/P01"}, "source": {"reference": "Patient/P01"},
            "encounter": {"reference": "Encounter/E01-s9"},
            "authored": "2024-03-04T10:00:00+00:00", "item": items}


def _stored_values(factory: sessionmaker[Session], key: str) -> list[float]:
    resp = snapshot(factory)["responses"]
    return resp[resp["key"] == key].sort_values("item")["value"].tolist()  # gad7_1 .. gad7_7


def test_gad7_questionnaire_offers_loincs_item_2_answer() -> None:
    q = questionnaire_for("gad7")
    for n, item in enumerate(q.item, start=1):
        options = [(o.valueCoding.code, o.extension[0].valueDecimal) for o in item.answerOption]
        want = {**LOINC_FORM, 2: "LA18938-3"} if n == 2 else LOINC_FORM
        assert options == [(want[v], v) for v in range(4)]
    # The anchors paraphrase LA6570-1; LA18938-3 is left without a display.
    assert q.item[1].answerOption[2].valueCoding.display is None
    assert q.item[0].answerOption[2].valueCoding.display == "more than half the days"


def test_loinc_form_gad7_response_imports_and_round_trips(
    sample: sessionmaker[Session], empty_sqlite: sessionmaker[Session], tmp_path: Path
) -> None:
    from bordin.exchange.fhir import import_fhir_json, tidy_from_bundle

    with sample() as db:
        assert import_fhir_json(db, _loinc_form_gad7("loinc-form")).administrations == 1
    assert _stored_values(sample, "loinc-form") == GAD7_VALUES
    # The MII PRO form's LA6570-1 on item 2 means 2 as well.
    with sample() as db:
        assert import_fhir_json(db, _loinc_form_gad7("mii-form", {2: "LA6570-1"})
                                ).administrations == 1
    assert _stored_values(sample, "mii-form") == GAD7_VALUES

    path = tmp_path / "bundle.json"
    with sample() as db:
        export_fhir(db, path)
    raw = json.loads(path.read_text())
    exported = [e["resource"] for e in raw["entry"]
                if e["resource"]["resourceType"] == "QuestionnaireResponse"
                and e["resource"]["identifier"]["value"] in ("loinc-form", "mii-form")]
    assert len(exported) == 2
    for qr in exported:  # both leave as LOINC's form codes them
        coded = [i["answer"][0]["valueCoding"]["code"] for i in qr["item"]]
        assert coded == [("LA18938-3" if (n, v) == (2, 2) else LOINC_FORM[v])
                         for n, v in enumerate(GAD7_VALUES, start=1)]
    # Every coded answer of the export reads back as a number, and a second store holds
    # the same values.
    tidy = tidy_from_bundle(Bundle.model_validate(raw))
    assert tidy.responses["value"].map(lambda v: isinstance(v, int | float)).all()
    with empty_sqlite() as db:
        import_fhir(db, path)
    for key in ("loinc-form", "mii-form"):
        assert _stored_values(empty_sqlite, key) == GAD7_VALUES


@pytest.mark.parametrize(
    ("codes", "words"),
    [
        ({2: "LA6572-7"}, "item gad7_2 answer code = 'LA6572-7' is not allowed; expected one of "
                          "LA6568-5 (0), LA6569-3 (1), LA18938-3 (2), LA6570-1 (2), LA6571-9 (3)"),
        ({1: "LA18938-3"}, "item gad7_1 answer code = 'LA18938-3'"),
        ({3: "2"}, "item gad7_3 answer code = '2'"),
    ],
)
def test_a_code_that_is_not_the_items_answer_is_refused(
    sample: sessionmaker[Session], codes: dict[int, str], words: str
) -> None:
    from bordin.exchange.fhir import import_fhir_json

    before = counts(sample)
    with sample() as db, pytest.raises(ImportRowsError) as caught:
        import_fhir_json(db, _loinc_form_gad7("wrong-code", codes))
    [(line, _field, message)] = caught.value.problems
    assert line == 1 and words in message
    assert counts(sample) == before


def test_an_ordinal_value_must_agree_with_the_code(sample: sessionmaker[Session]) -> None:
    from bordin.exchange.fhir import import_fhir_json

    qr = _loinc_form_gad7("ordinal")
    qr["item"][1]["answer"][0]["valueCoding"]["extension"] = [{"url": ORDINAL,
                                                               "valueDecimal": 3}]
    with sample() as db, pytest.raises(ImportRowsError, match="gad7_2 answer ordinalValue"):
        import_fhir_json(db, qr)
    qr["item"][1]["answer"][0]["valueCoding"]["extension"][0]["valueDecimal"] = 2
    with sample() as db:
        assert import_fhir_json(db, qr).administrations == 1
    assert _stored_values(sample, "ordinal") == GAD7_VALUES
