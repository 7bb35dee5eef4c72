"""Tidy CSV and Parquet files in and out.

A tidy export is a folder with one file per table: ``organizations``,
``clinicians``, ``episodes``, ``administrations`` and ``responses`` (``.csv``
or ``.parquet``), in the column layout of DESIGN.md's contracts. An import
reads such a folder, or a single administrations file whose item responses
are wide columns named by item id (``phq9_1`` ... ``phq9_9``), validates every
row and writes all of them or none (:func:`bordin.store.bulk.import_batch`).
Line numbers in messages are those of the CSV file (the header is line 1);
for Parquet they are row numbers (the first row is 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from sqlalchemy.orm import Session

from bordin.errors import InputError
from bordin.exchange.frames import FRAMES, LINE, TidyData, read_store, to_batch
from bordin.exchange.pseudonymise import Pseudonymiser
from bordin.store.bulk import ImportResult, Progress, import_batch
from bordin.store.db import begin_read

__all__ = ["FileFormat", "export_tidy", "import_tidy", "read_tidy", "write_tidy"]

FileFormat = Literal["csv", "parquet"]
SUFFIXES = (".csv", ".parquet")


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
            first = 1
        elif path.suffix == ".csv":
            # Everything as text: codes such as "007" stay codes, and each cell
            # is parsed (with its line number) when the row is checked.
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                             encoding="utf-8-sig")
            first = 2
        else:
            raise InputError(field="file", value=str(path), allowed="a .csv or .parquet file")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            field="file", value=str(path), allowed=f"a readable CSV or Parquet table ({exc})"
        ) from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df.assign(**{LINE: range(first, first + len(df))})


def read_tidy(path: str | Path) -> TidyData:
    """Read a tidy folder, or a single administrations file (wide item columns).

    Parameters
    ----------
    path
        A folder holding ``administrations.csv`` (or ``.parquet``) and
        optionally ``responses``, ``episodes``, ``clinicians`` and
        ``organizations``; or one administrations file.

    Raises
    ------
    InputError
        The path does not exist, or holds no administrations table.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(field="path", value=str(p), allowed="an existing file or folder")
    if p.is_file():
        adm = _read_table(p)
        return TidyData(administrations=adm, files={"administrations": p.name})
    found: dict[str, Path] = {}
    for name in FRAMES:
        for suffix in SUFFIXES:
            candidate = p / f"{name}{suffix}"
            if candidate.exists():
                found[name] = candidate
                break
    if "administrations" not in found:
        raise InputError(
            field="path", value=str(p),
            allowed="a folder with administrations.csv or administrations.parquet",
        )
    frames = {name: _read_table(f) for name, f in found.items()}
    return TidyData(**frames, files={name: f.name for name, f in found.items()})


def import_tidy(
    db: Session, path: str | Path, *, progress: Progress | None = None
) -> ImportResult:
    """Import a tidy folder or file into the store, all rows or none.

    Raises
    ------
    ImportRowsError
        Listing every bad row with its line number and reason; nothing is written.
    """
    data = read_tidy(path)
    source = data.files.get("administrations", str(path))
    return import_batch(db, to_batch(data, source=source), source=source, progress=progress)


def write_tidy(data: TidyData, out: str | Path, *, file_format: FileFormat = "csv") -> list[Path]:
    """Write the frames of ``data`` into the folder ``out``; return the files written."""
    if file_format not in ("csv", "parquet"):
        raise InputError(field="file_format", value=file_format, allowed="'csv' or 'parquet'")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError(field="out", value=str(folder), allowed="a folder (new or existing)")
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FRAMES:
        df = data.without_lines(name)
        if df.empty and not len(df.columns):
            continue
        target = folder / f"{name}.{file_format}"
        if file_format == "csv":
            if "authored_at" in df.columns:
                # Timestamps in ISO 8601 with their offset; dates as plain dates.
                df = df.assign(authored_at=df["authored_at"].map(
                    lambda t: "" if pd.isna(t) else pd.Timestamp(t).isoformat()))
            df.to_csv(target, index=False, date_format="%Y-%m-%d")
        else:
            df.to_parquet(target, index=False)
        written.append(target)
    return written


def export_tidy(
    db: Session,
    out: str | Path,
    *,
    file_format: FileFormat = "csv",
    pseudonymiser: Pseudonymiser | None = None,
) -> list[Path]:
    """Export the store as tidy files, pseudonymised when ``pseudonymiser`` is given."""
    begin_read(db)  # an export only reads: do not hold up writers (SQLite)
    data = read_store(db)
    if pseudonymiser is not None:
        data = pseudonymiser.apply(data)
    return write_tidy(data, out, file_format=file_format)
