"""Pseudonymised exports and alliance analyses for researchers.

Researchers never see patient or clinician codes: every export goes through
:class:`bordin.exchange.pseudonymise.Pseudonymiser` (keyed hashes, dates
replaced by session numbers), keyed by a secret derived from the app's secret,
so pseudonyms are stable across exports of one installation.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from bordin.errors import InputError
from bordin.exchange.fhir.common import EXT_RATER, EXT_SESSION, SYS_PATIENT, questionnaire_url
from bordin.exchange.frames import TidyData, read_store
from bordin.exchange.pseudonymise import Pseudonymiser
from bordin.store.models.core import Organization

__all__ = ["FRAMES", "export_fhir", "export_frame", "pseudonymised", "run_alliance_outcome"]

FRAMES = ("administrations", "responses", "episodes")


def pseudonymised(db: Session, *, organization_id: int, secret: str) -> TidyData:
    """The organisation's tidy data, pseudonymised (dates removed, session numbers kept)."""
    org = db.get(Organization, organization_id)
    key = hmac.new(secret.encode(), b"bordin research pseudonyms", hashlib.sha256).digest()
    data = read_store(db, organization=org.code)
    return Pseudonymiser(secret=key, dates="sessions").apply(data)


def export_frame(data: TidyData, *, frame: str) -> pd.DataFrame:
    if frame not in FRAMES:
        raise InputError(field="frame", value=frame, allowed=" or ".join(FRAMES))
    return data.frame(frame)


def export_fhir(data: TidyData) -> dict[str, Any]:
    """A FHIR collection Bundle of pseudonymised QuestionnaireResponses (no dates)."""
    adm, resp = data.administrations, data.responses
    entries = []
    by_adm: dict[Any, list[dict[str, Any]]] = {}
    if not resp.empty:
        id_col = "administration_id" if "administration_id" in resp else resp.columns[0]
        for r in resp.itertuples(index=False):
            d = r._asdict()
            by_adm.setdefault(d[id_col], []).append(
                {"linkId": str(d["item"])} if pd.isna(d["value"]) else
                {"linkId": str(d["item"]), "answer": [{"valueDecimal": float(d["value"])}]})
    id_col = "administration_id" if "administration_id" in adm else None
    for i, r in enumerate(adm.to_dict(orient="records")):
        aid = r.get(id_col) if id_col else None
        entries.append({"resource": {
            "resourceType": "QuestionnaireResponse", "id": f"r{i + 1}",
            "questionnaire": questionnaire_url(str(r["instrument"])), "status": "completed",
            "subject": {"identifier": {"system": SYS_PATIENT + "/pseudonym",
                                       "value": str(r["patient"])}},
            "extension": [{"url": EXT_SESSION, "valueInteger": int(r["session"])},
                          {"url": EXT_RATER, "valueCode": str(r["rater"])}],
            "item": by_adm.get(aid, []) if aid is not None else [],
        }})
    return {"resourceType": "Bundle", "type": "collection", "total": len(entries),
            "entry": entries}


def run_alliance_outcome(data: TidyData, *, alliance: str, outcome: str,
                         window: str) -> Any:
    """``bordin.alliance.alliance_outcome`` on the pseudonymised administrations."""
    from bordin.alliance import alliance_outcome

    if window not in ("early", "mid", "late"):
        raise InputError(field="window", value=window, allowed="early, mid or late")
    return alliance_outcome(data.administrations, alliance_instrument=alliance,
                            outcome_instrument=outcome, window=window)
