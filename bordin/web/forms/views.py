"""The patient's questionnaire (through a link), links and schedules: pages and API.

The patient pages need no account: the link's token is the credential. They
carry no CSRF token because the unguessable token in the URL already binds the
form to the one person who received the link; a cross-site forger cannot name it.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from bordin.errors import InputError
from bordin.store.models.auth import User
from bordin.web.alerts.queue import risk_alerts_now
from bordin.web.auth import policy
from bordin.web.deps import AuditorDep, DbDep, SettingsDep, allow
from bordin.web.errors import input_error_body
from bordin.web.forms import service
from bordin.web.patients.views import episode_view
from bordin.web.templating import render

__all__ = ["routers"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["patient"])
clin = APIRouter(prefix="/api/v1", tags=["clinician"])
Token = Annotated[str, Path(min_length=1, max_length=100)]
EpisodeId = Annotated[int, Path(ge=1, le=2**31 - 1)]

GONE = {"used": "This questionnaire link has already been used. Thank you — your answers "
                "were saved. If you need to change something, tell your clinician.",
        "expired": "This questionnaire link has expired. Please ask your clinician for a "
                   "new one.",
        "unknown": "This questionnaire link is not valid. Please check that you copied the "
                   "whole link, or ask your clinician for a new one."}


def routers() -> list[APIRouter]:
    return [pages, api, clin]


def _audit_link(audit: Any, link: service.LinkRow, *, action: str, outcome: str,
                detail: dict[str, Any] | None = None) -> None:
    audit(action=action, outcome=outcome, resource_type="questionnaire_link",
          resource_id=link.id, patient_id=link.patient_id, actor_kind="link",
          actor_id=str(link.id), detail=detail)


# ----- patient pages -------------------------------------------------------------------

@pages.get("/q/{token}", response_class=HTMLResponse)
def questionnaire_page(request: Request, token: Token, db: DbDep,
                       audit: AuditorDep) -> HTMLResponse:
    st = service.find_link(db, token=token)
    if st.status != "ok":
        if st.link is None:
            audit(action="read", outcome="denied", resource_type="questionnaire_link",
                  detail={"reason": "unknown link"})
            db.commit()
        return render(request, "q_gone.html", {"message": GONE[st.status]},
                      status_code=404 if st.status == "unknown" else 410)
    link = st.link
    _audit_link(audit, link, action="read", outcome="success")
    db.commit()
    return render(request, "q_form.html", {
        "token": token, "forms": service.form_spec(link), "key": secrets.token_urlsafe(24),
        "session_number": link.session_number, "errors": {}, "message": "", "values": {}})


@pages.post("/q/{token}", response_class=HTMLResponse)
async def questionnaire_submit(request: Request, token: Token, db: DbDep,
                               audit: AuditorDep) -> HTMLResponse:
    form = await request.form()
    key = str(form.get("idempotency_key", ""))[:64]
    raw = {k: v for k, v in form.items() if "." in k}
    # The form is read on the event loop; the database work goes to a worker thread
    # (it would otherwise block every other request of this process meanwhile).
    status, payload = await run_in_threadpool(
        _submit, db, audit, token=token, key=key, raw=raw, queue=request.app.state.monitor)
    if status == "gone":
        return render(request, "q_gone.html", {"message": GONE[payload["state"]]},
                      status_code=404 if payload["state"] == "unknown" else 410)
    if status == "invalid":
        st = await run_in_threadpool(service.find_link, db, token=token)
        return render(request, "q_form.html", {
            "token": token, "forms": service.form_spec(st.link), "key": key,
            "session_number": st.link.session_number, "values": raw,
            "message": payload["message"], "errors": {payload["field"]: True}},
            status_code=422)
    return render(request, "q_done.html", {"results": payload["results"]})


def _submit(db: Any, audit: Any, *, token: str, key: str, raw: dict[str, Any],
            queue: Any) -> tuple[str, dict[str, Any]]:
    # One statement claims the link and reads the patient and the clinic's setting; the
    # answer to the patient is built before the commit, so the request ends there.
    try:
        st = service.claim_link(db, token=token, key=key)
    except InputError as exc:
        return "invalid", {"message": str(exc), "field": exc.field}
    if st.status == "used" and st.link.used_key == key:
        # The browser retried a submission that was already saved: same answer again.
        adms = service.replayed(db, link=st.link)
        _audit_link(audit, st.link, action="create", outcome="replayed")
        payload = {"ids": [a.id for a in adms],
                   "results": service.patient_results(link=st.link, adms=adms)}
        db.commit()
        return "ok", payload
    if st.status != "ok":
        if st.link is not None:
            _audit_link(audit, st.link, action="create", outcome="denied",
                        detail={"reason": st.status})
        else:
            audit(action="create", outcome="denied", resource_type="questionnaire_link",
                  detail={"reason": "unknown link"})
        db.commit()
        return "gone", {"state": st.status}
    link = st.link
    try:
        answers = service.parse_answers(link, raw)
        adms = service.submit_link(db, link=link, key=key, answers=answers)
    except InputError as exc:
        db.rollback()
        return "invalid", {"message": str(exc), "field": exc.field}
    risk_alerts_now(db, adms=adms)  # a risk item is never left to the background
    # Last before the commit: the audit append takes the clinic-wide chain lock.
    _audit_link(audit, link, action="create", outcome="success",
                detail={"administrations": [a.id for a in adms],
                        "instruments": list(link.instruments)})
    payload = {"ids": [a.id for a in adms],
               "results": service.patient_results(link=st.link, adms=adms)}
    db.commit()
    queue.mark(link.episode_id)
    return "ok", payload


# ----- patient API ---------------------------------------------------------------------

class ItemOut(BaseModel):
    id: str
    text: str
    min: float
    max: float
    step: float
    anchors: dict[int, str]


class InstrumentForm(BaseModel):
    id: str
    name: str
    kind: str
    items: list[ItemOut]


class QuestionnaireOut(BaseModel):
    session_number: int
    idempotency_key: str = Field(description="A fresh key to send back with the answers.")
    instruments: list[InstrumentForm]


class SubmitIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    idempotency_key: str = Field(min_length=1, max_length=64)
    answers: dict[str, dict[str, float | None]] = Field(
        description="Instrument id -> item id -> value (null for a skipped item).")


class SubmitOut(BaseModel):
    administration_ids: list[int]
    results: list[dict[str, Any]] | None = Field(
        description="Totals and bands, only when the clinic lets patients see results.")


GONE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown link"}, 410: {"description": "Link used or expired"}}


@api.get("/questionnaires/{token}", responses=GONE_RESPONSES)
def questionnaire_api(token: Token, db: DbDep, audit: AuditorDep) -> QuestionnaireOut:
    """The questionnaires a link asks for (public: the token is the credential)."""
    st = service.find_link(db, token=token)
    if st.status != "ok":
        return JSONResponse({"detail": GONE[st.status]},  # type: ignore[return-value]
                            status_code=404 if st.status == "unknown" else 410)
    _audit_link(audit, st.link, action="read", outcome="success")
    db.commit()
    return QuestionnaireOut(session_number=st.link.session_number,
                            idempotency_key=secrets.token_urlsafe(24),
                            instruments=service.form_spec(st.link))  # type: ignore[arg-type]


@api.post("/questionnaires/{token}", status_code=201,
          responses={**GONE_RESPONSES, 422: {"description": "An answer is not allowed"}})
async def questionnaire_submit_api(request: Request, token: Token, body: SubmitIn,
                                   db: DbDep, audit: AuditorDep) -> SubmitOut:
    """Submit the answers once; a retry with the same key returns the same result."""
    # async, with the database work in one worker thread: FastAPI would otherwise also
    # hand the (small) response's serialisation to a worker thread.
    status, payload = await run_in_threadpool(
        _submit, db, audit, token=token, key=body.idempotency_key, raw=dict(body.answers),
        queue=request.app.state.monitor)
    if status == "gone":
        st = payload["state"]
        return JSONResponse({"detail": GONE[st]},  # type: ignore[return-value]
                            status_code=404 if st == "unknown" else 410)
    if status == "invalid":
        return JSONResponse(input_error_body(  # type: ignore[return-value]
            field=payload["field"], message=payload["message"]), status_code=422)
    return SubmitOut(administration_ids=payload["ids"], results=payload["results"])


# ----- clinician: links and schedules ---------------------------------------------------

class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    session_number: int = Field(ge=0, le=service.MAX_SESSION)
    instruments: list[str] | None = Field(default=None, min_length=1, max_length=20)


class LinkOut(BaseModel):
    url: str = Field(description="Shown once; only its hash is stored.")
    expires_at: Any
    instruments: list[str]


class ScheduleItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    instrument_id: str = Field(min_length=1, max_length=40)
    sessions: list[Annotated[int, Field(ge=0, le=service.MAX_SESSION)]] = Field(
        default_factory=list, max_length=200)
    every: Annotated[int, Field(ge=1, le=52)] | None = None


class ScheduleOut(BaseModel):
    items: list[ScheduleItem]


def _link(request: Request, db: Any, audit: Any, settings: Any, user: User, episode_id: int,
          session_number: int, instruments: list[str] | None) -> tuple[str, Any]:
    ep = policy.load_episode(db, user=user, episode_id=episode_id)
    ttl = service.clinic_settings(db, organization_id=ep.organization_id).link_ttl_hours
    token, link = service.create_link(db, episode=ep, session_number=session_number,
                                      instruments=instruments, created_by_id=user.id,
                                      ttl_hours=ttl or settings.link_ttl_hours)
    audit(action="create", resource_type="questionnaire_link", resource_id=link.id,
          patient_id=ep.patient_id)
    db.commit()
    return str(request.base_url).rstrip("/") + f"/q/{token}", link


@pages.post("/episodes/{episode_id}/links", response_class=HTMLResponse)
def link_page(request: Request, episode_id: EpisodeId, db: DbDep, audit: AuditorDep,
              settings: SettingsDep, user: Annotated[User, Depends(allow("link.create"))],
              session_number: Annotated[int, Form(ge=0, le=service.MAX_SESSION)]
              ) -> HTMLResponse:
    url, link = _link(request, db, audit, settings, user, episode_id, session_number, None)
    v = episode_view(db, user, episode_id, audit)
    from bordin.web.patients import charts

    v["alliance_spec"] = charts.alliance_chart(v["rows"], v["markers"])
    v["symptom_spec"] = charts.symptom_chart(v["rows"])
    v["schedules"] = service.schedules_of(db, episode_id=episode_id)
    v["created_link"] = {"url": url, "expires_at": link.expires_at,
                         "instruments": link.instruments}
    return render(request, "episode.html", v)


@clin.post("/episodes/{episode_id}/links", status_code=201,
           responses={404: {"description": "Not found or not yours"},
                      401: {"description": "Not logged in"},
                      422: {"description": "Bad session or instrument"}})
def link_api(request: Request, episode_id: EpisodeId, body: LinkIn, db: DbDep,
             audit: AuditorDep, settings: SettingsDep,
             user: Annotated[User, Depends(allow("link.create"))]) -> LinkOut:
    """Make a single-use questionnaire link for a session (the URL is shown once)."""
    url, link = _link(request, db, audit, settings, user, episode_id, body.session_number,
                      body.instruments)
    return LinkOut(url=url, expires_at=link.expires_at, instruments=link.instruments)


def _parse_sessions(text: str) -> list[int]:
    out = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise InputError(field="sessions", value=part,
                             allowed="session numbers separated by commas, e.g. 1, 4, 8")
        out.append(int(part))
    return out


@pages.post("/episodes/{episode_id}/schedule")
def schedule_page(request: Request, episode_id: EpisodeId, db: DbDep, audit: AuditorDep,
                  user: Annotated[User, Depends(allow("schedule.write"))],
                  instrument_id: Annotated[str, Form(max_length=40)],
                  sessions: Annotated[str, Form(max_length=500)] = "",
                  every: Annotated[str, Form(max_length=3)] = "") -> Response:
    from fastapi.responses import RedirectResponse

    ep = policy.load_episode(db, user=user, episode_id=episode_id)
    ev = int(every) if every.strip().isdigit() else None
    service.set_schedule(db, episode_id=ep.id, instrument_id=instrument_id,
                         sessions=_parse_sessions(sessions), every=ev)
    audit(action="update", resource_type="schedule", resource_id=ep.id, patient_id=ep.patient_id)
    db.commit()
    return RedirectResponse(f"/episodes/{ep.id}#schedule", status_code=303)


def _schedule_out(rows: list[Any]) -> ScheduleOut:
    return ScheduleOut(items=[ScheduleItem(instrument_id=r.instrument_id,
                                           sessions=list(r.sessions or []), every=r.every)
                              for r in rows])


@clin.get("/episodes/{episode_id}/schedule",
          responses={404: {"description": "Not found or not yours"},
                     401: {"description": "Not logged in"}})
def schedule_get(episode_id: EpisodeId, db: DbDep, audit: AuditorDep,
                 user: Annotated[User, Depends(allow("episode.read"))]) -> ScheduleOut:
    """Which questionnaires the patient gets at which sessions."""
    ep = policy.load_episode(db, user=user, episode_id=episode_id)
    audit(action="read", resource_type="schedule", resource_id=ep.id, patient_id=ep.patient_id)
    db.commit()
    return _schedule_out(service.schedules_of(db, episode_id=ep.id))


@clin.put("/episodes/{episode_id}/schedule",
          responses={404: {"description": "Not found or not yours"},
                     401: {"description": "Not logged in"},
                     422: {"description": "Unknown instrument or bad session"}})
def schedule_put(episode_id: EpisodeId, body: ScheduleOut, db: DbDep, audit: AuditorDep,
                 user: Annotated[User, Depends(allow("schedule.write"))]) -> ScheduleOut:
    """Replace the schedule (an instrument with no sessions and no ``every`` is removed)."""
    ep = policy.load_episode(db, user=user, episode_id=episode_id)
    wanted = {i.instrument_id for i in body.items}
    for row in service.schedules_of(db, episode_id=ep.id):
        if row.instrument_id not in wanted:
            db.delete(row)
    for item in body.items:
        service.set_schedule(db, episode_id=ep.id, instrument_id=item.instrument_id,
                             sessions=item.sessions, every=item.every)
    audit(action="update", resource_type="schedule", resource_id=ep.id, patient_id=ep.patient_id)
    db.commit()
    return _schedule_out(service.schedules_of(db, episode_id=ep.id))
