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
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, insert, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from bordin.errors import ConflictError, InputError, NotFoundError
from bordin.instruments import registry, score
from bordin.instruments.scoring import Score as InstrumentScore
from bordin.instruments.spec import InstrumentSpec
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
    "canonical_responses",
    "check_target",
    "payload_hash",
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
        The stored administration, with ``responses`` and ``scores``.

    Raises
    ------
    InputError
        An unknown instrument, a rater or target the instrument does not
        allow, an item out of range, too many missing items, a bad key.
    NotFoundError
        The episode or the rating clinician does not exist.
    ConflictError
        The key was used before for a different payload.
    """
    try:
        adm = _submit(
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
        if commit:
            db.commit()
        return adm
    except BaseException:
        if commit:
            db.rollback()
        raise


def _submit(
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
    rater_clinician_id: int | None,
    target_ref: str | None,
    session_date: date | None,
) -> Administration:
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

    if not db.in_transaction():
        # SQLite: take the write lock now (see bordin.store.db.WRITE).
        db.connection(execution_options=WRITE)

    # No look-up of the key first: the INSERT below is ON CONFLICT DO NOTHING, and a
    # stored key (a retry, or a conflict) is read only when it is found there.
    if db.get(Episode, episode_id) is None:
        raise NotFoundError(f"episode {episode_id} does not exist")
    if rater_clinician_id is not None and db.get(Clinician, rater_clinician_id) is None:
        raise NotFoundError(f"clinician {rater_clinician_id} does not exist")

    # Every row is built before the first write, so that nothing but the database can
    # fail between the writes (the id of the administration is filled in below).
    item_rows = [{"administration_id": 0, "item": k, "value": v} for k, v in answers.items()]
    score_template = score_rows(0, scored)

    # No savepoint on PostgreSQL: the inserts below cannot fail on the key (ON CONFLICT),
    # and any other error aborts the whole transaction there, so the caller can only
    # roll back; a savepoint would cost two more round trips per submission. SQLite keeps
    # going after a failed statement, so there a (local, cheap) savepoint keeps a failure
    # from leaving part of this submission in the caller's transaction.
    atomic = db.begin_nested() if db.get_bind().dialect.name == "sqlite" else nullcontext()
    with atomic:
        session_id, created = _session(db, episode_id=episode_id, number=number, on=session_date)
        adm = db.scalars(
            _upsert(db, Administration)
            .values(
                session_id=session_id,
                episode_id=episode_id,
                instrument_id=spec.id,
                instrument_version=spec.version,
                rater=rater,
                target=tgt,
                target_ref=target_ref,
                rater_clinician_id=rater_clinician_id,
                authored_at=when,
                idempotency_key=key,
                payload_hash=digest,
                risk_items=list(scored.risk_items),
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Administration)
        ).one_or_none()
        if adm is None:
            # The key was stored before, possibly by a transaction that committed while
            # this one waited on the key's index entry: a retry or a conflict.
            if created:
                db.execute(delete(TherapySession).where(TherapySession.id == session_id))
            stored = _by_key(db, key)
            if stored is None:  # pragma: no cover - the conflicting row cannot vanish
                raise ConflictError(f"idempotency key {key!r} is being stored; retry")
            return _same_or_conflict(stored, digest, key)
        # One multi-row INSERT each for the items and the scores; the rows come back as
        # ORM objects, set as the loaded collections so that nothing is lazy-loaded.
        for row in item_rows + score_template:
            row["administration_id"] = adm.id
        items = db.scalars(insert(ItemResponse).returning(ItemResponse), item_rows).all()
        scores = db.scalars(insert(Score).returning(Score), score_template).all()
        set_committed_value(adm, "responses", list(items))
        set_committed_value(adm, "scores", list(scores))
    return adm


def _upsert(db: Session, table: type[Any]) -> Any:
    """An INSERT that can take ``ON CONFLICT`` on this session's database."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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


def _session(db: Session, *, episode_id: int, number: int, on: date | None) -> tuple[int, bool]:
    """Get or create the session; return its id and whether this call created it.

    On PostgreSQL one statement: ``ON CONFLICT DO UPDATE`` (rather than ``DO NOTHING``)
    so that the row comes back either way and a missing date is filled in; a concurrent
    creator of the same session is waited for, not failed.
    """
    if db.get_bind().dialect.name == "sqlite":
        # In-process and one writer at a time (BEGIN IMMEDIATE): look, then insert.
        found = db.execute(select(TherapySession.id, TherapySession.date).where(
            TherapySession.episode_id == episode_id, TherapySession.number == number)).first()
        if found is None:
            new = db.execute(insert(TherapySession).values(
                episode_id=episode_id, number=number, date=on).returning(TherapySession.id))
            return int(new.scalar_one()), True
        if found.date is None and on is not None:
            db.execute(update(TherapySession).where(TherapySession.id == found.id)
                       .values(date=on))
        return int(found.id), False
    stmt = postgresql.insert(TherapySession).values(episode_id=episode_id, number=number,
                                                    date=on)
    stmt = stmt.on_conflict_do_update(
        index_elements=["episode_id", "number"],
        set_={"date": func.coalesce(TherapySession.date, stmt.excluded.date)},
    )
    # xmax is 0 on a row version this statement inserted (PostgreSQL's own idiom).
    row = db.execute(stmt.returning(TherapySession.id, literal_column("xmax = 0"))).one()
    return int(row[0]), bool(row[1])
