"""The app starts, pages render, the API answers, for each backend."""

from __future__ import annotations


def test_login_caseload_and_episode(env) -> None:
    token = env.login("own")
    h = {"Authorization": f"Bearer {token}"}
    r = env.client.get("/api/v1/caseload", headers=h)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["patient"] for i in items] == ["PA-001"]
    assert items[0]["attention"] == "risk"
    r = env.client.get(f"/api/v1/episodes/{env.world.ids['episode_a']}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {s["instrument"] for s in body["scores"]} == {"wai_sr", "phq9"}
    r = env.client.get(f"/episodes/{env.world.ids['episode_a']}", headers=h)
    assert r.status_code == 200, r.text
    assert "PA-001" in r.text
