"""API shapes of the caseload and episode views."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["AlertOut", "CaseAlert", "CaseItem", "CaseloadOut", "EpisodeOut", "RuptureOut",
           "ScoreRow"]


class CaseAlert(BaseModel):
    id: int
    kind: str
    severity: str | None
    pathway: str | None
    attention: str
    summary: str = Field(description="What the alert found, in one or two sentences.")


class CaseItem(BaseModel):
    episode_id: int
    episode: str
    patient_id: int
    patient: str
    clinician: str
    treatment: str | None
    format: str
    diagnosis: str | None
    start: date | None
    sessions: int
    last_session: int | None
    last_authored: datetime | None
    attention: str
    alerts: list[CaseAlert]


class CaseloadOut(BaseModel):
    items: list[CaseItem]


class ScoreRow(BaseModel):
    administration_id: int
    session: int
    instrument: str
    rater: str
    target: str | None
    authored_at: datetime
    scale: str
    value: float | None
    band: str | None


class AlertOut(BaseModel):
    id: int
    kind: str
    rule: str
    severity: str
    pathway: str | None
    state: str
    summary: str = Field(description="What the alert found, in one or two sentences.")
    evidence: dict[str, Any]
    suggestions: list[Any]
    created_at: datetime
    acknowledged_at: datetime | None
    version: int


class RuptureOut(BaseModel):
    instrument: str
    rater: str
    start: int
    state: str
    repaired_at: int | None
    depth: float


class EpisodeOut(BaseModel):
    episode_id: int
    episode: str
    patient: str
    clinician: str
    treatment: str | None
    format: str
    diagnosis: str | None
    start: date | None
    end: date | None
    scores: list[ScoreRow]
    alerts: list[AlertOut]
    ruptures: list[RuptureOut]
    reliable_change_points: dict[str, float]
