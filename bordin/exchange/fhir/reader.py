"""FHIR R4 Bundles to tidy frames, for import.

The Bundle is parsed and validated with the R4B models of ``fhir.resources``.
QuestionnaireResponses become administrations: the instrument from the
``questionnaire`` canonical (see :func:`identify_form`), the
patient from ``subject``, the session from ``encounter`` (an ``Encounter`` of
the bundle with Bordin's session-number extension and its ``EpisodeOfCare``),
the rater from Bordin's rater extension or else from the type of ``source``.
A response whose encounter is not in the bundle may name a stored session as
``Encounter/<episode>-s<number>``. A bare QuestionnaireResponse is read as a
bundle of one.
Observations derived from a response are checked against Bordin's scoring of
its items.

Responses to LOINC's published forms import too. The instrument is named by
Bordin's canonical (``.../Questionnaire/<id>|<version>``) or by the LOINC panel
code an instrument's spec declares (``http://loinc.org/q/44249-1``, or any
canonical ending in it, or the ``code`` of the bundle's Questionnaire with that
url). Each answered item, nested ones included, is matched to an item of the
instrument by :func:`resolve_link_id`: its Bordin id or number, else its LOINC
code (``44250-9``, ``/44250-9``, ``/44249-1/44250-9``), else the LOINC code
that the form's Questionnaire (in the bundle, or LOINC's own form,
:data:`~bordin.exchange.fhir.common.LOINC_FORM_LINK_IDS`) gives that linkId.
The panel's total score and its other unscored items
(:data:`~bordin.exchange.fhir.common.LOINC_PANEL_EXTRAS`) are ignored: Bordin
scores the items itself, and a total sent alongside is not compared. Any other
linkId of such a response is refused naming the linkId, the instrument and the
linkIds allowed. The ``line`` of a problem is the entry's position in the bundle
(the first entry is 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple

import pandas as pd
from pydantic import ValidationError
from sqlalchemy.orm import Session

from bordin.errors import InputError
from bordin.exchange.fhir import common as c
from bordin.exchange.fhir.questionnaire import coded_value
from bordin.exchange.frames import LINE, TidyData, to_batch
from bordin.instruments import InstrumentSpec, registry
from bordin.store.bulk import ImportResult, Progress, import_batch

__all__ = [
    "IGNORED",
    "FormMatch",
    "answered_items",
    "identify_form",
    "import_fhir",
    "import_fhir_json",
    "loinc_panel_instrument",
    "parse_bundle",
    "read_bundle",
    "resolve_link_id",
    "tidy_from_bundle",
    "unknown_link_id",
]

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


# ------------------------------------------------------------------ forms
#: What :func:`resolve_link_id` returns for a panel item that is read and ignored.
IGNORED: Final = "<ignored panel item>"


class FormMatch(NamedTuple):
    """The instrument a ``questionnaire`` canonical names, and how to read its linkIds.

    Attributes
    ----------
    instrument
        The instrument id (for a LOINC form, the spec's id; for Bordin's canonical,
        the canonical's last segment as given); None without a canonical.
    version
        Bordin's instrument version from the canonical; None for a LOINC form, whose
        version is the form's own.
    panel
        The LOINC panel code the form was identified by; None for Bordin's canonical.
    link_codes
        linkId to LOINC item code, from the form's Questionnaire (in the bundle) or
        LOINC's own form.
    """

    instrument: str | None
    version: str | None
    panel: str | None
    link_codes: Mapping[str, str]


def loinc_panel_instrument(code: str | None) -> InstrumentSpec | None:
    """The instrument whose spec declares ``code`` as its LOINC panel code, if any."""
    if not code:
        return None
    for spec in registry:
        if spec.codes.system == c.SYS_LOINC and spec.codes.panel == code:
            return spec
    return None


def _questionnaire_codes(q: Any) -> tuple[list[str], dict[str, str]]:
    """A Questionnaire's LOINC codes, and its items' linkIds with their LOINC codes."""
    panel = [cd.code for cd in q.code or [] if cd.system == c.SYS_LOINC and cd.code]
    links: dict[str, str] = {}

    def walk(items: Any) -> None:
        for it in items or []:
            for cd in it.code or []:
                if cd.system == c.SYS_LOINC and cd.code:
                    links.setdefault(it.linkId, cd.code)
            walk(it.item)

    walk(q.item)
    return panel, links


def identify_form(
    canonical: str | None, questionnaires: Mapping[str, Any] | None = None,
) -> FormMatch:
    """The instrument a QuestionnaireResponse's ``questionnaire`` canonical names.

    Parameters
    ----------
    canonical
        ``questionnaire`` of the response: Bordin's ``.../Questionnaire/<id>|<version>``
        (any canonical whose last segment is an instrument id, as before), or a canonical
        whose last segment is a LOINC panel code an instrument's spec declares
        (``http://loinc.org/q/44249-1``, ``.../Questionnaire/69737-5``).
    questionnaires
        Questionnaire resources of the bundle by ``url``, ``url|version`` and
        ``Questionnaire/<id>``. The one the canonical names may identify the
        instrument by its LOINC ``code`` and gives its items' linkIds a LOINC code.

    Returns
    -------
    FormMatch
        For an unknown canonical, the last segment as ``instrument`` (reported on import
        as an unknown instrument).
    """
    if not canonical:
        return FormMatch(None, None, None, {})
    url, _, version = canonical.partition("|")
    last = url.rstrip("/").rsplit("/", 1)[-1] if url else ""
    found = questionnaires or {}
    q = found.get(canonical) or found.get(url) or found.get(f"Questionnaire/{last}")
    panel_codes, links = _questionnaire_codes(q) if q is not None else ([], {})
    if last and last in registry:
        return FormMatch(last, version or None, None, links)
    for code in (last, *panel_codes):
        spec = loinc_panel_instrument(code)
        if spec is not None:
            panel = spec.codes.panel
            return FormMatch(spec.id, None, panel,
                             {**c.LOINC_FORM_LINK_IDS.get(panel, {}), **links})
    return FormMatch(last or None, version or None, None, links)


def resolve_link_id(spec: InstrumentSpec, link_id: str, form: FormMatch) -> str | None:
    """The Bordin item an answer's linkId stands for, :data:`IGNORED`, or None.

    In order: the item's id or number (``phq9_1``, ``1``); its LOINC code, alone or
    as the last segment of a path (``44250-9``, ``/44250-9``, ``/44249-1/44250-9``);
    the LOINC code the form's Questionnaire gives the linkId. For a LOINC form
    (``form.panel``), the panel's total score and its unscored items give
    :data:`IGNORED`. None for anything else.
    """
    found = spec.resolve_item_id(link_id)
    if found is not None:
        return found
    if spec.codes.system != c.SYS_LOINC:
        return None
    by_code = {it.code: it.id for it in spec.items if it.code}
    codes = [c.link_code(link_id)]
    if (given := form.link_codes.get(link_id)) is not None:
        codes.append(given)
    for code in codes:
        if code in by_code:
            return by_code[code]
    if form.panel is not None:
        extras = {spec.codes.total, *c.LOINC_PANEL_EXTRAS.get(form.panel, {})}
        if any(code in extras for code in codes):
            return IGNORED
    return None


def unknown_link_id(spec: InstrumentSpec, link_id: str, form: FormMatch) -> InputError:
    """The error for a linkId that names no item of ``spec``, listing the linkIds allowed."""
    ids = spec.item_ids
    numbers = [i[len(spec.id) + 1:] for i in ids]
    parts = [f"{ids[0]} ... {ids[-1]} or {numbers[0]} ... {numbers[-1]}"]
    codes = [it.code for it in spec.items if it.code]
    if codes:
        parts.append(f"a LOINC item code {', '.join(codes)} (also as a path, /{codes[0]})")
    own = sorted(k for k, v in form.link_codes.items() if v in codes)
    if own:
        parts.append(f"the form's linkIds {', '.join(own)}")
    ignored: list[str] = []
    if form.panel is not None:
        ignored = [spec.codes.total] if spec.codes.total else []
        ignored += list(c.LOINC_PANEL_EXTRAS.get(form.panel, {}))
        ignored += sorted(k for k, v in form.link_codes.items() if v in ignored)
    if ignored:
        parts.append(f"or a panel item read and ignored: {', '.join(ignored)}")
    return InputError(field="item linkId", value=link_id, context=spec.id,
                      allowed=f"a linkId of an item of {spec.id}: {'; '.join(parts)}")


def answered_items(items: Any) -> Iterator[Any]:
    """Every QuestionnaireResponse item with an answer, nested ones included.

    Groups (``item.item``) and items under an answer (``answer.item``) are walked;
    an item without an answer is left out.
    """
    for it in items or []:
        if it.answer:
            yield it
        for ans in it.answer or []:
            yield from answered_items(ans.item)
        yield from answered_items(it.item)


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
    questionnaires: dict[str, Any] = {}
    for _n, q in by_kind.get("Questionnaire", []):
        if q.url:
            questionnaires.setdefault(q.url, q)
            if q.version:
                questionnaires.setdefault(f"{q.url}|{q.version}", q)
        if q.id:
            questionnaires.setdefault(f"Questionnaire/{q.id}", q)

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
        row, items = _response(n, r, encounters, episode_of, pat, prac, expected.get(r.id, {}),
                               questionnaires)
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
    observed: dict[str, float], questionnaires: Mapping[str, Any],
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    form = identify_form(r.questionnaire, questionnaires)
    instrument, version = form.instrument, form.version
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
    items = _answers(form, r.item)
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


def _answers(form: FormMatch, items: Any) -> list[tuple[str, Any]]:
    """(item, value) of every answer: the item by its Bordin id where the linkId names one.

    A linkId that names no item of a known instrument gets the text of
    :func:`unknown_link_id` as its value, reported by the import as this entry's bad
    value; an unknown instrument is reported once, by the import.
    """
    spec = registry.get(form.instrument) if form.instrument in registry else None
    out: list[tuple[str, Any]] = []
    for it in answered_items(items):
        item_id = resolve_link_id(spec, it.linkId, form) if spec is not None else None
        if item_id == IGNORED:
            continue
        if spec is not None and item_id is None:
            out.append((it.linkId, f"<{unknown_link_id(spec, it.linkId, form)}>"))
            continue
        key = item_id or it.linkId
        for ans in it.answer or []:
            if ans.valueCoding is not None:
                out.append((key, _coded_value(form.instrument, key, ans.valueCoding)))
            elif ans.valueDecimal is not None:
                out.append((key, float(ans.valueDecimal)))
            elif ans.valueInteger is not None:
                out.append((key, int(ans.valueInteger)))
            else:
                out.append((key, "<unsupported answer type>"))
    return out


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
