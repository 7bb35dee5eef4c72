"""API shapes of authentication."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LoginIn", "LoginOut", "MeOut"]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=1000)


class LoginOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'.")
    csrf_token: str = Field(description="Needed only when the session cookie is used instead.")
    expires_at: datetime
    role: str


class MeOut(BaseModel):
    username: str
    role: str
    organization_id: int
    clinician_id: int | None
