"""``bordin analyze``: run the analyses a data set supports, write one HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bordin.cli import app
from bordin.errors import InputError

_TABLE_NAMES = ("administrations", "studies")


def _read_table(path: Path):  # -> pandas.DataFrame (pandas imported lazily)
    import pandas as pd

    if path.is_dir():
        for name in _TABLE_NAMES:
            for ext in (".parquet", ".csv"):
                candidate = path / f"{name}{ext}"
                if candidate.exists():
                    return _read_table(candidate)
        raise InputError(field="DATA", value=str(path),
                         allowed="a folder holding administrations.csv/.parquet or "
                                 "studies.csv/.parquet")
    if not path.exists():
        raise InputError(field="DATA", value=str(path), allowed="an existing file or folder")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path)
        if suffix == ".tsv":
            return pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as exc:
        raise InputError(field="DATA", value=str(path),
                         allowed=f"a readable CSV or Parquet file ({exc})") from exc
    raise InputError(field="DATA", value=str(path), allowed="a .csv, .tsv or .parquet file")


def _parse_window(window: str) -> str | tuple[int, int]:
    if window in ("early", "mid", "late"):
        return window
    parts = window.split("-")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    raise InputError(field="--window", value=window,
                     allowed="early, mid, late or FIRST-LAST session numbers such as 3-4")


@app.command()
def analyze(
    data: Annotated[Path, typer.Argument(help="Administrations or study table (CSV/Parquet), "
                                              "or a folder holding one.")],
    report: Annotated[Path, typer.Option("--report", help="HTML file to write.")],
    alliance_instrument: Annotated[
        str | None, typer.Option(help="Alliance instrument name (default: detected).")] = None,
    outcome_instrument: Annotated[
        str | None, typer.Option(help="Outcome instrument name (default: detected).")] = None,
    window: Annotated[str, typer.Option(help="early, mid, late or FIRST-LAST.")] = "early",
    study: Annotated[
        str | None, typer.Option(help="Column of studies/sites for the IPD analysis.")] = None,
    responses: Annotated[
        Path | None, typer.Option(help="Item responses (administration_id, item, value) for "
                                       "reliability and CFA; default: responses.csv beside "
                                       "a folder's administrations.")] = None,
    higher_is_better: Annotated[
        bool, typer.Option("--higher-is-better", help="The outcome is not a symptom scale: "
                                                      "higher scores are better.")] = False,
) -> None:
    """Detect and run the alliance analyses DATA supports; write one self-contained report."""
    from bordin.report import build_report

    frame = _read_table(data)
    if responses is None and data.is_dir():
        found = [data / f"responses{ext}" for ext in (".parquet", ".csv")]
        responses = next((f for f in found if f.exists()), None)
    items = _read_table(responses) if responses is not None else None
    result = build_report(frame, alliance_instrument=alliance_instrument,
                          outcome_instrument=outcome_instrument, window=_parse_window(window),
                          study=study, outcome_lower_is_better=not higher_is_better,
                          responses=items)
    result.write(report)
    ran = [s.key for s in result.sections if s.error is None]
    failed = [s.key for s in result.sections if s.error is not None]
    typer.echo(f"wrote {report}: {len(ran)} analyses ({', '.join(ran) or 'none'})"
               + (f"; not run: {', '.join(failed)}" if failed else ""))
