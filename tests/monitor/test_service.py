"""Alerts in the store: once per dedupe key, evidence updated, optimistic acknowledgement."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import ConflictError, InputError, NotFoundError
from bordin.monitor import EpisodeMonitor, monitor_frame
from bordin.monitor.batch import DEFAULT_WATCHES
from bordin.monitor.service import acknowledge, resolve, store_alerts
from bordin.store.models.alerts import Alert
from bordin.store.models.core import Episode


def _adm(totals: dict[str, list[float]]) -> pd.DataFrame:
    rows = [(ep, s, x) for ep, xs in totals.items() for s, x in enumerate(xs, start=1)]
    return pd.DataFrame(rows, columns=["episode", "session", "total"]).assign(
        instrument="wai_sr", rater="patient", target="clinician")


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Alert))


def test_store_once_then_update_evidence(factory: sessionmaker[Session]) -> None:
    v_open = [50, 52, 51, 50, 41]
    adm = _adm({"E1": v_open, "E2": [40, 41, 40, 41, 30], "E9": [50, 52, 51, 50, 41]})
    rules = [__import__("bordin.monitor.rules", fromlist=["x"]).PersonalSDRule(k=2.0)]
    al = monitor_frame(adm, rules=rules, outcomes=False)
    with factory() as db:
        res = store_alerts(db, al)
        assert (res.inserted, res.updated, res.unchanged) == (2, 0, 0)
        assert res.unknown_episodes == ("E9",)
        assert _count(db) == 2
        a = db.scalars(select(Alert).join(Episode).where(Episode.code == "E1")).one()
        assert (a.kind, a.pathway, a.severity, a.state, a.version) == (
            "rupture", "care", "medium", "open", 1)
        assert a.evidence["state"] == "open" and a.evidence["start"] == 5
        assert a.evidence["pathways"] == ["care", "expectancy", "specific"]
        assert a.suggestions[0]["id"] == "talk_about_relationship"
        assert a.params["k"] == 2.0
    with factory() as db:  # the same run again: nothing new
        res = store_alerts(db, monitor_frame(adm, rules=rules, outcomes=False))
        assert (res.inserted, res.updated, res.unchanged) == (0, 0, 2)
        assert _count(db) == 2
    with factory() as db:  # acknowledged, then the rupture is repaired
        a = db.scalars(select(Alert).join(Episode).where(Episode.code == "E1")).one()
        acknowledge(db, alert_id=a.id, clinician_id=1, version=a.version)
    adm2 = _adm({"E1": [*v_open, 51], "E2": [40, 41, 40, 41, 30]})
    with factory() as db:
        res = store_alerts(db, monitor_frame(adm2, rules=rules, outcomes=False))
        assert (res.inserted, res.updated, res.unchanged) == (0, 1, 1)
        a = db.scalars(select(Alert).join(Episode).where(Episode.code == "E1")).one()
        assert a.evidence["state"] == "repaired" and a.evidence["repaired_at"] == 6
        assert a.severity == "low"
        assert a.state == "acknowledged"  # the clinician's side is kept
        assert a.version == 3  # acknowledged (2), evidence updated (3)


def test_incremental_alerts_store_under_the_same_keys(factory: sessionmaker[Session]) -> None:
    adm = _adm({"E1": [50, 52, 51, 50, 41, 51]})
    with factory() as db:
        store_alerts(db, monitor_frame(adm, outcomes=False, population_sd=2.0))
    m = EpisodeMonitor.from_frame(adm, episode="E1", population_sd=2.0)
    with factory() as db:
        res = store_alerts(db, m.alerts())
        assert res.inserted == 0 and res.unchanged == len(m.alerts())


def test_an_evidence_refresh_does_not_make_acknowledging_stale(
        factory: sessionmaker[Session]) -> None:
    """The monitor re-storing an open alert's evidence bumps its version; a clinician who
    read the older version may still acknowledge it (only a person changes the state)."""
    with factory() as db:
        store_alerts(db, monitor_frame(_adm({"E1": [50, 52, 51, 50, 41]}), outcomes=False))
        a = db.scalars(select(Alert)).first()
        alert_id, read = a.id, a.version
        a.evidence = {**a.evidence, "refreshed": True}  # as store_alerts updates it
        db.commit()
        assert db.get(Alert, alert_id).version == read + 1
    with factory() as db:
        acknowledge(db, alert_id=alert_id, clinician_id=1, version=read)
    with factory() as db:
        a = db.get(Alert, alert_id)
        assert (a.state, a.version) == ("acknowledged", read + 2)
        with pytest.raises(ConflictError):  # acknowledged since: stale for a second person
            resolve(db, alert_id=alert_id, version=read + 1)


def test_acknowledge_with_a_stale_version_conflicts(factory: sessionmaker[Session]) -> None:
    with factory() as db:
        store_alerts(db, monitor_frame(_adm({"E1": [50, 52, 51, 50, 41]}), outcomes=False))
        a = db.scalars(select(Alert)).first()
        alert_id, v = a.id, a.version
    with factory() as first, factory() as second:
        acknowledge(first, alert_id=alert_id, clinician_id=1, version=v)
        with pytest.raises(ConflictError):
            acknowledge(second, alert_id=alert_id, clinician_id=1, version=v)
    with factory() as db:
        a = db.get(Alert, alert_id)
        assert (a.state, a.acknowledged_by_id, a.version) == ("acknowledged", 1, v + 1)
        assert a.acknowledged_at is not None
        resolve(db, alert_id=alert_id, version=a.version)
        assert db.get(Alert, alert_id).state == "resolved"
        with pytest.raises(NotFoundError):
            acknowledge(db, alert_id=10**6, clinician_id=1, version=1)
        with pytest.raises(InputError):
            acknowledge(db, alert_id=alert_id, clinician_id=1, version=0)
    with factory() as db, pytest.raises(InputError):
        store_alerts(db, [{"kind": "rupture"}])


def test_monitor_database_end_to_end(factory: sessionmaker[Session]) -> None:
    from datetime import UTC, datetime

    from bordin.monitor.service import monitor_database
    from bordin.store.submit import submit_administration

    def wai(total: int) -> dict[int, int]:
        base, extra = divmod(total, 12)
        return {i: base + (1 if i <= extra else 0) for i in range(1, 13)}

    with factory() as db:
        ep = db.scalars(select(Episode).where(Episode.code == "E1")).one()
        for s, t in enumerate([50, 52, 51, 50, 41], start=1):
            submit_administration(
                db, episode_id=ep.id, session_number=s, instrument_id="wai_sr",
                rater="patient", target="clinician", responses=wai(t),
                authored_at=datetime(2024, 1, s, tzinfo=UTC), idempotency_key=f"w{s}")
        submit_administration(
            db, episode_id=ep.id, session_number=5, instrument_id="phq9", rater="patient",
            target=None, responses={i: (1 if i == 9 else 2) for i in range(1, 10)},
            authored_at=datetime(2024, 1, 5, tzinfo=UTC), idempotency_key="p5")
        res = monitor_database(db)
        assert res.inserted >= 2 and res.unknown_episodes == ()
        kinds = {(a.kind, a.rule.split("(")[0]) for a in db.scalars(select(Alert))}
        default = DEFAULT_WATCHES[0].rule.name
        assert ("risk", "risk_item") in kinds and ("rupture", default) in kinds
        again = monitor_database(db)
        assert again.inserted == 0 and again.updated == 0


@pytest.mark.parametrize(("instrument", "item", "target", "value"), [
    ("phq9", "phq9_9", None, 2.0),
    ("phq9", "phq9_9", "clinician", 1.0),
    ("core10", None, None, 3.0),
])
def test_risk_record_is_the_monitor_frames_own(instrument, item, target, value) -> None:
    """A submission stores its risk alert from risk_record; the batch must find it the same."""
    import pandas as pd

    from bordin.instruments import registry
    from bordin.monitor.batch import monitor_frame, risk_record
    from bordin.monitor.records import alert_records
    from bordin.monitor.service import alert_values

    spec = registry.get(instrument)
    item = item or spec.risk_items[0]
    adm = pd.DataFrame({"administration_id": [7], "episode": ["e1"], "session": [6],
                        "instrument": [instrument], "rater": ["patient"], "target": [target],
                        "total": [11.0]})
    resp = pd.DataFrame({"administration_id": 7, "item": list(spec.item_ids),
                         "value": [value if i == item else 0.0 for i in spec.item_ids],
                         "episode": "e1", "session": 6, "instrument": instrument})
    frame = monitor_frame(adm, responses=resp)
    (batch,) = [r for r in alert_records(frame) if r["kind"] == "risk"]
    mine = risk_record(episode="e1", instrument=instrument, rater="patient", target=target,
                       session=6, item=item, value=value)
    assert mine["dedupe_key"] == batch["dedupe_key"]
    assert alert_values(mine) == alert_values(batch)
