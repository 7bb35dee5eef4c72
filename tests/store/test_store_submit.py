"""Submissions: scored and stored in one transaction, once per idempotency key."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bordin.errors import ConflictError, InputError, NotFoundError
from bordin.store.models.core import Administration, ItemResponse, Score, TherapySession
from bordin.store.submit import submit_administration

WHEN = datetime(2024, 2, 1, 10, 30, tzinfo=UTC)
# Hand-worked: WAI-SR items 1..12 = 4,4,5,3,5,4,5,4,5,4,3,4.
# task = items 1,2,10,12 = 4+4+4+4 = 16; bond = 3,5,7,9 = 5+5+5+5 = 20;
# goal = 4,6,8,11 = 3+4+4+3 = 14; total = 50.
WAI = dict(zip(range(1, 13), [4, 4, 5, 3, 5, 4, 5, 4, 5, 4, 3, 4], strict=True))


def _count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def _submit(db: Session, clinic, **over):
    kw = dict(
        episode_id=clinic.episode_id, session_number=3, instrument_id="wai_sr",
        rater="patient", target="clinician", responses=WAI, authored_at=WHEN,
        idempotency_key="k-1",
    )
    kw.update(over)
    return submit_administration(db, **kw)


def test_submission_is_scored_and_stored(factory: sessionmaker[Session], clinic) -> None:
    with factory() as db:
        adm = _submit(db, clinic)
        assert adm.instrument_version
    with factory() as db:
        stored = db.get(Administration, adm.id)
        scores = {s.scale: s.value for s in stored.scores}
        assert scores == {"total": 50, "task": 16, "bond": 20, "goal": 14}
        assert len(stored.responses) == 12
        assert stored.authored_at == WHEN
        assert stored.session.number == 3


def test_phq9_item9_is_kept_as_risk(factory: sessionmaker[Session], clinic) -> None:
    # PHQ-9 items 1..9 = 2,2,1,1,0,1,1,0,1: total 9 (band "mild"), item 9 endorsed.
    resp = dict(zip(range(1, 10), [2, 2, 1, 1, 0, 1, 1, 0, 1], strict=True))
    with factory() as db:
        adm = _submit(db, clinic, instrument_id="phq9", target=None, responses=resp,
                      idempotency_key="phq")
        total = next(s for s in adm.scores if s.scale == "total")
        assert (total.value, total.band) == (9, "mild")
        assert adm.risk_items == ["phq9_9"]


def test_same_key_ten_times_stores_one(factory: sessionmaker[Session], clinic) -> None:
    ids = set()
    for _ in range(10):
        with factory() as db:
            ids.add(_submit(db, clinic).id)
    with factory() as db:
        assert len(ids) == 1
        assert _count(db, Administration) == 1
        assert _count(db, ItemResponse) == 12
        assert _count(db, Score) == 4


def test_same_key_other_payload_is_a_conflict(factory: sessionmaker[Session], clinic) -> None:
    with factory() as db:
        _submit(db, clinic)
    other = dict(WAI)
    other[1] = 1
    with factory() as db, pytest.raises(ConflictError, match="k-1"):
        _submit(db, clinic, responses=other)
    with factory() as db:
        assert _count(db, Administration) == 1


def test_concurrent_same_key_stores_one(factory: sessionmaker[Session], clinic) -> None:
    n = 8
    barrier = threading.Barrier(n)
    ids: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with factory() as db:
                barrier.wait()
                ids.append(_submit(db, clinic, idempotency_key="race").id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(ids)) == 1 and len(ids) == n
    with factory() as db:
        assert _count(db, Administration) == 1
        assert _count(db, TherapySession) == 1


def test_concurrent_different_keys_all_stored(factory: sessionmaker[Session], clinic) -> None:
    n = 6
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with factory() as db:
                barrier.wait()
                _submit(db, clinic, idempotency_key=f"k{i}", session_number=1 + i % 2)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with factory() as db:
        assert _count(db, Administration) == n
        assert _count(db, TherapySession) == 2


@pytest.mark.parametrize(
    ("over", "error", "match"),
    [
        ({"responses": {**WAI, 3: 7}}, InputError, "wai_sr_3"),
        ({"responses": {**WAI, 99: 1}}, InputError, "99"),
        ({"responses": {**WAI, 1: None, 2: None}}, InputError, "missing"),
        ({"instrument_id": "nope"}, InputError, "instrument"),
        ({"rater": "observer"}, InputError, "rater"),
        ({"target": "moon"}, InputError, "target"),
        ({"session_number": -1}, InputError, "session_number"),
        ({"idempotency_key": ""}, InputError, "idempotency_key"),
        ({"episode_id": 999_999}, NotFoundError, "episode"),
        ({"instrument_id": "wai_sr_t", "rater": "clinician", "rater_clinician_id": 999_999},
         NotFoundError, "clinician 999999"),
    ],
)
def test_bad_submission_leaves_nothing(
    factory: sessionmaker[Session], clinic, over, error, match
) -> None:
    with factory() as db, pytest.raises(error, match=match):
        _submit(db, clinic, **over)
    with factory() as db:
        for model in (Administration, ItemResponse, Score, TherapySession):
            assert _count(db, model) == 0, model


def test_failure_after_writes_rolls_back_everything(
    factory: sessionmaker[Session], clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the session and administration rows were flushed leaves no trace."""
    import bordin.store.submit as submit_module

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(submit_module, "score_rows", broken)
    with factory() as db, pytest.raises(RuntimeError):
        _submit(db, clinic)
    with factory() as db:
        for model in (Administration, ItemResponse, Score, TherapySession):
            assert _count(db, model) == 0, model


def test_missing_item_is_prorated_and_stored_as_none(
    factory: sessionmaker[Session], clinic
) -> None:
    resp = {**WAI, 1: None}
    with factory() as db:
        adm = _submit(db, clinic, responses=resp)
        values = {r.item: r.value for r in adm.responses}
        assert values["wai_sr_1"] is None
        total = next(s for s in adm.scores if s.scale == "total")
        assert total.prorated


def test_frames_use_a_fixed_number_of_queries(factory: sessionmaker[Session], clinic) -> None:
    """No N+1: reading 1 or 12 administrations issues the same number of statements."""
    from sqlalchemy import event

    from bordin.store.queries import administrations_frame, responses_frame

    def statements() -> int:
        seen: list[str] = []
        engine = factory.kw["bind"]

        def count(_conn, _cursor, statement, *_args) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            with factory() as db:
                adm = administrations_frame(db)
                responses_frame(db)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert {"total", "goal", "task", "bond"} <= set(adm.columns)
        return len(seen)

    with factory() as db:
        _submit(db, clinic)
    one = statements()
    for i in range(11):
        with factory() as db:
            _submit(db, clinic, idempotency_key=f"n{i}", session_number=4 + i)
    assert statements() == one == 3


def test_commit_false_keeps_the_callers_transaction(
    factory: sessionmaker[Session], clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With commit=False a failed submission is undone (savepoint) but the caller's own
    pending writes survive, and a good one is committed with them."""
    import bordin.store.submit as submit_module
    from bordin.store.models.alerts import Alert

    real = submit_module.score_rows
    with factory() as db:
        db.add(Alert(episode_id=clinic.episode_id, kind="risk", rule="r", dedupe_key="a1"))
        db.flush()
        monkeypatch.setattr(submit_module, "score_rows", lambda *_a: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            _submit(db, clinic, commit=False)
        monkeypatch.setattr(submit_module, "score_rows", real)
        _submit(db, clinic, idempotency_key="k-2", commit=False)
        db.commit()
    with factory() as db:
        assert _count(db, Alert) == 1
        assert db.scalars(select(Administration.idempotency_key)).all() == ["k-2"]
        assert _count(db, TherapySession) == 1
