"""The ``bordin`` command line.

Each command group lives in its own module of this package and registers
itself on :data:`app`; this module only assembles them. Exit codes: 0 success,
1 bad input (the message names the field, the value and what is allowed),
2 usage error, 3 a failure of the store or an estimate.
"""

from __future__ import annotations

import sys

import typer

from bordin.errors import BordinError, InputError

app = typer.Typer(
    name="bordin",
    help="Measure, monitor and analyse the therapeutic alliance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_INPUT = 1
EXIT_FAILURE = 3


def _register() -> None:
    # One import per command module; each adds its commands to `app`.
    # Keep this list sorted.
    from bordin.cli import (
        analyze,  # noqa: F401
        demo,  # noqa: F401
        exchange,  # noqa: F401
        instruments,  # noqa: F401
        meta,  # noqa: F401
        monitor,  # noqa: F401
        simulate,  # noqa: F401
        store,  # noqa: F401
        version,  # noqa: F401
        web,  # noqa: F401
    )


@app.callback()
def _root() -> None:
    """Measure, monitor and analyse the therapeutic alliance."""


def main() -> None:
    """Run the CLI, turning Bordin's errors into messages and exit codes."""
    _register()
    try:
        app()
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    except BordinError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
