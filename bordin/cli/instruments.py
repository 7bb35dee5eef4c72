"""``bordin instruments list|show``, ``bordin load-wording`` and ``bordin score``.

Thin: parse, call :mod:`bordin.instruments`, render. Bad input raises
:class:`~bordin.errors.InputError`, which :func:`bordin.cli.main` turns into exit code 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from bordin.cli import app
from bordin.errors import InputError
from bordin.instruments import load_wording, registry, score_frame
from bordin.instruments.spec import InstrumentSpec

instruments_app = typer.Typer(
    name="instruments",
    help="List and show the instrument library (structure, scoring, licence, sources).",
    no_args_is_help=True,
)
app.add_typer(instruments_app, name="instruments")

# A wide page when piped (Rich would fall back to 80 columns and fold every name).
_console = Console(width=None if sys.stdout.isatty() else 150)


@instruments_app.command("list")
def list_instruments() -> None:
    """List every instrument with its kind, raters, target, items and licence."""
    table = Table(title="Bordin instrument library", show_lines=False)
    for col in ("id", "name", "kind", "raters", "target", "items", "range", "licence"):
        table.add_column(col, overflow="fold")
    for spec in registry.all():
        lo, hi = spec.range
        table.add_row(
            spec.id,
            spec.name,
            spec.kind,
            ", ".join(spec.raters),
            spec.target or "-",
            str(len(spec.items)),
            f"{lo:g}-{hi:g} ({spec.scoring})",
            "licence needed" if spec.licence_required else "free",
        )
    _console.print(table)


@instruments_app.command("show")
def show_instrument(
    instrument: Annotated[str, typer.Argument(help="Instrument id, e.g. phq9 (see `list`).")],
) -> None:
    """Show one instrument: items, subscales, bands, cutoff, norms, licence, sources."""
    spec = registry.get(instrument)
    _console.print(f"[bold]{spec.name}[/bold]  ({spec.id}, spec version {spec.version})")
    if spec.description:
        _console.print(spec.description, markup=False)
    lo, hi = spec.range
    _console.print(
        f"kind: {spec.kind}; raters: {', '.join(spec.raters)}; target: {spec.target or '-'}; "
        f"scoring: {spec.scoring}, range {lo:g}-{hi:g}; up to {spec.max_missing} missing "
        f"item(s) prorated; higher is {'better' if spec.higher_is_better else 'worse'}"
    )
    _console.print(_items_table(spec))
    if spec.subscales:
        sub = Table(title="Subscales")
        sub.add_column("subscale")
        sub.add_column("items")
        sub.add_column("range")
        for name, members in spec.subscales.items():
            slo, shi = spec.subscale_range(name)
            sub.add_row(name, ", ".join(members), f"{slo:g}-{shi:g}")
        _console.print(sub)
    if spec.bands:
        bands = Table(title="Severity bands")
        bands.add_column("from")
        bands.add_column("to")
        bands.add_column("band")
        for band in spec.bands:
            bands.add_row(f"{band.lower:g}", f"{band.upper:g}", band.label)
        _console.print(bands)
    if spec.cutoff is not None:
        side = "below" if spec.higher_is_better else "at or above"
        _console.print(f"clinical cutoff: {spec.cutoff:g} (clinical range: {side} it)")
    for name, mult in spec.derived.items():
        _console.print(f"derived score: {name} = total x {mult:g}")
    if spec.norms is not None:
        n = spec.norms
        how = (
            f"r_xx = {n.reliability:g}, SD = {n.sd:g}"
            if n.reliability is not None
            else f"reliable change of {n.change_points:g} points"
        )
        _console.print(f"reliable change: {how} (source: {n.source})")
    _console.print(
        f"codes: {spec.codes.system} panel {spec.codes.panel}"
        + (f", total {spec.codes.total}" if spec.codes.total else "")
    )
    _console.print(
        f"licence: {spec.licence}"
        + (" [bold red](licence required for use)[/bold red]" if spec.licence_required else "")
    )
    if spec.verify:
        _console.print(
            f"[yellow]not verified against a published source: {', '.join(spec.verify)}[/yellow]"
        )
    for note in spec.notes:
        _console.print(f"note: {note}", markup=False)
    _console.print("[bold]References[/bold]")
    for ref in spec.references:
        supports = f" [supports: {', '.join(ref.supports)}]" if ref.supports else ""
        url = f" {ref.url}" if ref.url else ""
        _console.print(f"- {ref.citation}{url}{supports}", highlight=False, markup=False)


def _items_table(spec: InstrumentSpec) -> Table:
    table = Table(title="Items (labels are Bordin's paraphrases, not official wording)")
    for col in ("id", "label", "scale", "reverse", "risk", "code"):
        table.add_column(col, overflow="fold")
    for item in spec.items:
        sc = item.scale
        scale = f"{sc.min:g}-{sc.max:g}" + (f" step {sc.step:g}" if sc.step != 1 else "")
        if item.rescale:
            scale += f" -> {item.rescale[0]:g}-{item.rescale[1]:g}"
        table.add_row(
            item.id,
            item.label,
            scale,
            "yes" if item.reverse else "",
            "yes" if item.risk else "",
            item.code or "",
        )
    return table


@app.command("load-wording")
def load_wording_command(
    file: Annotated[
        Path, typer.Argument(help="YAML or CSV file with the clinic's licensed wording.")
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data folder (default: $BORDIN_DATA_DIR or ./data)."
        ),
    ] = None,
) -> None:
    """Load a clinic's licensed item wording (and translations) into the data folder.

    The file is checked against the instrument specs first; nothing is stored unless
    every instrument, language and item in it is valid.
    """
    stored = load_wording(file, data_dir=data_dir)
    for w in stored:
        typer.echo(f"stored {w.instrument} [{w.language}]: {len(w.items)} items -> {w.path}")


@app.command("score")
def score_command(
    file: Annotated[
        Path, typer.Argument(help="CSV or Parquet file, one row per administration.")
    ],
    instrument: Annotated[
        str, typer.Option("--instrument", "-i", help="Instrument id, e.g. phq9.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write scores here (.csv or .parquet); default: CSV to stdout."
        ),
    ] = None,
    missing: Annotated[
        str,
        typer.Option(
            "--missing",
            help="'raise' stops at a row with too many missing items; 'nan' scores it NaN.",
        ),
    ] = "raise",
) -> None:
    """Score a file with wide item columns (phq9_1 ... or 1 ...) and write the scores.

    Columns that are not items (ids, dates) are kept in front of the scores.
    """
    spec = registry.get(instrument)
    df = _read_table(file)
    scored = score_frame(spec, df, missing=missing)  # type: ignore[arg-type]
    item_cols = {c for c in df.columns if spec.resolve_item_id(c) is not None}
    keep = df[[c for c in df.columns if c not in item_cols]]
    result = pd.concat([keep, scored], axis=1)
    if out is None:
        typer.echo(result.to_csv(index=False), nl=False)
        return
    _write_table(result, out)
    typer.echo(f"scored {len(result)} row(s) of {spec.id} -> {out}")


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(field="file", value=str(path), allowed="an existing CSV or Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(
            field="file", value=path.name, allowed=f"a readable {suffix[1:]} file ({exc})"
        ) from exc
    raise InputError(field="file", value=path.name, allowed="a .csv or .parquet file")


def _write_table(df: pd.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix in {".parquet", ".pq"}:
        df.to_parquet(path, index=False)
    else:
        raise InputError(field="--out", value=str(path), allowed="a .csv or .parquet path")
