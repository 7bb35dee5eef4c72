"""The generating parameters of the clinic simulator and its named presets.

Every effect in the generative model is one field of :class:`Parameters`. Each
field carries two pieces of metadata, read by :meth:`Parameters.describe`:

``doc``
    what the field controls in the model;
``calibrated_to``
    the figure of the source paper (Wampold & Flückiger, World Psychiatry
    2023) or of the project's research notes that its default value was chosen
    to reproduce, or ``"assumption"`` where the paper gives no number and the
    value is a plausible modelling choice.

Latent quantities live on standardised scales: symptoms in standard deviations
of the intake distribution of a clinical population (higher is worse), the
alliance in standard deviations of the between-patient distribution of the
early alliance (higher is better).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bordin.errors import InputError

__all__ = [
    "DIAGNOSES",
    "FORMATS",
    "PRESETS",
    "Parameters",
    "Schedule",
    "preset",
]

#: Formats of care the simulator generates.
FORMATS: tuple[str, ...] = ("individual", "couple", "family", "group", "internet", "medication")

#: Diagnoses, with the alliance–outcome strengths of the paper's diagnosis section.
DIAGNOSES: tuple[str, ...] = (
    "depression",
    "anxiety",
    "ptsd",
    "eating",
    "substance",
    "borderline_pd",
    "other_pd",
)

RATERS: tuple[str, ...] = ("patient", "clinician", "observer")
TARGETS: tuple[str, ...] = ("clinician", "programme", "group", "staff", "none")
LATENTS: tuple[str, ...] = (
    "symptoms",
    "anxiety",
    "wellbeing",
    "alliance",
    "programme_alliance",
    "group_alliance",
    "staff_alliance",
    "expectancy",
)


def _p(default: Any, doc: str, calibrated_to: str = "assumption") -> Any:
    """A dataclass field with its documentation attached as metadata."""
    if isinstance(default, (list, dict)):  # pragma: no cover - guarded by the author
        raise TypeError("mutable defaults are not allowed; use tuples")
    return field(default=default, metadata={"doc": doc, "calibrated_to": calibrated_to})


@dataclass(frozen=True)
class Schedule:
    """When an instrument is administered, by whom and about whom.

    Parameters
    ----------
    instrument
        Instrument id in :mod:`bordin.instruments` (``"wai_sr"``, ``"phq9"``, ...).
    latent
        The latent quantity it measures: one of ``symptoms``, ``anxiety``,
        ``wellbeing``, ``alliance``, ``programme_alliance``, ``group_alliance``,
        ``staff_alliance`` (the staff member met at intake; the administration's
        ``clinician`` is then that staff member), ``expectancy``.
    rater
        ``"patient"``, ``"clinician"`` or ``"observer"``.
    target
        What is rated: ``"clinician"``, ``"programme"``, ``"group"``, ``"staff"`` or
        ``"none"`` (symptom and well-being questionnaires; missing in the output).
    sessions
        Which sessions: ``"all"``, ``"first"``, ``"last"``, ``"first_last"``,
        or a tuple of session numbers.
    formats
        The formats of care in which it is given (empty tuple: all formats).
    probability
        Probability that a scheduled administration is given at all (research
        forms such as the observer WAI are given to a sample of sessions).
    """

    instrument: str
    latent: str
    rater: str = "patient"
    target: str = "none"
    sessions: str | tuple[int, ...] = "all"
    formats: tuple[str, ...] = ()
    probability: float = 1.0

    def __post_init__(self) -> None:
        if self.latent not in LATENTS:
            raise InputError(field="latent", value=self.latent, allowed=f"one of {LATENTS}")
        if self.rater not in RATERS:
            raise InputError(field="rater", value=self.rater, allowed=f"one of {RATERS}")
        if self.target not in TARGETS:
            raise InputError(field="target", value=self.target, allowed=f"one of {TARGETS}")
        named = ("all", "first", "last", "first_last")
        if isinstance(self.sessions, str):
            if self.sessions not in named:
                raise InputError(
                    field="sessions", value=self.sessions,
                    allowed=f"one of {named} or a tuple of positive session numbers",
                )
        elif not (
            isinstance(self.sessions, tuple)
            and all(isinstance(s, int) and s >= 1 for s in self.sessions)
        ):
            raise InputError(
                field="sessions", value=self.sessions,
                allowed=f"one of {named} or a tuple of positive session numbers",
            )
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise InputError(field="formats", value=bad, allowed=f"formats from {FORMATS}")
        if not 0.0 <= self.probability <= 1.0:
            raise InputError(
                field="probability", value=self.probability, allowed="a number in [0, 1]"
            )


_ALLIANCE_SESSIONS = "all"

DEFAULT_SCHEDULE: tuple[Schedule, ...] = (
    Schedule("phq9", "symptoms", "patient", "none", "all"),
    Schedule("gad7", "anxiety", "patient", "none", "all"),
    Schedule("who5", "wellbeing", "patient", "none", "first_last"),
    Schedule("ceq", "expectancy", "patient", "none", "first"),
    Schedule("wai_sr", "alliance", "patient", "clinician", _ALLIANCE_SESSIONS),
    Schedule("wai_sr_t", "alliance", "clinician", "clinician", (3, 4, 8, 12, 16, 20),
             formats=("individual", "couple", "family", "group", "internet")),
    Schedule("wai_sr_o", "alliance", "observer", "clinician", (3, 8),
             formats=("individual",), probability=0.2),
    Schedule("wai_tech_sf", "programme_alliance", "patient", "programme", "all",
             formats=("internet",)),
    Schedule("srs", "group_alliance", "patient", "group", "all", formats=("group",)),
    Schedule("haq2_patient", "staff_alliance", "patient", "staff", "first", probability=0.5),
)


@dataclass(frozen=True)
class Parameters:
    """Every parameter of the generative clinic model.

    Use :func:`preset` (or :func:`bordin.simulate.clinic`) to obtain a preset
    with overrides; call :meth:`describe` for a table of every field with what
    it controls and what it is calibrated to. Values are validated on
    construction; a bad value raises :class:`bordin.errors.InputError`.
    """

    # ---- structure -------------------------------------------------------
    n_episodes: int = _p(
        1500,
        "Number of episodes (courses of care) to generate; each member of a couple, "
        "family or group has an episode of their own.",
    )
    n_organizations: int = _p(3, "Number of organisations (clinics, or studies/sites).")
    therapists_per_organization: int = _p(
        12, "Psychotherapists per organisation (they treat the individual, couple/family, "
        "group and internet-guided episodes)."
    )
    psychiatrists_per_organization: int = _p(
        2, "Psychiatrists per organisation (they treat the medication-management episodes; "
        "with none, therapists manage the medication)."
    )
    staff_per_organization: int = _p(
        2, "Non-clinician staff per organisation (reception, intake); their warmth feeds "
        "the patient's expectations (system effect).",
        "paper: 'Alliance in other contexts and beyond the therapist-patient dyad'",
    )
    caseload_sd: float = _p(
        0.6, "SD of the log relative caseload of clinicians (0: balanced caseloads).",
    )
    format_probabilities: tuple[tuple[str, float], ...] = _p(
        (("individual", 0.72), ("couple", 0.035), ("family", 0.025), ("group", 0.06),
         ("internet", 0.08), ("medication", 0.08)),
        "Probability that a unit of care (one patient, one couple/family, one group) has "
        "each format.",
    )
    family_size_max: int = _p(4, "Members of a family unit in family therapy: 2 to this number "
                              "(a couple always has 2).")
    group_size_mean: float = _p(6.0, "Mean members of a therapy group (Poisson, at least 3).")
    sessions_mean: tuple[tuple[str, float], ...] = _p(
        (("individual", 12.0), ("couple", 10.0), ("family", 10.0), ("group", 12.0),
         ("internet", 8.0), ("medication", 6.0)),
        "Mean planned number of sessions by format (before dropout).",
        "assumption (typical outpatient courses; dose-effect literature, ref. 40)",
    )
    sessions_dispersion: float = _p(
        2.5, "Negative-binomial size of the planned number of sessions (smaller: more varied).",
    )
    max_sessions: int = _p(40, "Upper bound on the number of sessions of an episode.")
    fixed_sessions: int = _p(
        0, "If positive, every episode is planned with exactly this many sessions "
        "(research designs such as the first seven sessions of the IPD meta-analysis).",
        "paper: 17-study IPD meta-analysis, 'the first seven sessions'",
    )
    session_interval_days: tuple[tuple[str, int], ...] = _p(
        (("individual", 7), ("couple", 14), ("family", 14), ("group", 7), ("internet", 7),
         ("medication", 28)),
        "Days between sessions by format.",
    )
    start_date: str = _p("2024-01-06", "Date of the first possible episode start (ISO).")
    enrolment_days: int = _p(365, "Episodes start uniformly over this many days.")
    repeat_episode_probability: float = _p(
        0.06, "Probability that an individual episode belongs to a patient who already "
        "had an episode (patients -> episodes is one to many).",
    )

    # ---- clinicians ------------------------------------------------------
    fis_general_loading: float = _p(
        0.7, "Loading of each of the eight facilitative interpersonal skills on a general "
        "FIS factor (the skills correlate about loading^2).",
        "paper: Anderson et al. FIS (refs. 57-60)",
    )
    therapist_alliance_sd: float = _p(
        0.4, "SD of the therapist contribution to the alliance (between-therapist alliance "
        "differences), expressed through warmth and competence.",
        "paper: Baldwin et al. (ref. 51); calibrated with therapist_outcome_share ~5%",
    )
    warmth_weight: float = _p(
        0.7, "Relative weight of warmth (warmth/acceptance, empathy, bond capacity, emotional "
        "expression) in the therapist alliance contribution; competence (verbal fluency, hope, "
        "persuasiveness) gets 1 - this.",
        "paper: Figure 1, warmth and competence (Howe et al., ref. 91)",
    )
    therapist_alliance_residual: float = _p(
        0.3, "Share of the therapist alliance contribution not explained by the FIS.",
    )
    therapist_rate_sd: float = _p(
        0.01, "SD of a direct therapist effect on the improvement rate per session that does "
        "not act through the alliance.",
        "research notes: therapist share of outcome variance ~5% (Johns 2019; Wampold & "
        "Brown, ref. 109)",
    )
    climate_sd: float = _p(
        0.3, "SD of organisational climate (standardised units of the alliance).",
        "paper: Falkenström et al. (ref. 110), organisational climate and culture",
    )
    climate_alliance_effect: float = _p(
        0.3, "Effect of climate on therapists' alliance contribution (therapists thrive).",
        "paper: ref. 111",
    )
    staff_expectancy_effect: float = _p(
        0.1, "Effect of the warmth of the staff met at intake on the patient's expectations.",
        "paper: 'Do these interactions communicate warmth, caring, respect...'",
    )

    # ---- patients --------------------------------------------------------
    diagnosis_probabilities: tuple[tuple[str, float], ...] = _p(
        (("depression", 0.36), ("anxiety", 0.28), ("ptsd", 0.08), ("eating", 0.06),
         ("substance", 0.08), ("borderline_pd", 0.08), ("other_pd", 0.06)),
        "Case mix of primary diagnoses.",
    )
    diagnosis_alliance_strength: tuple[tuple[str, float], ...] = _p(
        (("depression", 1.0), ("anxiety", 1.0), ("ptsd", 1.0), ("eating", 0.15),
         ("substance", 0.2), ("borderline_pd", 1.2), ("other_pd", 1.2)),
        "Multiplier of every alliance effect on symptoms (CARE, EXPECTANCY, adherence, rupture "
        "harm) by diagnosis.",
        "paper: Flückiger et al. by diagnosis: eating r=.15, substance r=.14, "
        "personality disorders r=.32 vs .28 overall",
    )
    diagnosis_strength_sd: tuple[tuple[str, float], ...] = _p(
        (("depression", 0.15), ("anxiety", 0.15), ("ptsd", 0.15), ("eating", 0.15),
         ("substance", 0.15), ("borderline_pd", 0.6), ("other_pd", 0.45)),
        "Between-patient SD of that multiplier (personality disorders: large variability).",
        "paper: borderline PD r ranged from .00 to .78 across nine studies",
    )
    patient_alliance_sd: float = _p(
        0.8, "SD of the patient contribution to the alliance (attachment, motivation, social "
        "support, severity and the rest).",
        "paper: Baldwin et al. (ref. 51): most alliance variance lies within therapists",
    )
    dyad_alliance_sd: float = _p(0.35, "SD of the dyad-specific part of the alliance.")
    attachment_alliance_effect: float = _p(
        0.45, "Standardised effect of attachment security on the patient alliance contribution.",
        "paper: patient attachment history and style",
    )
    motivation_alliance_effect: float = _p(
        0.35, "Effect of motivation (vs ambivalence) on the patient alliance contribution "
        "(mainly goals and tasks).",
        "paper: ambivalence in substance use and eating disorders (ref. 64)",
    )
    social_support_alliance_effect: float = _p(
        0.2, "Effect of social support on the patient alliance contribution.",
    )
    severity_alliance_effect: float = _p(
        -0.15, "Effect of initial severity on the patient alliance contribution.",
    )
    patient_alliance_weight: float = _p(
        0.55, "How much the patient's (and dyad's) contribution to the alliance heals, "
        "relative to the therapist's contribution (1: equally; 0: not at all).",
        "paper: Baldwin et al.: benefits 'mostly due to the therapist contribution'",
    )
    social_support_outcome_effect: float = _p(
        0.004, "Direct effect of social support on the improvement rate per session.",
    )
    severity_sd: float = _p(1.0, "SD of intake severity (latent symptom units).")
    ambivalent_diagnosis_motivation: float = _p(
        -0.6, "Mean motivation of patients with substance use or eating disorders.",
        "paper: ambivalence about change (refs. 64-66)",
    )

    # ---- dynamics: the alliance -------------------------------------------
    alliance_growth: float = _p(
        0.5, "How far below its stable level the alliance starts at session 1.",
        "paper: alliance 'needs sufficient clinician-patient interaction to develop'",
    )
    alliance_growth_sessions: float = _p(
        2.0, "Sessions over which that early deficit decays (e-folding).",
    )
    alliance_session_sd: float = _p(
        0.3, "SD of session-to-session fluctuation of the alliance (AR(1) process).",
        "paper: 'the alliance ... oscillates over the course of a session, between sessions'",
    )
    alliance_ar: float = _p(0.5, "Autocorrelation of those fluctuations.")
    symptom_to_alliance: float = _p(
        0.12, "Rise of the next session's alliance per unit of symptom improvement since intake.",
        "paper: 17-study IPD meta-analysis: symptoms predict subsequent alliance",
    )
    reciprocal_alliance_moderation: float = _p(
        0.0, "Rise of both reciprocal within-patient couplings (alliance -> next symptoms, "
        "symptoms -> next alliance) per SD of the patient's stable alliance level.",
        "paper: IPD meta-analysis: reciprocal relation stronger for patients with stronger "
        "alliance relative to other patients",
    )
    reciprocal_symptom_moderation: float = _p(
        0.0, "Fall of both reciprocal within-patient couplings per SD of intake severity.",
        "paper: IPD meta-analysis: reciprocal relation stronger for patients with lower "
        "symptom level",
    )
    alliance_dynamic_weight: float = _p(
        1.0, "How much the session-to-session part of the alliance heals (within-patient "
        "effect of the alliance on next-session symptoms).",
        "paper: 17-study IPD meta-analysis: alliance predicts subsequent symptoms",
    )

    # ---- dynamics: the pathways -------------------------------------------
    natural_rate: float = _p(
        0.05, "Improvement per session (share of the distance to the healthy level) that "
        "happens whatever the alliance (natural healing and remoralisation).",
        "paper: 'Natural, specific and contextual effects'",
    )
    healthy_level: float = _p(
        -2.2, "Latent symptom level of the healthy population that improvement approaches.",
    )
    care_effect: float = _p(
        0.015, "CARE: improvement rate per unit of bond (warmth, empathy) per session; acts "
        "mostly on well-being, and on distress.",
        "paper: Figure 1, CARE pathway; calibrated with Table 1 r~.28",
    )
    care_wellbeing_effect: float = _p(
        0.25, "CARE: direct rise of well-being per unit of bond.",
        "paper: CARE acts 'primarily on the general well-being'",
    )
    low_support_care_gain: float = _p(
        0.5, "Extra CARE effect per SD of low social support.",
        "paper: Zimmermann et al. (ref. 73): bond predicts outcome when support is low",
    )
    expectancy_warmth: float = _p(
        0.15, "EXPECTANCY: rise of expectations per SD of therapist warmth.",
        "paper: Figure 1, expectations from warmth and competence",
    )
    expectancy_competence: float = _p(
        0.2, "EXPECTANCY: rise of expectations per SD of therapist competence.",
        "paper: Figure 1, expectations from warmth and competence",
    )
    expectancy_alliance: float = _p(
        0.4, "EXPECTANCY: rise of expectations per unit of the healing alliance (goals/tasks).",
        "paper: 'Feeling cared for ... will increase expectations'",
    )
    expectancy_motivation: float = _p(
        0.25, "EXPECTANCY: rise of expectations per SD of patient motivation.",
        "paper: remoralisation; 'the patient taking action to solve his/her problems'",
    )
    expectancy_effect: float = _p(
        0.015, "EXPECTANCY: improvement rate per unit of expectations per session.",
        "paper: Figure 1, EXPECTANCY pathway; calibrated with Table 1 r~.28",
    )
    specific_effect: tuple[tuple[str, float], ...] = _p(
        (("individual", 0.04), ("couple", 0.035), ("family", 0.035), ("group", 0.035),
         ("internet", 0.035), ("medication", 0.04)),
        "SPECIFIC: improvement rate per session at full adherence, by format.",
        "paper: SPECIFIC pathway; medication ~3% of outcome variance (ref. 104)",
    )
    adherence_intercept: float = _p(0.8, "SPECIFIC: logit of adherence at average alliance.")
    adherence_alliance: float = _p(
        0.9, "SPECIFIC: logit rise of adherence per unit of goal/task agreement.",
        "paper: agreement on goals and tasks raises adherence (refs. 129-130)",
    )
    adherence_expectancy: float = _p(
        0.4, "SPECIFIC: logit rise of adherence per unit of expectations."
    )
    adherence_motivation: float = _p(
        0.4, "SPECIFIC: logit rise of adherence per SD of motivation."
    )
    symptom_noise_sd: float = _p(
        0.22, "SD of session-to-session noise in the latent symptom course.",
    )
    rate_bounds: tuple[float, float] = _p(
        (-0.05, 0.5), "Bounds on the per-session improvement rate.",
    )
    programme_alliance_weight: float = _p(
        0.7, "Internet format: share of the healing alliance that is the alliance with the "
        "programme (the guide's alliance drives adherence).",
        "paper: Zalaznik et al. (ref. 107)",
    )
    group_alliance_weight: float = _p(
        0.4, "Group format: share of the healing alliance that is the alliance with the group.",
        "paper: multiple alliances in group therapy (refs. 37-38)",
    )
    unit_alliance_sd: float = _p(
        0.3, "SD of the alliance component shared by the members of a couple, family or "
        "group (one's alliance depends on the others').",
        "paper: Friedlander et al. couples and families r=.30",
    )

    programme_quality_sd: float = _p(
        0.3, "SD across organisations of the quality of their internet programme (its part "
        "in the alliance with the programme and in expectations).",
        "paper: alliance with the program in Internet-mediated services",
    )
    group_cohesion_sd: float = _p(
        0.4, "SD of group cohesion: the part of the alliance with the group shared by members.",
        "paper: multiple alliances in group therapy (refs. 37-38)",
    )
    secondary_alliance_sd: float = _p(
        0.3, "SD of a member's own part of the alliance with the programme or the group.",
    )
    secondary_patient_loading: float = _p(
        0.6, "How much of the patient's contribution to the alliance carries over to the "
        "alliance with a programme or a group.",
    )
    staff_alliance_warmth: float = _p(
        0.5, "Alliance with the staff member met at intake per SD of that person's warmth.",
        "paper: 'Do these interactions communicate warmth, caring, respect...'",
    )
    expectancy_sd: float = _p(
        0.5, "SD of patients' expectations not explained by clinician, staff or motivation.",
        "paper: expectations at the beginning of therapy (ref. 48)",
    )
    bond_profile_effect: float = _p(
        0.25, "Bond above goal/task agreement per SD of therapist warmth minus competence "
        "(the bond and goal/task subscales differ by therapist profile).",
        "paper: two relationship factors, being cared for vs confidence in competence",
    )
    bond_profile_sd: float = _p(
        0.2, "SD of the dyad's bond-minus-goal/task offset not due to the therapist.",
    )
    pd_attachment_shift: float = _p(
        -0.7, "Mean attachment security of patients with a personality disorder (SD units).",
        "paper: the chronically depressed patient with Cluster B PD, insecure attachment",
    )
    pd_severity_shift: float = _p(
        0.3, "Mean intake severity of patients with a personality disorder (latent units).",
    )
    wellbeing_symptom_loading: float = _p(
        -0.6, "Well-being per unit of symptoms (well-being also rises with CARE).",
    )
    wellbeing_sd: float = _p(0.35, "SD of session-to-session well-being not due to symptoms.")
    anxiety_symptom_loading: float = _p(
        0.8, "Anxiety (GAD-7's latent) per unit of general symptoms.",
    )
    anxiety_trait_sd: float = _p(
        0.6, "SD of a patient's stable anxiety level beyond general symptoms.",
    )

    # ---- ruptures and repairs --------------------------------------------
    rupture_rate: float = _p(
        0.045, "Probability of a rupture starting in a session for an average dyad.",
        "research notes: ruptures in 46-50% of cases (McLaughlin 2014; Stevens 2007)",
    )
    rupture_difficulty_effect: float = _p(
        0.6, "Log-odds rise of the rupture probability per SD of dyad difficulty, "
        "difficulty = (-attachment + personality disorder - therapist alliance contribution "
        "/ (2 therapist_alliance_sd)) / 1.5.",
        "paper: difficult dyads; ruptures 'due to the difficult work'",
    )
    rupture_depth_mean: float = _p(
        1.1, "Mean drop of the alliance at a rupture (gamma distributed).",
        "research notes: Stiles 2004 / Strauss 2006: drops of 1-2 personal SDs",
    )
    rupture_depth_shape: float = _p(
        4.0, "Gamma shape of rupture depths (larger: depths closer to the mean).",
    )
    repair_rate: float = _p(
        0.45, "Probability per session that an open rupture is repaired, average therapist.",
        "research notes: Gumz 2012: most ruptures are V-shaped and short",
    )
    repair_skill_effect: float = _p(
        0.8, "Log-odds rise of the repair probability per SD of rupture-repair responsiveness.",
        "paper: FIS 'alliance rupture-repair responsiveness'",
    )
    rupture_harm: float = _p(
        0.03, "Loss of improvement rate per session while a rupture is unrepaired.",
        "paper: 'unaddressed problems will lead to decrements'; McLaughlin 2014",
    )
    repair_benefit: float = _p(
        0.15, "Lasting rise of the alliance after a repair.",
        "paper: repairing ruptures is associated with better outcomes (ref. 131)",
    )

    # ---- dropout ---------------------------------------------------------
    dropout_rate: float = _p(0.02, "Probability of dropping out after a session, average patient.")
    dropout_alliance_effect: float = _p(0.5, "Log-odds fall of dropout per unit of alliance.")
    dropout_symptom_effect: float = _p(
        0.4, "Log-odds rise of dropout per unit of symptoms not improved since intake.",
    )
    dropout_rupture_effect: float = _p(1.0, "Log-odds rise of dropout while a rupture is open.")

    # ---- measurement -----------------------------------------------------
    schedule: tuple[Schedule, ...] = _p(
        DEFAULT_SCHEDULE, "Which instruments are administered when, by whom, about what.",
    )
    patient_leniency: float = _p(
        1.7, "Upward shift of patient alliance ratings (produces the ceiling effect).",
        "research notes: 54% of clients give perfect alliance scores (ACORN); SRS ceiling",
    )
    clinician_leniency: float = _p(0.3, "Upward shift of clinician alliance ratings.")
    observer_leniency: float = _p(0.0, "Upward shift of observer alliance ratings.")
    clinician_rating_validity: float = _p(
        0.55, "Loading of clinician alliance ratings on the patient-experienced alliance.",
        "paper: raters differ; patient and therapist views of the alliance diverge",
    )
    clinician_rater_bias_sd: float = _p(
        0.4, "SD of each clinician's personal bias when rating the alliance.",
    )
    observer_noise_sd: float = _p(0.45, "SD of observer error in alliance ratings.")
    occasion_sd: float = _p(
        0.25, "SD of occasion-specific state in each questionnaire (shared by its items).",
    )
    item_discrimination: float = _p(1.8, "Mean item discrimination of the graded response model.")
    item_missing_rate: float = _p(0.01, "Probability that a single item is left blank.")
    administration_missing_rate: float = _p(
        0.08, "Probability that a scheduled questionnaire is not completed at all.",
    )
    fis_raters: int = _p(2, "Observers who rate each clinician's FIS performance task.")
    other_rater_symptom_sd: float = _p(
        0.4, "SD of the error a clinician or observer adds when rating a patient's symptoms.",
    )
    fis_rater_sd: float = _p(
        0.4, "SD of an observer's error when rating a clinician's FIS performance task.",
        "paper: FIS rated by observers in challenging interpersonal situations (refs. 57-58)",
    )
    item_discrimination_sd: float = _p(
        0.2, "SD of log item discriminations around item_discrimination.",
    )
    item_location_sd: float = _p(
        0.3, "SD of item locations (latent units) around the threshold centre.",
    )
    threshold_centres: tuple[tuple[str, float], ...] = _p(
        (("symptoms", -0.45), ("anxiety", -0.35), ("wellbeing", -0.4), ("alliance", 0.3),
         ("programme_alliance", 0.3), ("group_alliance", 0.3), ("staff_alliance", 0.3),
         ("expectancy", 0.0),
         ("skills", 0.0)),
        "Latent value at the centre of each item's response thresholds, by latent quantity "
        "(sets where on the instrument a typical patient scores).",
        "assumption: intake PHQ-9 around 14 (with its risk item rarely endorsed, see "
        "risk_item_location), patient WAI-SR items around 4 of 5",
    )
    threshold_spread: float = _p(
        1.3, "Half-width (latent units) over which an item's thresholds are spread.",
    )
    risk_item_location: float = _p(
        3.4,
        "Location (latent units above the instrument's threshold centre) of a risk item's "
        "thresholds (PHQ-9 item 9, CORE-10 item 6): sets how rarely the risk item is "
        "endorsed; endorsement still rises with severity and falls with improvement.",
        "target: PHQ-9 item 9 endorsed (> 0) by ~10-25% of outpatients at intake, fewer "
        "during treatment (model: ~20% at intake, ~6% after 9+ sessions). Published figures "
        "vary with setting: 3.5% in the general population (NHANES 2005-10, PMC5942185); "
        "45% in a severe safety-net primary-care sample (Bauer et al. 2013, J Gen Intern Med "
        "28:363); the large outpatient series of Simon et al. 2013 (Psychiatr Serv 64:1195; "
        "84,418 outpatients, 207,265 PHQ-9s) links item 9 to later attempts. "
        "tests/simulate/test_risk_items.py",
    )
    risk_item_discrimination: float = _p(
        0.6,
        "Multiplier on a risk item's discrimination: suicidal thoughts are less tightly tied "
        "to overall severity than the other symptoms are.",
        "Uebelacker et al. 2011, Prim Care Companion CNS Disord 13(1) (item 9 against SCID: "
        "sensitivity .69, specificity .84); calibrated with risk_item_location",
    )

    def __post_init__(self) -> None:
        _validate(self)

    # ------------------------------------------------------------------
    @classmethod
    def describe(cls) -> pd.DataFrame:
        """Every field with its default, what it controls and what it is calibrated to.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter, default, controls, calibrated_to``.
        """
        rows = []
        for f in dataclasses.fields(cls):
            rows.append(
                {
                    "parameter": f.name,
                    "default": _jsonable(f.default),
                    "controls": f.metadata.get("doc", ""),
                    "calibrated_to": f.metadata.get("calibrated_to", ""),
                }
            )
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as a JSON-safe dictionary."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self, **overrides: Any) -> Parameters:
        """A copy with some fields replaced (unknown names raise InputError)."""
        return _apply_overrides(self, overrides)

    # convenience look-ups --------------------------------------------------
    def mapping(self, name: str) -> dict[str, Any]:
        """A tuple-of-pairs field as a dictionary."""
        return dict(getattr(self, name))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Schedule):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


_PAIR_FIELDS: dict[str, tuple[str, ...]] = {
    "format_probabilities": FORMATS,
    "sessions_mean": FORMATS,
    "session_interval_days": FORMATS,
    "specific_effect": FORMATS,
    "diagnosis_probabilities": DIAGNOSES,
    "diagnosis_alliance_strength": DIAGNOSES,
    "diagnosis_strength_sd": DIAGNOSES,
    "threshold_centres": (*LATENTS, "skills"),
}

_POSITIVE_INT = (
    "n_episodes", "n_organizations", "therapists_per_organization", "max_sessions",
    "family_size_max", "enrolment_days",
)
_NONNEG_INT = ("psychiatrists_per_organization", "staff_per_organization", "fixed_sessions",
               "fis_raters")
_PROBABILITIES = (
    "repeat_episode_probability", "rupture_rate", "repair_rate", "dropout_rate",
    "item_missing_rate", "administration_missing_rate", "programme_alliance_weight",
    "group_alliance_weight", "warmth_weight", "therapist_alliance_residual",
    "fis_general_loading",
)
_NONNEG = (
    "caseload_sd", "therapist_alliance_sd", "therapist_rate_sd", "climate_sd",
    "patient_alliance_sd", "dyad_alliance_sd", "severity_sd", "alliance_session_sd",
    "symptom_noise_sd", "unit_alliance_sd", "rupture_depth_mean", "clinician_rater_bias_sd",
    "observer_noise_sd", "occasion_sd", "sessions_dispersion", "alliance_growth_sessions",
    "item_discrimination", "group_size_mean", "threshold_spread", "other_rater_symptom_sd",
    "fis_rater_sd", "item_discrimination_sd", "item_location_sd", "programme_quality_sd",
    "group_cohesion_sd", "secondary_alliance_sd", "secondary_patient_loading", "expectancy_sd",
    "bond_profile_sd", "wellbeing_sd", "anxiety_trait_sd", "risk_item_discrimination",
)


def _validate(p: Parameters) -> None:
    for name in _POSITIVE_INT:
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(field=name, value=v, allowed="a positive integer")
    for name in _NONNEG_INT:
        v = getattr(p, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(field=name, value=v, allowed="a non-negative integer")
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(field=f.name, value=v, allowed="a finite number")
        if isinstance(f.default, float) and (
            isinstance(v, bool) or not isinstance(v, (int, float))
        ):
            raise InputError(field=f.name, value=v, allowed="a number")
    for name in _PROBABILITIES:
        v = getattr(p, name)
        if not 0.0 <= v <= 1.0:
            raise InputError(field=name, value=v, allowed="a number in [0, 1]")
    for name in _NONNEG:
        v = getattr(p, name)
        if v < 0:
            raise InputError(field=name, value=v, allowed="a non-negative number")
    if p.sessions_dispersion <= 0:
        raise InputError(field="sessions_dispersion", value=p.sessions_dispersion,
                         allowed="a positive number")
    if p.fixed_sessions > p.max_sessions:
        raise InputError(field="fixed_sessions", value=p.fixed_sessions,
                         allowed=f"at most max_sessions ({p.max_sessions})")
    if p.family_size_max < 2:
        raise InputError(field="family_size_max", value=p.family_size_max,
                         allowed="an integer of at least 2")
    for name, keys in _PAIR_FIELDS.items():
        pairs = getattr(p, name)
        try:
            d = dict(pairs)
        except (TypeError, ValueError):
            raise InputError(field=name, value=pairs,
                             allowed=f"pairs (key, number) with keys from {keys}") from None
        if set(d) != set(keys):
            raise InputError(field=name, value=sorted(d),
                             allowed=f"exactly the keys {keys}")
        for k, v in d.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(field=f"{name}[{k}]", value=v, allowed="a finite number")
            if v < 0 and name != "threshold_centres":
                raise InputError(field=f"{name}[{k}]", value=v, allowed="a non-negative number")
        if name.endswith("probabilities") and not math.isclose(sum(d.values()), 1.0,
                                                               abs_tol=1e-9):
            raise InputError(field=name, value=sum(d.values()),
                             allowed="probabilities that sum to 1")
        if name == "session_interval_days" and any(v < 1 for v in d.values()):
            raise InputError(field=name, value=d, allowed="intervals of at least one day")
    lo, hi = p.rate_bounds
    if not lo < hi:
        raise InputError(field="rate_bounds", value=p.rate_bounds,
                         allowed="(low, high) with low < high")
    if not p.schedule or not all(isinstance(s, Schedule) for s in p.schedule):
        raise InputError(field="schedule", value=p.schedule,
                         allowed="a non-empty tuple of bordin.simulate.Schedule")
    try:
        pd.Timestamp(p.start_date)
    except (ValueError, TypeError):
        raise InputError(field="start_date", value=p.start_date,
                         allowed="an ISO date such as '2024-01-06'") from None


def _normalise(name: str, value: Any) -> Any:
    """Accept dicts for pair fields and lists for tuples."""
    if name in _PAIR_FIELDS and isinstance(value, Mapping):
        return tuple((k, v) for k, v in value.items())
    if name == "schedule" and isinstance(value, list):
        return tuple(value)
    if name == "rate_bounds" and isinstance(value, list):
        return tuple(value)
    return value


def _apply_overrides(base: Parameters, overrides: Mapping[str, Any]) -> Parameters:
    names = {f.name for f in dataclasses.fields(Parameters)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise InputError(field="overrides", value=unknown,
                         allowed="names of Parameters fields (see Parameters.describe())")
    merged: dict[str, Any] = {}
    for k, v in overrides.items():
        v = _normalise(k, v)
        if k in _PAIR_FIELDS and isinstance(v, tuple):
            d = dict(getattr(base, k))
            try:
                d.update(dict(v))
            except (TypeError, ValueError):
                raise InputError(field=k, value=v,
                                 allowed="a mapping or pairs (key, number)") from None
            if k.endswith("probabilities"):
                d = dict(v)  # probabilities are replaced whole: they must sum to 1
            v = tuple(d.items())
        merged[k] = v
    return dataclasses.replace(base, **merged)


# ---------------------------------------------------------------------------
# presets

_BALDWIN_SCHEDULE: tuple[Schedule, ...] = (
    Schedule("core10", "symptoms", "patient", "none", "first_last"),
    Schedule("wai_sr", "alliance", "patient", "clinician", (3,)),
)

_IPD_SCHEDULE: tuple[Schedule, ...] = (
    Schedule("phq9", "symptoms", "patient", "none", "all"),
    Schedule("wai_sr", "alliance", "patient", "clinician", "all"),
)

PRESETS: dict[str, dict[str, Any]] = {
    # A typical outpatient clinic: the defaults.
    "clinic": {},
    # Baldwin, Wampold & Imel (2007): 331 patients, 80 therapists, individual therapy,
    # an OQ-like general-distress outcome at baseline and termination, patient WAI early.
    # Generating truth: only the therapist contribution to the alliance heals, so the
    # within-therapist (patient) slope is ~0 and the between-therapist slope is negative.
    # Patient traits that would confound the within-therapist slope (motivation acting on
    # expectations and adherence, severity lowering the alliance, social support moderating
    # CARE) are switched off. Calibrated: total alliance-outcome partial correlation
    # (controlling baseline) about -.22 against the paper's -.21.
    "baldwin2007": {
        "n_episodes": 331,
        "n_organizations": 1,
        "therapists_per_organization": 80,
        "psychiatrists_per_organization": 1,
        "staff_per_organization": 0,
        "caseload_sd": 0.5,
        "format_probabilities": (("individual", 1.0), ("couple", 0.0), ("family", 0.0),
                                 ("group", 0.0), ("internet", 0.0), ("medication", 0.0)),
        # a counselling-centre case mix (no personality disorders, whose lower attachment
        # and higher severity would confound the within-therapist slope through the
        # imperfectly measured baseline)
        "diagnosis_probabilities": (("depression", 0.55), ("anxiety", 0.45), ("ptsd", 0.0),
                                    ("eating", 0.0), ("substance", 0.0),
                                    ("borderline_pd", 0.0), ("other_pd", 0.0)),
        "repeat_episode_probability": 0.0,
        "patient_alliance_weight": 0.0,
        "alliance_dynamic_weight": 0.0,
        "symptom_to_alliance": 0.0,
        "social_support_outcome_effect": 0.0,
        "dropout_rate": 0.0,
        "dropout_alliance_effect": 0.0,
        "dropout_symptom_effect": 0.0,
        "dropout_rupture_effect": 0.0,
        "rupture_harm": 0.0,
        "therapist_alliance_sd": 0.6,
        "patient_alliance_sd": 0.6,
        "severity_alliance_effect": 0.0,
        "therapist_rate_sd": 0.0,
        "care_effect": 0.035,
        "expectancy_effect": 0.035,
        "expectancy_warmth": 0.0,
        "expectancy_competence": 0.0,
        "expectancy_motivation": 0.0,
        "adherence_motivation": 0.0,
        "low_support_care_gain": 0.0,
        "staff_expectancy_effect": 0.0,
        "fixed_sessions": 8,
        "administration_missing_rate": 0.0,
        "schedule": _BALDWIN_SCHEDULE,
    },
    # A longitudinal design like the 17-study IPD meta-analysis: 17 studies/sites,
    # alliance and symptoms at each of the first seven sessions.
    "ipd17": {
        "n_episodes": 1700,
        "n_organizations": 17,
        "therapists_per_organization": 8,
        "psychiatrists_per_organization": 1,
        "staff_per_organization": 0,
        "format_probabilities": (("individual", 1.0), ("couple", 0.0), ("family", 0.0),
                                 ("group", 0.0), ("internet", 0.0), ("medication", 0.0)),
        "repeat_episode_probability": 0.0,
        "fixed_sessions": 7,
        "max_sessions": 7,
        "dropout_rate": 0.01,
        "symptom_to_alliance": 0.4,
        "reciprocal_alliance_moderation": 0.4,
        "reciprocal_symptom_moderation": 0.8,
        "alliance_dynamic_weight": 1.0,
        "schedule": _IPD_SCHEDULE,
    },
}


def preset(name: str = "clinic", **overrides: Any) -> Parameters:
    """The parameters of a named preset, with overrides.

    Parameters
    ----------
    name
        ``"clinic"``, ``"baldwin2007"`` or ``"ipd17"``.
    **overrides
        Any :class:`Parameters` field. Tuple-of-pairs fields accept a dict and
        are merged key by key (probabilities are replaced whole).

    Returns
    -------
    Parameters
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError(field="preset", value=name, allowed=f"one of {sorted(PRESETS)}")
    base = _apply_overrides(Parameters(), PRESETS[name])
    return _apply_overrides(base, overrides)
