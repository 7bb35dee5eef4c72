"""Acknowledge an alert: a form (htmx-enhanced) and the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from bordin.store.models.auth import User
from bordin.web.alerts.evidence import raw_fields, summary
from bordin.web.alerts.service import acknowledge, alert_dict
from bordin.web.deps import AuditorDep, DbDep, allow
from bordin.web.patients.schemas import AlertOut
from bordin.web.templating import render, templates

__all__ = ["routers"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["clinician"])
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]

# The alert card (``_alert.html``, on the episode page and in the htmx answer below)
# says what an alert found with the same sentences as the JSON API's ``summary``.
templates.env.globals.update(alert_summary=summary, alert_fields=raw_fields)


def routers() -> list[APIRouter]:
    return [pages, api]


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    version: int = Field(ge=1, le=2**31 - 1, description="The version the caller last saw.")


def _ack(db: Any, audit: Any, user: User, alert_id: int, version: int) -> Any:
    alert = acknowledge(db, user=user, alert_id=alert_id, version=version)
    audit(action="update", resource_type="alert", resource_id=alert.id,
          patient_id=alert.episode.patient_id, detail={"state": "acknowledged"})
    db.commit()
    return alert


@pages.post("/alerts/{alert_id}/acknowledge")
def ack_page(request: Request, alert_id: AlertId, db: DbDep, audit: AuditorDep,
             user: Annotated[User, Depends(allow("alert.acknowledge"))],
             version: Annotated[int, Form(ge=1, le=2**31 - 1)]) -> Response:
    alert = _ack(db, audit, user, alert_id, version)
    if request.headers.get("hx-request"):
        return render(request, "_alert.html", {"a": alert})
    return RedirectResponse(f"/episodes/{alert.episode_id}#alert-{alert.id}", status_code=303)


@api.post("/alerts/{alert_id}/acknowledge",
          responses={404: {"description": "Not found or not yours"},
                     409: {"description": "Stale version or already acknowledged"},
                     401: {"description": "Not logged in"}})
def ack_api(alert_id: AlertId, body: AckIn, db: DbDep, audit: AuditorDep,
            user: Annotated[User, Depends(allow("alert.acknowledge"))]) -> AlertOut:
    """Acknowledge an alert; send the ``version`` you saw (409 if it changed meanwhile)."""
    return AlertOut(**alert_dict(_ack(db, audit, user, alert_id, body.version)))
