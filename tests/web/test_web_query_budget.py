"""The caseload costs a fixed number of SQL statements, whatever the caseload size (no N+1).

Counted with SQLAlchemy's ``before_cursor_execute`` hook around one API call, for a
caseload of 20 and of 200 patients, each with sessions and open alerts of every kind.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy import event, insert, select

from bordin.store.models.alerts import Alert
from bordin.store.models.core import Clinician, Episode, Patient, TherapySession

BUDGET = 12  # session lookup 1, caseload 3, audit 4, transaction control; target <= 12
KINDS = [("risk", {}), ("rupture", {"state": "unrepaired"}), ("not_on_track", {}),
         ("rupture", {"state": "open"}), ("ceiling", {})]


def _grow(env, n: int, start: int) -> None:
    with env.session() as db:
        clin = db.scalar(select(Clinician.id).where(Clinician.code == "c-own"))
        org = env.world.ids["org_a"]
        pats = [{"code": f"QB-{start + i}", "organization_id": org} for i in range(n)]
        db.execute(insert(Patient), pats)
        pids = db.scalars(select(Patient.id).where(Patient.code.in_([p["code"] for p in pats]))
                          ).all()
        db.execute(insert(Episode), [{"code": f"QE-{pid}", "patient_id": pid,
                                      "clinician_id": clin, "organization_id": org,
                                      "format": "individual", "start": date(2026, 1, 1)}
                                     for pid in pids])
        eids = db.scalars(select(Episode.id).where(Episode.patient_id.in_(pids))).all()
        db.execute(insert(TherapySession), [{"episode_id": e, "number": s}
                                            for e in eids for s in (1, 2, 3)])
        db.execute(insert(Alert), [{"episode_id": e, "kind": KINDS[i % 5][0], "rule": "r",
                                    "params": {}, "evidence": KINDS[i % 5][1],
                                    "severity": "high", "suggestions": [],
                                    "dedupe_key": f"qb-{e}", "state": "open", "version": 1}
                                   for i, e in enumerate(eids)])
        db.commit()


def _count(env, headers) -> tuple[int, list]:
    statements: list[str] = []

    def hook(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    engine = env.app.state.engine
    event.listen(engine, "before_cursor_execute", hook)
    try:
        r = env.client.get("/api/v1/caseload", headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    assert r.status_code == 200
    return len(statements), r.json()["items"]


def test_caseload_query_count_is_bounded(env) -> None:
    headers = {"Authorization": f"Bearer {env.login('own')}"}
    env.client.get("/api/v1/caseload", headers=headers)  # warm the session's last_seen
    _grow(env, 19, 0)
    n20, items20 = _count(env, headers)
    _grow(env, 180, 100)
    n200, items200 = _count(env, headers)
    assert len(items20) == 20 and len(items200) == 200
    print(f"caseload statements: {n20} for 20 patients, {n200} for 200")
    assert n200 == n20 <= BUDGET, (n20, n200)
    order = [i["attention"] for i in items200]
    rank = {"risk": 0, "unrepaired_rupture": 1, "not_on_track": 2, "open_rupture": 3,
            "other_alert": 4, "none": 5}
    assert [rank[a] for a in order] == sorted(rank[a] for a in order)
    assert order[0] == "risk" and items200[-1]["sessions"] in (3, 5)
    with env.session() as db:
        assert db.scalar(select(sa.func.count()).select_from(Episode)) >= 200
