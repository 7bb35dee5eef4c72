"""The tidy tables every import and export passes through.

:class:`TidyData` holds five frames (organizations, clinicians, episodes,
administrations, responses) in the column layout of DESIGN.md's contracts (see
:mod:`bordin.store.queries`). Readers of files and FHIR bundles produce one,
with a ``_line`` column saying where each row came from; :func:`to_batch`
turns it into the store's import records, reporting every unreadable value
with its line; :func:`read_store` fills one from the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from bordin.errors import InputError
from bordin.instruments import registry
from bordin.store.bulk import (
    AdministrationRecord,
    ClinicianRecord,
    EpisodeRecord,
    ImportBatch,
    OrganizationRecord,
    Where,
)
from bordin.store.queries import (
    administrations_frame,
    clinicians_frame,
    episodes_frame,
    organizations_frame,
    responses_frame,
)

__all__ = ["FRAMES", "TidyData", "read_store", "to_batch"]

FRAMES = ("organizations", "clinicians", "episodes", "administrations", "responses")
LINE = "_line"


def _empty() -> pd.DataFrame:
    return pd.DataFrame()


@dataclass
class TidyData:
    """Five tidy frames and the name of the file each came from.

    ``administrations`` is required; the others may be empty. Wide item
    columns (named by item id, ``phq9_1``) in ``administrations`` may stand in
    for ``responses``.
    """

    administrations: pd.DataFrame
    responses: pd.DataFrame = field(default_factory=_empty)
    episodes: pd.DataFrame = field(default_factory=_empty)
    clinicians: pd.DataFrame = field(default_factory=_empty)
    organizations: pd.DataFrame = field(default_factory=_empty)
    files: dict[str, str] = field(default_factory=dict)

    def frame(self, name: str) -> pd.DataFrame:
        """The frame called ``name`` (one of :data:`FRAMES`)."""
        return getattr(self, name)

    def without_lines(self, name: str) -> pd.DataFrame:
        """The frame ``name`` without the bookkeeping ``_line`` column."""
        df = self.frame(name)
        return df.drop(columns=[LINE]) if LINE in df.columns else df


def read_store(db: Session, **filters: Any) -> TidyData:
    """Read the whole store (or the part ``filters`` select) into tidy frames.

    ``filters`` are those of :func:`bordin.store.queries.administrations_frame`
    (``organization=``, ``clinician=``, ``patient=``, ``episode=``, ...). A
    filtered read lists only the clinicians and organizations its rows refer to.
    """
    adm = administrations_frame(db, **filters)
    resp = responses_frame(db, **filters)
    ep_filters = {k: v for k, v in filters.items() if k in {"organization", "clinician", "patient"}}
    eps = episodes_frame(db, **ep_filters)
    if "episode" in filters:
        eps = eps[eps["episode"].isin(adm["episode"].unique())]
    clin = clinicians_frame(db)
    orgs = organizations_frame(db)
    if any(v is not None for v in filters.values()):
        # A filtered read carries only the clinicians and organizations it refers to
        # (a clinic's export must not list another clinic's staff).
        people = set(eps["clinician"]) | set(adm["clinician"]) | set(
            adm["rater_clinician"].dropna())
        clin = clin[clin["clinician"].isin(people)].reset_index(drop=True)
        places = set(eps["organization"]) | set(adm["organization"]) | set(clin["organization"])
        orgs = orgs[orgs["organization"].isin(places)].reset_index(drop=True)
    return TidyData(
        administrations=adm,
        responses=resp,
        episodes=eps.reset_index(drop=True),
        clinicians=clin,
        organizations=orgs,
    )


# --------------------------------------------------------------- cell parsing
class _CellError(Exception):
    def __init__(self, field_: str, message: str) -> None:
        super().__init__(message)
        self.field = field_


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _text(row: dict[str, Any], col: str, *, required: bool = False) -> str | None:
    v = row.get(col)
    if _missing(v):
        if required:
            raise _CellError(col, f"{col} is empty; a value is required")
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _integer(row: dict[str, Any], col: str) -> int:
    v = row.get(col)
    if _missing(v):
        raise _CellError(col, f"{col} is empty; expected a whole number")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise _CellError(col, f"{col} = {v!r}; expected a whole number") from None
    if not f.is_integer():
        raise _CellError(col, f"{col} = {v!r}; expected a whole number")
    return int(f)


def _number(v: Any, col: str) -> float | None:
    if _missing(v):
        return None
    if isinstance(v, bool):
        raise _CellError(col, f"{col} = {v!r}; expected a number")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise _CellError(col, f"{col} = {v!r}; expected a number") from None
    if math.isnan(f):
        return None
    return f


def _timestamp(row: dict[str, Any], col: str, *, expected: str) -> pd.Timestamp | None:
    v = row.get(col)
    if _missing(v):
        return None
    try:
        return pd.Timestamp(v)
    except (TypeError, ValueError):
        raise _CellError(col, f"{col} = {v!r}; expected {expected}") from None


def _date(row: dict[str, Any], col: str) -> date | None:
    ts = _timestamp(row, col, expected="a date such as 2024-03-01")
    if ts is None:
        return None
    return ts.date()


def _datetime(row: dict[str, Any], col: str) -> datetime | None:
    ts = _timestamp(row, col, expected="a date-time such as 2024-03-01T14:30:00+00:00")
    if ts is None:
        return None
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)
    return ts.to_pydatetime()


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if df.empty:
        return []
    if LINE not in df.columns:
        df = df.assign(**{LINE: range(1, len(df) + 1)})
    return df.to_dict("records")


def _require(df: pd.DataFrame, name: str, columns: tuple[str, ...], file: str) -> None:
    if df.empty and not len(df.columns):
        return
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            field="columns", value=missing,
            allowed=f"a {name} table with columns {', '.join(columns)}", context=file,
        )


# --------------------------------------------------------------- to records
def to_batch(data: TidyData, *, source: str = "administrations") -> ImportBatch:
    """Turn tidy frames into import records, recording every unreadable cell.

    Raises
    ------
    InputError
        When a frame lacks a required column (the file as a whole is unusable).
    """
    batch = ImportBatch()
    files = {name: data.files.get(name, name) for name in FRAMES}
    files["administrations"] = data.files.get("administrations", source)

    def each(name: str, build: Callable[[dict[str, Any], Where], None]) -> None:
        for row in _records(data.frame(name)):
            where = Where(files[name], int(row[LINE]))
            try:
                build(row, where)
            except _CellError as bad:
                batch.problem(where, bad.field, str(bad))

    _require(data.organizations, "organizations", ("organization",), files["organizations"])
    each("organizations", lambda r, w: batch.organizations.append(
        OrganizationRecord(code=_text(r, "organization", required=True), where=w,
                           name=_text(r, "name"))))
    _require(data.clinicians, "clinicians", ("clinician", "organization"), files["clinicians"])
    each("clinicians", lambda r, w: batch.clinicians.append(
        ClinicianRecord(code=_text(r, "clinician", required=True),
                        organization=_text(r, "organization", required=True), where=w,
                        role=_text(r, "role") or "therapist", name=_text(r, "name"))))
    _require(data.episodes, "episodes", ("episode", "patient", "clinician", "organization"),
             files["episodes"])
    each("episodes", lambda r, w: batch.episodes.append(_episode(r, w)))

    adm = data.administrations
    _require(adm, "administrations", ("episode", "session", "instrument", "rater"),
             files["administrations"])
    responses = _responses_by_admin(data, files["responses"], batch)
    given_episodes = {e.code for e in batch.episodes}
    implied: dict[str, EpisodeRecord] = {}
    for row in _records(adm):
        where = Where(files["administrations"], int(row[LINE]))
        try:
            record = _administration(row, where, responses, adm.columns)
            ep = record.episode
            if ep not in given_episodes and all(
                not _missing(row.get(c)) for c in ("patient", "clinician", "organization")
            ):
                imp = EpisodeRecord(
                    code=ep, patient=_text(row, "patient", required=True),
                    clinician=_text(row, "clinician", required=True),
                    organization=_text(row, "organization", required=True), where=where,
                )
                first = implied.setdefault(ep, imp)
                if (first.patient, first.clinician, first.organization) != (
                    imp.patient, imp.clinician, imp.organization
                ):
                    raise _CellError("episode", f"episode {ep!r} has another patient, clinician or "
                                          f"organization on line {first.where.line}")
            batch.administrations.append(record)
        except _CellError as bad:
            batch.problem(where, bad.field, str(bad))
    batch.episodes.extend(implied.values())
    return batch


def _episode(r: dict[str, Any], w: Where) -> EpisodeRecord:
    return EpisodeRecord(
        code=_text(r, "episode", required=True), patient=_text(r, "patient", required=True),
        clinician=_text(r, "clinician", required=True),
        organization=_text(r, "organization", required=True), where=w,
        treatment=_text(r, "treatment"), format=_text(r, "format") or "individual",
        diagnosis=_text(r, "diagnosis"), start=_date(r, "start"), end=_date(r, "end"),
    )


def _codes_text(values: pd.Series) -> pd.Series:
    """Identifiers as text (``None`` when empty); whole floats lose their ``.0``."""

    def conv(v: Any) -> str | None:
        if _missing(v):
            return None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v).strip()

    return values.map(conv).astype(object)


def _responses_by_admin(
    data: TidyData, file: str, batch: ImportBatch
) -> dict[str, dict[str, Any]]:
    # Column-wise rather than row by row: responses are the longest table.
    df = data.responses
    _require(df, "responses", ("administration_id", "item", "value"), file)
    if df.empty:
        return {}
    lines = df[LINE] if LINE in df.columns else pd.Series(range(1, len(df) + 1), index=df.index)
    adm = _codes_text(df["administration_id"])
    item = _codes_text(df["item"])
    raw = df["value"]
    num = pd.to_numeric(raw, errors="coerce").astype("float64")
    bad_value = num.isna() & ~raw.map(_missing).astype(bool)
    bad = adm.isna() | item.isna() | bad_value
    for i in bad[bad].index:
        where = Where(file, int(lines[i]))
        if adm[i] is None:
            batch.problem(where, "administration_id",
                          "administration_id is empty; a value is required")
        elif item[i] is None:
            batch.problem(where, "item", "item is empty; a value is required")
        else:
            batch.problem(where, "value", f"value = {raw[i]!r}; expected a number")
    good = pd.DataFrame({"adm": adm, "item": item, "value": num, "line": lines})[~bad]
    dup = good.duplicated(["adm", "item"], keep="first")
    if dup.any():
        first = good[~dup].set_index(["adm", "item"])["line"]
        for r in good[dup].itertuples():
            batch.problem(Where(file, int(r.line)), "item",
                          f"item {r.item!r} of administration {r.adm} is given twice "
                          f"(first on line {int(first[(r.adm, r.item)])})")
        good = good[~dup]
    out: dict[str, dict[str, Any]] = {}
    for a, it, v in zip(good["adm"], good["item"], good["value"], strict=True):
        out.setdefault(a, {})[it] = None if math.isnan(v) else float(v)
    known: set[str | None] = set()
    if "administration_id" in data.administrations.columns:
        known = set(_codes_text(data.administrations["administration_id"]))
    unknown = good[~good["adm"].isin(known)]
    for a, line in unknown.groupby("adm")["line"].min().items():
        batch.problem(Where(file, int(line)), "administration_id",
                      f"administration_id {a} is not in the administrations table")
    return out


def _administration(
    row: dict[str, Any], where: Where, responses: dict[str, dict[str, Any]], columns: Any
) -> AdministrationRecord:
    instrument = _text(row, "instrument", required=True)
    session_date = _date(row, "date")
    authored = _datetime(row, "authored_at")
    if authored is None:
        if session_date is None:
            raise _CellError("authored_at", "authored_at and date are both empty; give either")
        authored = datetime(session_date.year, session_date.month, session_date.day, tzinfo=UTC)
    answers: dict[str, Any] = {}
    spec = registry.get(instrument) if instrument in registry else None
    ref = _text(row, "administration_id")
    if ref is not None and ref in responses:
        answers = dict(responses[ref])
    elif spec is not None:
        for item_id in spec.item_ids:
            if item_id in columns:
                answers[item_id] = _number(row.get(item_id), item_id)
    if spec is not None and not answers:
        raise _CellError("responses", "no item responses (give a responses table or item columns "
                                f"named {spec.item_ids[0]} .. {spec.item_ids[-1]})")
    expected: dict[str, float] = {}
    if spec is not None:
        for scale in ("total", *spec.subscales):
            if scale in columns:
                v = _number(row.get(scale), scale)
                if v is not None:
                    expected[scale] = v
    return AdministrationRecord(
        episode=_text(row, "episode", required=True),
        session=_integer(row, "session"),
        instrument=instrument,
        rater=_text(row, "rater", required=True),
        authored_at=authored,
        where=where,
        responses=answers,
        idempotency_key=_text(row, "idempotency_key"),
        version=_text(row, "instrument_version"),
        target=_text(row, "target"),
        target_ref=_text(row, "target_ref"),
        rater_clinician=_text(row, "rater_clinician"),
        session_date=session_date,
        expected=expected,
        patient=_text(row, "patient"),
    )
