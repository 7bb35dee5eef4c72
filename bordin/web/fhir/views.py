"""FHIR R4 endpoints: Questionnaire (read, search), QuestionnaireResponse (create, read, search).

Authentication is the same bearer session as the JSON API. Patient data
(QuestionnaireResponse) follows the same per-object policy: a response outside
the caller's scope is 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from bordin.errors import BordinError, InputError
from bordin.exchange.fhir.questionnaire import questionnaire_for
from bordin.instruments import registry
from bordin.store.models.auth import User
from bordin.store.models.core import Episode
from bordin.web.alerts.queue import risk_alerts_now
from bordin.web.auth import policy
from bordin.web.deps import AuditorDep, DbDep, allow
from bordin.web.errors import NotVisibleError
from bordin.web.fhir import service

__all__ = ["routers"]

api = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"
COMMON: dict[int | str, dict[str, Any]] = {401: {"description": "Not logged in"},
                                           404: {"description": "Not found or not yours"}}


def routers() -> list[APIRouter]:
    return [api]


def _fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _single(request: Request, *names: str) -> None:
    """Refuse a repeated search parameter this server reads only once."""
    for name in names:
        if len(request.query_params.getlist(name)) > 1:
            raise InputError(field=name, value="<repeated>", allowed="at most one value")


def _bundle(request: Request, resources: list[dict[str, Any]]) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/") + "/fhir"
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


@api.get("/metadata", response_model=dict[str, Any])
def capability_statement() -> JSONResponse:
    """The server's CapabilityStatement (public)."""
    return _fhir({
        "resourceType": "CapabilityStatement", "status": "active", "date": "2026-11-26",
        "kind": "instance", "fhirVersion": "4.3.0", "format": ["json"],
        "rest": [{"mode": "server", "resource": [
            {"type": "Questionnaire", "interaction": [{"code": "read"},
                                                      {"code": "search-type"}],
             "searchParam": [{"name": "url", "type": "uri"}, {"name": "name", "type": "string"}]},
            {"type": "QuestionnaireResponse",
             "interaction": [{"code": "read"}, {"code": "create"}, {"code": "search-type"}],
             "searchParam": [{"name": "patient", "type": "reference"},
                             {"name": "authored", "type": "date"}]},
        ]}]})


def _instrument_of(fhir_id: str) -> str | None:
    for spec in registry.all():
        if spec.id.replace("_", "-") == fhir_id or spec.id == fhir_id:
            return spec.id
    return None


@api.get("/Questionnaire/{qid}", response_model=dict[str, Any], responses=COMMON)
def questionnaire_read(qid: Annotated[str, Path(max_length=64)],
                       user: Annotated[User, Depends(allow("fhir.questionnaire.read"))]
                       ) -> JSONResponse:
    """One instrument as a Questionnaire (item texts are Bordin's labels, not licensed wording)."""
    inst = _instrument_of(qid)
    if inst is None:
        raise NotVisibleError(resource_type="Questionnaire", resource_id=qid[:64])
    return _fhir(questionnaire_for(inst).model_dump(mode="json", exclude_none=True))


@api.get("/Questionnaire", response_model=dict[str, Any], responses=COMMON)
def questionnaire_search(request: Request,
                         user: Annotated[User, Depends(allow("fhir.questionnaire.read"))],
                         url: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
                         name: Annotated[str | None, Query(min_length=1, max_length=100)] = None
                         ) -> JSONResponse:
    """Search Questionnaires by canonical ``url`` or by ``name`` (contains, any case)."""
    _single(request, "url", "name")
    out = []
    for spec in registry.all():
        q = questionnaire_for(spec)
        if url and q.url != url.split("|")[0]:
            continue
        if name and name.lower() not in f"{q.name} {q.title}".lower():
            continue
        out.append(q.model_dump(mode="json", exclude_none=True))
    return _fhir(_bundle(request, out))


@api.post("/QuestionnaireResponse", status_code=201, response_model=dict[str, Any],
          responses={**COMMON, 422: {"description": "Not a valid or acceptable response"}})
def response_create(request: Request, db: DbDep, audit: AuditorDep,
                    user: Annotated[User, Depends(allow("fhir.response.write"))],
                    body: Annotated[dict[str, Any], Body(media_type=FHIR_JSON)]
                    ) -> JSONResponse:
    """Store a completed QuestionnaireResponse once (its identifier is the idempotency key)."""
    adm = service.qr_to_submission(db, user=user, body=body)
    ep = db.get(Episode, adm.episode_id)
    risk_alerts_now(db, adms=[adm])
    audit(action="create", resource_type="administration", resource_id=adm.id,
          patient_id=ep.patient_id, detail={"via": "fhir", "instrument": adm.instrument_id})
    db.commit()
    request.app.state.monitor.mark(ep.id)
    res = service.administration_to_qr(db, adm=adm)
    loc = str(request.base_url).rstrip("/") + f"/fhir/QuestionnaireResponse/{res['id']}"
    return _fhir(res, status=201, headers={"Location": loc})


@api.get("/QuestionnaireResponse/{rid}", response_model=dict[str, Any], responses=COMMON)
def response_read(rid: Annotated[str, Path(max_length=40)], db: DbDep, audit: AuditorDep,
                  user: Annotated[User, Depends(allow("fhir.response.read"))]) -> JSONResponse:
    """One QuestionnaireResponse (an administration in the caller's scope)."""
    adm = policy.load_administration(db, user=user, administration_id=service.parse_qr_id(rid))
    ep = db.get(Episode, adm.episode_id)
    audit(action="read", resource_type="administration", resource_id=adm.id,
          patient_id=ep.patient_id, detail={"via": "fhir"})
    db.commit()
    return _fhir(service.administration_to_qr(db, adm=adm))


@api.get("/QuestionnaireResponse", response_model=dict[str, Any], responses=COMMON)
def response_search(request: Request, db: DbDep, audit: AuditorDep,
                    user: Annotated[User, Depends(allow("fhir.response.read"))],
                    patient: Annotated[str | None, Query(min_length=1, max_length=80)] = None,
                    authored: Annotated[list[str] | None, Query(max_length=4)] = None,
                    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 100
                    ) -> JSONResponse:
    """Search by ``patient`` (code or ``Patient/<code>``) and ``authored`` (ge/le/gt/lt/eq)."""
    _single(request, "patient", "_count")
    try:
        adms = service.search_responses(db, user=user, patient=patient,
                                        authored=[a[:40] for a in authored or []], count=count)
    except BordinError:
        raise
    for pid in sorted({a.episode.patient_id for a in adms}):
        audit(action="read", resource_type="administration", patient_id=pid,
              detail={"via": "fhir-search"})
    if not adms:
        audit(action="search", resource_type="administration", detail={"via": "fhir-search"})
    db.commit()
    return _fhir(_bundle(request, [service.administration_to_qr(db, adm=a) for a in adms]))
