"""Core tables: who was treated, by whom, and what they answered.

Organizations employ clinicians and see patients; an episode is one course of
care of a patient with a clinician; a therapy session belongs to an episode; an
administration is one completed questionnaire in a session, with its item
responses and the scores computed from them.

Patients are pseudonymous: the store holds a code, never a name. Every table
has an integer surrogate key; the ``code`` columns are the identifiers people
and files use (they appear in exports and in FHIR resource ids, so they are
limited to letters, digits, ``-`` and ``.``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bordin.store.base import Base, utcnow

__all__ = [
    "CLINICIAN_ROLES",
    "EPISODE_FORMATS",
    "RATERS",
    "TARGETS",
    "Administration",
    "Clinician",
    "Episode",
    "ItemResponse",
    "Organization",
    "Patient",
    "Score",
    "TherapySession",
]

CLINICIAN_ROLES = ("therapist", "psychiatrist", "staff", "observer", "supervisor")
EPISODE_FORMATS = ("individual", "couple", "family", "group", "internet", "medication")
RATERS = ("patient", "clinician", "observer")
TARGETS = ("clinician", "programme", "staff", "group", "self")


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Organization(Base):
    """A clinic, service or programme provider."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    clinicians: Mapped[list[Clinician]] = relationship(back_populates="organization")


class Clinician(Base):
    """Anyone who treats, rates or supervises: therapist, psychiatrist, staff, observer."""

    __tablename__ = "clinicians"
    __table_args__ = (CheckConstraint(_in("role", CLINICIAN_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    role: Mapped[str] = mapped_column(String(20), default="therapist")
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="clinicians")


class Patient(Base):
    """A patient, known to the store only by a pseudonymous code."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship()
    episodes: Mapped[list[Episode]] = relationship(back_populates="patient")


class Episode(Base):
    """One course of care of a patient with a clinician."""

    __tablename__ = "episodes"
    __table_args__ = (
        CheckConstraint(_in("format", EPISODE_FORMATS), name="format"),
        CheckConstraint('"end" IS NULL OR "end" >= start', name="period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("clinicians.id", ondelete="RESTRICT"), index=True
    )
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    treatment: Mapped[str | None] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(20), default="individual")
    diagnosis: Mapped[str | None] = mapped_column(String(20))
    start: Mapped[date | None] = mapped_column(Date)
    end: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="episodes")
    clinician: Mapped[Clinician] = relationship()
    organization: Mapped[Organization] = relationship()
    sessions: Mapped[list[TherapySession]] = relationship(
        back_populates="episode", order_by="TherapySession.number"
    )


class TherapySession(Base):
    """A numbered session of an episode (1, 2, ...), with its date when known."""

    __tablename__ = "therapy_sessions"
    __table_args__ = (
        UniqueConstraint("episode_id", "number"),
        CheckConstraint("number >= 0", name="number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    date: Mapped[date | None] = mapped_column(Date)

    episode: Mapped[Episode] = relationship(back_populates="sessions")
    administrations: Mapped[list[Administration]] = relationship(back_populates="session")


class Administration(Base):
    """One completed questionnaire: an instrument, a rater, a target, a session.

    ``idempotency_key`` is unique: a retried submission finds the stored row
    instead of adding a second one. ``payload_hash`` is a digest of what was
    submitted, so that a different payload under a used key is told apart from
    a retry.
    """

    __tablename__ = "administrations"
    __table_args__ = (
        CheckConstraint(_in("rater", RATERS), name="rater"),
        CheckConstraint(f"target IS NULL OR {_in('target', TARGETS)}", name="target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("therapy_sessions.id", ondelete="CASCADE"), index=True
    )
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    instrument_id: Mapped[str] = mapped_column(String(64), index=True)
    instrument_version: Mapped[str] = mapped_column(String(32))
    rater: Mapped[str] = mapped_column(String(20))
    target: Mapped[str | None] = mapped_column(String(20))
    target_ref: Mapped[str | None] = mapped_column(String(100))
    rater_clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="RESTRICT"), index=True
    )
    authored_at: Mapped[datetime]
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    risk_items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    session: Mapped[TherapySession] = relationship(back_populates="administrations")
    episode: Mapped[Episode] = relationship()
    rater_clinician: Mapped[Clinician | None] = relationship()
    responses: Mapped[list[ItemResponse]] = relationship(
        back_populates="administration", cascade="all, delete-orphan"
    )
    scores: Mapped[list[Score]] = relationship(
        back_populates="administration", cascade="all, delete-orphan"
    )


class ItemResponse(Base):
    """The answer to one item of an administration (``None`` when skipped).

    No separate index on ``administration_id``: it leads the primary key, whose index
    serves look-ups by administration.
    """

    __tablename__ = "item_responses"

    administration_id: Mapped[int] = mapped_column(
        ForeignKey("administrations.id", ondelete="CASCADE"), primary_key=True
    )
    item: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)

    administration: Mapped[Administration] = relationship(back_populates="responses")


class Score(Base):
    """A score of an administration: ``total`` or a subscale, with band and proration."""

    __tablename__ = "scores"

    # Indexed by the primary key it leads (see ItemResponse).
    administration_id: Mapped[int] = mapped_column(
        ForeignKey("administrations.id", ondelete="CASCADE"), primary_key=True
    )
    scale: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(64))
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)

    administration: Mapped[Administration] = relationship(back_populates="scores")
