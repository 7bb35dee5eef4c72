"""Break-glass access: the clinician's page and API, and the supervisors' review list.

The page flow is a page of its own, ``/break-glass``, where the clinician types the
patient's code and a reason, rather than a form on the 404 page of an episode they
cannot open. The reasons: the 404 answer stays one and the same for every object
out of scope (it is made in one place for the whole app and knows nothing of
episodes); a clinician covering a crisis call has the patient's code in hand, not
an episode URL; and the code is looked up only among the patients of the caller's
own organisation, so an unknown code and another clinic's code get the very same
answer. Which patients a clinician may open is decided by
:func:`~bordin.web.auth.policy.break_glass_scope`.

Checks run in this order, on the page and in the API: the episode or patient must
be in the caller's organisation (else 404, whatever the body), then the reason
must be 10 to 500 characters (else 422 naming ``reason``), then the record must
not be open to the caller already (else 409).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from bordin.errors import ConflictError, InputError
from bordin.store.models.auth import User
from bordin.web.access import service
from bordin.web.access.service import MAX_REASON, MIN_REASON
from bordin.web.auth import policy
from bordin.web.deps import Auditor, AuditorDep, DbDep, SettingsDep, allow
from bordin.web.errors import NotVisibleError
from bordin.web.templating import render

__all__ = ["routers"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["clinician"])
review = APIRouter(prefix="/api/v1", tags=["supervisor"])
EpisodeId = Annotated[int, Path(ge=1, le=2**31 - 1)]
BreakGlassUser = Annotated[User, Depends(allow("episode.break_glass"))]
NOT_FOUND_MESSAGE = "No patient with this code in your clinic."


def routers() -> list[APIRouter]:
    return [pages, api, review]


class BreakGlassIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field(min_length=MIN_REASON, max_length=MAX_REASON,
                        description="Why the record is needed now. Kept with the access and "
                        "shown to the clinic's supervisors; not written to the audit log.")


class BreakGlassOut(BaseModel):
    grant_id: int
    episode_id: int
    patient: str = Field(description="The patient's code.")
    created_at: datetime = Field(description="Start of the current, unbroken access.")
    expires_at: datetime = Field(description="The access ends by itself then.")
    renewed: bool = Field(description="Whether an earlier break-glass access was renewed.")


class BreakGlassRowOut(BaseModel):
    grant_id: int
    username: str
    patient: str
    created_at: datetime
    expires_at: datetime
    reason: str
    active: bool


class BreakGlassListOut(BaseModel):
    items: list[BreakGlassRowOut]


def _audit_break(audit: Auditor, result: service.BreakGlass, *, episode_id: int | None,
                 hours: int) -> None:
    g = result.grant
    # The reason is free text and may describe the patient: it stays in the access_grants
    # row (patient data, access-controlled) and the audit log gets only its length.
    audit(action="break_glass", resource_type="access_grant", resource_id=g.id,
          patient_id=g.patient_id,
          detail={"grant": g.id, "episode": episode_id, "reason_length": len(g.reason or ""),
                  "renewed": result.renewed, "hours": hours})


@api.post("/episodes/{episode_id}/break-glass",
          responses={404: {"description": "Not found, or not in your organisation"},
                     409: {"description": "The record is already open to you"},
                     401: {"description": "Not logged in"}})
def break_glass_api(episode_id: EpisodeId, body: BreakGlassIn, db: DbDep, audit: AuditorDep,
                    settings: SettingsDep, user: BreakGlassUser) -> BreakGlassOut:
    """Open an episode of a patient of your own clinic outside your caseload, in an emergency.

    The access lasts a fixed time (``break_glass_hours``, 12 by default), is audited,
    and is listed for the clinic's supervisors to review with the reason given.
    Breaking the glass again on the same patient renews it.
    """
    ep = policy.load_episode_for_break_glass(db, user=user, episode_id=episode_id)
    result = service.break_glass(db, user=user, patient_id=ep.patient_id, episode_ids=[ep.id],
                                 reason=body.reason, hours=settings.break_glass_hours)
    _audit_break(audit, result, episode_id=ep.id, hours=settings.break_glass_hours)
    g = result.grant
    out = BreakGlassOut(grant_id=g.id, episode_id=ep.id, patient=ep.patient.code,
                        created_at=g.created_at, expires_at=g.expires_at,  # type: ignore[arg-type]
                        renewed=result.renewed)
    db.commit()
    return out


def _form(request: Request, *, status: int = 200, message: str = "", code: str = "",
          reason: str = "", done: dict[str, Any] | None = None) -> HTMLResponse:
    return render(request, "break_glass.html",
                  {"message": message, "code": code, "reason": reason, "done": done,
                   "min_reason": MIN_REASON, "max_reason": MAX_REASON}, status_code=status)


@pages.get("/break-glass", response_class=HTMLResponse)
def break_glass_page(request: Request, user: BreakGlassUser) -> HTMLResponse:
    return _form(request)


@pages.post("/break-glass", response_class=HTMLResponse)
def break_glass_submit(request: Request, db: DbDep, audit: AuditorDep, settings: SettingsDep,
                       user: BreakGlassUser,
                       patient_code: Annotated[str, Form(max_length=64)] = "",
                       reason: Annotated[str, Form(max_length=5000)] = "") -> HTMLResponse:
    code = patient_code.strip()
    try:
        patient = policy.load_patient_for_break_glass(db, user=user, code=code)
    except NotVisibleError as exc:
        # Unknown, or another clinic's: one answer, audited as the app audits any 404.
        audit(action="access", outcome="denied", resource_type=exc.resource_type,
              resource_id=exc.resource_id, detail={"reason": exc.reason})
        db.commit()
        return _form(request, status=404, message=NOT_FOUND_MESSAGE, code=code, reason=reason)
    episodes = service.break_glass_episodes(db, user=user, patient_id=patient.id)
    try:
        result = service.break_glass(db, user=user, patient_id=patient.id,
                                     episode_ids=[e.id for e in episodes], reason=reason,
                                     hours=settings.break_glass_hours)
    except InputError as exc:
        return _form(request, status=422, message=str(exc), code=code, reason=reason)
    except ConflictError as exc:
        return _form(request, status=409, message=str(exc), code=code,
                     done={"episodes": episodes, "grant": None, "code": patient.code})
    _audit_break(audit, result, episode_id=None, hours=settings.break_glass_hours)
    db.commit()
    return _form(request, done={"episodes": episodes, "grant": result.grant,
                                "renewed": result.renewed, "code": patient.code})


@review.get("/supervisor/break-glass",
            responses={401: {"description": "Not logged in"},
                       404: {"description": "Not available to this role"}})
def break_glass_list_api(db: DbDep, audit: AuditorDep,
                         user: Annotated[User, Depends(allow("break_glass.review"))]
                         ) -> BreakGlassListOut:
    """The newest break-glass accesses to your clinic's patients, with their reasons."""
    rows = break_glass_review(db, audit, user)
    return BreakGlassListOut(items=[BreakGlassRowOut(
        grant_id=r.grant_id, username=r.username, patient=r.patient_code,
        created_at=r.created_at, expires_at=r.expires_at, reason=r.reason, active=r.active)
        for r in rows])


def break_glass_review(db: Any, audit: Any, user: User) -> list[service.GrantRow]:
    """The break-glass accesses ``user`` reviews, the read audited and committed.

    Used by the API above and by the supervisor page.
    """
    rows = service.recent_break_glass(db, user=user)
    audit(action="read", resource_type="break_glass_list", resource_id=user.organization_id,
          detail={"grants": len(rows)})
    db.commit()
    return rows
