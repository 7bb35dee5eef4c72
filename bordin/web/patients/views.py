"""Caseload and episode pages, and the same data as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from bordin.store.models.auth import User
from bordin.store.models.core import Clinician, Patient
from bordin.web.access.service import break_glass_grant_id
from bordin.web.alerts.service import alert_dict
from bordin.web.auth import policy
from bordin.web.deps import AuditorDep, DbDep, allow
from bordin.web.forms.service import schedules_of
from bordin.web.patients import charts, service
from bordin.web.patients.expected import expected_bands
from bordin.web.patients.schemas import CaseloadOut, EpisodeOut
from bordin.web.templating import render

__all__ = ["routers"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["clinician"])
EpisodeId = Annotated[int, Path(ge=1, le=2**31 - 1)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Not found or not yours"},
                                              401: {"description": "Not logged in"}}


def routers() -> list[APIRouter]:
    return [pages, api]


def _caseload(db: Any, user: User, audit: Any) -> list[service.CaseRow]:
    rows = service.caseload(db, user=user)
    audit(action="read", resource_type="caseload", detail={"episodes": len(rows)})
    db.commit()
    return rows


@pages.get("/caseload", response_class=HTMLResponse)
def caseload_page(request: Request, db: DbDep, audit: AuditorDep,
                  user: Annotated[User, Depends(allow("caseload.read"))]) -> HTMLResponse:
    rows = _caseload(db, user, audit)
    return render(request, "caseload.html", {"rows": rows})


@api.get("/caseload", responses=NOT_FOUND)
def caseload_api(db: DbDep, audit: AuditorDep,
                 user: Annotated[User, Depends(allow("caseload.read"))]) -> CaseloadOut:
    """The caller's caseload, most urgent first (risk, unrepaired rupture, not on track, ...)."""
    return CaseloadOut(items=[r.to_dict() for r in _caseload(db, user, audit)])  # type: ignore[misc]


def episode_view(db: Any, user: User, episode_id: int, audit: Any) -> dict[str, Any]:
    """Everything the episode page shows (used by the page and the API)."""
    ep = policy.load_episode(db, user=user, episode_id=episode_id)
    patient_code = db.get(Patient, ep.patient_id).code
    clinician_code = db.get(Clinician, ep.clinician_id).code
    rows = service.episode_scores(db, episode_id=ep.id)
    alerts = service.episode_alerts(db, episode_id=ep.id)
    markers = charts.rupture_markers(alerts)
    rc = {inst: pts for inst in sorted({r["instrument"] for r in rows})
          if (pts := charts.change_points(inst)) is not None}
    outcomes = sorted({r["instrument"] for r in rows if r["scale"] == "total"
                       and charts._kind(r["instrument"]) == "outcome"})
    expected = expected_bands(db, organization_id=ep.organization_id, rows=rows,
                              instruments=outcomes)
    # A read under a broken glass says so (and which grant) in the audit trail.
    grant = (break_glass_grant_id(db, user=user, patient_id=ep.patient_id)
             if user.role == "clinician" and ep.clinician_id != user.clinician_id else None)
    audit(action="read", resource_type="episode", resource_id=ep.id, patient_id=ep.patient_id,
          detail={"via": "break_glass", "grant": grant} if grant else None)
    db.commit()
    return {"episode": ep, "patient_code": patient_code, "clinician_code": clinician_code,
            "rows": rows, "alerts": alerts, "markers": markers, "rc": rc,
            "expected": expected}


@pages.get("/episodes/{episode_id}", response_class=HTMLResponse)
def episode_page(request: Request, episode_id: EpisodeId, db: DbDep, audit: AuditorDep,
                 user: Annotated[User, Depends(allow("episode.read"))]) -> HTMLResponse:
    v = episode_view(db, user, episode_id, audit)
    v["alliance_spec"] = charts.alliance_chart(v["rows"], v["markers"])
    v["symptom_spec"] = charts.symptom_chart(v["rows"], v["expected"])
    v["schedules"] = schedules_of(db, episode_id=episode_id)
    v["created_link"] = None
    return render(request, "episode.html", v)


@api.get("/episodes/{episode_id}", responses=NOT_FOUND)
def episode_api(episode_id: EpisodeId, db: DbDep, audit: AuditorDep,
                user: Annotated[User, Depends(allow("episode.read"))]) -> EpisodeOut:
    """One episode: every score by session, rater and scale, alerts, rupture markers."""
    v = episode_view(db, user, episode_id, audit)
    ep = v["episode"]
    return EpisodeOut(
        episode_id=ep.id, episode=ep.code, patient=v["patient_code"],
        clinician=v["clinician_code"], treatment=ep.treatment, format=ep.format,
        diagnosis=ep.diagnosis, start=ep.start, end=ep.end, scores=v["rows"],
        alerts=[alert_dict(a) for a in v["alerts"]], ruptures=v["markers"],
        reliable_change_points=v["rc"],
        expected_recovery={k: b.to_dict() for k, b in v["expected"].items()})
