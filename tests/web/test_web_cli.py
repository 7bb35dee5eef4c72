"""``bordin user add/disable`` and ``bordin audit verify`` from the command line."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from web_world import build

from bordin.store.db import init_db, session_factory
from bordin.web.audit.chain import append


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bordin.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_user_commands_and_audit_verify(sqlite_url: str) -> None:
    engine = init_db(sqlite_url)
    with session_factory(engine)() as db:
        build(db)
        for i in range(3):
            append(db, actor_kind="system", action="test", outcome="success", detail={"i": i})
        db.commit()
    r = run("user", "add", "newlead", "--role", "supervisor", "--organization", "clinic-a",
            "--password-stdin", "--db", sqlite_url, stdin="a long enough password\n")
    assert r.returncode == 0, r.stderr
    r = run("user", "add", "x", "--role", "wizard", "--organization", "clinic-a",
            "--password-stdin", "--db", sqlite_url, stdin="a long enough password\n")
    assert r.returncode == 1 and "role" in r.stderr
    r = run("user", "disable", "newlead", "--db", sqlite_url)
    assert r.returncode == 0 and "disabled" in r.stdout
    r = run("audit", "verify", "--db", sqlite_url)
    assert r.returncode == 0 and "intact: 3 rows" in r.stdout, r.stdout + r.stderr
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        conn.execute(sa.text("UPDATE audit_events SET detail = '{\"i\": 9}' WHERE seq = 2"))
    r = run("audit", "verify", "--db", sqlite_url)
    assert r.returncode == 3 and "broken at row 2" in r.stderr
    engine.dispose()
