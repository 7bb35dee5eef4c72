"""Who is in the simulated system: organisations, clinicians, patients and episodes.

Everything here is drawn once per simulated data set, vectorised with numpy.
The session-by-session course is in :mod:`bordin.simulate.dynamics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bordin.simulate.parameters import DIAGNOSES, FORMATS, Parameters

__all__ = ["FIS_SKILLS", "Structure", "draw_structure"]

#: The eight facilitative interpersonal skills of the paper, in FIS item order.
FIS_SKILLS: tuple[str, ...] = (
    "verbal_fluency",
    "hope",
    "persuasiveness",
    "emotional_expression",
    "warmth",
    "empathy",
    "bond_capacity",
    "rupture_repair",
)
_WARMTH = (3, 4, 5, 6)  # emotional expression, warmth/acceptance, empathy, bond capacity
_COMPETENCE = (0, 1, 2)  # verbal fluency, hope and expectations, persuasiveness
_REPAIR = 7

ROLE_THERAPIST, ROLE_PSYCHIATRIST, ROLE_STAFF = 0, 1, 2
ROLES = ("therapist", "psychiatrist", "staff")

TREATMENTS: dict[str, tuple[tuple[str, float], ...]] = {
    "individual": (("CBT", 0.45), ("psychodynamic", 0.2), ("humanistic", 0.15),
                   ("IPT", 0.1), ("eclectic", 0.1)),
    "couple": (("couple therapy", 1.0),),
    "family": (("family therapy", 1.0),),
    "group": (("group CBT", 0.7), ("group psychodynamic", 0.3)),
    "internet": (("internet CBT", 1.0),),
    "medication": (("antidepressant", 0.7), ("anxiolytic", 0.2), ("mood stabiliser", 0.1)),
}


@dataclass
class Structure:
    """Arrays describing the entities (index = id - 1 everywhere)."""

    # organisations
    climate: np.ndarray
    programme_quality: np.ndarray
    # clinicians
    clin_org: np.ndarray
    clin_role: np.ndarray
    skills: np.ndarray  # (n_clinicians, 8), standard normal scale
    warmth: np.ndarray
    competence: np.ndarray
    repair_skill: np.ndarray
    clin_alliance: np.ndarray  # therapist contribution to the alliance
    clin_rate: np.ndarray  # direct effect on the improvement rate
    clin_rater_bias: np.ndarray
    # patients
    pat_diagnosis: np.ndarray  # index into DIAGNOSES
    pat_attachment: np.ndarray
    pat_support: np.ndarray
    pat_motivation: np.ndarray
    pat_anxiety: np.ndarray
    pat_alliance: np.ndarray
    pat_strength: np.ndarray
    pat_age: np.ndarray
    pat_sex: np.ndarray
    # episodes (one per patient per course; members of a unit share unit/clinician/dates)
    ep_patient: np.ndarray
    ep_unit: np.ndarray
    ep_format: np.ndarray  # index into FORMATS
    ep_org: np.ndarray
    ep_clinician: np.ndarray
    ep_staff: np.ndarray  # -1 when the organisation has no staff
    ep_treatment: np.ndarray  # object array of names
    ep_planned: np.ndarray
    ep_start: np.ndarray  # datetime64[D]
    ep_interval: np.ndarray  # days between sessions
    ep_severity: np.ndarray
    ep_dyad: np.ndarray
    ep_unit_alliance: np.ndarray
    ep_secondary: np.ndarray  # stable alliance with programme / group (0 otherwise)

    @property
    def n_episodes(self) -> int:
        return len(self.ep_patient)


def _composite_sd(m: int, loading: float) -> float:
    """SD of the mean of m unit-variance skills that correlate loading**2."""
    return float(np.sqrt((1.0 + (m - 1) * loading**2) / m))


def draw_structure(p: Parameters, rng: np.random.Generator) -> Structure:
    """Draw organisations, clinicians, patients and episodes for one data set."""
    n_org = p.n_organizations
    climate = rng.normal(0.0, p.climate_sd, n_org)
    programme_quality = rng.normal(0.0, p.programme_quality_sd, n_org)

    # ---- clinicians ------------------------------------------------------
    per_org = np.array(
        [p.therapists_per_organization, p.psychiatrists_per_organization,
         p.staff_per_organization]
    )
    roles_one = np.repeat(np.arange(3), per_org)
    clin_role = np.tile(roles_one, n_org)
    clin_org = np.repeat(np.arange(n_org), per_org.sum())
    n_clin = len(clin_role)
    lam = p.fis_general_loading
    general = rng.normal(size=(n_clin, 1))
    skills = lam * general + np.sqrt(1 - lam**2) * rng.normal(size=(n_clin, 8))
    warmth = skills[:, _WARMTH].mean(1) / _composite_sd(len(_WARMTH), lam)
    competence = skills[:, _COMPETENCE].mean(1) / _composite_sd(len(_COMPETENCE), lam)
    repair_skill = skills[:, _REPAIR].copy()
    ww = p.warmth_weight
    # correlation of the two composites, for an exactly standardised mix
    r_wc = lam**2 / (_composite_sd(4, lam) * _composite_sd(3, lam))
    mix = (ww * warmth + (1 - ww) * competence) / np.sqrt(
        ww**2 + (1 - ww) ** 2 + 2 * ww * (1 - ww) * r_wc
    )
    res = p.therapist_alliance_residual
    clin_alliance = p.therapist_alliance_sd * (
        np.sqrt(1 - res) * mix + np.sqrt(res) * rng.normal(size=n_clin)
    ) + p.climate_alliance_effect * climate[clin_org]
    clin_rate = rng.normal(0.0, p.therapist_rate_sd, n_clin)
    clin_rater_bias = rng.normal(0.0, p.clinician_rater_bias_sd, n_clin)
    caseload = np.exp(rng.normal(0.0, p.caseload_sd, n_clin))

    # ---- units of care (a patient, a couple/family, a group) --------------
    fmt_prob = np.array([p.mapping("format_probabilities")[f] for f in FORMATS])
    n_target = p.n_episodes
    unit_fmt = rng.choice(len(FORMATS), size=n_target, p=fmt_prob)
    size = np.ones(n_target, dtype=np.int64)
    size[unit_fmt == FORMATS.index("couple")] = 2
    is_fam = unit_fmt == FORMATS.index("family")
    size[is_fam] = rng.integers(2, p.family_size_max + 1, is_fam.sum())
    is_cf = is_fam | (unit_fmt == FORMATS.index("couple"))
    is_gr = unit_fmt == FORMATS.index("group")
    size[is_gr] = np.maximum(3, rng.poisson(p.group_size_mean, is_gr.sum()))
    cum = np.cumsum(size)
    n_units = int(np.searchsorted(cum, n_target) + 1)
    unit_fmt = unit_fmt[:n_units]
    size = size[:n_units].copy()
    size[-1] -= int(cum[n_units - 1] - n_target)
    is_cf, is_gr = is_cf[:n_units], is_gr[:n_units]

    # organisation and clinician of each unit
    unit_org = rng.integers(0, n_org, n_units)
    unit_clin = np.empty(n_units, dtype=np.int64)
    unit_staff = np.full(n_units, -1, dtype=np.int64)
    is_med = unit_fmt == FORMATS.index("medication")
    u_draw = rng.random(n_units)
    u_staff = rng.random(n_units)
    for o in range(n_org):
        in_org = unit_org == o
        for role, sel in ((ROLE_THERAPIST, in_org & ~is_med), (ROLE_PSYCHIATRIST, in_org & is_med)):
            pool = np.flatnonzero((clin_org == o) & (clin_role == role))
            if not sel.any():
                continue
            if len(pool) == 0:  # no psychiatrist: a therapist manages the medication
                pool = np.flatnonzero((clin_org == o) & (clin_role == ROLE_THERAPIST))
            w = np.cumsum(caseload[pool])
            idx = np.searchsorted(w / w[-1], u_draw[sel], side="right")
            unit_clin[sel] = pool[np.minimum(idx, len(pool) - 1)]
        staff_pool = np.flatnonzero((clin_org == o) & (clin_role == ROLE_STAFF))
        if len(staff_pool):
            unit_staff[in_org] = staff_pool[(u_staff[in_org] * len(staff_pool)).astype(int)]

    mean_by_fmt = np.array([p.mapping("sessions_mean")[f] for f in FORMATS])
    if p.fixed_sessions > 0:
        planned = np.full(n_units, p.fixed_sessions, dtype=np.int64)
    else:
        mu = np.maximum(mean_by_fmt[unit_fmt] - 1.0, 1e-9)
        k = p.sessions_dispersion
        planned = 1 + rng.negative_binomial(k, k / (k + mu))
        planned = np.clip(planned, 1, p.max_sessions).astype(np.int64)
    interval_by_fmt = np.array([p.mapping("session_interval_days")[f] for f in FORMATS])
    unit_interval = interval_by_fmt[unit_fmt].astype(np.int64)
    start0 = np.datetime64(pd.Timestamp(p.start_date).date(), "D")
    unit_start = start0 + rng.integers(0, p.enrolment_days, n_units).astype("timedelta64[D]")
    unit_alliance = rng.normal(0.0, p.unit_alliance_sd, n_units)
    unit_alliance[~(is_cf | is_gr)] = 0.0
    # stable alliance with the programme (internet) or with the group (group)
    is_int = unit_fmt == FORMATS.index("internet")
    unit_secondary = np.zeros(n_units)
    unit_secondary[is_int] = programme_quality[unit_org[is_int]]
    unit_secondary[is_gr] = rng.normal(0.0, p.group_cohesion_sd, is_gr.sum())  # cohesion
    unit_treat = np.empty(n_units, dtype=object)
    for fi, f in enumerate(FORMATS):
        sel = unit_fmt == fi
        if sel.any():
            names = [t for t, _ in TREATMENTS[f]]
            probs = np.array([q for _, q in TREATMENTS[f]])
            unit_treat[sel] = np.array(names, dtype=object)[
                rng.choice(len(names), sel.sum(), p=probs / probs.sum())
            ]

    # ---- episodes --------------------------------------------------------
    ep_unit = np.repeat(np.arange(n_units), size)
    n_ep = len(ep_unit)
    ep_format = unit_fmt[ep_unit]
    ep_org = unit_org[ep_unit]
    ep_clin = unit_clin[ep_unit]
    ep_staff = unit_staff[ep_unit]
    ep_planned = planned[ep_unit]
    ep_interval = unit_interval[ep_unit]
    ep_start = unit_start[ep_unit]

    # ---- patients (a few individual episodes are a second course of an earlier patient)
    ep_patient = np.arange(n_ep)
    indiv = np.flatnonzero(ep_format == FORMATS.index("individual"))
    repeat = indiv[rng.random(len(indiv)) < p.repeat_episode_probability]
    first = np.setdiff1d(indiv, repeat)
    if len(repeat) and len(first):
        src = first[rng.integers(0, len(first), len(repeat))]
        ep_patient[repeat] = src
        gap = rng.integers(30, 180, len(repeat))
        ep_start[repeat] = ep_start[src] + (
            ep_planned[src] * ep_interval[src] + gap
        ).astype("timedelta64[D]")
        # a patient stays with one organisation: the new course is there, with any of its
        # therapists (by caseload) and the staff member of the first course
        ep_org[repeat] = ep_org[src]
        ep_staff[repeat] = ep_staff[src]
        u_rep = rng.random(len(repeat))
        for o in np.unique(ep_org[repeat]):
            sel = ep_org[repeat] == o
            pool = np.flatnonzero((clin_org == o) & (clin_role == ROLE_THERAPIST))
            w = np.cumsum(caseload[pool])
            idx = np.searchsorted(w / w[-1], u_rep[sel], side="right")
            ep_clin[repeat[sel]] = pool[np.minimum(idx, len(pool) - 1)]
    # renumber patients 0..n_pat-1 in order of first appearance
    uniq, first_idx, inverse = np.unique(ep_patient, return_index=True, return_inverse=True)
    order = np.argsort(first_idx, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    ep_patient = rank[inverse]
    n_pat = len(uniq)

    dx_prob = np.array([p.mapping("diagnosis_probabilities")[d] for d in DIAGNOSES])
    pat_dx = rng.choice(len(DIAGNOSES), size=n_pat, p=dx_prob)
    ambivalent = np.isin(pat_dx, [DIAGNOSES.index("eating"), DIAGNOSES.index("substance")])
    pd_dx = np.isin(pat_dx, [DIAGNOSES.index("borderline_pd"), DIAGNOSES.index("other_pd")])
    pat_att = rng.normal(size=n_pat) + p.pd_attachment_shift * pd_dx
    pat_sup = rng.normal(size=n_pat)
    pat_mot = rng.normal(size=n_pat) + p.ambivalent_diagnosis_motivation * ambivalent
    pat_anx = rng.normal(size=n_pat)
    strength_mean = np.array([p.mapping("diagnosis_alliance_strength")[d] for d in DIAGNOSES])
    strength_sd = np.array([p.mapping("diagnosis_strength_sd")[d] for d in DIAGNOSES])
    pat_strength = np.maximum(
        0.0, strength_mean[pat_dx] + strength_sd[pat_dx] * rng.normal(size=n_pat)
    )
    ep_sev = rng.normal(0.0, p.severity_sd, n_ep) + p.pd_severity_shift * pd_dx[ep_patient]
    # the patient's contribution to the alliance: named traits plus the rest
    named = (
        p.attachment_alliance_effect * pat_att
        + p.motivation_alliance_effect * pat_mot
        + p.social_support_alliance_effect * pat_sup
    )
    var_named = (
        p.attachment_alliance_effect**2 + p.motivation_alliance_effect**2
        + p.social_support_alliance_effect**2
    )
    rest_sd = np.sqrt(max(1.0 - var_named, 0.05))
    pat_alliance = p.patient_alliance_sd * (named + rest_sd * rng.normal(size=n_pat))
    pat_alliance /= np.sqrt(var_named + rest_sd**2)
    pat_age = np.clip(np.round(rng.normal(38, 13, n_pat)), 18, 90).astype(np.int64)
    pat_sex = np.where(rng.random(n_pat) < 0.62, "female", "male").astype(object)

    ep_dyad = rng.normal(0.0, p.dyad_alliance_sd, n_ep)
    ep_unit_alliance = unit_alliance[ep_unit]
    ep_secondary = unit_secondary[ep_unit] + p.secondary_alliance_sd * rng.normal(size=n_ep) * (
        (ep_format == FORMATS.index("internet")) | (ep_format == FORMATS.index("group"))
    )
    return Structure(
        climate=climate, programme_quality=programme_quality,
        clin_org=clin_org, clin_role=clin_role, skills=skills, warmth=warmth,
        competence=competence, repair_skill=repair_skill, clin_alliance=clin_alliance,
        clin_rate=clin_rate, clin_rater_bias=clin_rater_bias,
        pat_diagnosis=pat_dx, pat_attachment=pat_att, pat_support=pat_sup,
        pat_motivation=pat_mot, pat_anxiety=pat_anx, pat_alliance=pat_alliance,
        pat_strength=pat_strength, pat_age=pat_age, pat_sex=pat_sex,
        ep_patient=ep_patient, ep_unit=ep_unit, ep_format=ep_format, ep_org=ep_org,
        ep_clinician=ep_clin, ep_staff=ep_staff, ep_treatment=unit_treat[ep_unit],
        ep_planned=ep_planned, ep_start=ep_start, ep_interval=ep_interval,
        ep_severity=ep_sev, ep_dyad=ep_dyad, ep_unit_alliance=ep_unit_alliance,
        ep_secondary=ep_secondary,
    )
