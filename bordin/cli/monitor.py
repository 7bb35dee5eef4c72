"""``bordin monitor``: run every monitoring rule over a file of administrations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from bordin.cli import app
from bordin.errors import InputError

_COLUMNS = ["episode", "instrument", "scale", "kind", "rule", "start", "session", "state",
            "severity", "pathway"]


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(field="file", value=str(path), allowed="an existing CSV or Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path)
    except Exception as exc:  # any reader failure is a bad file, named with its cause
        raise InputError(field="file", value=str(path),
                         allowed=f"a readable {suffix.lstrip('.')} file ({exc})") from exc
    raise InputError(field="file", value=str(path), allowed="a .csv or .parquet file")


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return None if text.lower() == "none" else text


def _rule(spec: str) -> Any:
    """``name`` or ``name:key=value,key=value`` -> a rule object."""
    from bordin.monitor import rules

    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, val = part.partition("=")
        if not eq:
            raise InputError(field="--rule", value=spec,
                             allowed="name or name:key=value,key=value (e.g. personal_sd:k=1)")
        params[key.strip()] = _value(val.strip())
    return rules.get(name.strip(), **params)


@app.command()
def monitor(
    file: Annotated[Path, typer.Argument(help="Tidy administrations (CSV or Parquet).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the alerts (.csv, .parquet or .json).")] = None,
    rule: Annotated[list[str] | None, typer.Option(
        "--rule", help="A rupture rule, e.g. personal_sd:k=1 (repeat; default: the "
        "standard set).")] = None,
    by_session: Annotated[int, typer.Option(
        help="Session by which a reliable improvement is expected.")] = 6,
    population_sd: Annotated[float | None, typer.Option(
        help="Between-patient SD for the combined rule (default: from the file).")] = None,
    kind: Annotated[list[str] | None, typer.Option(
        help="Show only these kinds (risk, not_on_track, rupture, discrepancy, ceiling).")] = None,
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 40,
) -> None:
    """Find ruptures, not-on-track courses, discrepancies and risk items; print the alerts."""
    from bordin.monitor import monitor_frame
    from bordin.monitor.records import alert_records, flat_frame

    kinds = ("risk", "not_on_track", "rupture", "discrepancy", "ceiling")
    for k in kind or ():
        if k not in kinds:
            raise InputError(field="--kind", value=k, allowed=f"one of {', '.join(kinds)}")
    adm = _read(file)
    rules_ = [_rule(r) for r in rule] if rule else None
    alerts = monitor_frame(adm, rules=rules_, by_session=by_session, population_sd=population_sd)
    if kind:
        alerts = alerts.loc[alerts["kind"].isin(kind)].reset_index(drop=True)
    if output is not None:
        suffix = output.suffix.lower()
        if suffix == ".json":
            output.write_text(json.dumps(alert_records(alerts), indent=1), encoding="utf-8")
        elif suffix in (".parquet", ".pq"):
            flat_frame(alerts).to_parquet(output, index=False)
        elif suffix == ".csv":
            flat_frame(alerts).to_csv(output, index=False)
        else:
            raise InputError(field="--output", value=str(output),
                             allowed="a .csv, .parquet or .json file name")
        typer.echo(f"{len(alerts)} alert(s) written to {output}", err=True)
    counts = alerts["kind"].value_counts()
    typer.echo(f"{len(alerts)} alert(s): " + (", ".join(f"{k} {v}" for k, v in counts.items())
                                              or "none"))
    if len(alerts) and limit > 0:
        typer.echo(alerts[_COLUMNS].head(limit).to_string(index=False))
        if len(alerts) > limit:
            typer.echo(f"... {len(alerts) - limit} more (use --output to save them all)")
