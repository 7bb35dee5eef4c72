"""FHIR R4 QuestionnaireResponse to and from the store (fhir.resources R4B models).

Questionnaires come from :mod:`bordin.exchange.fhir.questionnaire`. A
QuestionnaireResponse maps onto one administration:

* ``questionnaire``: the instrument's canonical URL (``.../Questionnaire/<id>``), or
  LOINC's form of it (``http://loinc.org/q/44249-1``; see
  :func:`bordin.exchange.fhir.reader.identify_form`), whose items are matched by
  :func:`~bordin.exchange.fhir.reader.resolve_link_id` as the bundle import matches them;
* ``subject``: ``Patient/<patient code>`` (or an identifier in Bordin's patient system);
* ``encounter.identifier``: the episode code (Bordin's episode system), optional
  when the patient has one episode in the caller's scope;
* extension ``session-number`` (integer, required) and ``rater`` (code, default patient);
* ``identifier``: the idempotency key (required: a retried POST stores nothing new);
* ``item[].linkId`` the item id, ``answer[0]`` a ``valueCoding`` (one of the item's
  answer codes: its own where it has them, e.g. LOINC's LA18938-3 on GAD-7 item 2, or
  the instrument's; an ``ordinalValue`` extension must agree with the code),
  ``valueInteger`` or ``valueDecimal``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from bordin.errors import BordinError, InputError
from bordin.exchange.fhir.common import (
    EXT_RATER,
    EXT_SESSION,
    ORDINAL_VALUE,
    SYS_EPISODE,
    SYS_KEY,
    SYS_PATIENT,
    questionnaire_url,
)
from bordin.exchange.fhir.questionnaire import (
    answer_code,
    answer_display,
    answer_system,
    coded_value,
    is_choice,
)
from bordin.exchange.fhir.reader import (
    IGNORED,
    answered_items,
    identify_form,
    resolve_link_id,
    unknown_link_id,
)
from bordin.instruments import registry
from bordin.store.models.auth import User
from bordin.store.models.core import Administration, Episode, ItemResponse, Patient, TherapySession
from bordin.store.submit import submit_administration
from bordin.web.auth.policy import episode_scope
from bordin.web.errors import NotVisibleError

__all__ = ["administration_to_qr", "qr_id", "qr_to_submission", "search_responses"]


def qr_id(administration_id: int) -> str:
    """The FHIR id of an administration's QuestionnaireResponse."""
    return f"adm-{administration_id}"


def parse_qr_id(value: str) -> int:
    if not value.startswith("adm-") or not value[4:].isdigit() or len(value) > 20:
        raise NotVisibleError(resource_type="QuestionnaireResponse", resource_id="?")
    return int(value[4:])


def _ext(resource: Any, url: str) -> Any:
    for e in resource.extension or []:
        if e.url == url:
            return e
    return None


def _value(spec: Any, item_id: str, answer: Any) -> float | None:
    if answer.valueInteger is not None:
        return float(answer.valueInteger)
    if answer.valueDecimal is not None:
        return float(answer.valueDecimal)
    if answer.valueCoding is not None:
        # The item's own answer codes or the instrument's; an unknown code is refused
        # naming the item, the code and the codes allowed.
        return float(coded_value(spec, item_id, coding=answer.valueCoding))
    raise InputError(field=f"item {item_id}", value="<answer>",
                     allowed="valueInteger, valueDecimal or a valueCoding of the scale")


def qr_to_submission(db: Session, *, user: User, body: dict[str, Any]) -> Administration:
    """Validate a QuestionnaireResponse, check scope, store it once (caller commits)."""
    try:
        qr = QuestionnaireResponse.model_validate(body)
    except Exception as exc:  # pydantic's ValidationError: report without echoing values
        raise InputError(field="QuestionnaireResponse", value="<resource>",
                         allowed="a valid FHIR R4 QuestionnaireResponse") from exc
    canonical = (qr.questionnaire or "").split("|")[0]
    form = identify_form(qr.questionnaire)
    try:
        spec = registry.get(form.instrument or "")
    except BordinError as exc:
        raise InputError(field="questionnaire", value=canonical[:100],
                         allowed="the canonical URL of a Bordin Questionnaire, or of LOINC's "
                         "form of an instrument (http://loinc.org/q/<panel>)") from exc
    if qr.status not in ("completed", "amended"):
        raise InputError(field="status", value=qr.status, allowed="completed")
    key = qr.identifier.value if qr.identifier and qr.identifier.value else None
    if not key:
        raise InputError(field="identifier", value=None,
                         allowed=f"an identifier (system {SYS_KEY}) used as idempotency key")
    if qr.authored is None:
        raise InputError(field="authored", value=None, allowed="the time it was completed")
    session_ext = _ext(qr, EXT_SESSION)
    if session_ext is None or session_ext.valueInteger is None:
        raise InputError(field="extension session-number", value=None,
                         allowed=f"an extension {EXT_SESSION} with valueInteger")
    rater_ext = _ext(qr, EXT_RATER)
    rater = (rater_ext.valueCode if rater_ext is not None else None) or "patient"
    patient_code = None
    if qr.subject is not None:
        if qr.subject.reference and qr.subject.reference.startswith("Patient/"):
            patient_code = qr.subject.reference.split("/", 1)[1]
        elif qr.subject.identifier is not None:
            patient_code = qr.subject.identifier.value
    if not patient_code:
        raise InputError(field="subject", value=None, allowed="Patient/<patient code>")
    episode_code = None
    if qr.encounter is not None and qr.encounter.identifier is not None:
        episode_code = qr.encounter.identifier.value
    stmt = (select(Episode).join(Patient, Patient.id == Episode.patient_id)
            .where(Patient.code == patient_code, episode_scope(user)))
    if episode_code:
        stmt = stmt.where(Episode.code == episode_code)
    episodes = list(db.scalars(stmt))
    if not episodes:
        raise NotVisibleError(resource_type="Patient", resource_id="?")
    if len(episodes) > 1:
        raise InputError(field="encounter", value=None,
                         allowed=f"an encounter identifier (system {SYS_EPISODE}) naming "
                         "the episode: the patient has several")
    responses: dict[str, float | None] = {}
    # A LOINC form may nest its items in groups; Bordin's own form does not.
    for it in answered_items(qr.item) if form.panel else qr.item or []:
        item_id = resolve_link_id(spec, it.linkId, form)
        if item_id == IGNORED:
            continue  # the panel's total score or an unscored item: Bordin scores the items
        if item_id is None and form.panel is not None:
            raise unknown_link_id(spec, it.linkId, form)
        item_key = item_id or it.linkId
        if not it.answer:
            responses[item_key] = None
            continue
        responses[item_key] = _value(spec, item_key, it.answer[0])
    return submit_administration(
        db, episode_id=episodes[0].id, session_number=int(session_ext.valueInteger),
        instrument_id=spec.id, rater=rater, target=None, responses=responses,
        authored_at=qr.authored if isinstance(qr.authored, datetime) else
        datetime.fromisoformat(str(qr.authored)),
        idempotency_key=f"fhir:{key}", commit=False,
        rater_clinician_id=user.clinician_id if rater != "patient" else None)


def administration_to_qr(db: Session, *, adm: Administration) -> dict[str, Any]:
    """The QuestionnaireResponse (JSON) of a stored administration."""
    spec = registry.get(adm.instrument_id)
    episode = db.get(Episode, adm.episode_id)
    patient = db.get(Patient, episode.patient_id)
    number = db.scalar(select(TherapySession.number).where(TherapySession.id == adm.session_id))
    values = {r.item: r.value for r in db.scalars(
        select(ItemResponse).where(ItemResponse.administration_id == adm.id))}
    items = []
    for it in spec.items:
        v = values.get(it.id)
        if v is None:
            items.append({"linkId": it.id})
        elif is_choice(it):
            items.append({"linkId": it.id, "answer": [{"valueCoding": {
                "system": answer_system(spec), "code": answer_code(spec, int(v), item=it),
                "display": answer_display(spec, int(v), item=it),
                "extension": [{"url": ORDINAL_VALUE, "valueDecimal": v}]}}]})
        else:
            items.append({"linkId": it.id, "answer": [{"valueDecimal": v}]})
    key = adm.idempotency_key.removeprefix("fhir:")
    res = QuestionnaireResponse.model_validate({
        "resourceType": "QuestionnaireResponse", "id": qr_id(adm.id),
        "identifier": {"system": SYS_KEY, "value": key[:200]},
        "questionnaire": f"{questionnaire_url(spec.id)}|{adm.instrument_version}",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient.code}",
                    "identifier": {"system": SYS_PATIENT, "value": patient.code}},
        "encounter": {"identifier": {"system": SYS_EPISODE, "value": episode.code}},
        "authored": adm.authored_at.isoformat(),
        "extension": [{"url": EXT_SESSION, "valueInteger": int(number or 0)},
                      {"url": EXT_RATER, "valueCode": adm.rater}],
        "item": items,
    })
    return res.model_dump(mode="json", exclude_none=True)


def search_responses(db: Session, *, user: User, patient: str | None,
                     authored: list[str], count: int) -> list[Administration]:
    """Administrations in scope matching FHIR search parameters ``patient`` and ``authored``."""
    stmt = (select(Administration).join(Episode, Episode.id == Administration.episode_id)
            .where(episode_scope(user)))
    if patient:
        code = patient.split("/", 1)[1] if patient.startswith("Patient/") else patient
        stmt = stmt.join(Patient, Patient.id == Episode.patient_id).where(Patient.code == code)
    ops = {"ge": "__ge__", "gt": "__gt__", "le": "__le__", "lt": "__lt__", "eq": None}
    for value in authored:
        prefix, rest = (value[:2], value[2:]) if value[:2] in ops else ("eq", value)
        try:
            when = datetime.fromisoformat(rest)
        except ValueError as exc:
            raise InputError(field="authored", value=value[:40],
                             allowed="a date with an optional prefix: ge2026-01-01") from exc
        col = Administration.authored_at
        if prefix == "eq":
            from datetime import timedelta

            stmt = stmt.where(col >= when, col < when + timedelta(days=1))
        else:
            stmt = stmt.where(getattr(col, ops[prefix])(when))
    stmt = stmt.order_by(Administration.authored_at, Administration.id).limit(count)
    return list(db.scalars(stmt))
