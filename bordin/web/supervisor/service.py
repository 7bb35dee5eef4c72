"""What a clinic lead sees: therapist effects with shrinkage, alliance by target, ruptures, trends.

Therapist effects are the conditional modes (BLUPs) of a random-intercept model
``total ~ 1 + (1 | clinician/patient)`` on patient-rated alliance totals, fitted
with :func:`bordin.stats.mixed.fit`: each therapist's estimate is pulled towards
the clinic mean in proportion to how little data they have, and is shown with its
95% interval. They are listed by clinician code, never ranked: most intervals
overlap, and a league table of raw means would reward small caseloads and luck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from bordin.errors import BordinError, InputError
from bordin.instruments import registry
from bordin.monitor.batch import monitor_frame
from bordin.monitor.service import population_sd
from bordin.store.models.core import Organization
from bordin.store.queries import administrations_frame, episodes_frame

__all__ = ["Filters", "Supervision", "supervision"]


@dataclass(frozen=True)
class Filters:
    """Filters of the supervisor view (``None``: all)."""

    treatment: str | None = None
    format: str | None = None
    diagnosis: str | None = None
    instrument: str = "wai_sr"


@dataclass
class Supervision:
    """The numbers of the supervisor view."""

    therapist_effects: list[dict[str, Any]] = field(default_factory=list)
    icc: float | None = None
    model_note: str = ""
    by_therapist: list[dict[str, Any]] = field(default_factory=list)
    by_target: list[dict[str, Any]] = field(default_factory=list)
    ruptures: dict[str, Any] = field(default_factory=dict)
    trend: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)
    n_administrations: int = 0
    outcome_effects: list[dict[str, Any]] = field(default_factory=list)
    outcome_icc: float | None = None
    outcome_icc_ci: list[float | None] | None = None
    outcome_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"therapist_effects": self.therapist_effects, "icc": self.icc,
                "model_note": self.model_note, "by_therapist": self.by_therapist,
                "by_target": self.by_target, "ruptures": self.ruptures, "trend": self.trend,
                "options": self.options, "n_administrations": self.n_administrations,
                "outcome_effects": self.outcome_effects, "outcome_icc": self.outcome_icc,
                "outcome_icc_ci": self.outcome_icc_ci, "outcome_note": self.outcome_note}


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in r.items()} for r in df.to_dict(orient="records")]


def _frames(db: Session, org_code: str, f: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    eps = episodes_frame(db, organization=org_code)
    adm = administrations_frame(db, organization=org_code, instrument=f.instrument)
    options = {k: sorted(str(x) for x in eps[k].dropna().unique()) if k in eps else []
               for k in ("treatment", "format", "diagnosis")}
    keep = eps
    for col in ("treatment", "format", "diagnosis"):
        val = getattr(f, col)
        if val:
            keep = keep[keep[col] == val]
    adm = adm[adm["episode"].isin(keep["episode"])] if not adm.empty else adm
    adm.attrs["options"] = options
    return adm, keep


def _effects(pt: pd.DataFrame, out: Supervision) -> None:
    from bordin.stats.mixed import fit

    n_ther = pt["clinician"].nunique()
    if n_ther < 3 or len(pt) < 10:
        out.model_note = (f"Therapist effects need at least 3 therapists and 10 ratings "
                          f"(have {n_ther} and {len(pt)}).")
        return
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fit("total ~ 1 + (1 | clinician/patient)", pt[["total", "clinician",
                                                                   "patient"]].dropna())
        re = model.ranef("clinician")
        icc = model.icc()
    except (BordinError, ValueError, KeyError) as exc:
        out.model_note = f"The model could not be fitted: {type(exc).__name__}."
        return
    counts = pt.groupby("clinician")["patient"].nunique()
    rows = []
    for r in re.itertuples():
        se = float(r.se)
        rows.append({"clinician": str(r.group), "effect": float(r.estimate), "se": se,
                     "lower": float(r.estimate) - 1.96 * se,
                     "upper": float(r.estimate) + 1.96 * se,
                     "patients": int(counts.get(str(r.group), 0))})
    out.therapist_effects = sorted(rows, key=lambda d: d["clinician"])
    try:  # share of the variance between therapists (indexed by grouping factor)
        out.icc = _clean(float(icc.loc["clinician", "icc"]))
    except (IndexError, KeyError, ValueError, TypeError):
        out.icc = None
    out.model_note = ("Random-intercept model total ~ 1 + (1 | clinician/patient) on "
                      "patient-rated alliance; estimates are shrunken deviations from the "
                      "clinic mean with 95% intervals.")


def _outcome_effects(db: Session, org_code: str, episodes: pd.Series, out: Supervision,
                     outcome: str = "phq9") -> None:
    """Therapist effects on outcome with :func:`bordin.alliance.therapist_effects`:
    last PHQ-9 adjusted for the first, shrunken BLUPs with intervals (ranks not shown)."""
    from bordin.alliance import therapist_effects

    adm = administrations_frame(db, organization=org_code, instrument=outcome, rater="patient")
    adm = adm[adm["episode"].isin(episodes)].dropna(subset=["total"])
    if adm.empty:
        out.outcome_note = f"No {outcome} ratings match these filters."
        return
    g = adm.sort_values("session").groupby("episode")
    pt = pd.DataFrame({"baseline": g["total"].first(), "post": g["total"].last(),
                       "clinician": g["clinician"].first(), "n": g.size()})
    pt = pt[pt["n"] >= 2]
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = therapist_effects(pt, outcome="post", covariates=("baseline",),
                                    min_caseload=3, lower_is_better=True)
    except InputError as exc:
        # In words for a clinic lead: what the model needs, and what these data have.
        out.outcome_note = (f"Therapist effects on {outcome} cannot be estimated for these "
                            f"filters: they need {exc.allowed}, and the data have "
                            f"{exc.value}.")
        return
    except (BordinError, ValueError, KeyError) as exc:
        out.outcome_note = (f"Therapist effects on {outcome} cannot be estimated here "
                            f"({type(exc).__name__}).")
        return
    t = res.therapists
    out.outcome_effects = sorted(
        ({"clinician": str(idx), "effect": _clean(float(r["blup"])),
          "lower": _clean(float(r["ci_lower"])), "upper": _clean(float(r["ci_upper"])),
          "patients": int(r["caseload"])} for idx, r in t.iterrows()),
        key=lambda d: d["clinician"])
    out.outcome_icc = _clean(float(res.icc))
    out.outcome_icc_ci = [_clean(float(v)) for v in res.icc_ci] if res.icc_ci else None
    out.outcome_note = (f"bordin.alliance.therapist_effects: last {outcome} adjusted for the "
                        "first, (1 | clinician); shrunken effects (lower is better) with 95% "
                        "intervals.")


def _rupture_counts(db: Session, pt: pd.DataFrame) -> dict[str, Any]:
    """Rupture events in the patient-rated series, under the monitor's own default rule.

    The same rule and the same clinic SDs as the alerts clinicians get (the combined
    rule on the total, judged against the clinic's between-patient SDs), run over
    every series the filters keep: the counts agree with the patients' pages, and do
    not depend on whether the monitor has run since the data came in. An event is
    ``open`` while the alliance is still down within the repair window.
    """
    n_eps = int(pt["episode"].nunique())
    states: pd.Series = pd.Series(dtype=object)
    episodes: set[Any] = set()
    if n_eps:
        try:
            frame = monitor_frame(pt, population_sd=population_sd(db) or None,
                                  discrepancy=False, outcomes=False, risk=False)
        except BordinError:
            frame = pd.DataFrame()
        if not frame.empty:
            rup = frame[frame["kind"] == "rupture"]
            states = rup["state"].astype(str)
            episodes = set(rup["episode"])
    counts = states.value_counts()
    repaired, unrepaired = int(counts.get("repaired", 0)), int(counts.get("unrepaired", 0))
    return {"episodes": n_eps, "with_rupture": len(episodes),
            "rupture_rate": len(episodes) / n_eps if n_eps else None,
            "events": len(states), "repaired": repaired, "unrepaired": unrepaired,
            "open": int(counts.get("open", 0)),
            "repair_rate": repaired / (repaired + unrepaired)
            if repaired + unrepaired else None}


def supervision(db: Session, *, organization_id: int, filters: Filters) -> Supervision:
    """Compute the supervisor view for one organisation (aggregates only)."""
    org = db.get(Organization, organization_id)
    out = Supervision()
    try:
        registry.get(filters.instrument)
    except BordinError:
        filters = Filters(filters.treatment, filters.format, filters.diagnosis, "wai_sr")
    adm, _eps = _frames(db, org.code, filters)
    out.options = adm.attrs.get("options", {})
    out.n_administrations = len(adm)
    if adm.empty:
        out.model_note = "No ratings match these filters."
        return out
    pt = adm[adm["rater"] == "patient"]
    _effects(pt, out)
    _outcome_effects(db, org.code, _eps["episode"], out)
    by_t = (pt.groupby("clinician").agg(mean=("total", "mean"), sd=("total", "std"),
                                        patients=("patient", "nunique"),
                                        ratings=("total", "size")).reset_index())
    out.by_therapist = _records(by_t)
    if "target" in adm:
        tg = (adm.assign(target=adm["target"].fillna("clinician"))
              .groupby(["target", "rater"]).agg(mean=("total", "mean"),
                                                ratings=("total", "size")).reset_index())
        out.by_target = _records(tg)
    out.ruptures = _rupture_counts(db, pt)
    if "date" in pt and pt["date"].notna().any():
        month = pd.to_datetime(pt["date"], errors="coerce").dt.to_period("M").astype(str)
        tr = pt.assign(month=month).groupby("month").agg(
            mean=("total", "mean"), ratings=("total", "size")).reset_index()
        out.trend = _records(tr[tr["month"] != "NaT"])
    return out
