"""The background monitor's pacing: a long batch makes the next pause longer."""

from __future__ import annotations

import pytest

from bordin.web.alerts.queue import MonitorQueue


def test_pause_keeps_the_monitor_to_its_share_of_a_core() -> None:
    q = MonitorQueue(sessions=None, interval=1.0, enabled=False, max_share=0.1)  # type: ignore[arg-type]
    assert q.pause() == 1.0  # nothing run yet: the configured interval
    q._last_run = 0.05  # a cheap batch: still the interval
    assert q.pause() == 1.0
    q._last_run = 0.4  # 0.4 s of CPU: wait 3.6 s, so the batch is 10% of the time
    assert q.pause() == pytest.approx(3.6)
    assert q._last_run / (q._last_run + q.pause()) == pytest.approx(0.1)


def test_store_watcher_runs_the_monitor_on_new_administrations_once(env) -> None:
    """The monitor process finds new submissions in the store itself."""
    import sqlalchemy as sa

    from bordin.store.models.alerts import Alert
    from bordin.web.alerts.queue import MonitorQueue
    from bordin.web.alerts.watcher import StoreWatcher, look

    env.app.state.monitor.enabled = False  # as under `bordin serve`: no thread in the app
    sessions = env.app.state.sessions
    watcher = StoreWatcher()
    queue = MonitorQueue(sessions, enabled=True)
    look(sessions, watcher=watcher, queue=queue)  # catches up on the world as built
    assert watcher.new_episodes(env.session()) == set()  # nothing new since
    tok = env.world.tokens["patient_a"]
    answers = {"wai_sr": {str(i): 1 for i in range(1, 13)},
               "phq9": {str(i): 1 for i in range(1, 10)}}
    r = env.client.post(f"/api/v1/questionnaires/{tok}",
                        json={"idempotency_key": "watched", "answers": answers})
    assert r.status_code == 201
    added = look(sessions, watcher=watcher, queue=queue)
    assert look(sessions, watcher=watcher, queue=queue) == 0  # seen once only
    with env.session() as db:
        kinds = set(db.scalars(sa.select(Alert.kind).where(
            Alert.episode_id == env.world.ids["episode_a"])))
    assert added >= 1 and "rupture" in kinds  # the alliance fell from 48 to 12


def test_store_watcher_reads_back_a_window_for_late_commits() -> None:
    """An id below the highest seen, committed late, is still found once."""
    from bordin.web.alerts.watcher import LOOKBACK, StoreWatcher

    class Rows:
        def __init__(self, rows):
            self.rows = rows

        def execute(self, _stmt):
            return self

        def all(self):
            return self.rows

    w = StoreWatcher()
    assert w.new_episodes(Rows([(10, 1), (12, 2)])) == {1, 2}
    assert w.new_episodes(Rows([(10, 1), (12, 2)])) == set()
    assert w.new_episodes(Rows([(10, 1), (11, 3), (12, 2)])) == {3}  # 11 committed late
    far = 12 + LOOKBACK + 5
    assert w.new_episodes(Rows([(far, 4)])) == {4}
    assert 10 not in w._seen  # the window moved on: memory stays bounded
