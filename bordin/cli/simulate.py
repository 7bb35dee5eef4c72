"""``bordin simulate``: write a simulated clinic to a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bordin.cli import app
from bordin.errors import InputError


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(field="--set", value=item, allowed="NAME=VALUE (VALUE as JSON)")
        name, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        out[name.strip()] = value
    return out


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the tables to.")],
    preset: Annotated[str, typer.Option(help="clinic, baldwin2007 or ipd17.")] = "clinic",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bytes).")] = 0,
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    episodes: Annotated[
        int | None, typer.Option("--episodes", help="Number of episodes (overrides the preset).")
    ] = None,
    organizations: Annotated[
        int | None, typer.Option("--organizations", help="Number of organisations.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any parameter, NAME=VALUE with VALUE as JSON (repeatable)."),
    ] = None,
) -> None:
    """Simulate a clinic (alliance, symptoms, ruptures, item responses) and save its tables."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    import bordin.simulate as sim

    if format not in ("csv", "parquet"):
        raise InputError(field="--format", value=format, allowed="csv or parquet")
    overrides = _parse_set(set_ or [])
    if episodes is not None:
        overrides["n_episodes"] = episodes
    if organizations is not None:
        overrides["n_organizations"] = organizations
    with Progress(
        TextColumn("[bold]{task.description:<12}"), BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(), transient=False,
    ) as bar:
        task = bar.add_task("simulating", total=1.0)

        def tick(stage: str, frac: float) -> None:
            bar.update(task, description=stage, completed=frac * 0.8)

        data = sim.clinic(preset, seed=seed, progress=tick, **overrides)
        bar.update(task, description="saving", completed=0.85)
        files = data.save(out, format=format)
        bar.update(task, description="done", completed=1.0)
    summary = data.summary()
    for row in summary.itertuples(index=False):
        typer.echo(f"{row.what:>18}: {row.count}")
    typer.echo(f"wrote {len(files)} files to {out}")
