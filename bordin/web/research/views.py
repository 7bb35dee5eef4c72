"""Researcher pages: pseudonymised exports (tidy CSV/JSON, FHIR) and alliance analyses."""

from __future__ import annotations

import base64
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from bordin.errors import BordinError
from bordin.store.models.auth import User
from bordin.web.deps import AuditorDep, DbDep, SettingsDep, allow
from bordin.web.research import service
from bordin.web.templating import render

__all__ = ["routers"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["research"])
AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "Not logged in"},
                                         404: {"description": "Not available to this role"}}


def routers() -> list[APIRouter]:
    return [pages, api]


def _data(db: Any, settings: Any, user: User, audit: Any, what: str) -> Any:
    data = service.pseudonymised(db, organization_id=user.organization_id,
                                 secret=settings.secret_key.get_secret_value())
    audit(action="export", resource_type="research", resource_id=user.organization_id,
          detail={"what": what, "rows": len(data.administrations)})
    db.commit()
    return data


@pages.get("/research", response_class=HTMLResponse)
def research_page(request: Request,
                  user: Annotated[User, Depends(allow("research.export"))]) -> HTMLResponse:
    return render(request, "research.html", {"report": None, "error": ""})


@api.get("/research/export", responses=AUTH)
def research_export(db: DbDep, audit: AuditorDep, settings: SettingsDep,
                    user: Annotated[User, Depends(allow("research.export"))],
                    frame: Literal["administrations", "responses", "episodes"] =
                    "administrations",
                    format: Literal["csv", "json", "fhir"] = "csv") -> Response:
    """Pseudonymised tidy data of the caller's clinic (CSV or JSON), or a FHIR Bundle."""
    data = _data(db, settings, user, audit, f"{frame}.{format}")
    if format == "fhir":
        return JSONResponse(service.export_fhir(data), media_type="application/fhir+json")
    df = service.export_frame(data, frame=frame)
    if format == "json":
        return Response(df.to_json(orient="records", date_format="iso"),
                        media_type="application/json")
    return Response(df.to_csv(index=False), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="bordin-{frame}.csv"'})


class AnalysisIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    alliance: str = Field(default="wai_sr", max_length=40)
    outcome: str = Field(default="phq9", max_length=40)
    window: Literal["early", "mid", "late"] = "early"


@api.post("/research/analyses", responses={**AUTH, 422: {"description": "Cannot be estimated"}})
def research_analysis_api(body: AnalysisIn, db: DbDep, audit: AuditorDep, settings: SettingsDep,
                          user: Annotated[User, Depends(allow("research.analyse"))]
                          ) -> dict[str, Any]:
    """Alliance-outcome correlations (total and partial) on the pseudonymised data."""
    data = _data(db, settings, user, audit, "alliance_outcome")
    res = service.run_alliance_outcome(data, alliance=body.alliance, outcome=body.outcome,
                                       window=body.window)
    return res.to_dict()


@pages.post("/research/analyses", response_class=HTMLResponse)
def research_analysis_page(request: Request, db: DbDep, audit: AuditorDep,
                           settings: SettingsDep,
                           user: Annotated[User, Depends(allow("research.analyse"))],
                           alliance: Annotated[str, Form(max_length=40)] = "wai_sr",
                           outcome: Annotated[str, Form(max_length=40)] = "phq9",
                           window: Annotated[str, Form(max_length=10)] = "early"
                           ) -> HTMLResponse:
    data = _data(db, settings, user, audit, "alliance_outcome")
    try:
        res = service.run_alliance_outcome(data, alliance=alliance, outcome=outcome,
                                           window=window)
    except BordinError as exc:
        return render(request, "research.html", {"report": None, "error": str(exc)},
                      status_code=422)
    table = res.summary().to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                  classes="report", border=0)
    img = ""
    try:
        fig = res.plot()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        img = base64.b64encode(buf.getvalue()).decode()
    except Exception:  # a plot is optional in the report; the table carries the numbers
        img = ""
    return render(request, "research.html", {"report": {"table": table, "img": img,
                                                        "alliance": alliance,
                                                        "outcome": outcome, "window": window},
                                             "error": ""})
