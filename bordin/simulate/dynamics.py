"""The session-by-session course: alliance, the three pathways, ruptures, dropout.

The loop runs over the session number only; within a session every episode is
updated at once with numpy. Episodes are ordered by planned length so that the
episodes still planned at session ``s`` are a prefix of the arrays.

Per session ``s`` of episode ``e`` (all quantities latent):

* **alliance** (as the patient experiences and rates it)
  ``a = T + P + D + U + growth(s) + fluctuation(s) + β·(y_1 - y_s) - rupture + repairs``:
  therapist contribution T (warmth and competence, climate), patient
  contribution P (attachment, motivation, social support), dyad D, unit U
  (couples, families, groups), an early build-up, AR(1) fluctuations, the
  reciprocal effect of symptom improvement on the alliance, open ruptures and
  the lasting benefit of repairs;
* **healing alliance** ``h = T + w_p·(P + D + U) + w_dyn·dynamic part``: the part
  of the alliance that heals (Baldwin et al.: mostly the therapist's);
  internet and group formats mix in the alliance with the programme / group;
* **CARE**: bond = healing alliance, stronger with low social support;
  raises well-being and lowers distress;
* **EXPECTANCY**: expectations from therapist warmth and competence, staff
  warmth and the alliance; lower symptoms;
* **SPECIFIC**: adherence (logistic in goal/task agreement, expectations,
  motivation) times the treatment's specific effect;
* **symptoms** move towards the healthy level at a rate that sums the natural
  rate and the three pathways (scaled by the diagnosis' alliance strength for
  the alliance-borne parts), less the harm of an open rupture, plus noise.

The two reciprocal within-patient couplings (alliance deviation -> next
symptoms, improvement -> next alliance) are scaled per episode by
``1 + reciprocal_alliance_moderation * z(stable alliance) -
reciprocal_symptom_moderation * z(intake severity)`` (clipped to [0, 3]).
Ruptures start with a probability that rises with dyad difficulty, drop the
alliance by a gamma-distributed depth until repaired (repair probability rises
with the clinician's rupture-repair skill), and each session a dropout hazard
acts on the alliance, the symptom course and any open rupture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bordin.simulate.parameters import DIAGNOSES, FORMATS, Parameters
from bordin.simulate.structure import Structure

__all__ = ["Course", "run_course"]


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Course:
    """Long arrays, one row per session held, sorted by episode then session."""

    episode: np.ndarray
    session: np.ndarray
    symptoms: np.ndarray
    anxiety: np.ndarray
    wellbeing: np.ndarray
    alliance: np.ndarray
    bond_offset: np.ndarray  # per row: bond-minus-goal/task offset of the dyad
    secondary: np.ndarray
    expectancy: np.ndarray
    adherence: np.ndarray
    rate: np.ndarray
    in_rupture: np.ndarray
    # per episode
    staff_alliance: np.ndarray  # alliance with the staff member met at intake (NaN: none)
    n_sessions: np.ndarray
    dropout: np.ndarray
    # rupture events
    rupture_episode: np.ndarray
    rupture_start: np.ndarray
    rupture_depth: np.ndarray
    rupture_repaired: np.ndarray  # session of repair, -1 if never repaired


def run_course(p: Parameters, st: Structure, rng: np.random.Generator) -> Course:
    """Run every episode session by session."""
    n = st.n_episodes
    order = np.argsort(-st.ep_planned, kind="stable")
    planned = st.ep_planned[order]
    s_max = int(planned.max()) if n else 0
    # number of episodes still planned at session s (1-based): a prefix length
    prefix = np.searchsorted(-planned, -np.arange(1, s_max + 2), side="right")

    fmt = st.ep_format[order]
    clin = st.ep_clinician[order]
    pat = st.ep_patient[order]
    staff = st.ep_staff[order]
    T = st.clin_alliance[clin]
    # the patient's contribution: traits plus (per episode) the current severity
    P = st.pat_alliance[pat] + p.severity_alliance_effect * st.ep_severity[order]
    D = st.ep_dyad[order]
    U = st.ep_unit_alliance[order]
    sec_base = st.ep_secondary[order] + p.secondary_patient_loading * P
    base_rated = T + P + D + U
    w_p = p.patient_alliance_weight
    heal_base = T + w_p * (P + D + U)
    heal_sec_base = st.ep_secondary[order] + w_p * p.secondary_patient_loading * P
    is_int = fmt == FORMATS.index("internet")
    is_grp = fmt == FORMATS.index("group")
    mix = np.zeros(n)
    mix[is_int] = p.programme_alliance_weight
    mix[is_grp] = p.group_alliance_weight

    dx = st.pat_diagnosis[pat]
    strength = st.pat_strength[pat]
    support = st.pat_support[pat]
    motivation = st.pat_motivation[pat]
    anx_trait = st.pat_anxiety[pat]
    warmth = st.warmth[clin]
    competence = st.competence[clin]
    staff_warmth = np.where(staff >= 0, st.warmth[np.maximum(staff, 0)], 0.0)
    x_base = (
        p.expectancy_warmth * warmth + p.expectancy_competence * competence
        + p.staff_expectancy_effect * staff_warmth + p.expectancy_motivation * motivation
        + rng.normal(0.0, p.expectancy_sd, n)
    )
    x_base[is_int] = (  # the programme, not a clinician's warmth, sets expectations
        p.expectancy_competence * st.programme_quality[st.ep_org[order][is_int]]
        + p.expectancy_motivation * motivation[is_int]
        + rng.normal(0.0, p.expectancy_sd, is_int.sum())
    )
    care_gain = np.maximum(0.0, 1.0 + p.low_support_care_gain * (-support))
    spec_by_fmt = np.array([p.mapping("specific_effect")[f] for f in FORMATS])
    spec = spec_by_fmt[fmt]
    base_rate = p.natural_rate + st.clin_rate[clin] + p.social_support_outcome_effect * support
    bond_offset = (p.bond_profile_effect * (warmth - competence)
                   + rng.normal(0.0, p.bond_profile_sd, n))
    pd_dx = np.isin(dx, [DIAGNOSES.index("borderline_pd"), DIAGNOSES.index("other_pd")])
    difficulty = (-st.pat_attachment[pat] + 1.0 * pd_dx - T / max(p.therapist_alliance_sd, 1e-9)
                  * 0.5) / np.sqrt(2.25)
    rupt_logit = _logit(p.rupture_rate) + p.rupture_difficulty_effect * difficulty
    repair_logit = _logit(p.repair_rate) + p.repair_skill_effect * st.repair_skill[clin]
    drop_logit0 = _logit(p.dropout_rate) if p.dropout_rate > 0 else -np.inf
    lo, hi = p.rate_bounds
    # reciprocal within-patient couplings, moderated by the patient's stable alliance
    # level and intake severity (both standardised across episodes)
    sd_base = float(base_rated.std()) if n > 1 and base_rated.std() > 0 else 1.0
    couple = np.clip(1.0 + p.reciprocal_alliance_moderation * base_rated / sd_base
                     - p.reciprocal_symptom_moderation * st.ep_severity[order]
                     / max(p.severity_sd, 1e-9), 0.0, 3.0)
    beta_ya = p.symptom_to_alliance * couple
    w_dyn_e = p.alliance_dynamic_weight * couple

    # state
    y = st.ep_severity[order].copy()
    y1 = y.copy()
    sd_u = p.alliance_session_sd
    fluct = rng.normal(0.0, sd_u, n)
    alive = np.ones(n, dtype=bool)
    open_depth = np.zeros(n)
    open_id = np.full(n, -1, dtype=np.int64)
    bonus = np.zeros(n)
    n_sessions = np.zeros(n, dtype=np.int64)
    dropout = np.zeros(n, dtype=bool)
    r_ep: list[np.ndarray] = []
    r_start: list[np.ndarray] = []
    r_depth: list[np.ndarray] = []
    repairs_idx: list[np.ndarray] = []
    repairs_s: list[np.ndarray] = []
    n_rupt = 0
    out: dict[str, list[np.ndarray]] = {k: [] for k in (
        "idx", "s", "y", "anx", "wb", "a", "sec", "x", "h", "rate", "rup")}
    ar = p.alliance_ar
    innov = np.sqrt(1.0 - ar**2) * sd_u

    for s in range(1, s_max + 1):
        k = int(prefix[s - 1])
        if k == 0:
            break
        act = alive[:k]
        sl = slice(0, k)
        # ruptures: repairs of earlier ruptures first, then new ruptures (not at session 1)
        if s >= 2:
            is_open = open_id[sl] >= 0
            rep = act & is_open & (rng.random(k) < _sigmoid(repair_logit[sl]))
            if rep.any():
                ri = np.flatnonzero(rep)
                repairs_idx.append(open_id[ri])
                repairs_s.append(np.full(len(ri), s, dtype=np.int64))
                open_id[ri] = -1
                open_depth[ri] = 0.0
                bonus[ri] += p.repair_benefit
            new = act & (open_id[sl] < 0) & (rng.random(k) < _sigmoid(rupt_logit[sl]))
            if new.any():
                ni = np.flatnonzero(new)
                shape = p.rupture_depth_shape
                depth = rng.gamma(shape, p.rupture_depth_mean / shape, len(ni))
                open_id[ni] = n_rupt + np.arange(len(ni))
                open_depth[ni] = depth
                n_rupt += len(ni)
                r_ep.append(order[ni])
                r_start.append(np.full(len(ni), s, dtype=np.int64))
                r_depth.append(depth)
        # the alliance
        if s > 1:
            fluct[sl] = ar * fluct[sl] + innov * rng.normal(size=k)
        growth = -p.alliance_growth * np.exp(-(s - 1) / max(p.alliance_growth_sessions, 1e-9))
        improvement = y1[sl] - y[sl]
        dyn = (growth + fluct[sl] + beta_ya[sl] * improvement
               - open_depth[sl] + bonus[sl])
        a_rated = base_rated[sl] + dyn
        sec_rated = sec_base[sl] + growth + 0.5 * fluct[sl] + beta_ya[sl] * improvement
        w_dyn = w_dyn_e[sl]
        heal_primary = heal_base[sl] + w_dyn * dyn
        heal_sec = heal_sec_base[sl] + w_dyn * (growth + 0.5 * fluct[sl]
                                                + beta_ya[sl] * improvement)
        m = mix[sl]
        heal = (1 - m) * heal_primary + m * heal_sec
        # EXPECTANCY, SPECIFIC, CARE
        x = x_base[sl] + p.expectancy_alliance * heal
        adh = _sigmoid(p.adherence_intercept
                       + strength[sl] * p.adherence_alliance * heal_primary
                       + p.adherence_expectancy * x + p.adherence_motivation * motivation[sl])
        care = heal * care_gain[sl]
        rate = (base_rate[sl]
                + strength[sl] * (p.care_effect * care + p.expectancy_effect * x)
                + spec[sl] * adh
                - strength[sl] * p.rupture_harm * (open_id[sl] >= 0))
        rate = np.clip(rate, lo, hi)
        wb = (p.wellbeing_symptom_loading * y[sl] + p.care_wellbeing_effect * care
              + rng.normal(0.0, p.wellbeing_sd, k))
        anx = p.anxiety_symptom_loading * y[sl] + p.anxiety_trait_sd * anx_trait[sl]
        # record the sessions held
        ai = np.flatnonzero(act)
        out["idx"].append(ai)
        out["s"].append(np.full(len(ai), s, dtype=np.int64))
        out["y"].append(y[ai])
        out["anx"].append(anx[ai])
        out["wb"].append(wb[ai])
        out["a"].append(a_rated[ai])
        out["sec"].append(np.where(m[ai] > 0, sec_rated[ai], np.nan))
        out["x"].append(x[ai])
        out["h"].append(adh[ai])
        out["rate"].append(rate[ai])
        out["rup"].append(open_id[ai] >= 0)
        n_sessions[ai] = s
        # dropout after this session (only if more sessions were planned)
        more = act & (planned[sl] > s)
        if np.isfinite(drop_logit0):
            hz = _sigmoid(drop_logit0 - p.dropout_alliance_effect * a_rated
                          + p.dropout_symptom_effect * (y[sl] - y1[sl])
                          + p.dropout_rupture_effect * (open_id[sl] >= 0))
            drop = more & (rng.random(k) < hz)
            alive[:k] &= ~drop
            dropout[:k] |= drop
        # symptoms at the next session
        y[sl] = y[sl] - rate * (y[sl] - p.healthy_level) + p.symptom_noise_sd * rng.normal(size=k)

    idx = np.concatenate(out["idx"]) if out["idx"] else np.zeros(0, dtype=np.int64)
    ses = np.concatenate(out["s"]) if out["s"] else np.zeros(0, dtype=np.int64)
    ep = order[idx]
    srt = np.lexsort((ses, ep))

    def col(name: str) -> np.ndarray:
        return np.concatenate(out[name])[srt] if out[name] else np.zeros(0)

    # per-episode arrays back in episode order
    inv = np.empty_like(order)
    inv[order] = np.arange(n)
    repaired = np.full(n_rupt, -1, dtype=np.int64)
    if repairs_idx:
        repaired[np.concatenate(repairs_idx)] = np.concatenate(repairs_s)
    bond_row = bond_offset[idx][srt]
    staff_alliance = np.where(
        staff >= 0,
        p.staff_alliance_warmth * staff_warmth + p.secondary_patient_loading * P
        + p.secondary_alliance_sd * rng.normal(size=n),
        np.nan,
    )[inv]
    return Course(
        episode=ep[srt], session=ses[srt], symptoms=col("y"), anxiety=col("anx"),
        wellbeing=col("wb"), alliance=col("a"), bond_offset=bond_row, secondary=col("sec"),
        expectancy=col("x"), adherence=col("h"), rate=col("rate"),
        in_rupture=col("rup").astype(bool),
        staff_alliance=staff_alliance, n_sessions=n_sessions[inv], dropout=dropout[inv],
        rupture_episode=np.concatenate(r_ep) if r_ep else np.zeros(0, dtype=np.int64),
        rupture_start=np.concatenate(r_start) if r_start else np.zeros(0, dtype=np.int64),
        rupture_depth=np.concatenate(r_depth) if r_depth else np.zeros(0),
        rupture_repaired=repaired,
    )
