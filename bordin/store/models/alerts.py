"""Alerts raised on an episode: risk items, ruptures, not-on-track courses.

The monitor decides when an alert is raised; this table keeps what it found
(``evidence``), the rule and parameters that found it, and what a clinician
did about it. ``dedupe_key`` is unique so the same finding is raised once;
``version`` is an optimistic-concurrency counter (SQLAlchemy's
``version_id_col``): two clinicians acknowledging the same alert at once
cannot silently overwrite each other, the second gets a stale-data error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bordin.store.base import Base, utcnow
from bordin.store.models.core import Clinician, Episode

__all__ = ["ALERT_PATHWAYS", "ALERT_STATES", "Alert"]

ALERT_STATES = ("open", "acknowledged", "resolved")
ALERT_PATHWAYS = ("care", "expectancy", "specific")


class Alert(Base):
    """A finding about an episode that a clinician should see."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint("state IN ('open', 'acknowledged', 'resolved')", name="state"),
        CheckConstraint(
            "pathway IS NULL OR pathway IN ('care', 'expectancy', 'specific')", name="pathway"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    severity: Mapped[str] = mapped_column(String(20), default="warning")
    pathway: Mapped[str | None] = mapped_column(String(20))
    suggestions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinicians.id", ondelete="SET NULL"), index=True
    )
    acknowledged_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    episode: Mapped[Episode] = relationship()
    acknowledged_by: Mapped[Clinician | None] = relationship()

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read by SQLAlchemy
