"""Tidy frames to FHIR R4 resources and Bundles.

One ``Organization`` per organization; a ``Practitioner`` and a
``PractitionerRole`` (role and organization) per clinician; a ``Patient`` per
patient (pseudonymous: an identifier, never a name); an ``EpisodeOfCare`` per
episode; an ``Encounter`` per session; a ``QuestionnaireResponse`` per
administration (``subject`` the patient, ``source`` the rater, ``encounter``
the session, ``authored`` the time it was completed); and an ``Observation``
(category ``survey``, ``derivedFrom`` the response) per score. The
``Questionnaire`` of every instrument used is included, so a bundle is
self-describing.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntryRequest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.encounter import Encounter, EncounterParticipant
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.resource import Resource
from sqlalchemy.orm import Session

from bordin.errors import InputError
from bordin.exchange.fhir import common as c
from bordin.exchange.fhir.questionnaire import (
    answer_code,
    answer_display,
    answer_system,
    is_choice,
    questionnaire_for,
)
from bordin.exchange.frames import TidyData, read_store
from bordin.exchange.pseudonymise import Pseudonymiser
from bordin.instruments import registry
from bordin.store.db import begin_read

__all__ = ["BundleType", "bundle_from", "export_fhir", "resources_from"]

BundleType = Literal["collection", "transaction"]


def _present(v: Any) -> bool:
    return not (v is None or (not isinstance(v, str | list | dict) and pd.isna(v)))


def _ident(system: str, value: str) -> list[Identifier]:
    return [Identifier(system=system, value=str(value))]


def _ref(kind: str, code: str) -> Reference:
    return Reference(reference=f"{kind}/{c.fhir_id(kind, code)}")


def _date(v: Any) -> str | None:
    return pd.Timestamp(v).date().isoformat() if _present(v) else None


def _instant(v: Any) -> str | None:
    if not _present(v):
        return None
    ts = pd.Timestamp(v)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat()


def _session_id(episode: str, session: int) -> str:
    return c.fhir_id("encounter", f"{episode}-s{int(session)}")


def _response_id(key: str) -> str:
    return "qr-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def resources_from(data: TidyData) -> Iterator[Resource]:
    """Every FHIR resource of the tidy data, in dependency order."""
    adm = data.without_lines("administrations")
    eps = data.without_lines("episodes")
    clin = data.without_lines("clinicians")
    orgs = data.without_lines("organizations")
    resp = data.without_lines("responses")

    for inst in sorted(adm["instrument"].unique()) if not adm.empty else []:
        yield questionnaire_for(inst)
    org_names = dict(zip(orgs["organization"], orgs["name"], strict=True)) if not orgs.empty \
        else {}
    org_codes = set(org_names) | set(eps.get("organization", [])) | set(
        adm.get("organization", []))
    for code in sorted(org_codes):
        name = org_names.get(code)
        yield Organization(id=c.fhir_id("organization", code),
                           identifier=_ident(c.SYS_ORGANIZATION, code),
                           name=name if _present(name) else None)
    roles = {}
    if not clin.empty:
        roles = {r.clinician: (r.organization, r.role) for r in clin.itertuples()}
    for r in eps.itertuples() if not eps.empty else []:
        roles.setdefault(r.clinician, (r.organization, "therapist"))
    for code, (org, role) in sorted(roles.items()):
        yield Practitioner(id=c.fhir_id("practitioner", code),
                           identifier=_ident(c.SYS_CLINICIAN, code))
        yield PractitionerRole(
            id=c.fhir_id("role", f"{code}-role"),
            practitioner=_ref("Practitioner", code), organization=_ref("Organization", org),
            code=[CodeableConcept(coding=[Coding(system=c.SYS_ROLE, code=role)])],
        )
    patients = {}
    for r in eps.itertuples() if not eps.empty else []:
        patients.setdefault(r.patient, r.organization)
    for code, org in sorted(patients.items()):
        yield Patient(id=c.fhir_id("patient", code), identifier=_ident(c.SYS_PATIENT, code),
                      managingOrganization=_ref("Organization", org))
    episode_format = {}
    for r in eps.itertuples() if not eps.empty else []:
        episode_format[r.episode] = r.format
        ext = [Extension(url=c.EXT_FORMAT, valueCode=r.format)]
        if _present(r.treatment):
            ext.append(Extension(url=c.EXT_TREATMENT, valueString=str(r.treatment)))
        if _present(r.diagnosis):
            ext.append(Extension(url=c.EXT_DIAGNOSIS, valueCoding=Coding(
                system=c.SYS_ICD10, code=str(r.diagnosis))))
        period = None
        if _present(r.start) or _present(r.end):
            period = Period(start=_date(r.start), end=_date(r.end))
        yield EpisodeOfCare(
            id=c.fhir_id("episode", r.episode), identifier=_ident(c.SYS_EPISODE, r.episode),
            status="finished" if _present(r.end) else "active",
            patient=_ref("Patient", r.patient),
            managingOrganization=_ref("Organization", r.organization),
            careManager=_ref("Practitioner", r.clinician), period=period, extension=ext,
        )
    if adm.empty:
        return
    sessions = adm.drop_duplicates(["episode", "session"])
    for r in sessions.itertuples():
        virtual = episode_format.get(r.episode) == "internet"
        yield Encounter(
            id=_session_id(r.episode, r.session), status="finished",
            class_fhir=Coding(system=c.SYS_ACT_CODE, code="VR" if virtual else "AMB"),
            subject=_ref("Patient", r.patient),
            episodeOfCare=[_ref("EpisodeOfCare", r.episode)],
            participant=[EncounterParticipant(individual=_ref("Practitioner", r.clinician))],
            period=Period(start=_date(r.date)) if _present(r.date) else None,
            extension=[Extension(url=c.EXT_SESSION, valueInteger=int(r.session))],
        )
    by_admin: dict[Any, list[tuple[str, float | None]]] = {}
    for r in resp.itertuples() if not resp.empty else []:
        by_admin.setdefault(r.administration_id, []).append((r.item, r.value))
    for row in adm.to_dict("records"):
        yield from _administration(row, by_admin.get(row["administration_id"], []))


# FHIR model objects are validated when built; identical parts (answers,
# codes, references to the same patient or session) are built once and shared,
# which halves the time of an export (pydantic does not revalidate instances).
@lru_cache(maxsize=8192)
def _answer_item(instrument: str, item_id: str, value: float) -> QuestionnaireResponseItem:
    spec = registry.get(instrument)
    item = spec.item(item_id)
    if is_choice(item):
        ans = QuestionnaireResponseItemAnswer(valueCoding=Coding(
            system=answer_system(spec), code=answer_code(spec, int(value), item=item),
            display=answer_display(spec, int(value), item=item),
        ))
    else:
        ans = QuestionnaireResponseItemAnswer(valueDecimal=float(value))
    return QuestionnaireResponseItem(linkId=item.id, text=item.label, answer=[ans])


@lru_cache(maxsize=8192)
def _score_code(instrument: str, scale: str) -> CodeableConcept:
    spec = registry.get(instrument)
    code = spec.codes.total if scale == "total" else spec.codes.subscales.get(scale)
    code = code or f"{spec.codes.panel}.{scale}"
    return CodeableConcept(coding=[Coding(system=spec.codes.system, code=code,
                                          display=f"{spec.name}: {scale}")])


@lru_cache(maxsize=1)
def _survey() -> list[CodeableConcept]:
    return [CodeableConcept(coding=[Coding(system=c.SYS_OBS_CATEGORY, code="survey")])]


@lru_cache(maxsize=64)
def _extension(url: str, kind: str, value: str) -> Extension:
    return Extension(url=url, **{kind: value})


@lru_cache(maxsize=4096)
def _cached_ref(kind: str, code: str) -> Reference:
    return Reference(reference=f"{kind}/{c.fhir_id(kind, code)}")


@lru_cache(maxsize=4096)
def _session_ref(episode: str, session: int) -> Reference:
    return Reference(reference=f"Encounter/{_session_id(episode, session)}")


def _administration(row: dict[str, Any], answers: list[tuple[str, Any]]) -> Iterator[Resource]:
    spec = registry.get(row["instrument"])
    key = str(row["idempotency_key"])
    qr_id = _response_id(key)
    items = [
        _answer_item(spec.id, spec.item(item_id).id, float(value))
        for item_id, value in answers if _present(value)
    ]
    if row["rater"] == "patient":
        source = _cached_ref("Patient", row["patient"])
    elif _present(row.get("rater_clinician")):
        source = _cached_ref("Practitioner", row["rater_clinician"])
    else:
        source = None
    ext = [_extension(c.EXT_RATER, "valueCode", row["rater"])]
    if _present(row.get("target")):
        ext.append(_extension(c.EXT_TARGET, "valueCode", row["target"]))
    if _present(row.get("target_ref")):
        ext.append(Extension(url=c.EXT_TARGET_REF, valueString=str(row["target_ref"])))
    authored = _instant(row.get("authored_at"))
    encounter = _session_ref(str(row["episode"]), int(row["session"]))
    subject = _cached_ref("Patient", row["patient"])
    version = row.get("instrument_version") or spec.version
    yield QuestionnaireResponse(
        id=qr_id, identifier=Identifier(system=c.SYS_KEY, value=key),
        questionnaire=f"{c.questionnaire_url(spec.id)}|{version}",
        status="completed", subject=subject, encounter=encounter, authored=authored,
        source=source, item=items, extension=ext,
    )
    derived = [Reference(reference=f"QuestionnaireResponse/{qr_id}")]
    for scale in ("total", *spec.subscales):
        value = row.get(scale)
        if not _present(value) or (isinstance(value, float) and math.isnan(value)):
            continue
        interpretation = None
        if scale == "total" and _present(row.get("band")):
            interpretation = [CodeableConcept(text=str(row["band"]))]
        yield Observation(
            id="obs-" + hashlib.sha256(f"{key}\x1f{scale}".encode()).hexdigest()[:40],
            status="final", category=_survey(), code=_score_code(spec.id, scale),
            subject=subject, encounter=encounter, effectiveDateTime=authored,
            valueQuantity=Quantity(value=_number(value), system=c.UCUM, code="{score}",
                                   unit="{score}"),
            interpretation=interpretation, derivedFrom=derived,
        )


def bundle_from(data: TidyData, *, bundle_type: BundleType = "collection") -> Bundle:
    """A FHIR Bundle of every resource of ``data``.

    ``"collection"`` for exchange as a file; ``"transaction"`` to load into a
    FHIR server (every entry is a ``PUT`` of its id, so loading twice is harmless).
    """
    if bundle_type not in ("collection", "transaction"):
        raise InputError(field="bundle_type", value=bundle_type,
                         allowed="'collection' or 'transaction'")
    entries = []
    for res in resources_from(data):
        kind = res.get_resource_type()
        request = None
        if bundle_type == "transaction":
            request = BundleEntryRequest(method="PUT", url=f"{kind}/{res.id}")
        entries.append(BundleEntry(fullUrl=f"{c.BASE}/{kind}/{res.id}", resource=res,
                                   request=request))
    return Bundle(type=bundle_type, entry=entries or None)


def export_fhir(
    db: Session,
    out: str | Path,
    *,
    bundle_type: BundleType = "collection",
    pseudonymiser: Pseudonymiser | None = None,
) -> int:
    """Write the store as one FHIR Bundle (JSON) to ``out``; return the number of resources."""
    begin_read(db)  # an export only reads: do not hold up writers (SQLite)
    data = read_store(db)
    if pseudonymiser is not None:
        data = pseudonymiser.apply(data)
    bundle = bundle_from(data, bundle_type=bundle_type)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = bundle.model_dump_json(exclude_none=True)
    path.write_text(json.dumps(json.loads(text), indent=1) if len(text) < 5_000_000 else text)
    return len(bundle.entry or [])
