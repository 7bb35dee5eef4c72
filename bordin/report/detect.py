"""Which analyses does a data set support? Inspect it and make a plan.

A *study-level* table (``r`` and ``n`` columns) supports a random-effects
meta-analysis and, with moderators such as the patient-to-therapist ratio, a
meta-regression. An *administrations* table supports the alliance analyses
according to what it holds: alliance and outcome instruments, sessions,
clinicians, organisations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from bordin.errors import InputError

__all__ = ["Plan", "detect"]

SUBSCALES = ("goal", "task", "bond")
_ALLIANCE_NAME = re.compile(r"wai|alliance|haq|calpas|vpps|srs|bond", re.IGNORECASE)
# Outcome measures in order of preference (depression and global distress first).
_OUTCOME_NAMES = ("phq", "oq", "core", "bdi", "hamd", "hads", "k10", "gad", "ors", "who")


@dataclass
class Plan:
    """What to run, with the reasons for what is left out."""

    kind: str  # "administrations" or "studies"
    alliance_instruments: list[str] = field(default_factory=list)
    outcome_instrument: str | None = None
    study: str | None = None
    analyses: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    moderators: list[str] = field(default_factory=list)

    def add(self, name: str, ok: bool, reason: str) -> None:
        """Record an analysis as planned, or skipped with its reason."""
        if ok:
            self.analyses.append(name)
        else:
            self.skipped[name] = reason


def _alliance_instruments(data: pd.DataFrame) -> list[str]:
    subs = [s for s in SUBSCALES if s in data.columns]
    found: list[str] = []
    if subs:
        has = data[subs].notna().any(axis=1)
        if "target" in data.columns:
            # The alliance with the clinician (not with a programme or a group).
            has &= data["target"].isna() | (data["target"] == "clinician")
        found = sorted(map(str, data.loc[has, "instrument"].dropna().unique()))
    if not found:
        found = sorted(str(i) for i in data["instrument"].dropna().unique()
                       if _ALLIANCE_NAME.search(str(i)))
    return found


def _outcome_instrument(data: pd.DataFrame, alliance: list[str]) -> str | None:
    rest = data[~data["instrument"].isin(alliance)].dropna(subset=["total"])
    if rest.empty:
        return None
    per = rest.groupby(["instrument", "episode"])["session"].nunique()
    repeated = (per >= 2).groupby(level=0).sum()
    if repeated.max() == 0:
        return None
    repeated = repeated[repeated > 0]
    for stem in _OUTCOME_NAMES:
        named = [str(i) for i in repeated.index if stem in str(i).lower()]
        if named:
            return str(repeated.loc[named].idxmax())
    return str(repeated.idxmax())


def detect(
    data: pd.DataFrame,
    *,
    alliance_instrument: str | None = None,
    outcome_instrument: str | None = None,
    study: str | None = None,
) -> Plan:
    """Inspect a table and plan the analyses it supports.

    Parameters
    ----------
    data
        An administrations table or a study-level table.
    alliance_instrument, outcome_instrument
        Override the detected instruments.
    study
        Column identifying studies/sites for the two-stage IPD meta-analysis
        (default: ``study`` if present, else ``organization``).
    """
    if not isinstance(data, pd.DataFrame):
        raise InputError(field="data", value=type(data).__name__, allowed="a pandas DataFrame")
    cols = set(data.columns)
    if {"r", "n"} <= cols and "instrument" not in cols:
        plan = Plan(kind="studies")
        k = int(data[["r", "n"]].dropna().shape[0])
        plan.add("meta_analysis", k >= 2, f"{k} studies with r and n (need 2)")
        mods = [c for c in ("ratio",) if c in cols or "n_therapists" in cols]
        numeric_extra = [c for c in data.columns
                         if c not in {"r", "n", "study", "n_therapists", "ratio"}
                         and pd.api.types.is_numeric_dtype(data[c])]
        plan.moderators = mods or numeric_extra[:1]
        plan.add("moderators", bool(plan.moderators) and k >= 5,
                 "no moderator column (e.g. n_therapists for the patient-to-therapist ratio) "
                 "or fewer than 5 studies")
        return plan
    need = {"instrument", "session", "total", "episode", "rater"}
    missing = sorted(need - cols)
    if missing:
        raise InputError(
            field="data", value=f"missing columns {missing}",
            allowed="an administrations table (episode, session, instrument, rater, total, ...) "
                    "or a study table (study, r, n, ...)",
        )
    plan = Plan(kind="administrations")
    plan.alliance_instruments = ([alliance_instrument] if alliance_instrument
                                 else _alliance_instruments(data))
    plan.outcome_instrument = outcome_instrument or _outcome_instrument(
        data, plan.alliance_instruments)
    have_both = bool(plan.alliance_instruments) and plan.outcome_instrument is not None
    why = ("no alliance instrument found" if not plan.alliance_instruments
           else "no outcome instrument measured at two or more sessions")
    plan.add("association", have_both, why)
    n_clin = data["clinician"].nunique() if "clinician" in cols else 0
    plan.add("contribution", have_both and n_clin >= 3,
             why if not have_both else f"{n_clin} clinicians (need 3)")
    plan.add("therapist_effects", plan.outcome_instrument is not None and n_clin >= 3,
             "no outcome instrument" if plan.outcome_instrument is None
             else f"{n_clin} clinicians (need 3)")
    n_org = data["organization"].nunique() if "organization" in cols else 0
    plan.add("clinic_effects", plan.outcome_instrument is not None and n_org >= 3 and n_clin >= 3,
             f"{n_org} organizations (need 3)")
    if have_both:
        ali = data[data["instrument"].isin(plan.alliance_instruments)]
        per = ali.groupby("episode")["session"].nunique()
        longitudinal_ok = int((per >= 3).sum()) >= 10
    else:
        longitudinal_ok = False
    plan.add("longitudinal", longitudinal_ok,
             why if not have_both else "fewer than 10 episodes with alliance at 3+ sessions")
    plan.study = study or ("study" if "study" in cols else
                           "organization" if "organization" in cols else None)
    n_study = data[plan.study].nunique() if plan.study else 0
    plan.add("ipd", longitudinal_ok and n_study >= 2,
             "needs the longitudinal analysis and 2+ studies/sites")
    return plan
