"""Questionnaire links, schedules and the patient's submission.

A link's token is ``secrets.token_urlsafe(32)`` (256 bits from the OS CSPRNG, not
a UUID: ASVS 11.5.1); only its SHA-256 is stored. A submission is one
transaction: every administration of the link, the link marked used and the
audit event commit together or not at all. The form carries an idempotency key
made when it was shown; a browser that retries the same POST gets the same
confirmation (the store returns the administrations already saved under that
key), and a second, different submission through a used link is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, false, func, select, update
from sqlalchemy.orm import Session

from bordin.errors import BordinError, InputError
from bordin.instruments import registry
from bordin.instruments.spec import InstrumentSpec
from bordin.store.models.core import Administration, Episode
from bordin.store.models.links import ClinicSettings, QuestionnaireLink, QuestionnaireSchedule
from bordin.store.submit import StoredAdministration, store_administration
from bordin.web.auth.sessions import hash_token, now

__all__ = ["DEFAULT_INSTRUMENTS", "LinkRow", "LinkState", "claim_link", "create_link",
           "due_instruments", "find_link", "patient_results", "schedules_of", "set_schedule",
           "submit_link"]

DEFAULT_INSTRUMENTS = ("wai_sr", "phq9")
MAX_SESSION = 1000


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A questionnaire link as read for the patient's pages (plain values)."""

    id: int
    episode_id: int
    session_number: int
    instruments: list[str]
    expires_at: datetime
    used_at: datetime | None
    used_key: str | None
    patient_id: int
    organization_id: int
    patients_see_results: bool
    patients_see_alliance: bool


@dataclass(frozen=True, slots=True)
class LinkState:
    """A looked-up link: ``status`` is ``ok``, ``used``, ``expired`` or ``unknown``."""

    status: str
    link: LinkRow | None = None


def _patient_instruments() -> list[str]:
    return [s.id for s in registry.all() if "patient" in s.raters]


def _spec(instrument_id: str) -> InstrumentSpec:
    spec = registry.get(instrument_id)
    if "patient" not in spec.raters:
        raise InputError(field="instrument", value=instrument_id,
                         allowed="an instrument rated by the patient: "
                         + ", ".join(_patient_instruments()))
    return spec


def schedules_of(db: Session, *, episode_id: int) -> list[QuestionnaireSchedule]:
    """The episode's schedules, by instrument."""
    return list(db.scalars(select(QuestionnaireSchedule)
                           .where(QuestionnaireSchedule.episode_id == episode_id)
                           .order_by(QuestionnaireSchedule.instrument_id)))


def set_schedule(db: Session, *, episode_id: int, instrument_id: str,
                 sessions: list[int], every: int | None) -> QuestionnaireSchedule | None:
    """Give ``instrument_id`` at ``sessions`` and/or every ``every`` sessions.

    Both empty removes the instrument from the schedule.
    """
    _spec(instrument_id)
    bad = [s for s in sessions if not (isinstance(s, int) and 0 <= s <= MAX_SESSION)]
    if bad:
        raise InputError(field="sessions", value=bad[0],
                         allowed=f"session numbers from 0 to {MAX_SESSION}")
    if every is not None and not 1 <= every <= 52:
        raise InputError(field="every", value=every, allowed="an integer from 1 to 52, or empty")
    row = db.scalar(select(QuestionnaireSchedule).where(
        QuestionnaireSchedule.episode_id == episode_id,
        QuestionnaireSchedule.instrument_id == instrument_id,
        QuestionnaireSchedule.rater == "patient"))
    if not sessions and every is None:
        if row is not None:
            db.delete(row)
        return None
    if row is None:
        row = QuestionnaireSchedule(episode_id=episode_id, instrument_id=instrument_id,
                                    rater="patient")
        db.add(row)
    row.sessions = sorted(set(sessions))
    row.every = every
    db.flush()
    return row


def due_instruments(db: Session, *, episode_id: int, session_number: int) -> list[str]:
    """Instruments scheduled for a session (the defaults when the episode has no schedule)."""
    rows = schedules_of(db, episode_id=episode_id)
    if not rows:
        return [i for i in DEFAULT_INSTRUMENTS if i in registry.ids()]
    return [r.instrument_id for r in rows
            if session_number in (r.sessions or [])
            or (r.every and session_number >= 1 and (session_number - 1) % r.every == 0)]


def create_link(db: Session, *, episode: Episode, session_number: int,
                instruments: list[str] | None, created_by_id: int | None,
                ttl_hours: int) -> tuple[str, QuestionnaireLink]:
    """Make a single-use link; return the token (shown once) and the row. Caller commits."""
    if not 0 <= session_number <= MAX_SESSION:
        raise InputError(field="session_number", value=session_number,
                         allowed=f"an integer from 0 to {MAX_SESSION}")
    chosen = instruments or due_instruments(db, episode_id=episode.id,
                                            session_number=session_number)
    if not chosen:
        raise InputError(field="instruments", value=[],
                         allowed="at least one instrument (none is scheduled for this session)")
    for i in chosen:
        _spec(i)
    token = secrets.token_urlsafe(32)
    link = QuestionnaireLink(token_hash=hash_token(token), episode_id=episode.id,
                             session_number=session_number, instruments=list(dict.fromkeys(chosen)),
                             created_by_id=created_by_id, created_at=now(),
                             expires_at=now() + timedelta(hours=ttl_hours))
    db.add(link)
    db.flush()
    return token, link


def find_link(db: Session, *, token: str, lock: bool = False) -> LinkState:
    """Look a token up, with its episode's patient and the clinic's settings, in one query.

    ``lock`` takes the link's row lock (PostgreSQL) for the submission. The row is
    read as plain values (no ORM objects: this is on every patient request).
    """
    if not token or len(token) > 100:
        return LinkState("unknown")
    stmt = _FIND_LOCKED if lock and db.get_bind().dialect.name == "postgresql" else _FIND
    row = db.connection().execute(stmt, {"token_hash": hash_token(token)}).first()
    if row is None:
        return LinkState("unknown")
    link = LinkRow(**row._mapping)
    if link.used_at is not None:
        return LinkState("used", link)
    expires = link.expires_at if link.expires_at.tzinfo else link.expires_at.replace(tzinfo=UTC)
    if now() >= expires:
        return LinkState("expired", link)
    return LinkState("ok", link)


_LINKS = QuestionnaireLink.__table__
_EPISODES = Episode.__table__
_SETTINGS = ClinicSettings.__table__
# What LinkRow holds: the link, its patient and organisation, and whether the clinic lets
# patients see their results (no settings row: no). Read and claim return the same.
_LINK_COLUMNS = (
    _LINKS.c.id, _LINKS.c.episode_id, _LINKS.c.session_number, _LINKS.c.instruments,
    _LINKS.c.expires_at, _LINKS.c.used_at, _LINKS.c.used_key, _EPISODES.c.patient_id,
    _EPISODES.c.organization_id,
    *(func.coalesce(select(_SETTINGS.c[name])
                    .where(_SETTINGS.c.organization_id == _EPISODES.c.organization_id)
                    .scalar_subquery(), false()).label(name)
      for name in ("patients_see_results", "patients_see_alliance")),
)


def _find_statement() -> Select[Any]:
    return (select(*_LINK_COLUMNS)
            .join(_EPISODES, _EPISODES.c.id == _LINKS.c.episode_id)
            .where(_LINKS.c.token_hash == bindparam("token_hash")))


_FIND = _find_statement()
_FIND_LOCKED = _FIND.with_for_update(of=_LINKS)


def claim_link(db: Session, *, token: str, key: str) -> LinkState:
    """Mark a usable link used under ``key`` and return it; else say why it is not usable.

    On PostgreSQL one ``UPDATE ... RETURNING`` both claims the link (its row lock is
    held to the commit, so a concurrent submission of the same link waits and then
    finds it used) and reads the patient and the clinic's setting. A rolled-back
    submission (a wrong answer) un-claims it. When nothing is claimed, the link is
    read again to tell used (with which key), expired and unknown apart.
    """
    if not token or len(token) > 100:
        return LinkState("unknown")
    if not key or len(key) > 64:
        raise InputError(field="idempotency_key", value=key, allowed="1 to 64 characters")
    params = {"token": hash_token(token), "at": now(), "key": key}
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        row = conn.execute(_CLAIM, params).first()
        if row is not None:
            return LinkState("ok", LinkRow(**row._mapping))
        return find_link(db, token=token, lock=True)
    # SQLite (one writer at a time holds the database): read, then mark.
    st = find_link(db, token=token)
    if st.status == "ok":
        conn.execute(_MARK_USED, {"link_id": st.link.id, "at": params["at"], "key": key})
    return st


def _claim_statement() -> Any:
    return (update(_LINKS)
            .where(_LINKS.c.token_hash == bindparam("token"), _LINKS.c.used_at.is_(None),
                   _LINKS.c.expires_at > bindparam("at"),
                   _EPISODES.c.id == _LINKS.c.episode_id)
            .values(used_at=bindparam("at"), used_key=bindparam("key"))
            .returning(*_LINK_COLUMNS))


_MARK_USED = (update(_LINKS).where(_LINKS.c.id == bindparam("link_id"))
              .values(used_at=bindparam("at"), used_key=bindparam("key")))
_CLAIM = _claim_statement()


def form_spec(link: LinkRow) -> list[dict[str, Any]]:
    """The instruments of a link with their items, scale and anchors (no licensed wording)."""
    out = []
    for inst in link.instruments:
        spec = registry.get(inst)
        try:
            wording = spec.wording()
        except BordinError:
            wording = {}
        out.append({
            "id": spec.id, "name": spec.name, "kind": spec.kind,
            "items": [{"id": it.id, "text": wording.get(it.id) or it.label,
                       "min": it.scale.min, "max": it.scale.max, "step": it.scale.step,
                       "anchors": {int(k): v for k, v in it.scale.anchors.items()}}
                      for it in spec.items],
        })
    return out


def _choices(item: dict[str, Any]) -> list[tuple[int, str]]:
    lo, hi = int(item["min"]), int(item["max"])
    return [(v, item["anchors"].get(v, "")) for v in range(lo, hi + 1)]


def parse_answers(link: LinkRow, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Answers per instrument from flat form fields ``<instrument>.<item>`` or nested JSON."""
    out: dict[str, dict[str, Any]] = {i: {} for i in link.instruments}
    for key, value in raw.items():
        if isinstance(value, dict) and key in out:
            out[key].update(value)
            continue
        inst, _, item = str(key).partition(".")
        if inst in out and item:
            if value in ("", None):
                out[inst][item] = None
                continue
            try:
                out[inst][item] = float(value)
            except (TypeError, ValueError) as exc:
                raise InputError(field=f"{inst}.{item}", value=value,
                                 allowed="a number on the item's scale") from exc
    unknown = [k for k in raw if isinstance(raw[k], dict) and k not in out]
    if unknown:
        raise InputError(field="answers", value=unknown[0],
                         allowed="instruments of this link: " + ", ".join(link.instruments))
    return out


def submit_link(db: Session, *, link: LinkRow, key: str,
                answers: dict[str, dict[str, Any]]) -> list[StoredAdministration]:
    """Store every instrument of a claimed link (:func:`claim_link`) once; caller commits."""
    when = link.used_at or now()
    return [store_administration(
        db, episode_id=link.episode_id, session_number=link.session_number,
        instrument_id=inst, rater="patient", target=None,
        responses=answers.get(inst, {}), authored_at=when,
        idempotency_key=f"link{link.id}:{key}:{inst}") for inst in link.instruments]


def replayed(db: Session, *, link: LinkRow) -> list[Administration]:
    """The administrations stored by a used link (for a retried submission)."""
    prefix = f"link{link.id}:{link.used_key}:"
    return list(db.scalars(select(Administration).where(
        Administration.idempotency_key.in_([prefix + i for i in link.instruments]))))


def patient_results(*, link: LinkRow, adms: Sequence[Administration | StoredAdministration],
                    ) -> list[dict[str, Any]] | None:
    """Totals and bands to show the patient, if the clinic lets patients see results.

    The symptom measures' only, unless the clinic also shows patients their alliance
    ratings (``patients_see_alliance``). Read from the administrations' loaded scores:
    no query.
    """
    if not link.patients_see_results:
        return None
    shown = [a for a in adms if link.patients_see_alliance
             or registry.get(a.instrument_id).kind != "alliance"]
    return [{"instrument": registry.get(a.instrument_id).name, "total": s.value,
             "band": s.band} for a in shown for s in a.scores if s.scale == "total"]


def clinic_settings(db: Session, *, organization_id: int) -> ClinicSettings:
    """The organisation's settings (defaults when none are stored)."""
    row = db.get(ClinicSettings, organization_id)
    return row or ClinicSettings(organization_id=organization_id, patients_see_results=False,
                                 patients_see_alliance=False, link_ttl_hours=168,
                                 updated_at=datetime.min)
