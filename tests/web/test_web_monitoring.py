"""Alerts after a submission: the risk alert at once, the rest in a background batch,
and never twice."""

from __future__ import annotations

import sqlalchemy as sa

from bordin.store.models.alerts import Alert


def test_risk_alert_is_immediate_and_not_duplicated_by_the_batch(env) -> None:
    tok = env.world.tokens["patient_a"]
    answers = {"wai_sr": {str(i): 1 for i in range(1, 13)},
               "phq9": {str(i): (3 if i == 9 else 2) for i in range(1, 10)}}
    r = env.client.post(f"/api/v1/questionnaires/{tok}",
                        json={"idempotency_key": "risky", "answers": answers})
    assert r.status_code == 201
    ep = env.world.ids["episode_a"]
    with env.session() as db:
        now = db.scalars(sa.select(Alert).where(Alert.episode_id == ep, Alert.kind == "risk",
                                                Alert.state == "open")).all()
    six = [a for a in now if a.evidence.get("session") == 6]
    assert len(six) == 1 and six[0].evidence["observed"] == 3 and six[0].suggestions
    added = env.app.state.monitor.flush()
    assert env.app.state.monitor.flush() == 0  # nothing queued twice
    with env.session() as db:
        risk6 = [a for a in db.scalars(sa.select(Alert).where(Alert.episode_id == ep,
                                                              Alert.kind == "risk"))
                 if a.evidence.get("session") == 6]
        kinds = set(db.scalars(sa.select(Alert.kind).where(Alert.episode_id == ep)))
    assert len(risk6) == 1, "the batch raised the risk alert a second time"
    # The batch met the same risk record: it left the alert as it was, so a clinician
    # who read it before the batch acknowledges the version they read.
    assert risk6[0].version == six[0].version == 1
    assert risk6[0].evidence == six[0].evidence
    assert added >= 1 and "rupture" in kinds  # the alliance fell from 48 to 12
    from bordin.web.alerts.raise_alerts import update_episode

    with env.session() as db:
        assert update_episode(db, episode_id=ep) == 0  # re-running adds nothing


def test_acknowledging_an_open_alert_the_monitor_refreshed_since_it_was_read(env) -> None:
    from bordin.web.alerts.service import alert_dict

    alert = env.world.ids["alert_a"]
    with env.session() as db:
        a = db.get(Alert, alert)
        a.evidence = {**(a.evidence or {}), "depth": 9.5}  # what a monitor refresh does
        db.commit()
        assert a.version == 2
    h = {"Authorization": f"Bearer {env.login('own')}"}
    url = f"/api/v1/alerts/{alert}/acknowledge"
    assert env.client.post(url, json={"version": 3}, headers=h).status_code == 409  # unseen
    r = env.client.post(url, json={"version": 1}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    # Once acknowledged, any later acknowledgement conflicts, whatever version it read.
    for version in (1, 3):
        assert env.client.post(url, json={"version": version}, headers=h).status_code == 409
    with env.session() as db:
        assert alert_dict(db.get(Alert, alert))["state"] == "acknowledged"
