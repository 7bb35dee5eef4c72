"""Storing the monitor's alerts, and acknowledging them.

The monitor finds; this module keeps what it found in the store's ``alerts`` table
(:class:`bordin.store.models.alerts.Alert`), once. Each alert is identified by its
*dedupe key* (episode, instrument, rater, target, scale, rule, start session; for a
rupture event ``rupture`` in place of the scale, see
:func:`~bordin.monitor.monitor_frame`), which the table holds as a unique column, so
running the monitor again, on the same data or on more, never duplicates an alert: it
inserts the new ones and updates the evidence of those whose event moved on (an open
rupture that is now repaired). The clinician's side of an alert (acknowledged or
resolved, by whom, when) is never touched by a re-run. Acknowledging uses the row's
``version`` (optimistic concurrency): of two clinicians acknowledging the same alert at
once, the second gets a :class:`~bordin.errors.ConflictError` instead of silently
overwriting the first.

Everything of one call is one transaction: on any error nothing is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from bordin.errors import ConflictError, InputError, NotFoundError
from bordin.monitor.records import alert_record

__all__ = [
    "StoreResult",
    "acknowledge",
    "alert_values",
    "clinician_facing",
    "legacy_keys",
    "monitor_database",
    "population_sd",
    "resolve",
    "store_alerts",
]

_CHUNK = 500
_KEY_MAX = 200  # the width of alerts.dedupe_key
_RULE_MAX = 100  # the width of alerts.rule
_PATHWAYS = ("care", "expectancy", "specific")


@dataclass(frozen=True)
class StoreResult:
    """What a call to :func:`store_alerts` did."""

    inserted: int
    updated: int
    unchanged: int
    unknown_episodes: tuple[str, ...]
    #: Of the inserted, how many were recorded only (state ``resolved``): ruptures
    #: already repaired when first seen, which no clinician needs to act on.
    recorded: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {"inserted": self.inserted, "updated": self.updated,
                "unchanged": self.unchanged, "unknown_episodes": list(self.unknown_episodes),
                "recorded": self.recorded}


def _models() -> tuple[Any, Any]:
    from bordin.store.models.alerts import Alert
    from bordin.store.models.core import Episode

    return Alert, Episode


def _stored(key: str) -> str:
    if len(key) <= _KEY_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def store_key(record: dict[str, Any]) -> str:
    """The stored dedupe key: the monitor's key, or its SHA-256 when too long."""
    return _stored(str(record["dedupe_key"]))


def legacy_keys(record: dict[str, Any]) -> list[str]:
    """The stored keys a rupture event's alert had when the monitor raised one alert per
    scale: ``...|<scale>|rule|start`` for each scale that moved (a scale whose own
    event started later than the event had a key with that later start, not listed)."""
    parts = str(record["dedupe_key"]).split("|")
    if record.get("kind") != "rupture" or len(parts) < 7 or parts[-3] != "rupture":
        return []
    scales = (record.get("evidence") or {}).get("scales") or {}
    return [_stored("|".join([*parts[:-3], str(sc), *parts[-2:]])) for sc in scales]


def clinician_facing(record: dict[str, Any]) -> bool:
    """Whether an alert record goes to the clinicians' queue (stored ``open``).

    Everything does but a rupture that was already repaired when the monitor saw it:
    it is kept, as ``resolved``, for the episode's history and for research, but no
    one needs to act on it (Eubanks et al. 2018: what matters clinically is the
    rupture that is not repaired). A rupture first stored open and repaired later
    keeps its row and the clinician's state; only its evidence says so.
    """
    state = (record.get("evidence") or {}).get("state", record.get("state"))
    return not (record.get("kind") == "rupture" and state == "repaired")


def alert_values(rec: dict[str, Any]) -> dict[str, Any]:
    """The ``alerts`` columns of an alert record, as :func:`store_alerts` writes them."""
    pathways = [p.lower() for p in rec["pathway"].split(",") if p]
    first = next((p for p in pathways if p in _PATHWAYS), None)
    evidence = dict(rec["evidence"])
    evidence.update({"instrument": rec["instrument"], "rater": rec["rater"],
                     "target": rec["target"], "scale": rec["scale"], "pathways": pathways,
                     "monitor_key": rec["dedupe_key"], "rule_key": rec["rule"]})
    rule = rec["rule"] if len(rec["rule"]) <= _RULE_MAX else rec["rule"].split("(")[0]
    return {"kind": rec["kind"], "rule": rule, "params": rec["params"], "evidence": evidence,
            "severity": rec["severity"], "pathway": first,
            "suggestions": rec["suggestions"]}


def _records(alerts: pd.DataFrame | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = alerts.to_dict(orient="records") if isinstance(alerts, pd.DataFrame) else list(alerts)
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or "dedupe_key" not in r:
            raise InputError(field=f"alerts[{i}]", value=type(r).__name__,
                             allowed="an alert row of monitor_frame or EpisodeMonitor")
        out.append(r if "evidence" in r else alert_record(r))
    return out


def _begin_write(db: Session) -> None:
    """Start a write transaction (SQLite: ``BEGIN IMMEDIATE``).

    A read transaction the caller left open (no pending changes) is ended first, so
    that the write lock is taken at the start; pending changes are an error, since
    this module commits its own transaction.
    """
    from bordin.store.db import WRITE

    if db.in_transaction():
        if db.new or db.dirty or db.deleted:
            raise InputError(field="db", value="a session with pending changes",
                             allowed="a session with nothing pending (commit it first)")
        db.rollback()
    db.connection(execution_options=WRITE)


def _write(db: Session, records: list[dict[str, Any]]) -> StoreResult:
    Alert, Episode = _models()
    _begin_write(db)
    codes = sorted({str(r["episode"]) for r in records})
    ep_id: dict[str, int] = {}
    for i in range(0, len(codes), _CHUNK):
        chunk = codes[i:i + _CHUNK]
        ep_id.update({code: i for code, i in db.execute(
            select(Episode.code, Episode.id).where(Episode.code.in_(chunk))).all()})
    unknown = tuple(c for c in codes if c not in ep_id)
    keyed: dict[str, dict[str, Any]] = {}
    for r in records:
        if str(r["episode"]) in ep_id:
            keyed[store_key(r)] = r  # a key twice in one batch: the last wins
    existing: dict[str, Any] = {}
    keys = sorted(keyed)
    for i in range(0, len(keys), _CHUNK):
        for a in db.scalars(select(Alert).where(Alert.dedupe_key.in_(keys[i:i + _CHUNK]))):
            existing[a.dedupe_key] = a
    adopted = _adopt_legacy(db, keyed, existing)
    inserted = updated = unchanged = recorded = 0
    for key, rec in keyed.items():
        values = alert_values(rec)
        a = existing.get(key)
        if a is None:
            facing = clinician_facing(rec)
            db.add(Alert(episode_id=ep_id[str(rec["episode"])], dedupe_key=key,
                         state="open" if facing else "resolved", **values))
            inserted += 1
            recorded += not facing
            continue
        changed = {k: v for k, v in values.items() if getattr(a, k) != v}
        if changed or key in adopted:
            for k, v in changed.items():
                setattr(a, k, v)
            updated += 1
        else:
            unchanged += 1
    db.flush()
    return StoreResult(inserted, updated, unchanged, unknown, recorded)


def _adopt_legacy(db: Session, keyed: dict[str, dict[str, Any]], existing: dict[str, Any]
                  ) -> set[str]:
    """Give a new rupture event the row its per-scale alert already has, if any.

    A store filled when the monitor raised one alert per scale holds rows under the
    per-scale keys. The first run of the event monitor re-keys one of them (the one a
    clinician has acted on, else the oldest) to the event's key, so the event is not
    raised a second time and the clinician's state carries over; its evidence is then
    updated as for any known alert. The event's other per-scale rows are left as they
    are.
    """
    Alert, _ = _models()
    wanted: dict[str, str] = {}
    for key, rec in keyed.items():
        if key not in existing:
            for old in legacy_keys(rec):
                wanted.setdefault(old, key)
    if not wanted:
        return set()
    found: dict[str, list[Any]] = {}
    olds = sorted(wanted)
    for i in range(0, len(olds), _CHUNK):
        for a in db.scalars(select(Alert).where(Alert.dedupe_key.in_(olds[i:i + _CHUNK]))):
            found.setdefault(wanted[a.dedupe_key], []).append(a)
    for key, rows in found.items():
        a = min(rows, key=lambda r: (r.state == "open", r.id))
        a.dedupe_key = key
        existing[key] = a
    return set(found)


def store_alerts(db: Session, alerts: pd.DataFrame | Iterable[dict[str, Any]]) -> StoreResult:
    """Insert new alerts and update the evidence of known ones, in one transaction.

    Parameters
    ----------
    db
        A session of :func:`bordin.store.db.session_factory`; committed on success,
        rolled back on error.
    alerts
        The alerts frame of :func:`~bordin.monitor.monitor_frame` (or rows of
        :meth:`~bordin.monitor.EpisodeMonitor.alerts`, or their
        :func:`~bordin.monitor.records.alert_record` dicts). ``episode`` is the
        episode's code in the store; alerts of unknown episodes are skipped and listed.

    Returns
    -------
    StoreResult
        Counts of inserted, updated and unchanged alerts.

    Notes
    -----
    A new alert is stored ``open`` (on the clinicians' queue), except a rupture that
    was already repaired when first seen: it is stored ``resolved``, recorded but not
    clinician-facing (:func:`clinician_facing`). A rupture event whose per-scale alert
    a store from before events were merged already holds takes over that row
    (:func:`legacy_keys`), so upgrading raises nothing twice.
    """
    records = _records(alerts)
    for attempt in (1, 2):
        try:
            res = _write(db, records)
            db.commit()
            return res
        except IntegrityError:
            # Another writer inserted one of these keys between our read and our
            # insert; read again (they are now updates) once.
            db.rollback()
            if attempt == 2:
                raise
        except BaseException:
            db.rollback()
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _set_state(db: Session, *, alert_id: int, version: int, state: str,
               clinician_id: int | None, at: datetime | None) -> Any:
    Alert, _ = _models()
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(field="version", value=version,
                         allowed="the alert's version as last read (a whole number >= 1)")
    _begin_write(db)
    try:
        a = db.get(Alert, alert_id, populate_existing=True)
        if a is None:
            raise NotFoundError(f"alert {alert_id} does not exist")
        # A newer version of an alert still open comes from the monitor refreshing its
        # evidence (only people change an alert's state): acting on it is not acting on
        # a stale decision. Anything else since (acknowledged, resolved) conflicts.
        if a.version != version and not (a.state == "open" and version < a.version):
            raise ConflictError(
                f"alert {alert_id} changed since it was read (version {version}, now "
                f"{a.version}); read it again")
        a.state = state
        if state == "acknowledged":
            a.acknowledged_by_id = clinician_id
            a.acknowledged_at = at or datetime.now(UTC)
        db.flush()
        db.commit()
        return a
    except StaleDataError as exc:
        db.rollback()
        raise ConflictError(f"alert {alert_id} was changed by someone else; read it again"
                            ) from exc
    except BaseException:
        db.rollback()
        raise


def acknowledge(db: Session, *, alert_id: int, clinician_id: int, version: int,
                at: datetime | None = None) -> Any:
    """Mark an alert acknowledged by a clinician, if it is still at ``version``.

    Raises
    ------
    NotFoundError
        No such alert.
    ConflictError
        The alert changed since the caller read it (another acknowledgement, or a re-run
        that updated its evidence): read it again.
    """
    return _set_state(db, alert_id=alert_id, version=version, state="acknowledged",
                      clinician_id=clinician_id, at=at)


def resolve(db: Session, *, alert_id: int, version: int) -> Any:
    """Mark an alert resolved, if it is still at ``version`` (see :func:`acknowledge`)."""
    return _set_state(db, alert_id=alert_id, version=version, state="resolved",
                      clinician_id=None, at=None)


def population_sd(db: Session, *, scales: Sequence[str] = ("total", "goal", "task", "bond")
                  ) -> dict[str, float]:
    """The clinic's between-patient SD of every alliance scale, from the whole store.

    The estimate of :func:`~bordin.monitor.estimate_population_sd` (the SD, ddof 1, of
    the series' mean scores per instrument and scale; keys ``"instrument.scale"``),
    computed by the database from one mean per series, so it costs one aggregate query
    however large the clinic. Pass it to a monitor run over a few episodes, so that the
    combined rule (the default) judges them against the clinic and not against
    themselves.
    """
    from sqlalchemy import func

    from bordin.monitor._specs import kind_of
    from bordin.store.models.core import Administration, Score

    q = (select(Administration.instrument_id, Score.scale, func.avg(Score.value))
         .join(Score, Score.administration_id == Administration.id)
         .where(Score.value.is_not(None), Score.scale.in_(list(scales)))
         .group_by(Administration.episode_id, Administration.instrument_id,
                   Administration.rater, Administration.target, Score.scale))
    means = pd.DataFrame(db.execute(q).all(), columns=["instrument", "scale", "mean"])
    if means.empty:
        return {}
    means = means.loc[[kind_of(str(i)) == "alliance" for i in means["instrument"]]]
    sd = means.groupby(["instrument", "scale"])["mean"].std(ddof=1).dropna()
    return {f"{i}.{sc}": float(v) for (i, sc), v in sd.items()}


def monitor_database(db: Session, *, episodes: Sequence[str] | None = None,
                     **monitor_options: Any) -> StoreResult:
    """Run :func:`~bordin.monitor.monitor_frame` over the store's administrations (all,
    or some episodes) and store the alerts.

    A run over some episodes (after a submission) judges them against the whole
    clinic: unless ``population_sd`` is given, it is the store's
    (:func:`population_sd`); estimated from a few episodes alone it would differ, and
    the combined rule's alerts with it.
    """
    from bordin.monitor.batch import monitor_frame
    from bordin.store.queries import administrations_frame

    if episodes is not None and "population_sd" not in monitor_options:
        monitor_options["population_sd"] = population_sd(db)
    adm = administrations_frame(db, episode=episodes)
    db.rollback()  # end the read transaction before the write one
    alerts = monitor_frame(adm, **monitor_options)
    return store_alerts(db, alerts)
