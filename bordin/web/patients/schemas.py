"""API shapes of the caseload and episode views."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["AlertOut", "BandRow", "CaseAlert", "CaseItem", "CaseloadOut", "EpisodeOut",
           "ExpectedRecoveryOut", "RuptureOut", "ScoreRow"]


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
    emergency_until: datetime | None = Field(
        default=None, description="When the caller's break-glass access to this patient "
        "ends; null when the patient is on the caseload otherwise.")


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


class BandRow(BaseModel):
    session: int
    sessions_since_intake: int
    expected: float
    lower: float
    upper: float


class ExpectedRecoveryOut(BaseModel):
    instrument: str
    available: bool
    note: str
    coverage: float | None
    intake: float | None
    intake_session: int | None
    n_episodes: int
    higher_is_better: bool
    band: list[BandRow]
    caveats: list[str]


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
    expected_recovery: dict[str, ExpectedRecoveryOut] = Field(
        default_factory=dict,
        description="Per outcome instrument: the expected-recovery band for this patient's "
                    "intake score, fitted on the clinic's own data, or why it is missing.")
