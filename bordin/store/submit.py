"""Submitting one completed questionnaire: validate, score, store, once.

A submission is one transaction: the therapy session (created on first use),
the administration, its item responses and its scores are written together or
not at all. The idempotency key makes a retried submission harmless: the same
key with the same payload returns the stored administration; the same key with
a different payload is a :class:`~bordin.errors.ConflictError`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bordin.errors import ConflictError, InputError, NotFoundError
from bordin.instruments import registry, score
from bordin.instruments.scoring import Score as InstrumentScore
from bordin.instruments.spec import InstrumentSpec
from bordin.store.base import utcnow
from bordin.store.db import WRITE
from bordin.store.models.core import (
    Administration,
    Clinician,
    Episode,
    ItemResponse,
    Score,
    TherapySession,
)

__all__ = [
    "MAX_KEY_LENGTH",
    "TARGET_VALUES",
    "ItemValue",
    "ScoreValue",
    "StoredAdministration",
    "canonical_responses",
    "check_target",
    "payload_hash",
    "store_administration",
    "submit_administration",
]

MAX_KEY_LENGTH = 200
TARGET_VALUES = ("clinician", "programme", "staff", "group")


def check_target(spec: InstrumentSpec, target: str | None) -> str | None:
    """Return the target of an administration of ``spec`` (its default when ``None``).

    Alliance instruments may be given about any target (a clinician, the
    programme, a staff member, a group); other instruments take their spec's.
    """
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return spec.target
    allowed = TARGET_VALUES if spec.kind == "alliance" else (spec.target,)
    if target not in allowed:
        shown = " or ".join(repr(a) for a in allowed if a) or "no target"
        raise InputError(field="target", value=target, allowed=shown, context=spec.id)
    return target


def canonical_responses(
    spec: InstrumentSpec, responses: Mapping[Any, Any]
) -> dict[str, float | None]:
    """Map responses onto every item id of ``spec`` (``None`` for a missing item).

    Raises :class:`InputError` for an unknown item; values are checked by scoring.
    """
    out: dict[str, float | None] = dict.fromkeys(spec.item_ids)
    for key, value in responses.items():
        item_id = spec.resolve_item_id(key)
        if item_id is None:
            raise InputError(
                field="item", value=key, allowed=f"an item of {spec.id}", context=spec.id
            )
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out[item_id] = None
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(
                field=item_id, value=value, allowed=spec.item(item_id).scale.describe(),
                context=spec.id,
            )
        else:
            out[item_id] = float(value)
    return out


def _utc(value: datetime, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InputError(field=field, value=value, allowed="a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def payload_hash(
    *,
    episode: str | int,
    session_number: int,
    instrument_id: str,
    version: str,
    rater: str,
    target: str | None,
    target_ref: str | None,
    rater_clinician: str | int | None,
    authored_at: datetime,
    responses: Mapping[str, float | None],
) -> str:
    """A SHA-256 digest of what an administration says, to tell a retry from a conflict."""
    body = {
        "episode": str(episode),
        "session": int(session_number),
        "instrument": instrument_id,
        "version": version,
        "rater": rater,
        "target": target,
        "target_ref": target_ref,
        "rater_clinician": None if rater_clinician is None else str(rater_clinician),
        "authored_at": _utc(authored_at, field="authored_at").isoformat(),
        "responses": {k: responses[k] for k in sorted(responses)},
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def score_rows(administration_id: int, sc: InstrumentScore) -> list[dict[str, Any]]:
    """Rows of the ``scores`` table for one scored administration."""
    rows = [
        {
            "administration_id": administration_id,
            "scale": "total",
            "value": _finite(sc.total),
            "band": sc.band,
            "prorated": bool(sc.prorated),
        }
    ]
    for name, value in sc.subscales.items():
        rows.append(
            {
                "administration_id": administration_id,
                "scale": name,
                "value": _finite(value),
                "band": None,
                "prorated": bool(sc.prorated),
            }
        )
    return rows


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise InputError(
            field="idempotency_key", value=key,
            allowed=f"a non-empty string of at most {MAX_KEY_LENGTH} characters",
        )
    return key


def _check_session_number(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(field="session_number", value=n, allowed="an integer 0 or greater")
    return n


@dataclass(frozen=True, slots=True)
class ItemValue:
    """One stored item response."""

    item: str
    value: float | None


@dataclass(frozen=True, slots=True)
class ScoreValue:
    """One stored score."""

    scale: str
    value: float | None
    band: str | None
    prorated: bool


@dataclass(frozen=True, slots=True)
class StoredAdministration:
    """What :func:`store_administration` wrote (or found under the key, ``replayed``)."""

    id: int
    episode_id: int
    session_id: int
    session_number: int
    instrument_id: str
    rater: str
    target: str | None
    risk_items: list[str]
    responses: list[ItemValue]
    scores: list[ScoreValue]
    replayed: bool = False


def submit_administration(
    db: Session,
    *,
    episode_id: int,
    session_number: int,
    instrument_id: str,
    rater: str,
    target: str | None,
    responses: Mapping[Any, Any],
    authored_at: datetime,
    idempotency_key: str,
    rater_clinician_id: int | None = None,
    target_ref: str | None = None,
    session_date: date | None = None,
    commit: bool = True,
) -> Administration:
    """Validate, score and store one completed questionnaire, exactly once.

    Parameters
    ----------
    db
        An open session. With ``commit=True`` (default) the submission is
        committed here, and on any error the session is rolled back. With
        ``commit=False`` the caller commits (for instance together with an
        audit record). A failure still leaves nothing of this submission
        behind: on PostgreSQL any failed statement aborts the transaction (the
        caller can only roll back), on SQLite the writes are made inside a
        savepoint. A refused key (a conflict) writes nothing.
    episode_id
        The episode of care (its database id).
    session_number
        The session's number in the episode (0 for intake); the session is
        created on first use.
    instrument_id
        An instrument of :data:`bordin.instruments.registry` (``"wai_sr"``).
    rater
        ``"patient"``, ``"clinician"`` or ``"observer"``; must be a rater the
        instrument exists for.
    target
        Whom the rating is about (``"clinician"``, ``"programme"``, ``"staff"``,
        ``"group"``); ``None`` takes the instrument's own.
    responses
        Item id (or bare item number) to raw value; ``None`` for a skipped item.
    authored_at
        When the questionnaire was completed (naive datetimes are read as UTC).
    idempotency_key
        Unique per submission; a retry must send the same key.
    rater_clinician_id
        The clinician or observer who rated, for ratings not made by the patient.
    target_ref
        Which clinician, staff member, group or programme the rating is about.
    session_date
        The session's date, stored when the session is created.
    commit
        Commit the transaction here (see ``db``).

    Returns
    -------
    Administration
        The stored administration (its ``responses`` and ``scores`` load on use).

    Raises
    ------
    InputError
        An unknown instrument, a rater or target the instrument does not
        allow, an item out of range, too many missing items, a bad key.
    NotFoundError
        The episode or the rating clinician does not exist.
    ConflictError
        The key was used before for a different payload.

    See Also
    --------
    store_administration : the same write, returning plain values (no ORM objects).
    """
    try:
        stored = store_administration(
            db,
            episode_id=episode_id,
            session_number=session_number,
            instrument_id=instrument_id,
            rater=rater,
            target=target,
            responses=responses,
            authored_at=authored_at,
            idempotency_key=idempotency_key,
            rater_clinician_id=rater_clinician_id,
            target_ref=target_ref,
            session_date=session_date,
        )
        adm = db.get(Administration, stored.id)
        if adm is None:  # pragma: no cover - written in this transaction
            raise NotFoundError(f"administration {stored.id} vanished")
        if commit:
            db.commit()
        return adm
    except BaseException:
        if commit:
            db.rollback()
        raise


def store_administration(
    db: Session,
    *,
    episode_id: int,
    session_number: int,
    instrument_id: str,
    rater: str,
    target: str | None,
    responses: Mapping[Any, Any],
    authored_at: datetime,
    idempotency_key: str,
    rater_clinician_id: int | None = None,
    target_ref: str | None = None,
    session_date: date | None = None,
) -> StoredAdministration:
    """The write of :func:`submit_administration`, inside the caller's transaction.

    Takes the same arguments (without ``commit``: the caller commits or rolls
    back) and raises the same errors, but returns plain values instead of ORM
    objects. On PostgreSQL the whole write is one statement (the session upsert,
    the administration ``INSERT ... ON CONFLICT DO NOTHING`` on the key, its items
    and scores, as data-modifying CTEs): one round trip and no savepoint. On
    SQLite, in-process, it is a few pre-built statements inside a savepoint. This
    is the path a busy clinic's patient forms take; there the ORM's and the
    driver's per-statement work costs more than the database.

    Returns
    -------
    StoredAdministration
        What was written; for a retry under the same key with the same payload,
        what was stored before (``replayed=True``).
    """
    # Everything that needs no database first, so bad input costs no lock.
    key = _check_key(idempotency_key)
    number = _check_session_number(session_number)
    spec = registry.get(instrument_id)
    if rater not in spec.raters:
        raise InputError(
            field="rater", value=rater, allowed=" or ".join(spec.raters), context=spec.id
        )
    tgt = check_target(spec, target)
    if not isinstance(responses, Mapping):
        raise InputError(
            field="responses", value=type(responses).__name__,
            allowed="a mapping of item id to value", context=spec.id,
        )
    answers = canonical_responses(spec, responses)
    scored = score(spec, answers)
    when = _utc(authored_at, field="authored_at")
    if rater == "patient" and rater_clinician_id is not None:
        raise InputError(
            field="rater_clinician_id", value=rater_clinician_id,
            allowed="None when the patient is the rater",
        )
    digest = payload_hash(
        episode=episode_id, session_number=number, instrument_id=spec.id,
        version=spec.version, rater=rater, target=tgt, target_ref=target_ref,
        rater_clinician=rater_clinician_id, authored_at=when, responses=answers,
    )
    # Every row is built before the first write, so that nothing but the database can
    # fail between the writes (the administration's id is filled in below).
    item_rows = [{"administration_id": 0, "item": k, "value": v} for k, v in answers.items()]
    score_rows_ = score_rows(0, scored)
    risk = list(scored.risk_items)

    if not db.in_transaction():
        # SQLite: take the write lock now (see bordin.store.db.WRITE).
        db.connection(execution_options=WRITE)
    conn = db.connection()
    sqlite_db = conn.dialect.name == "sqlite"
    if sqlite_db:
        # PostgreSQL names the missing row through the foreign key (see _missing).
        if db.get(Episode, episode_id) is None:
            raise NotFoundError(f"episode {episode_id} does not exist")
        if rater_clinician_id is not None and db.get(Clinician, rater_clinician_id) is None:
            raise NotFoundError(f"clinician {rater_clinician_id} does not exist")

    # No savepoint on PostgreSQL: the key cannot fail an insert (ON CONFLICT), and any
    # other error aborts the whole transaction there, so the caller can only roll back;
    # a savepoint would cost two more round trips. SQLite goes on after a failed
    # statement, so there a (local, cheap) savepoint undoes a partial write.
    adm_row = {
        "episode_id": episode_id, "instrument_id": spec.id,
        "instrument_version": spec.version, "rater": rater, "target": tgt,
        "target_ref": target_ref, "rater_clinician_id": rater_clinician_id,
        "authored_at": when, "idempotency_key": key, "payload_hash": digest,
        "risk_items": risk, "created_at": utcnow(),
    }
    with db.begin_nested() if sqlite_db else nullcontext(), _missing(
            episode_id=episode_id, clinician_id=rater_clinician_id):
        if sqlite_db:
            session_id, created = _sqlite_session(conn, episode_id=episode_id, number=number,
                                                  on=session_date)
            new_id = conn.execute(_SQLITE_ADMINISTRATION,
                                  {**adm_row, "session_id": session_id}).scalar()
            if new_id is not None:
                for row in item_rows + score_rows_:
                    row["administration_id"] = new_id
                conn.execute(_INSERT_ITEMS, item_rows)
                conn.execute(_INSERT_SCORES, score_rows_)
        else:
            session_id, created, new_id = conn.execute(_PG_WRITE, {
                **adm_row, "number": number, "date": session_date,
                "risk_items": json.dumps(risk),
                "items": [r["item"] for r in item_rows],
                "item_values": [r["value"] for r in item_rows],
                "scales": [r["scale"] for r in score_rows_],
                "score_values": [r["value"] for r in score_rows_],
                "bands": [r["band"] for r in score_rows_],
                "prorated": [r["prorated"] for r in score_rows_],
            }).one()
        if new_id is None:
            # The key was stored before, possibly by a transaction that committed while
            # this one waited on the key's index entry: a retry or a conflict.
            if created:
                conn.execute(_DELETE_SESSION, {"session_id": session_id})
            return _stored_by_key(db, key, digest)
    return StoredAdministration(
        id=int(new_id), episode_id=episode_id, session_id=session_id, session_number=number,
        instrument_id=spec.id, rater=rater, target=tgt, risk_items=risk,
        responses=[ItemValue(r["item"], r["value"]) for r in item_rows],
        scores=[ScoreValue(r["scale"], r["value"], r["band"], r["prorated"])
                for r in score_rows_])


@contextmanager
def _missing(*, episode_id: int, clinician_id: int | None) -> Iterator[None]:
    """Turn a foreign-key violation for the episode or the rater into NotFoundError.

    On PostgreSQL the writes themselves check that the episode and the rating
    clinician exist (a look-up first would be one more round trip per submission);
    the violated constraint names which one is missing. The transaction is then
    aborted, as after any failed statement there: the caller rolls back.
    """
    try:
        yield
    except IntegrityError as exc:
        name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
        if name.endswith("_episode_id_episodes"):
            raise NotFoundError(f"episode {episode_id} does not exist") from exc
        if name.endswith("_rater_clinician_id_clinicians"):
            raise NotFoundError(f"clinician {clinician_id} does not exist") from exc
        raise


# PostgreSQL: the whole administration in one statement (one round trip): the session
# upsert, the administration (ON CONFLICT DO NOTHING on the key), its items and its
# scores, each a data-modifying CTE fed by the one before; items and scores arrive as
# arrays. When the key is taken, "a" returns no row and nothing else is inserted.
_PG_WRITE = text("""
WITH s AS (
    INSERT INTO therapy_sessions (episode_id, number, date)
    VALUES (CAST(:episode_id AS integer), CAST(:number AS integer), CAST(:date AS date))
    ON CONFLICT (episode_id, number)
    DO UPDATE SET date = COALESCE(therapy_sessions.date, EXCLUDED.date)
    RETURNING id, (xmax = 0) AS created
), a AS (
    INSERT INTO administrations (session_id, episode_id, instrument_id, instrument_version,
                                 rater, target, target_ref, rater_clinician_id, authored_at,
                                 idempotency_key, payload_hash, risk_items, created_at)
    SELECT s.id, CAST(:episode_id AS integer), CAST(:instrument_id AS varchar),
           CAST(:instrument_version AS varchar), CAST(:rater AS varchar),
           CAST(:target AS varchar), CAST(:target_ref AS varchar),
           CAST(:rater_clinician_id AS integer), CAST(:authored_at AS timestamptz),
           CAST(:idempotency_key AS varchar), CAST(:payload_hash AS varchar),
           CAST(:risk_items AS json), CAST(:created_at AS timestamptz)
      FROM s
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), i AS (
    INSERT INTO item_responses (administration_id, item, value)
    SELECT a.id, v.item, v.value
      FROM a, unnest(CAST(:items AS varchar[]), CAST(:item_values AS float8[]))
              AS v(item, value)
), c AS (
    INSERT INTO scores (administration_id, scale, value, band, prorated)
    SELECT a.id, v.scale, v.value, v.band, v.prorated
      FROM a, unnest(CAST(:scales AS varchar[]), CAST(:score_values AS float8[]),
                     CAST(:bands AS varchar[]), CAST(:prorated AS boolean[]))
              AS v(scale, value, band, prorated)
)
SELECT s.id, s.created, (SELECT id FROM a) FROM s
""")

# SQLite (in-process, one writer at a time): pre-built statements, run one by one.
# Built once: executing a pre-built statement skips SQLAlchemy's construction and
# cache-key work. RETURNING makes SQLAlchemy send all item (score) rows as one
# multi-row INSERT; the returned keys are not used.
_ADM = Administration.__table__
_TS = TherapySession.__table__
_SQLITE_ADMINISTRATION = (sqlite.insert(_ADM).on_conflict_do_nothing(
    index_elements=["idempotency_key"]).returning(_ADM.c.id))
_SQLITE_FIND_SESSION = select(_TS.c.id, _TS.c.date).where(
    _TS.c.episode_id == bindparam("episode_id"), _TS.c.number == bindparam("number"))
_SQLITE_NEW_SESSION = insert(_TS).returning(_TS.c.id)
_SQLITE_SESSION_DATE = update(_TS).where(_TS.c.id == bindparam("session_id")).values(
    date=bindparam("new_date"))
_INSERT_ITEMS = insert(ItemResponse.__table__).returning(ItemResponse.__table__.c.item)
_INSERT_SCORES = insert(Score.__table__).returning(Score.__table__.c.scale)
_DELETE_SESSION = delete(_TS).where(_TS.c.id == bindparam("session_id"))


def _sqlite_session(conn: Connection, *, episode_id: int, number: int,
                    on: date | None) -> tuple[int, bool]:
    """Get or create the session (SQLite); return its id and whether this call created it."""
    found = conn.execute(_SQLITE_FIND_SESSION, {"episode_id": episode_id,
                                                "number": number}).first()
    if found is None:
        new = conn.execute(_SQLITE_NEW_SESSION, {"episode_id": episode_id, "number": number,
                                                 "date": on})
        return int(new.scalar_one()), True
    if found.date is None and on is not None:
        conn.execute(_SQLITE_SESSION_DATE, {"session_id": found.id, "new_date": on})
    return int(found.id), False


def _stored_by_key(db: Session, key: str, digest: str) -> StoredAdministration:
    stored = _by_key(db, key)
    if stored is None:  # pragma: no cover - the conflicting row cannot vanish
        raise ConflictError(f"idempotency key {key!r} is being stored; retry")
    _same_or_conflict(stored, digest, key)
    return StoredAdministration(
        id=stored.id, episode_id=stored.episode_id, session_id=stored.session_id,
        session_number=stored.session.number, instrument_id=stored.instrument_id,
        rater=stored.rater, target=stored.target, risk_items=list(stored.risk_items or []),
        responses=[ItemValue(r.item, r.value) for r in stored.responses],
        scores=[ScoreValue(r.scale, r.value, r.band, r.prorated) for r in stored.scores],
        replayed=True)


def _by_key(db: Session, key: str) -> Administration | None:
    return db.scalars(
        select(Administration).where(Administration.idempotency_key == key)
    ).one_or_none()


def _same_or_conflict(stored: Administration, digest: str, key: str) -> Administration:
    if stored.payload_hash != digest:
        raise ConflictError(
            f"idempotency key {key!r} was already used for a different submission "
            f"(administration {stored.id}); send a new key for a new questionnaire"
        )
    return stored


