"""``clinic()``: generate one simulated data set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.simulate.dynamics import Course, run_course
from bordin.simulate.measurement import administer
from bordin.simulate.parameters import DIAGNOSES, FORMATS, Parameters
from bordin.simulate.parameters import preset as _preset
from bordin.simulate.result import SimulatedClinic, Truth
from bordin.simulate.structure import FIS_SKILLS, ROLES, Structure, draw_structure

__all__ = ["clinic"]


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(field="seed", value=seed, allowed="a non-negative integer")
    return int(seed)


def clinic(
    preset: str = "clinic",
    *,
    seed: int = 0,
    parameters: Parameters | None = None,
    progress: Callable[[str, float], None] | None = None,
    **overrides: Any,
) -> SimulatedClinic:
    """Simulate a clinic: organisations, clinicians, patients, episodes, sessions.

    Parameters
    ----------
    preset
        Name of the preset: ``"clinic"`` (a typical outpatient clinic, the
        default), ``"baldwin2007"`` (331 patients, 80 therapists; only the
        therapist's contribution to the alliance heals) or ``"ipd17"`` (17
        sites, the first seven sessions, reciprocal within-patient effects).
    seed
        Seed of the random generator; the same seed and parameters give the
        same data, byte for byte when saved.
    parameters
        A full :class:`Parameters` to use instead of a preset (overrides still apply).
    progress
        Optional callback ``progress(stage, fraction_done)``.
    **overrides
        Any field of :class:`Parameters` (see ``Parameters.describe()``).

    Returns
    -------
    SimulatedClinic
        ``administrations``, ``responses``, ``episodes``, ``clinicians``,
        ``patients`` and ``truth``.

    Notes
    -----
    The tables are what a clinic's own records would show, so that
    :func:`bordin.store.bulk.import_batch` (``bordin import``) and
    :func:`bordin.store.submit.submit_administration` accept every row:

    - ``episodes.format`` is one of the store's formats (``individual``,
      ``couple``, ``family``, ``group``, ``internet``, ``medication``);
    - a questionnaire skipped as a whole (``administration_missing_rate``) is
      not an administration at all, and one with more blank items than its
      instrument's ``max_missing`` was not completed and is dropped too; the
      rest are scored with proration, and a subscale with more blanks than
      ``subscale_max_missing`` is left missing while the total stands (as the
      store scores it);
    - every administration has a session number of 1 or more: intake is
      session 1 and an end-of-care measurement belongs to the last session
      held, in every format (internet and group episodes count their contacts
      the same way).
      Clinician-level ratings with no episode (the observers' FIS ratings) are
      not administrations: they are ``skill_ratings`` / ``skill_responses``.

    Examples
    --------
    >>> import bordin.simulate as sim
    >>> data = sim.clinic("clinic", seed=1, n_episodes=200)
    >>> sorted(data.tables())[:2]
    ['administrations', 'clinicians']
    """
    name = preset
    seed = _check_seed(seed)
    if parameters is not None:
        if not isinstance(parameters, Parameters):
            raise InputError(field="parameters", value=type(parameters).__name__,
                             allowed="a bordin.simulate.Parameters")
        p = parameters.replace(**overrides)
        name = "custom"
    else:
        p = _preset(name, **overrides)

    def tick(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    ss = np.random.SeedSequence(seed)
    g_struct, g_course, g_measure = (np.random.default_rng(s) for s in ss.spawn(3))
    tick("structure", 0.0)
    st = draw_structure(p, g_struct)
    tick("sessions", 0.15)
    course = run_course(p, st, g_course)
    tick("instruments", 0.45)
    measured = administer(p, st, course, g_measure)
    tick("tables", 0.9)
    out = _tables(p, st, course, measured, name, seed, overrides)
    tick("done", 1.0)
    return out



def _tables(p: Parameters, st: Structure, course: Course, measured: Any, name: str, seed: int,
            overrides: dict[str, Any]) -> SimulatedClinic:
    n_ep = st.n_episodes
    ep_id = np.arange(1, n_ep + 1)
    interval = st.ep_interval.astype("timedelta64[D]")
    end = st.ep_start + (np.maximum(course.n_sessions, 1) - 1) * interval
    fmt_cat = pd.CategoricalDtype(list(FORMATS))
    dx_cat = pd.CategoricalDtype(list(DIAGNOSES))
    episodes = pd.DataFrame({
        "episode": ep_id,
        "patient": st.ep_patient + 1,
        "clinician": st.ep_clinician + 1,
        "organization": st.ep_org + 1,
        "treatment": st.ep_treatment.astype(str),
        "format": pd.Categorical.from_codes(st.ep_format, dtype=fmt_cat),
        "diagnosis": pd.Categorical.from_codes(st.pat_diagnosis[st.ep_patient], dtype=dx_cat),
        "start": pd.to_datetime(st.ep_start),
        "end": pd.to_datetime(end),
        "unit": st.ep_unit + 1,
        "n_sessions": course.n_sessions,
        "ended": np.where(course.dropout, "dropout", "completed"),
    }, copy=False)
    n_clin = len(st.clin_role)
    clinicians = pd.DataFrame({
        "clinician": np.arange(1, n_clin + 1),
        "organization": st.clin_org + 1,
        "role": pd.Categorical.from_codes(st.clin_role, categories=list(ROLES)),
    })
    n_pat = len(st.pat_diagnosis)
    patients = pd.DataFrame({
        "patient": np.arange(1, n_pat + 1),
        "age": st.pat_age,
        "sex": st.pat_sex.astype(str),
    })
    sessions = pd.DataFrame({
        "episode": course.episode + 1,
        "session": course.session,
        "symptoms": course.symptoms,
        "anxiety": course.anxiety,
        "wellbeing": course.wellbeing,
        "alliance": course.alliance,
        "secondary_alliance": course.secondary,
        "expectancy": course.expectancy,
        "adherence": course.adherence,
        "improvement_rate": course.rate,
        "in_rupture": course.in_rupture,
    }, copy=False)
    rep = course.rupture_repaired
    ruptures = pd.DataFrame({
        "rupture": np.arange(1, len(rep) + 1),
        "episode": course.rupture_episode + 1,
        "start_session": course.rupture_start,
        "depth": course.rupture_depth,
        "repaired_session": pd.arrays.IntegerArray(np.maximum(rep, 0), rep < 0),
        "repaired": rep >= 0,
    })
    ruptures = ruptures.sort_values(["episode", "start_session"], kind="stable").reset_index(
        drop=True)
    ruptures["rupture"] = np.arange(1, len(ruptures) + 1)
    t_episodes = pd.DataFrame({
        "episode": ep_id,
        "unit": st.ep_unit + 1,
        "planned_sessions": st.ep_planned,
        "n_sessions": course.n_sessions,
        "dropout": course.dropout,
        "therapist_alliance": st.clin_alliance[st.ep_clinician],
        "patient_alliance": st.pat_alliance[st.ep_patient],
        "dyad_alliance": st.ep_dyad,
        "unit_alliance": st.ep_unit_alliance,
        "intake_severity": st.ep_severity,
        "alliance_strength": st.pat_strength[st.ep_patient],
    })
    t_clin = pd.DataFrame(st.skills, columns=list(FIS_SKILLS))
    t_clin.insert(0, "clinician", np.arange(1, n_clin + 1))
    t_clin["warmth"] = st.warmth
    t_clin["competence"] = st.competence
    t_clin["alliance_contribution"] = st.clin_alliance
    t_clin["rate_effect"] = st.clin_rate
    t_clin["rater_bias"] = st.clin_rater_bias
    t_pat = pd.DataFrame({
        "patient": np.arange(1, n_pat + 1),
        "attachment": st.pat_attachment,
        "social_support": st.pat_support,
        "motivation": st.pat_motivation,
        "alliance_contribution": st.pat_alliance,
        "alliance_strength": st.pat_strength,
    })
    t_org = pd.DataFrame({
        "organization": np.arange(1, len(st.climate) + 1),
        "climate": st.climate,
        "programme_quality": st.programme_quality,
    })
    truth = Truth(
        sessions=sessions, ruptures=ruptures, episodes=t_episodes, clinicians=t_clin,
        patients=t_pat, organizations=t_org, items=measured.items, parameters=p,
    )
    return SimulatedClinic(
        administrations=measured.administrations, responses=measured.responses,
        episodes=episodes, clinicians=clinicians, patients=patients, truth=truth,
        preset=name, seed=seed, overrides=dict(overrides),
        skill_ratings=measured.skill_ratings, skill_responses=measured.skill_responses,
    )
