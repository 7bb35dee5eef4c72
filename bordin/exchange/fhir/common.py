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
    "ORDINAL_VALUE",
    "SYS_CLINICIAN",
    "SYS_EPISODE",
    "SYS_KEY",
    "SYS_ORGANIZATION",
    "SYS_PATIENT",
    "SYS_ROLE",
    "fhir_id",
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
