"""Questionnaire links, schedules and clinic settings.

A :class:`QuestionnaireLink` is how a patient reaches a session's
questionnaires without an account: a single-use, expiring link whose token comes
from :func:`secrets.token_urlsafe` (256 bits) and is stored only as its SHA-256.
``used_key`` keeps the idempotency key of the submission that used it, so a
browser that retries the same submission is shown the same confirmation instead
of "already used".

A :class:`QuestionnaireSchedule` says which instrument a patient gets at which
sessions of an episode; :class:`ClinicSettings` holds per-organisation choices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from bordin.store.base import Base, utcnow

__all__ = ["ClinicSettings", "QuestionnaireLink", "QuestionnaireSchedule"]


class QuestionnaireLink(Base):
    """A single-use link to one session's questionnaires for one episode."""

    __tablename__ = "questionnaire_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    session_number: Mapped[int] = mapped_column(Integer)
    instruments: Mapped[list[Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_key: Mapped[str | None] = mapped_column(String(64), default=None)


class QuestionnaireSchedule(Base):
    """Instrument ``instrument_id`` is given at sessions ``sessions`` (or every ``every``)."""

    __tablename__ = "questionnaire_schedules"
    __table_args__ = (UniqueConstraint("episode_id", "instrument_id", "rater"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(40))
    rater: Mapped[str] = mapped_column(String(20), default="patient")
    every: Mapped[int | None] = mapped_column(Integer, default=None)
    sessions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClinicSettings(Base):
    """Per-organisation choices of the web app."""

    __tablename__ = "clinic_settings"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"),
                                                 primary_key=True)
    patients_see_results: Mapped[bool] = mapped_column(Boolean, default=False)
    # With patients_see_results: the alliance ratings' totals too, not only the symptoms'.
    patients_see_alliance: Mapped[bool] = mapped_column(Boolean, default=False,
                                                        server_default=false())
    link_ttl_hours: Mapped[int] = mapped_column(Integer, default=168)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
