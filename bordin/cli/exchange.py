"""``bordin import`` and ``bordin export``: tidy files and FHIR R4 bundles."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bordin.cli import EXIT_INPUT, app
from bordin.cli.store import DbOption, open_store
from bordin.errors import ImportRowsError

__all__ = ["export", "import_"]


class ExchangeFormat(StrEnum):
    tidy = "tidy"
    fhir = "fhir"


class FileType(StrEnum):
    csv = "csv"
    parquet = "parquet"


class DateHandling(StrEnum):
    shift = "shift"
    sessions = "sessions"


class BundleType(StrEnum):
    collection = "collection"
    transaction = "transaction"


def _print_problems(err: ImportRowsError) -> None:
    console = Console(stderr=True)
    table = Table(title=f"{err.source}: {len(err.problems)} bad row(s); nothing was imported")
    table.add_column("line", justify="right")
    table.add_column("field")
    table.add_column("problem")
    for line, field, message in err.problems:
        table.add_row(str(line), field, message)
    console.print(table)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A tidy folder or file (.csv/.parquet), or a "
                                              "FHIR Bundle (.json).")],
    format: Annotated[ExchangeFormat, typer.Option("--format", "-f",
                                                   help="What the file holds.")] = (
        ExchangeFormat.tidy
    ),
    db: DbOption = None,
) -> None:
    """Import questionnaires: every row is checked first; all are written or none.

    A tidy folder holds administrations (and responses, episodes, clinicians,
    organizations) as CSV or Parquet; a single administrations file may carry
    item responses as wide columns named by item id (phq9_1 ... phq9_9). Bad
    rows are listed with their line numbers and the exit code is 1.
    """
    engine, factory, _url = open_store(db)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            with factory() as session:
                if format is ExchangeFormat.fhir:
                    from bordin.exchange.fhir import import_fhir

                    result = import_fhir(session, path, progress=progress)
                else:
                    from bordin.exchange.tidy import import_tidy

                    result = import_tidy(session, path, progress=progress)
    except ImportRowsError as err:
        _print_problems(err)
        sys.exit(EXIT_INPUT)
    finally:
        engine.dispose()
    typer.echo(
        f"imported {result.administrations} administration(s) "
        f"({result.skipped} already stored), {result.episodes} episode(s), "
        f"{result.patients} patient(s), {result.clinicians} clinician(s), "
        f"{result.organizations} organization(s)"
    )


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="A folder (tidy) or a .json file (FHIR).")],
    format: Annotated[ExchangeFormat, typer.Option("--format", "-f",
                                                   help="Tidy tables or a FHIR R4 Bundle.")] = (
        ExchangeFormat.tidy
    ),
    file_type: Annotated[FileType, typer.Option(help="Tidy files as CSV or Parquet.")] = (
        FileType.csv
    ),
    bundle: Annotated[BundleType, typer.Option(help="FHIR Bundle type.")] = (
        BundleType.collection
    ),
    pseudonymise: Annotated[bool, typer.Option(
        "--pseudonymise", help="Research export: keyed hashes instead of patient, clinician "
        "and episode codes; names dropped; dates shifted or removed.")] = False,
    dates: Annotated[DateHandling, typer.Option(
        help="With --pseudonymise: shift each patient's dates by a secret offset, or keep "
        "session numbers only.")] = DateHandling.shift,
    secret_file: Annotated[Path | None, typer.Option(
        help="With --pseudonymise: the secret salt (created if absent). Default: "
        "$BORDIN_PSEUDONYM_SECRET, else pseudonym.secret in the data folder.",
        show_default=False)] = None,
    db: DbOption = None,
) -> None:
    """Export the store as tidy tables or a FHIR R4 Bundle, optionally pseudonymised."""
    pseudo = None
    if pseudonymise:
        from bordin.exchange.pseudonymise import Pseudonymiser, load_or_create_secret
        from bordin.store.db import data_dir

        secret = load_or_create_secret(secret_file or data_dir() / "pseudonym.secret")
        pseudo = Pseudonymiser(secret=secret, dates=dates.value)
    engine, factory, _url = open_store(db)
    try:
        with factory() as session:
            if format is ExchangeFormat.fhir:
                from bordin.exchange.fhir import export_fhir

                n = export_fhir(session, out, bundle_type=bundle.value, pseudonymiser=pseudo)
                typer.echo(f"wrote a FHIR {bundle.value} bundle of {n} resources to {out}")
            else:
                from bordin.exchange.tidy import export_tidy

                files = export_tidy(session, out, file_format=file_type.value,
                                    pseudonymiser=pseudo)
                typer.echo(f"wrote {len(files)} file(s) to {out}: "
                           + ", ".join(f.name for f in files))
    finally:
        engine.dispose()
