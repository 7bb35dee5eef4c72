"""Names shared by the FHIR writer and reader: canonical base, systems, extensions, ids."""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "BASE",
    "EXT_DIAGNOSIS",
    "EXT_FORMAT",
    "EXT_RATER",
    "EXT_SESSION",
    "EXT_TARGET",
    "EXT_TARGET_REF",
    "LOINC_FORM_LINK_IDS",
    "LOINC_PANEL_EXTRAS",
    "ORDINAL_VALUE",
    "SYS_CLINICIAN",
    "SYS_EPISODE",
    "SYS_KEY",
    "SYS_LOINC",
    "SYS_ORGANIZATION",
    "SYS_PATIENT",
    "SYS_ROLE",
    "fhir_id",
    "link_code",
    "questionnaire_url",
]

#: Canonical base of Bordin's own FHIR artefacts (questionnaires, code systems,
#: extensions). Matches :data:`bordin.instruments.spec.LOCAL_CODE_SYSTEM`.
BASE = "https://bordin.dev/fhir"

SYS_ORGANIZATION = f"{BASE}/NamingSystem/organization"
SYS_CLINICIAN = f"{BASE}/NamingSystem/clinician"
SYS_PATIENT = f"{BASE}/NamingSystem/patient"
SYS_EPISODE = f"{BASE}/NamingSystem/episode"
SYS_KEY = f"{BASE}/NamingSystem/idempotency-key"
SYS_ROLE = f"{BASE}/CodeSystem/clinician-role"
SYS_FORMAT = f"{BASE}/CodeSystem/episode-format"
SYS_ICD10 = "http://hl7.org/fhir/sid/icd-10"
SYS_OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SYS_ACT_CODE = "http://terminology.hl7.org/v3-ActCode"
UCUM = "http://unitsofmeasure.org"
SYS_LOINC = "http://loinc.org"

EXT_RATER = f"{BASE}/StructureDefinition/rater"
EXT_TARGET = f"{BASE}/StructureDefinition/target"
EXT_TARGET_REF = f"{BASE}/StructureDefinition/target-ref"
EXT_SESSION = f"{BASE}/StructureDefinition/session-number"
EXT_FORMAT = f"{BASE}/StructureDefinition/episode-format"
EXT_DIAGNOSIS = f"{BASE}/StructureDefinition/diagnosis"
EXT_TREATMENT = f"{BASE}/StructureDefinition/treatment"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"

#: LOINC's own FHIR Questionnaires (Regenstrief, canonical ``http://loinc.org/q/<panel>``)
#: give their items LOINC's internal numbers as linkIds and carry the item's LOINC code
#: on the Questionnaire only, so a response names its items by those numbers. Per panel,
#: each linkId with the LOINC code of its item, as in the Questionnaires 44249-1 and
#: 69737-5 published in the HL7 Person-Centered Outcomes IG
#: (github.com/HL7/pco-ig, input/resources/questionnaire/Questionnaire-PHQ9.json and
#: Questionnaire-GAD7.json, lastUpdated 2023-02-22); the PHQ-9 form served with url
#: http://loinc.org/q/44249-1 has the same linkIds. The total-score items (14372, 58628)
#: carry no code there; their text is the long name of 44261-6 and 70274-6, the codes
#: NLM's LHC-Forms give the same items.
LOINC_FORM_LINK_IDS: dict[str, dict[str, str]] = {
    "44249-1": {
        "14363": "44250-9", "14364": "44255-8", "14365": "44259-0", "14366": "44254-1",
        "14367": "44251-7", "14368": "44258-2", "14369": "44252-5", "14370": "44253-3",
        "14371": "44260-8", "57492": "69722-7", "14372": "44261-6",
    },
    "69737-5": {
        "57541": "69725-0", "57542": "68509-9", "57543": "69733-4", "57544": "69734-2",
        "57545": "69735-9", "57546": "69689-8", "57547": "69736-7", "58628": "70274-6",
    },
}

#: Items of LOINC's panels that are not questions Bordin scores, read and ignored on
#: import (the panel's total score, the instrument's ``codes.total``, is ignored as well:
#: Bordin scores the items itself). PHQ-9: 69722-7, how difficult the problems made work,
#: home and getting along (LOINC's form, linkId 57492, and LHC-Forms' /69722-7).
LOINC_PANEL_EXTRAS: dict[str, dict[str, str]] = {
    "44249-1": {"69722-7": "difficulty the problems caused, not scored"},
}

_ID_OK = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def fhir_id(kind: str, code: str) -> str:
    """A valid FHIR resource id for ``code``.

    A code that is already a valid id (letters, digits, ``-``, ``.``; at most
    64 characters) is used as it is; any other is replaced by a digest. The
    code itself always travels in the resource's identifier, so nothing is
    lost.
    """
    text = str(code)
    if _ID_OK.match(text):
        return text
    return f"{kind[0]}{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def questionnaire_url(instrument: str) -> str:
    """The canonical URL of an instrument's Questionnaire."""
    return f"{BASE}/Questionnaire/{instrument}"


def link_code(link_id: str) -> str:
    """The last segment of a linkId path: ``"/44249-1/44250-9"`` gives ``"44250-9"``.

    NLM's LHC-Forms name items by their LOINC code as a path from the form's root
    (``/44250-9``, or ``/<panel>/<code>`` inside a group); a plain linkId is returned as it is.
    """
    text = str(link_id).strip()
    return text.rstrip("/").rsplit("/", 1)[-1] or text
