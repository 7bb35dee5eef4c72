"""``bordin serve``, ``bordin audit verify`` and ``bordin user ...``: the web app's commands."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from bordin.cli import app
from bordin.cli.store import DbOption, open_store, shown_url

__all__ = ["audit_app", "user_app"]

audit_app = typer.Typer(help="Check the audit trail.", no_args_is_help=True)
user_app = typer.Typer(help="Manage the web app's users.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _secret() -> str:
    """``$BORDIN_SECRET_KEY``, else a random per-installation secret kept in the data folder."""
    env = os.environ.get("BORDIN_SECRET_KEY")
    if env:
        return env
    from bordin.store.db import data_dir

    path = Path(data_dir()) / "web_secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


@app.command()
def serve(
    demo: Annotated[bool, typer.Option("--demo", help="Seed a simulated clinic and demo "
                                       "logins into an empty database.")] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: DbOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL).")] = 1,
    monitor: Annotated[bool, typer.Option(
        help="Run the monitor (ruptures, not-on-track) in its own process; risk alerts "
             "are raised with each submission either way.")] = True,
) -> None:
    """Serve the clinic web app (pages, JSON API at /api/v1, FHIR R4 at /fhir)."""
    import uvicorn

    from bordin.web.app import create_app
    from bordin.web.asgi import settle_gc
    from bordin.web.settings import WebSettings

    engine, factory, url = open_store(db)
    if demo:
        from bordin.web.demo import seed_demo

        typer.echo("seeding the demo clinic (first run only) ...")
        with factory() as session:
            logins = seed_demo(session)
        if logins.created:
            typer.echo("demo logins (shown once):")
            for role, (name, password) in logins.users.items():
                typer.echo(f"  {role:<11} {name:<11} {password}")
            if logins.link_path:
                typer.echo(f"  patient questionnaire: http://{host}:{port}{logins.link_path}")
        else:
            typer.echo("demo clinic already seeded; use the logins printed the first time "
                       "(or `bordin user add`)")
    overrides: dict[str, object] = {"secret_key": _secret(), "database_url": url}
    if host in LOOPBACK and "BORDIN_COOKIE_SECURE" not in os.environ:
        overrides["cookie_secure"] = False  # plain HTTP on this machine only
    # On PostgreSQL the monitor runs in one process of its own, not in a thread of each
    # worker: its batches hold the GIL and would stall the worker's requests (see
    # alerts.watcher). On SQLite it stays a thread of the one server process, behind the
    # same write lock as the requests: a second (lower-priority) process holding
    # SQLite's database lock would keep a clinician's click waiting.
    if url.startswith("sqlite"):
        overrides["monitor_in_process"] = monitor
    else:
        overrides["monitor_in_process"] = False
        if monitor:
            _start_monitor(url)
    settings = WebSettings(**overrides)  # type: ignore[arg-type]
    typer.echo(f"serving {shown_url(url)} on http://{host}:{port}/")
    if workers > 1:
        # Worker processes build their own app from the environment.
        engine.dispose()
        os.environ.update({"BORDIN_SECRET_KEY": str(overrides["secret_key"]),
                           "BORDIN_DATABASE_URL": url})
        if overrides.get("cookie_secure") is False:
            os.environ["BORDIN_COOKIE_SECURE"] = "false"
        os.environ["BORDIN_MONITOR_IN_PROCESS"] = "false"
        uvicorn.run("bordin.web.asgi:create", factory=True, host=host, port=port,
                    log_level="warning", access_log=False, workers=workers)
        return
    engine.dispose()  # the server makes its own (see bordin.web.app.web_engine)
    web = create_app(settings)
    settle_gc()
    uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False)


def _start_monitor(url: str) -> None:
    from multiprocessing import get_context

    from bordin.web.alerts.watcher import watch_store

    # daemon: ends with this process; the child also exits when it sees its parent gone.
    get_context("spawn").Process(target=watch_store, args=(url,), name="bordin-monitor",
                                 daemon=True).start()


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Recompute the audit hash chain and report the first broken row (exit 3 if any)."""
    from bordin.web.audit.chain import verify

    engine, factory, _url = open_store(db)
    with factory() as session:
        result = verify(session)
    engine.dispose()
    if result.ok:
        typer.echo(f"audit chain intact: {result.checked} rows")
        return
    typer.echo(f"audit chain broken at row {result.first_bad_seq}: {result.reason} "
               f"({result.checked} rows read)", err=True)
    raise typer.Exit(3)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="clinician, supervisor or researcher.")],
    organization: Annotated[str, typer.Option(help="Organisation code.")],
    clinician: Annotated[str | None, typer.Option(help="Clinician code (clinician role).")]
    = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="Read the password from stdin.")] = False,
    db: DbOption = None,
) -> None:
    """Add a user; the password is prompted for (or read from stdin), never an argument."""
    from sqlalchemy import select

    from bordin.errors import InputError
    from bordin.store.models.core import Clinician, Organization
    from bordin.web.auth.service import add_user

    password = sys.stdin.readline().rstrip("\n") if password_stdin else typer.prompt(
        "password", hide_input=True, confirmation_prompt=True)
    engine, factory, _url = open_store(db)
    with factory() as session:
        org = session.scalar(select(Organization).where(Organization.code == organization))
        if org is None:
            raise InputError(field="organization", value=organization,
                             allowed="the code of an organisation in the database")
        clin_id = None
        if clinician is not None:
            c = session.scalar(select(Clinician).where(Clinician.code == clinician,
                                                       Clinician.organization_id == org.id))
            if c is None:
                raise InputError(field="clinician", value=clinician,
                                 allowed=f"the code of a clinician of {organization}")
            clin_id = c.id
        add_user(session, username=username, password=password, role=role,
                 organization_id=org.id, clinician_id=clin_id)
        session.commit()
    engine.dispose()
    typer.echo(f"user {username} added ({role}, {organization})")


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="Login name.")],
                 db: DbOption = None) -> None:
    """Disable a user and end all their sessions at once."""
    from bordin.web.auth.service import disable_user

    engine, factory, _url = open_store(db)
    with factory() as session:
        ended = disable_user(session, username=username)
        session.commit()
    engine.dispose()
    typer.echo(f"user {username} disabled; {ended} session(s) ended")
