"""``bordin version``."""

from __future__ import annotations

import typer

import bordin
from bordin.cli import app


@app.command()
def version() -> None:
    """Print Bordin's version."""
    typer.echo(bordin.__version__)
