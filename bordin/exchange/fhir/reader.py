"""FHIR R4 Bundles to tidy frames, for import.

The Bundle is parsed and validated with the R4B models of ``fhir.resources``.
QuestionnaireResponses become administrations: the instrument from the
``questionnaire`` canonical (``.../Questionnaire/<id>|<version>``), the
patient from ``subject``, the session from ``encounter`` (an ``Encounter`` of
the bundle with Bordin's session-number extension and its ``EpisodeOfCare``),
the rater from Bordin's rater extension or else from the type of ``source``.
A response whose encounter is not in the bundle may name a stored session as
``Encounter/<episode>-s<number>``. A bare QuestionnaireResponse is read as a
bundle of one.
Observations derived from a response are checked against Bordin's scoring of
its items. The ``line`` of a problem is the entry's position in the bundle
(the first entry is 1).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy.orm import Session

from bordin.errors import InputError
from bordin.exchange.fhir import common as c
from bordin.exchange.fhir.questionnaire import coded_value
from bordin.exchange.frames import LINE, TidyData, to_batch
from bordin.instruments import registry
from bordin.store.bulk import ImportResult, Progress, import_batch

__all__ = ["import_fhir", "import_fhir_json", "parse_bundle", "read_bundle", "tidy_from_bundle"]

_SESSION_ID = re.compile(r"^(.+)-s(\d+)$")
SOURCE_RATER = {"Patient": "patient", "RelatedPerson": "patient", "Practitioner": "clinician",
                "PractitionerRole": "clinician"}


def read_bundle(path: str | Path) -> Any:
    """Parse and validate a FHIR R4 Bundle (or one QuestionnaireResponse) from a JSON file."""
    return parse_bundle(_load_json(path), source=Path(path).name)


def parse_bundle(raw: Any, *, source: str = "request") -> Any:
    """Validate parsed JSON as a FHIR R4 Bundle with the R4B models.

    A bare ``QuestionnaireResponse`` is wrapped in a collection bundle of one.

    Raises
    ------
    InputError
        Not a Bundle or QuestionnaireResponse, or not valid FHIR R4 (the first
        problem the models report is named).
    """
    from fhir.resources.R4B.bundle import Bundle

    if isinstance(raw, dict) and raw.get("resourceType") == "QuestionnaireResponse":
        raw = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": raw}]}
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        raise InputError(field="resourceType",
                         value=raw.get("resourceType") if isinstance(raw, dict) else raw,
                         allowed="'Bundle' or 'QuestionnaireResponse'", context=source)
    try:
        return Bundle.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise InputError(field=where or "bundle", value=first.get("input", "")
                         if not isinstance(first.get("input"), dict) else "<object>",
                         allowed=f"a valid FHIR R4 Bundle ({first.get('msg')})",
                         context=source) from exc


def _identifier(res: Any, system: str) -> str | None:
    ids = res.identifier or []
    if not isinstance(ids, list):  # QuestionnaireResponse has at most one
        ids = [ids]
    for ident in ids:
        if ident.system == system:
            return ident.value
    return ids[0].value if ids else None


def _ext(res: Any, url: str) -> Any:
    for e in res.extension or []:
        if e.url == url:
            for name in ("valueCode", "valueString", "valueInteger", "valueCoding",
                         "valueDecimal"):
                v = getattr(e, name, None)
                if v is not None:
                    return v
    return None


def _ref_id(ref: Any) -> tuple[str, str] | None:
    if ref is None or not ref.reference:
        return None
    parts = ref.reference.rstrip("/").split("/")
    if len(parts) < 2:
        return None
    return parts[-2], parts[-1]


def tidy_from_bundle(bundle: Any) -> TidyData:
    """Tidy frames (with entry numbers as ``_line``) from a parsed Bundle."""
    by_kind: dict[str, list[tuple[int, Any]]] = {}
    for n, entry in enumerate(bundle.entry or [], start=1):
        if entry.resource is not None:
            by_kind.setdefault(entry.resource.get_resource_type(), []).append((n, entry.resource))

    def codes(kind: str, system: str) -> dict[str, str]:
        return {r.id: _identifier(r, system) or r.id for _n, r in by_kind.get(kind, [])}

    org = codes("Organization", c.SYS_ORGANIZATION)
    prac = codes("Practitioner", c.SYS_CLINICIAN)
    pat = codes("Patient", c.SYS_PATIENT)
    epi = codes("EpisodeOfCare", c.SYS_EPISODE)

    def code_of(ref: Any, table: dict[str, str]) -> str | None:
        got = _ref_id(ref)
        return None if got is None else table.get(got[1], got[1])

    organizations = [{LINE: n, "organization": org[r.id], "name": r.name}
                     for n, r in by_kind.get("Organization", [])]
    clinicians = []
    for n, r in by_kind.get("PractitionerRole", []):
        role = None
        for cc in r.code or []:
            for coding in cc.coding or []:
                if coding.system == c.SYS_ROLE:
                    role = coding.code
        clinicians.append({LINE: n, "clinician": code_of(r.practitioner, prac),
                           "organization": code_of(r.organization, org), "role": role})
    episodes = []
    episode_of: dict[str, dict[str, Any]] = {}
    for n, r in by_kind.get("EpisodeOfCare", []):
        dx = _ext(r, c.EXT_DIAGNOSIS)
        row = {
            LINE: n, "episode": epi[r.id], "patient": code_of(r.patient, pat),
            "clinician": code_of(r.careManager, prac),
            "organization": code_of(r.managingOrganization, org),
            "treatment": _ext(r, c.EXT_TREATMENT), "format": _ext(r, c.EXT_FORMAT),
            "diagnosis": dx.code if dx is not None else None,
            "start": r.period.start if r.period else None,
            "end": r.period.end if r.period else None,
        }
        episodes.append(row)
        episode_of[r.id] = row
    encounters: dict[str, tuple[str | None, Any, Any]] = {}
    for _n, r in by_kind.get("Encounter", []):
        eoc = _ref_id(r.episodeOfCare[0]) if r.episodeOfCare else None
        encounters[r.id] = (eoc[1] if eoc else None, _ext(r, c.EXT_SESSION),
                            r.period.start if r.period else None)
    expected: dict[str, dict[str, float]] = {}
    for _n, r in by_kind.get("Observation", []):
        for d in r.derivedFrom or []:
            got = _ref_id(d)
            if got and got[0] == "QuestionnaireResponse" and r.valueQuantity is not None:
                coding = r.code.coding[0] if r.code and r.code.coding else None
                if coding is not None:
                    expected.setdefault(got[1], {})[coding.code] = float(r.valueQuantity.value)
    administrations, responses = [], []
    for n, r in by_kind.get("QuestionnaireResponse", []):
        row, items = _response(n, r, encounters, episode_of, pat, prac, expected.get(r.id, {}))
        administrations.append(row)
        if row["instrument"] not in registry:
            continue  # reported once, as an unknown instrument, not once per answer
        responses.extend({LINE: n, "administration_id": row["administration_id"],
                          "item": item, "value": value} for item, value in items)
    name = "bundle"
    files = dict.fromkeys(("organizations", "clinicians", "episodes", "administrations",
                           "responses"), name)
    return TidyData(
        administrations=pd.DataFrame(administrations),
        responses=pd.DataFrame(responses),
        episodes=pd.DataFrame(episodes),
        clinicians=pd.DataFrame(clinicians),
        organizations=pd.DataFrame(organizations),
        files=files,
    )


def _response(
    n: int, r: Any, encounters: dict[str, tuple[str | None, Any, Any]],
    episode_of: dict[str, dict[str, Any]], pat: dict[str, str], prac: dict[str, str],
    observed: dict[str, float],
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    canonical = r.questionnaire or ""
    url, _, version = canonical.partition("|")
    instrument = url.rstrip("/").rsplit("/", 1)[-1] if url else None
    enc = _ref_id(r.encounter)
    episode_id, session, session_date = encounters.get(enc[1], (None, None, None)) if enc \
        else (None, None, None)
    ep = episode_of.get(episode_id or "", {})
    if enc and enc[1] not in encounters and (m := _SESSION_ID.match(enc[1])):
        # An encounter of a stored episode, named as Bordin names sessions: <episode>-s<n>.
        ep = {"episode": m.group(1)}
        session = int(m.group(2))
    source = _ref_id(r.source)
    subject = _ref_id(r.subject)
    rater = _ext(r, c.EXT_RATER) or (SOURCE_RATER.get(source[0]) if source else None)
    rater_clinician = None
    if source is not None and source[0] == "Practitioner":
        rater_clinician = prac.get(source[1], source[1])
    key = _identifier(r, c.SYS_KEY)
    items: list[tuple[str, Any]] = []
    for it in r.item or []:
        for ans in it.answer or []:
            if ans.valueCoding is not None:
                items.append((it.linkId, _coded_value(instrument, it.linkId, ans.valueCoding)))
            elif ans.valueDecimal is not None:
                items.append((it.linkId, float(ans.valueDecimal)))
            elif ans.valueInteger is not None:
                items.append((it.linkId, int(ans.valueInteger)))
            else:
                items.append((it.linkId, "<unsupported answer type>"))
    row: dict[str, Any] = {
        LINE: n, "administration_id": f"entry-{n}",
        "organization": ep.get("organization"), "clinician": ep.get("clinician"),
        "patient": pat.get(subject[1], subject[1]) if subject else None,
        "episode": ep.get("episode") or (f"<encounter {enc[1]} not in the bundle>"
                                          if enc else None),
        "session": session, "date": session_date, "instrument": instrument,
        "instrument_version": version or None, "rater": rater,
        "target": _ext(r, c.EXT_TARGET), "target_ref": _ext(r, c.EXT_TARGET_REF),
        "rater_clinician": rater_clinician,
        "authored_at": r.authored, "idempotency_key": key,
    }
    spec = registry.get(instrument) if instrument in registry else None
    if spec is not None:
        wanted = {spec.codes.total: "total"} | {
            spec.codes.subscales.get(s, f"{spec.codes.panel}.{s}"): s for s in spec.subscales
        }
        for code, value in observed.items():
            if code in wanted:
                row[wanted[code]] = value
    return row, items


def _coded_value(instrument: str | None, item_id: str, coding: Any) -> Any:
    """The scale point of an answer coding, or a text naming what is wrong with it.

    A text is reported by the import as this entry's bad value, beside the other bad
    entries, rather than raised. An unknown instrument or item keeps the code (a
    number if it reads as one) for the import to report.
    """
    spec = registry.get(instrument) if instrument in registry else None
    if spec is not None and spec.resolve_item_id(item_id) is not None:
        try:
            return coded_value(spec, item_id, coding=coding)
        except InputError as exc:
            return f"<{exc}>"
    try:
        return float(coding.code)
    except (TypeError, ValueError):
        return coding.code


def import_fhir(
    db: Session, path: str | Path, *, progress: Progress | None = None,
) -> ImportResult:
    """Import the QuestionnaireResponses of a FHIR Bundle file, all or none.

    Raises
    ------
    ImportRowsError
        Every bad entry with its position in the bundle (as its "line") and the reason.
    """
    return import_fhir_json(db, _load_json(path), source=Path(path).name, progress=progress)


def import_fhir_json(
    db: Session, raw: Any, *, source: str = "request", progress: Progress | None = None,
) -> ImportResult:
    """Import a parsed FHIR Bundle or QuestionnaireResponse (JSON as Python objects).

    For a FHIR API: the same checks and all-or-nothing write as :func:`import_fhir`.
    """
    data = tidy_from_bundle(parse_bundle(raw, source=source))
    label = f"{source} (lines are bundle entry numbers)"
    data.files = dict.fromkeys(data.files, label)
    return import_batch(db, to_batch(data, source=label), source=label, progress=progress)


def _load_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(field="file", value=str(p), allowed=f"a readable JSON file ({exc})") \
            from exc
