"""Bulk import into the store: validate every record first, then write all or nothing.

The exchange layer (tidy files, FHIR bundles) turns what it reads into the
plain records of this module, each carrying where it came from (file and line).
:func:`import_batch` checks every record against the instruments and against
what the database already holds, collects *every* problem, and raises one
:class:`~bordin.errors.ImportRowsError` listing them all; only when there is
none does it write everything in one transaction with bulk inserts.

Administrations whose idempotency key is already stored with the same payload
are skipped (importing a file twice adds nothing); the same key with another
payload is a problem of that row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from bordin.errors import ImportRowsError, InputError
from bordin.instruments import registry, score, score_frame
from bordin.instruments.scoring import Score as InstrumentScore
from bordin.store.db import WRITE
from bordin.store.models.core import (
    CLINICIAN_ROLES,
    EPISODE_FORMATS,
    Administration,
    Clinician,
    Episode,
    ItemResponse,
    Organization,
    Patient,
    Score,
    TherapySession,
)
from bordin.store.submit import (
    MAX_KEY_LENGTH,
    canonical_responses,
    check_target,
    payload_hash,
    score_rows,
)

__all__ = [
    "AdministrationRecord",
    "ClinicianRecord",
    "EpisodeRecord",
    "ImportBatch",
    "ImportResult",
    "OrganizationRecord",
    "Where",
    "import_batch",
]

Progress = Callable[[str, int, int], None]
T = TypeVar("T")
CHUNK = 2000
# Scores given in a file are compared with Bordin's own scoring of the items.
# Files written by Bordin carry full float precision, so a tolerance of 1e-6
# (relative to the score, at least 1e-6 absolute) only forgives float
# round-off and still catches any real discrepancy (the smallest step of any
# scale is far larger).
SCORE_TOL = 1e-6


@dataclass(frozen=True)
class Where:
    """Where a record came from: a file (or bundle) and a line (or entry) number."""

    file: str
    line: int


@dataclass
class OrganizationRecord:
    code: str
    where: Where
    name: str | None = None


@dataclass
class ClinicianRecord:
    code: str
    organization: str
    where: Where
    role: str = "therapist"
    name: str | None = None


@dataclass
class EpisodeRecord:
    code: str
    patient: str
    clinician: str
    organization: str
    where: Where
    treatment: str | None = None
    format: str = "individual"
    diagnosis: str | None = None
    start: date | None = None
    end: date | None = None


@dataclass
class AdministrationRecord:
    episode: str
    session: int
    instrument: str
    rater: str
    authored_at: datetime
    where: Where
    responses: dict[str, Any]
    idempotency_key: str | None = None
    version: str | None = None
    target: str | None = None
    target_ref: str | None = None
    rater_clinician: str | None = None
    session_date: date | None = None
    expected: dict[str, float] = field(default_factory=dict)
    patient: str | None = None


@dataclass
class ImportBatch:
    """Everything one import adds; ``problems`` holds what the reader already found."""

    organizations: list[OrganizationRecord] = field(default_factory=list)
    clinicians: list[ClinicianRecord] = field(default_factory=list)
    episodes: list[EpisodeRecord] = field(default_factory=list)
    administrations: list[AdministrationRecord] = field(default_factory=list)
    problems: list[tuple[Where, str, str]] = field(default_factory=list)

    def problem(self, where: Where, field_: str, message: str) -> None:
        """Record a problem found while reading."""
        self.problems.append((where, field_, message))


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote (counts per table) and what it skipped as already stored."""

    organizations: int
    clinicians: int
    patients: int
    episodes: int
    sessions: int
    administrations: int
    skipped: int

    def to_dict(self) -> dict[str, int]:
        """The counts as a JSON-safe dict."""
        return dict(self.__dict__)

    def summary(self) -> pd.DataFrame:
        """The counts as a one-column table."""
        return pd.DataFrame({"count": pd.Series(self.to_dict())})


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _lookup(db: Session, model: Any, codes: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ordered = sorted(codes)
    for part in _chunks(ordered, 500):
        for obj in db.scalars(select(model).where(model.code.in_(part))):
            out[obj.code] = obj
    return out


def _problem_list(
    problems: list[tuple[Where, str, str]], primary: str
) -> list[tuple[int, str, str]]:
    ordered = sorted(problems, key=lambda p: (p[0].file != primary, p[0].file, p[0].line))
    out = []
    for where, fld, msg in ordered:
        prefix = "" if where.file == primary else f"{where.file}: "
        out.append((where.line, fld, f"{prefix}{msg}"))
    return out


def import_batch(
    db: Session,
    batch: ImportBatch,
    *,
    source: str,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate every record of ``batch``, then write all of it in one transaction.

    Parameters
    ----------
    db
        An open session, best without a transaction in progress (on SQLite the
        import then takes the write lock at its start); it is committed on
        success and rolled back on any error.
    batch
        The records to import.
    source
        The name of the main file or bundle, used in messages.
    progress
        Called as ``progress(stage, done, total)`` while scoring (``"scoring"``),
        checking against the store (``"validating"``) and writing (``"writing"``).

    Returns
    -------
    ImportResult

    Raises
    ------
    ImportRowsError
        Listing every bad record with its line (or entry) number and reason;
        nothing is written.
    """
    try:
        # Scoring needs no database: do it before taking the write lock.
        scored = _score_all(batch, progress=progress)
        if not db.in_transaction():
            db.connection(execution_options=WRITE)
        plan = _validate(db, batch, scored, progress=progress)
        if batch.problems:
            raise ImportRowsError(source=source, problems=_problem_list(batch.problems, source))
        result = _write(db, plan, progress=progress)
        db.commit()
        return result
    except BaseException:
        db.rollback()
        raise


@dataclass
class _Plan:
    new_orgs: dict[str, OrganizationRecord]
    new_clinicians: dict[str, ClinicianRecord]
    new_patients: dict[str, str]  # patient code -> organization code
    new_episodes: dict[str, EpisodeRecord]
    orgs: dict[str, Any]
    clinicians: dict[str, Any]
    patients: dict[str, Any]
    episodes: dict[str, Any]
    administrations: list[tuple[AdministrationRecord, Any, dict[str, float | None], str]]
    skipped: int


def _validate(
    db: Session, batch: ImportBatch, scored: list[Scored | None], *,
    progress: Progress | None,
) -> _Plan:
    prob = batch.problem
    org_codes = {o.code for o in batch.organizations}
    org_codes |= {c.organization for c in batch.clinicians}
    org_codes |= {e.organization for e in batch.episodes}
    orgs = _lookup(db, Organization, org_codes)
    new_orgs: dict[str, OrganizationRecord] = {}
    for o in batch.organizations:
        if o.code not in orgs and o.code not in new_orgs:
            new_orgs[o.code] = o

    def org_known(code: str) -> bool:
        return code in orgs or code in new_orgs

    clin_codes = {c.code for c in batch.clinicians} | {e.clinician for e in batch.episodes}
    clin_codes |= {a.rater_clinician for a in batch.administrations if a.rater_clinician}
    clinicians = _lookup(db, Clinician, clin_codes)
    new_clinicians: dict[str, ClinicianRecord] = {}
    for c in batch.clinicians:
        if c.role not in CLINICIAN_ROLES:
            prob(c.where, "role",
                 f"role = {c.role!r}; expected one of {', '.join(CLINICIAN_ROLES)}")
            continue
        if not org_known(c.organization):
            new_orgs[c.organization] = OrganizationRecord(code=c.organization, where=c.where)
        stored = clinicians.get(c.code)
        if stored is not None:
            if stored.role != c.role or stored.organization.code != c.organization:
                prob(c.where, "clinician",
                     f"clinician {c.code!r} is stored as {stored.role} of "
                     f"{stored.organization.code}, not {c.role} of {c.organization}")
            continue
        previous = new_clinicians.get(c.code)
        if previous is not None and (previous.role, previous.organization) != (
            c.role, c.organization
        ):
            prob(c.where, "clinician",
                 f"clinician {c.code!r} is given twice with different role or organization "
                 f"(first on line {previous.where.line})")
            continue
        new_clinicians.setdefault(c.code, c)

    ep_codes = {e.code for e in batch.episodes} | {a.episode for a in batch.administrations}
    episodes = _lookup(db, Episode, ep_codes)
    pat_codes = {e.patient for e in batch.episodes}
    patients = _lookup(db, Patient, pat_codes)
    new_patients: dict[str, str] = {}
    new_episodes: dict[str, EpisodeRecord] = {}
    for e in batch.episodes:
        bad = False
        if e.format not in EPISODE_FORMATS:
            prob(e.where, "format",
                 f"format = {e.format!r}; expected one of {', '.join(EPISODE_FORMATS)}")
            bad = True
        if e.start is not None and e.end is not None and e.end < e.start:
            prob(e.where, "end", f"end {e.end} is before start {e.start}")
            bad = True
        if e.clinician not in clinicians and e.clinician not in new_clinicians:
            new_clinicians[e.clinician] = ClinicianRecord(
                code=e.clinician, organization=e.organization, where=e.where
            )
        if not org_known(e.organization):
            new_orgs[e.organization] = OrganizationRecord(code=e.organization, where=e.where)
        stored_p = patients.get(e.patient)
        if stored_p is not None and stored_p.organization.code != e.organization:
            prob(e.where, "patient",
                 f"patient {e.patient!r} belongs to {stored_p.organization.code}, "
                 f"not {e.organization}")
            bad = True
        elif stored_p is None:
            other = new_patients.setdefault(e.patient, e.organization)
            if other != e.organization:
                prob(e.where, "patient",
                     f"patient {e.patient!r} is given in two organizations ({other}, "
                     f"{e.organization})")
                bad = True
        stored_e = episodes.get(e.code)
        if stored_e is not None:
            said = (e.patient, e.clinician, e.organization)
            have = (stored_e.patient.code, stored_e.clinician.code, stored_e.organization.code)
            if said != have:
                prob(e.where, "episode",
                     f"episode {e.code!r} is stored with patient, clinician, organization "
                     f"{have}, not {said}")
            continue
        previous = new_episodes.get(e.code)
        if previous is not None:
            if (previous.patient, previous.clinician, previous.organization) != (
                e.patient, e.clinician, e.organization
            ):
                prob(e.where, "episode",
                     f"episode {e.code!r} is given with another patient, clinician or "
                     f"organization on line {previous.where.line}")
            continue
        if not bad:
            new_episodes[e.code] = e

    keys_in_batch: dict[str, tuple[AdministrationRecord, str]] = {}
    stored_keys = _stored_keys(
        db, {a.idempotency_key for a in batch.administrations if a.idempotency_key}
    )
    planned: list[tuple[AdministrationRecord, Any, dict[str, float | None], str]] = []
    skipped = 0
    total = len(batch.administrations)
    for i, a in enumerate(batch.administrations, start=1):
        if progress is not None and (i % 500 == 0 or i == total):
            progress("validating", i, total)
        checked = scored[i - 1]
        if not _known_people(a, episodes, new_episodes, clinicians, new_clinicians, prob) or (
            checked is None
        ):
            continue
        spec, answers, tgt, sc = checked
        key = a.idempotency_key or _derived_key(a, spec.id)
        ep = episodes.get(a.episode)
        rc = clinicians.get(a.rater_clinician) if a.rater_clinician else None
        digest = payload_hash(
            episode=ep.id if ep is not None else f"new:{a.episode}",
            session_number=a.session, instrument_id=spec.id, version=spec.version,
            rater=a.rater, target=tgt, target_ref=a.target_ref,
            rater_clinician=(rc.id if rc is not None else
                             (f"new:{a.rater_clinician}" if a.rater_clinician else None)),
            authored_at=a.authored_at, responses=answers,
        )
        if key in stored_keys:
            if stored_keys[key] == digest:
                skipped += 1
            else:
                prob(a.where, "idempotency_key",
                     f"idempotency key {key!r} is already stored for a different "
                     "administration")
            continue
        if key in keys_in_batch:
            first, first_digest = keys_in_batch[key]
            if first_digest == digest:
                skipped += 1
            else:
                prob(a.where, "idempotency_key",
                     f"idempotency key {key!r} is used on line {first.where.line} for a "
                     "different administration")
            continue
        keys_in_batch[key] = (a, digest)
        a.version = spec.version
        a.target = tgt
        planned.append((a, sc, answers, digest))

    return _Plan(new_orgs, new_clinicians, new_patients, new_episodes, orgs, clinicians,
                 patients, episodes, planned, skipped)


def _stored_keys(db: Session, keys: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in _chunks(sorted(keys), 500):
        rows = db.execute(
            select(Administration.idempotency_key, Administration.payload_hash).where(
                Administration.idempotency_key.in_(part)
            )
        )
        out.update({k: v for k, v in rows})
    return out


Scored = tuple[Any, dict[str, float | None], str | None, InstrumentScore]


def _score_all(
    batch: ImportBatch, *, progress: Progress | None = None
) -> list[Scored | None]:
    """Check and score every administration without touching the database.

    Returns, for each administration of the batch in order, ``(spec,
    responses, target, score)`` or ``None`` when the row has a problem
    (recorded on the batch). Each instrument's rows are scored together with
    :func:`bordin.instruments.score_frame`; only when that finds a bad value
    are the rows scored one by one, so that every bad row is reported.
    """
    prob = batch.problem
    out: list[Scored | None] = [None] * len(batch.administrations)
    groups: dict[str, list[tuple[int, AdministrationRecord, Any, dict[str, float | None],
                                 str | None]]] = {}
    for i, a in enumerate(batch.administrations):
        ok = True
        if isinstance(a.session, bool) or not isinstance(a.session, int) or a.session < 0:
            prob(a.where, "session",
                 f"session = {a.session!r}; expected an integer 0 or greater")
            ok = False
        if a.idempotency_key is not None and (
            not a.idempotency_key.strip() or len(a.idempotency_key) > MAX_KEY_LENGTH
        ):
            prob(a.where, "idempotency_key",
                 f"idempotency_key = {a.idempotency_key!r}; expected a non-empty string of at "
                 f"most {MAX_KEY_LENGTH} characters")
            ok = False
        try:
            spec = registry.get(a.instrument)
        except InputError as exc:
            prob(a.where, "instrument", str(exc))
            continue
        if a.version is not None and a.version != spec.version:
            prob(a.where, "instrument_version",
                 f"instrument_version = {a.version!r}; this Bordin scores {spec.id} version "
                 f"{spec.version}")
            ok = False
        if a.rater not in spec.raters:
            prob(a.where, "rater",
                 f"rater = {a.rater!r}; {spec.id} is rated by {' or '.join(spec.raters)}")
            ok = False
        if a.rater == "patient" and a.rater_clinician:
            prob(a.where, "rater_clinician",
                 f"rater_clinician = {a.rater_clinician!r}; expected none when the patient "
                 "rates")
            ok = False
        try:
            tgt = check_target(spec, a.target)
            answers = canonical_responses(spec, a.responses)
        except InputError as exc:
            prob(a.where, exc.field, str(exc))
            continue
        if ok:
            groups.setdefault(spec.id, []).append((i, a, spec, answers, tgt))
    done = 0
    total = sum(len(g) for g in groups.values())
    for rows in groups.values():
        for (i, a, spec, answers, tgt), sc in zip(rows, _score_group(rows, prob), strict=True):
            if sc is None or not _expected_match(a, spec, sc, prob):
                continue
            if a.idempotency_key is None:
                a.idempotency_key = _derived_key(a, spec.id)
            out[i] = (spec, answers, tgt, sc)
        done += len(rows)
        if progress is not None:
            progress("scoring", done, total)
    return out


def _score_group(
    rows: list[tuple[int, AdministrationRecord, Any, dict[str, float | None], str | None]],
    prob: Callable[[Where, str, str], None],
) -> list[InstrumentScore | None]:
    spec = rows[0][2]
    wide = pd.DataFrame(
        [[math.nan if v is None else v for v in r[3].values()] for r in rows],
        columns=list(spec.item_ids), dtype="float64",
    )
    try:
        frame = score_frame(spec, wide, missing="raise")
    except InputError:
        frame = None
    if frame is None:
        # At least one bad row: score one by one to name every bad row.
        scored: list[InstrumentScore | None] = []
        for _i, a, _spec, answers, _t in rows:
            try:
                scored.append(score(spec, answers))
            except InputError as exc:
                prob(a.where, exc.field, str(exc))
                scored.append(None)
        return scored
    subscales = list(spec.subscales)
    out: list[InstrumentScore | None] = []
    records = frame.astype({"band": object, "risk_items": object}).to_dict("records")
    for rec in records:
        band = rec["band"]
        risk = rec["risk_items"]
        out.append(InstrumentScore(
            instrument=spec.id, version=spec.version, total=float(rec["total"]),
            subscales={k: float(rec[k]) for k in subscales},
            n_answered=int(rec["n_answered"]), n_missing=int(rec["n_missing"]),
            prorated=bool(rec["prorated"]),
            band=None if band is None or (isinstance(band, float) and math.isnan(band))
            else str(band),
            risk_items=tuple(x for x in str(risk or "").split(",") if x),
        ))
    return out


def _expected_match(
    a: AdministrationRecord, spec: Any, sc: InstrumentScore,
    prob: Callable[[Where, str, str], None],
) -> bool:
    ok = True
    for scale, given in a.expected.items():
        mine = sc.total if scale == "total" else sc.subscales.get(scale)
        if mine is None:
            prob(a.where, scale, f"{scale} is not a scale of {spec.id}")
            ok = False
        elif not math.isclose(mine, given, rel_tol=SCORE_TOL, abs_tol=SCORE_TOL):
            prob(a.where, scale,
                 f"{scale} = {given:g} in the file, but the items score {mine:g}")
            ok = False
    return ok


def _known_people(
    a: AdministrationRecord,
    episodes: dict[str, Any],
    new_episodes: dict[str, EpisodeRecord],
    clinicians: dict[str, Any],
    new_clinicians: dict[str, ClinicianRecord],
    prob: Callable[[Where, str, str], None],
) -> bool:
    ok = True
    if a.episode not in episodes and a.episode not in new_episodes:
        prob(a.where, "episode", f"episode {a.episode!r} is neither stored nor given")
        ok = False
    elif a.patient is not None:
        stored = episodes.get(a.episode)
        owner = stored.patient.code if stored is not None else new_episodes[a.episode].patient
        if owner != a.patient:
            prob(a.where, "patient",
                 f"patient {a.patient!r} is not the patient of episode {a.episode!r}")
            ok = False
    if a.rater_clinician and a.rater_clinician not in clinicians and (
        a.rater_clinician not in new_clinicians
    ):
        prob(a.where, "rater_clinician",
             f"rater_clinician {a.rater_clinician!r} is neither stored nor given")
        ok = False
    return ok


def _derived_key(a: AdministrationRecord, instrument: str) -> str:
    """A key for a row that has none: the same questionnaire gets the same key."""
    import hashlib

    parts = [a.episode, str(a.session), instrument, a.rater, a.target or "",
             a.target_ref or "", a.rater_clinician or "", a.authored_at.isoformat()]
    return "import:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _insert_mapped(
    db: Session, model: Any, rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> dict[Any, int]:
    """Insert ``rows`` (Core executemany), then read back their ids by unique ``keys``.

    Plain executemany and one SELECT per chunk of keys: an INSERT ... RETURNING
    in "insertmanyvalues" mode with ordered results was measured quadratic in
    the number of rows on SQLite.
    """
    table = model.__table__
    for part in _chunks(rows):
        db.execute(insert(table), part)
    out: dict[Any, int] = {}
    wanted = [tuple(r[k] for k in keys) for r in rows]
    cols = [table.c[k] for k in keys]
    for part in _chunks(wanted, 500):
        cond = cols[0].in_([w[0] for w in part]) if len(cols) == 1 else tuple_(*cols).in_(part)
        for row in db.execute(select(*cols, table.c.id).where(cond)):
            key = row[0] if len(cols) == 1 else tuple(row[:-1])
            out[key] = row[-1]
    return out


def _write(db: Session, plan: _Plan, *, progress: Progress | None) -> ImportResult:
    orgs = {code: o.id for code, o in plan.orgs.items()}
    orgs |= _insert_mapped(
        db, Organization, [{"code": o.code, "name": o.name} for o in plan.new_orgs.values()],
        ("code",),
    )
    clinicians = {code: c.id for code, c in plan.clinicians.items()}
    clinicians |= _insert_mapped(db, Clinician, [
        {"code": c.code, "organization_id": orgs[c.organization], "role": c.role,
         "name": c.name}
        for c in plan.new_clinicians.values()
    ], ("code",))
    patients = {code: p.id for code, p in plan.patients.items()}
    patients |= _insert_mapped(db, Patient, [
        {"code": p, "organization_id": orgs[o]} for p, o in plan.new_patients.items()
    ], ("code",))
    episodes = {code: e.id for code, e in plan.episodes.items()}
    episodes |= _insert_mapped(db, Episode, [
        {"code": e.code, "patient_id": patients[e.patient],
         "clinician_id": clinicians[e.clinician], "organization_id": orgs[e.organization],
         "treatment": e.treatment, "format": e.format, "diagnosis": e.diagnosis,
         "start": e.start, "end": e.end}
        for e in plan.new_episodes.values()
    ], ("code",))

    # Sessions: the stored ones of the episodes concerned, then the new ones.
    wanted: dict[tuple[int, int], date | None] = {}
    for a, *_ in plan.administrations:
        k = (episodes[a.episode], a.session)
        if wanted.get(k) is None:
            wanted[k] = a.session_date
    sessions: dict[tuple[int, int], int] = {}
    for part in _chunks(sorted(wanted), 500):
        for ep_id, number, id_ in db.execute(
            select(TherapySession.episode_id, TherapySession.number, TherapySession.id).where(
                tuple_(TherapySession.episode_id, TherapySession.number).in_(part)
            )
        ):
            sessions[(ep_id, number)] = id_
    new_sessions = [
        {"episode_id": e, "number": n, "date": d}
        for (e, n), d in wanted.items() if (e, n) not in sessions
    ]
    sessions |= _insert_mapped(db, TherapySession, new_sessions, ("episode_id", "number"))

    total = len(plan.administrations)
    done = 0
    for part in _chunks(plan.administrations):
        rows = []
        for a, sc, _answers, _digest in part:
            ep_id = episodes[a.episode]
            rc_id = clinicians[a.rater_clinician] if a.rater_clinician else None
            # The stored payload hash uses database ids, as a later submission does.
            digest = payload_hash(
                episode=ep_id, session_number=a.session, instrument_id=sc.instrument,
                version=sc.version, rater=a.rater, target=a.target, target_ref=a.target_ref,
                rater_clinician=rc_id, authored_at=a.authored_at, responses=_answers,
            )
            rows.append({
                "session_id": sessions[(ep_id, a.session)], "episode_id": ep_id,
                "instrument_id": sc.instrument, "instrument_version": sc.version,
                "rater": a.rater, "target": a.target, "target_ref": a.target_ref,
                "rater_clinician_id": rc_id, "authored_at": a.authored_at,
                "idempotency_key": a.idempotency_key, "payload_hash": digest,
                "risk_items": list(sc.risk_items),
            })
        ids = _insert_mapped(db, Administration, rows, ("idempotency_key",))
        responses: list[dict[str, Any]] = []
        scores: list[dict[str, Any]] = []
        for a, sc, answers, _d in part:
            adm_id = ids[a.idempotency_key]
            responses.extend(
                {"administration_id": adm_id, "item": k, "value": v} for k, v in answers.items()
            )
            scores.extend(score_rows(adm_id, sc))
        for rpart in _chunks(responses, 10 * CHUNK):
            db.execute(insert(ItemResponse.__table__), rpart)
        db.execute(insert(Score.__table__), scores)
        done += len(part)
        if progress is not None:
            progress("writing", done, total)
    return ImportResult(
        organizations=len(plan.new_orgs), clinicians=len(plan.new_clinicians),
        patients=len(plan.new_patients), episodes=len(plan.new_episodes),
        sessions=len(new_sessions), administrations=total, skipped=plan.skipped,
    )

