"""The audit chain's append on both backends: the hash PostgreSQL computes in its one
statement is the hash :func:`event_hash` computes, and concurrent writers never fork
or gap the chain."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from bordin.store.db import init_db, session_factory
from bordin.store.models.audit import GENESIS_HASH, AuditEvent, AuditHead
from bordin.web.audit.chain import _FIELDS, append, event_hash, verify

EVENTS = [
    {"actor_kind": "user", "actor_id": "7", "action": "read", "outcome": "success",
     "resource_type": "episode", "resource_id": "12", "patient_id": 3,
     "route": "GET /episodes/{episode_id}", "request_id": "r" * 32, "client": "127.0.0.1",
     "detail": {"instruments": ["wai_sr", "phq9"], "administrations": [1, 2]}},
    {"actor_kind": "anonymous", "action": "login", "outcome": "failure",
     "detail": {"reason": "bad password \u2014 Zo\u00eb's"}},  # non-ASCII is escaped
    {"actor_kind": "link", "actor_id": "99", "action": "create", "outcome": "replayed",
     "resource_type": "questionnaire_link", "resource_id": "99", "patient_id": 1},
]


def test_append_matches_python_hash_and_keeps_head(database_url: str) -> None:
    engine = init_db(database_url)
    factory = session_factory(engine)
    with factory() as db:
        seqs = [append(db, **e) for e in EVENTS]
        db.commit()
    with factory() as db:
        rows = db.execute(sa.select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        head = db.get(AuditHead, 1)
        result = verify(db)
    engine.dispose()
    assert seqs == [1, 2, 3]
    prev = GENESIS_HASH
    for row in rows:
        values = {f: getattr(row, f) for f in _FIELDS}
        assert row.prev_hash == prev
        assert row.hash == event_hash(prev_hash=prev, values=values)
        prev = row.hash
    assert rows[0].detail == EVENTS[0]["detail"]
    assert (head.seq, head.hash, head.prev_hash) == (3, rows[2].hash, rows[1].hash)
    assert result.ok and result.checked == 3


def test_concurrent_appends_chain_in_turn(database_url: str) -> None:
    engine = init_db(database_url)
    factory = session_factory(engine)
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(15):
                with factory() as db:
                    append(db, actor_kind="system", action="read", outcome="success",
                           resource_id=f"{i}-{j}")
                    if j % 5 == 4:
                        db.rollback()  # an abandoned request leaves no hole in the chain
                    else:
                        db.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with factory() as db:
        seqs = db.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
        result = verify(db)
    engine.dispose()
    assert not errors
    assert seqs == list(range(1, 6 * 12 + 1))
    assert result.ok and result.checked == 72
