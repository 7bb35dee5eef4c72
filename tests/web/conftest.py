"""Fixtures of the web tests: a migrated database with a small world, an app, clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from web_world import PASSWORD, World, build

from bordin.store.db import init_db
from bordin.web.app import create_app
from bordin.web.settings import WebSettings

SECRET = "test-secret-" + "x" * 40


@dataclass
class Env:
    app: object
    client: TestClient
    world: World
    url: str

    def session(self):
        return self.app.state.sessions()

    def login(self, username: str, password: str = PASSWORD) -> str:
        r = self.client.post("/api/v1/auth/login", json={"username": username,
                                                         "password": password})
        assert r.status_code == 200, r.text
        return r.json()["token"]


def make_env(url: str) -> Env:
    engine = init_db(url)
    app = create_app(WebSettings(env="test", secret_key=SECRET), engine=engine)
    with app.state.sessions() as db:
        world = build(db)
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    return Env(app=app, client=client, world=world, url=url)


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    e = make_env(database_url)
    yield e
    e.app.state.engine.dispose()


@pytest.fixture
def sqlite_env(sqlite_url: str) -> Iterator[Env]:
    e = make_env(sqlite_url)
    yield e
    e.app.state.engine.dispose()
