"""Supervisor pages: therapist effects, alliance by target, ruptures, trends; exports."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

import altair as alt
import pandas as pd
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from bordin.store.base import utcnow
from bordin.store.models.auth import User
from bordin.store.models.core import Organization
from bordin.store.models.links import ClinicSettings
from bordin.web.access.views import break_glass_review
from bordin.web.deps import AuditorDep, DbDep, allow
from bordin.web.supervisor.pdf import supervision_pdf
from bordin.web.supervisor.service import Filters, supervision
from bordin.web.templating import render

__all__ = ["routers"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["supervisor"])
Opt = Annotated[str | None, Query(max_length=100)]


def routers() -> list[APIRouter]:
    return [pages, api]


class SupervisionOut(BaseModel):
    therapist_effects: list[dict[str, Any]]
    icc: float | None
    model_note: str
    by_therapist: list[dict[str, Any]]
    by_target: list[dict[str, Any]]
    ruptures: dict[str, Any]
    trend: list[dict[str, Any]]
    options: dict[str, list[str]]
    n_administrations: int
    outcome_effects: list[dict[str, Any]]
    outcome_icc: float | None
    outcome_icc_ci: list[float | None] | None
    outcome_note: str


def _run(db: Any, audit: Any, user: User, f: Filters, what: str = "read") -> Any:
    s = supervision(db, organization_id=user.organization_id, filters=f)
    audit(action=what, resource_type="supervision", resource_id=user.organization_id,
          detail={k: v for k, v in vars(f).items() if v})
    db.commit()
    return s


def _forest(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {}
    df = pd.DataFrame(rows)
    y = alt.Y("clinician:N", title="Therapist", sort=None)
    base = alt.Chart(df)
    chart = alt.layer(
        alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="#57606a").encode(x="x:Q"),
        base.mark_rule(strokeWidth=2).encode(x=alt.X("lower:Q", title="Difference from clinic "
                                                      "mean (shrunken, 95% interval)"),
                                             x2="upper:Q", y=y),
        base.mark_point(filled=True, size=70).encode(
            x="effect:Q", y=y, tooltip=["clinician", "effect", "lower", "upper", "patients"]),
    ).properties(width="container", height=max(120, 28 * len(df)),
                 title="Therapist effects on the patient-rated alliance")
    return chart.to_dict()


@pages.get("/supervisor", response_class=HTMLResponse)
def supervisor_page(request: Request, db: DbDep, audit: AuditorDep,
                    user: Annotated[User, Depends(allow("supervision.read"))],
                    treatment: Opt = None, format: Opt = None, diagnosis: Opt = None
                    ) -> HTMLResponse:
    f = Filters(treatment or None, format or None, diagnosis or None)
    s = _run(db, audit, user, f)
    settings = db.get(ClinicSettings, user.organization_id)
    grants = break_glass_review(db, audit, user)  # empty unless the policy lets user review
    return render(request, "supervisor.html", {
        "s": s, "f": f, "forest": _forest(s.therapist_effects), "break_glass": grants,
        "see_results": bool(settings and settings.patients_see_results),
        "see_alliance": bool(settings and settings.patients_see_alliance),
        "query": str(request.url.query)})


@api.get("/supervisor/summary", responses={401: {"description": "Not logged in"},
                                           404: {"description": "Not available to this role"}})
def supervisor_api(db: DbDep, audit: AuditorDep,
                   user: Annotated[User, Depends(allow("supervision.read"))],
                   treatment: Opt = None, format: Opt = None, diagnosis: Opt = None
                   ) -> SupervisionOut:
    """Therapist effects (shrunken, with intervals), alliance by therapist and target,
    rupture and repair rates and the monthly trend of the caller's clinic."""
    s = _run(db, audit, user, Filters(treatment or None, format or None, diagnosis or None))
    return SupervisionOut(**s.to_dict())


@pages.get("/supervisor/export.csv")
def supervisor_csv(db: DbDep, audit: AuditorDep,
                   user: Annotated[User, Depends(allow("supervision.read"))],
                   treatment: Opt = None, format: Opt = None, diagnosis: Opt = None) -> Response:
    s = _run(db, audit, user, Filters(treatment or None, format or None, diagnosis or None),
             what="export")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["table", "clinician", "effect", "lower", "upper", "patients", "mean", "ratings"])
    for r in s.therapist_effects:
        w.writerow(["therapist_effect", r["clinician"], f"{r['effect']:.4f}", f"{r['lower']:.4f}",
                    f"{r['upper']:.4f}", r["patients"], "", ""])
    for r in s.by_therapist:
        w.writerow(["alliance_by_therapist", r["clinician"], "", "", "", r["patients"],
                    f"{r['mean']:.4f}", r["ratings"]])
    return Response(buf.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="bordin-supervision.csv"'})


@pages.get("/supervisor/export.html", response_class=HTMLResponse)
def supervisor_html(request: Request, db: DbDep, audit: AuditorDep,
                    user: Annotated[User, Depends(allow("supervision.read"))],
                    treatment: Opt = None, format: Opt = None, diagnosis: Opt = None
                    ) -> HTMLResponse:
    f = Filters(treatment or None, format or None, diagnosis or None)
    s = _run(db, audit, user, f, what="export")
    resp = render(request, "supervisor_export.html", {"s": s, "f": f})
    resp.headers["Content-Disposition"] = 'attachment; filename="bordin-supervision.html"'
    return resp


@pages.get("/supervisor/export.pdf")
def supervisor_pdf(db: DbDep, audit: AuditorDep,
                   user: Annotated[User, Depends(allow("supervision.read"))],
                   treatment: Opt = None, format: Opt = None, diagnosis: Opt = None) -> Response:
    """The page as a PDF for the same filters (therapist effects, rates, trend)."""
    f = Filters(treatment or None, format or None, diagnosis or None)
    s = _run(db, audit, user, f, what="export")
    org = db.get(Organization, user.organization_id)
    data = supervision_pdf(s, f, organization=(org.name or org.code) if org else "",
                           generated_at=utcnow())
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="bordin-supervision.pdf"'})


@pages.post("/supervisor/settings")
def supervisor_settings(db: DbDep, audit: AuditorDep,
                        user: Annotated[User, Depends(allow("supervision.read"))],
                        patients_see_results: Annotated[str, Form(max_length=5)] = "",
                        patients_see_alliance: Annotated[str, Form(max_length=5)] = "",
                        ) -> Response:
    row = db.get(ClinicSettings, user.organization_id)
    if row is None:
        row = ClinicSettings(organization_id=user.organization_id)
        db.add(row)
    row.patients_see_results = patients_see_results == "on"
    row.patients_see_alliance = patients_see_alliance == "on"
    row.updated_at = utcnow()
    audit(action="update", resource_type="clinic_settings", resource_id=user.organization_id)
    db.commit()
    return RedirectResponse("/supervisor#settings", status_code=303)
