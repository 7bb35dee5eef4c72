"""Run the analyses a data set supports and assemble them into one HTML report."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bordin.alliance import (
    alliance_outcome,
    moderator_analysis,
    patient_table,
    therapist_effects,
    therapist_patient_contribution,
    two_stage_ipd,
    within_between,
)
from bordin.errors import BordinError, BordinWarning, InputError
from bordin.report.detect import Plan, detect
from bordin.report.html import Section, figure_to_data_uri, render, table_html

__all__ = ["Report", "build_report"]


@dataclass
class Report:
    """The analyses that ran, their results objects, and the rendered page."""

    plan: Plan
    sections: list[Section]
    results: dict[str, Any] = field(default_factory=dict)
    html: str = ""

    def write(self, path: str | Path) -> Path:
        """Write the HTML file (UTF-8) and return its path."""
        p = Path(path)
        p.write_text(self.html, encoding="utf-8")
        return p


def _fmt_ci(d: dict[str, float], digits: int = 2) -> str:
    return f"{d['estimate']:.{digits}f} [{d['ci_lower']:.{digits}f}, {d['ci_upper']:.{digits}f}]"


def _association(data: pd.DataFrame, plan: Plan, window: Any, lower: bool) -> tuple[Section, Any]:
    res = alliance_outcome(data, alliance_instrument=plan.alliance_instruments,
                           outcome_instrument=str(plan.outcome_instrument), window=window,
                           outcome_lower_is_better=lower)
    s = Section("association", "Alliance-outcome association")
    main = res.table[(res.table["score"] == "total")]
    if (main["rater"] == "patient").any():
        main = main[main["rater"] == "patient"]
    parts = [f"{r.rater} total, controlling {r.control}: r = {r.r:.2f} "
             f"[{r.ci_lower:.2f}, {r.ci_upper:.2f}], n = {r.n}" for r in main.itertuples()]
    s.text = (f"Alliance in the {res.window} window against the outcome at the last session "
              f"({plan.outcome_instrument}); positive r = higher alliance, better outcome. "
              + "; ".join(parts) + ".")
    s.tables.append(("Correlations with Fisher-z 95% CIs", table_html(res.table, index=False)))
    s.figures.append(("Correlations by rater, subscale and controls", figure_to_data_uri(
        res.plot())))
    return s, res


def _contribution(patients: pd.DataFrame, rater_col: str) -> tuple[Section, Any]:
    res = therapist_patient_contribution(patients, alliance=rater_col)
    s = Section("contribution", "Therapist versus patient contribution (Baldwin et al. 2007)")
    s.text = (f"Between-therapist coefficient {_fmt_ci(res.between)}, within-therapist "
              f"{_fmt_ci(res.within)}, difference {_fmt_ci(res.difference)} "
              f"(p = {res.difference['p']:.3g}); {res.n_patients} patients of "
              f"{res.n_therapists} therapists ({res.single_patient_therapists} with one patient).")
    s.tables.append(("Coefficients (Satterthwaite df)", table_html(res.table)))
    s.figures.append(("Coefficients and therapist means", figure_to_data_uri(res.plot())))
    return s, res


def _therapists(patients: pd.DataFrame, organization: str | None, lower: bool,
                key: str, title: str) -> tuple[Section, Any]:
    res = therapist_effects(patients, organization=organization, lower_is_better=lower)
    s = Section(key, title)
    if res.icc_ci is not None:
        s.text = (f"ICC (baseline-adjusted) = {res.icc:.3f}, profile-likelihood 95% CI "
                  f"[{res.icc_ci[0]:.3f}, {res.icc_ci[1]:.3f}]; "
                  f"{int(res.therapists['differs'].sum())} of {len(res.therapists)} clinicians "
                  f"differ reliably from the average; clinicians with fewer than "
                  f"{res.min_caseload} patients are not ranked; a caseload of "
                  f"{res.caseload_for_reliability()} gives a reliability of 0.7.")
    else:
        s.text = (f"Clinician share of outcome variance {res.icc:.3f}; clinic share "
                  f"{res.clinic_icc:.3f}.")
        if res.clinics is not None:
            s.tables.append(("Clinic effects (BLUPs)", table_html(res.clinics)))
    s.tables.append(("Variance components", table_html(res.varcomp, index=False)))
    s.tables.append(("Clinicians: shrunken effects, intervals, ranks",
                     table_html(res.therapists.sort_values("blup"))))
    s.figures.append(("Caterpillar plot", figure_to_data_uri(res.plot())))
    return s, res


def _longitudinal(data: pd.DataFrame, plan: Plan) -> tuple[Section, Any]:
    res = within_between(data, alliance_instrument=plan.alliance_instruments,
                         outcome_instrument=str(plan.outcome_instrument))
    s = Section("longitudinal", "Within- and between-patient effects (Curran & Bauer 2011)")
    w = res.effect("alliance_to_symptoms", "within")
    b = res.effect("alliance_to_symptoms", "between")
    r = res.effect("symptoms_to_alliance", "within")
    s.text = (f"Alliance at session t predicting symptoms at t+1: within-patient "
              f"{_fmt_ci(w, 3)}, between-patient {_fmt_ci(b, 3)}; symptoms at t predicting "
              f"alliance at t+1 (within) {_fmt_ci(r, 3)}. {res.n_patients} patients, "
              f"{res.n_observations} lagged pairs.")
    s.tables.append(("Effects (Satterthwaite t intervals)", table_html(res.effects)))
    s.figures.append(("Within beside between", figure_to_data_uri(res.plot())))
    return s, res


def _ipd(data: pd.DataFrame, plan: Plan) -> tuple[Section, Any]:
    assert plan.study is not None  # the plan only includes ipd with a study column
    res = two_stage_ipd(data, alliance_instrument=plan.alliance_instruments,
                        outcome_instrument=str(plan.outcome_instrument), study=plan.study)
    s = Section("ipd", f"Two-stage IPD meta-analysis across {plan.study}")
    p = res.pooled
    s.text = (f"Pooled {res.effect}: {p['estimate']:.3f} [{p['ci_lower']:.3f}, "
              f"{p['ci_upper']:.3f}], tau² = {p['tau2']:.4f}, I² = {p['I2']:.1f}%, k = {p['k']}.")
    s.tables.append(("Per-study estimates", table_html(res.studies)))
    s.figures.append(("Forest plot", figure_to_data_uri(res.plot())))
    return s, res


def _studies(data: pd.DataFrame, plan: Plan) -> list[tuple[Section, Any]]:
    from bordin.stats.meta import meta_analysis

    out = []
    if "meta_analysis" in plan.analyses:
        m = meta_analysis(data, r="r", n="n", test="z",
                          slab="study" if "study" in data.columns else None)
        s = Section("meta_analysis", "Random-effects meta-analysis of alliance-outcome r")
        pr = m.to_r().iloc[0]
        s.text = (f"Pooled r = {pr['pred']:.3f} [{pr['ci_lb']:.3f}, {pr['ci_ub']:.3f}], "
                  f"prediction interval [{pr['pi_lb']:.3f}, {pr['pi_ub']:.3f}]; "
                  f"tau² = {m.tau2:.4f}, I² = {m.I2:.1f}%, k = {m.k} (REML, Fisher z).")
        s.tables.append(("Heterogeneity", table_html(m.heterogeneity())))
        s.figures.append(("Forest plot", figure_to_data_uri(m.forest_plot())))
        out.append((s, m))
    if "moderators" in plan.analyses:
        res = moderator_analysis(data, moderators=plan.moderators)
        s = Section("moderators", "Moderator analysis (meta-regression)")
        c = res.coefficients.loc[plan.moderators[0]]
        s.text = (f"Slope on {plan.moderators[0]} (Fisher z per unit) {c['estimate']:.4f} "
                  f"[{c['ci_lower']:.4f}, {c['ci_upper']:.4f}], p = {c['p']:.3g}; "
                  f"R² = {res.R2:.1f}%, residual I² = {res.I2:.1f}%.")
        s.tables.append(("Coefficients (Fisher-z scale)", table_html(res.coefficients)))
        s.figures.append(("Bubble plot", figure_to_data_uri(res.plot())))
        out.append((s, res))
    return out


def build_report(
    data: pd.DataFrame,
    *,
    alliance_instrument: str | None = None,
    outcome_instrument: str | None = None,
    window: str | tuple[int, int] = "early",
    study: str | None = None,
    outcome_lower_is_better: bool = True,
    responses: pd.DataFrame | None = None,
    title: str = "Bordin alliance report",
) -> Report:
    """Detect, run and render every analysis the data supports.

    Parameters
    ----------
    data
        An administrations table, or a study-level table (``study, r, n, ...``).
    alliance_instrument, outcome_instrument
        Override the detected instruments.
    window
        Alliance window for the association analyses.
    study
        Column of studies/sites for the two-stage IPD analysis.
    outcome_lower_is_better
        Direction of the outcome measure (True for symptom scales).
    responses
        Item-level responses (``administration_id, item, value``): adds reliability
        (alpha, omega) and CFA sections per instrument.
    title
        Page title.

    Returns
    -------
    Report
        ``report.write("report.html")`` saves it.
    """
    plan = detect(data, alliance_instrument=alliance_instrument,
                  outcome_instrument=outcome_instrument, study=study)
    sections: list[Section] = []
    results: dict[str, Any] = {}

    def run(key: str, title_: str, fn: Any, *args: Any) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BordinWarning)
                out = fn(*args)
        except (BordinError, ValueError, ArithmeticError) as exc:
            # One analysis failing on these data must not sink the others.
            sections.append(Section(key, title_, error=str(exc)))
            return
        for sec, res in (out if isinstance(out, list) else [out]):
            sections.append(sec)
            results[sec.key] = res

    if plan.kind == "studies":
        run("meta_analysis", "Meta-analysis", _studies, data, plan)
    else:
        lower = outcome_lower_is_better
        if "association" in plan.analyses:
            run("association", "Alliance-outcome association", _association, data, plan,
                window, lower)
        patients = None
        if plan.outcome_instrument is not None and plan.analyses:
            try:
                patients = patient_table(
                    data, alliance_instrument=plan.alliance_instruments or
                    [str(plan.outcome_instrument)],
                    outcome_instrument=str(plan.outcome_instrument), window=window)
            except InputError as exc:
                sections.append(Section("patients", "Patient table", error=str(exc)))
        if patients is not None:
            rater_cols = [f"{r}_total" for r in ("patient", *patients.attrs.get("raters", []))
                          if f"{r}_total" in patients.columns]
            if "contribution" in plan.analyses and rater_cols:
                run("contribution", "Therapist versus patient contribution", _contribution,
                    patients, rater_cols[0])
            if "therapist_effects" in plan.analyses:
                run("therapist_effects", "Therapist effects", _therapists, patients, None,
                    lower, "therapist_effects", "Therapist effects")
            if "clinic_effects" in plan.analyses:
                run("clinic_effects", "Clinics as a third level", _therapists, patients,
                    "organization", lower, "clinic_effects",
                    "Clinics as a third level (organizational effects)")
        if "longitudinal" in plan.analyses:
            run("longitudinal", "Within- and between-patient effects", _longitudinal, data,
                plan)
        if "ipd" in plan.analyses:
            run("ipd", "Two-stage IPD meta-analysis", _ipd, data, plan)
        if responses is not None:
            from bordin.report.psychometrics import measurement_sections

            for sec, res in measurement_sections(data, responses):
                sections.append(sec)
                if res:
                    results[sec.key] = res
    if plan.kind == "administrations":
        subtitle = (f"{data['episode'].nunique()} episodes, {len(data)} administrations; "
                    f"alliance: {', '.join(plan.alliance_instruments) or 'none'}; outcome: "
                    f"{plan.outcome_instrument or 'none'}; window: {window}.")
    else:
        subtitle = f"{len(data)} studies."
    page = render(title=title, subtitle=subtitle, sections=sections, skipped=plan.skipped)
    return Report(plan=plan, sections=sections, results=results, html=page)
