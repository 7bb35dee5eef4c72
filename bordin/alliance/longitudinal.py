"""Within- and between-patient effects of alliance and symptoms over sessions.

Curran & Bauer (2011) disaggregation as used by Flückiger et al. (2020): each
time-varying variable is split into the patient's mean over sessions (between)
and the session's deviation from it (within, person-mean centred). Two lagged
mixed models with a patient random intercept (optionally a random slope of the
within effect, and a therapist level):

* alliance -> symptoms: symptoms[t+1] ~ alliance_within[t] + alliance_between
  + symptoms_within[t] + symptoms_between + session
* symptoms -> alliance: alliance[t+1] ~ symptoms_within[t] + symptoms_between
  + alliance_within[t] + alliance_between + session

so the within-patient effect (does a patient's better-than-usual alliance
precede lower symptoms?) is reported beside the between-patient one.

Caveat: centring the lagged outcome on a person mean that includes the later
sessions biases the lagged coefficients by O(1/T) (Nickell 1981); with few
sessions per patient (T = 7 or 8) the within effect is shrunk by roughly 1/T.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bordin.alliance._common import check_level, json_safe, require_columns, require_frame
from bordin.alliance.tidy import COLUMNS, Columns, session_panel
from bordin.errors import InputError, StatisticalWarning
from bordin.stats.mixed import fit

__all__ = ["LongitudinalResult", "within_between"]

_TERMS = {
    "alliance_to_symptoms": ("symptoms_next", ["alliance_within", "alliance_between",
                                               "symptoms_within", "symptoms_between"]),
    "symptoms_to_alliance": ("alliance_next", ["symptoms_within", "symptoms_between",
                                               "alliance_within", "alliance_between"]),
}


@dataclass(frozen=True)
class LongitudinalResult:
    """Lagged within/between models in both directions.

    Attributes
    ----------
    effects
        One row per direction x level (within, between): estimate, se, df, t, p,
        ci_lower, ci_upper.
    models
        ``{"alliance_to_symptoms": MixedModel, "symptoms_to_alliance": MixedModel}``.
    n_patients, n_observations
        Patients (episodes) and lagged session pairs used.
    """

    effects: pd.DataFrame
    models: dict[str, Any] = field(repr=False)
    n_patients: int = 0
    n_observations: int = 0
    random_slope: bool = False
    therapist_level: bool = False
    level: float = 0.95
    panel: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def effect(self, direction: str = "alliance_to_symptoms", part: str = "within"
               ) -> dict[str, float]:
        """One effect as a dict."""
        key = (direction, part)
        if key not in self.effects.index:
            raise InputError(field="direction/part", value=key,
                             allowed=f"one of {list(self.effects.index)}")
        return {k: float(v) for k, v in self.effects.loc[key].items()}

    def summary(self) -> pd.DataFrame:
        """Within and between effects in both directions."""
        return self.effects.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "effects": self.effects.reset_index(), "n_patients": self.n_patients,
            "n_observations": self.n_observations, "random_slope": self.random_slope,
            "therapist_level": self.therapist_level, "level": self.level,
            "fixed": {k: m.fixed for k, m in self.models.items()},
            "varcomp": {k: m.varcomp for k, m in self.models.items()},
        })

    def plot(self) -> matplotlib.figure.Figure:
        """Within- beside between-patient effects, both directions."""
        e = self.effects
        fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
        titles = {"alliance_to_symptoms": "alliance(t) -> symptoms(t+1)",
                  "symptoms_to_alliance": "symptoms(t) -> alliance(t+1)"}
        for ax, (direction, title) in zip(axes, titles.items(), strict=True):
            sub = e.loc[direction]
            y = np.arange(len(sub))[::-1]
            ax.errorbar(sub["estimate"], y, xerr=[sub["estimate"] - sub["ci_lower"],
                                                  sub["ci_upper"] - sub["estimate"]],
                        fmt="o", capsize=3, color="k")
            ax.axvline(0, color="grey", lw=0.8)
            ax.set_yticks(y, [f"{p}-patient" for p in sub.index])
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return fig


def within_between(
    data: pd.DataFrame,
    *,
    alliance_instrument: str | Sequence[str] | None = None,
    outcome_instrument: str | None = None,
    alliance_rater: str | None = "patient",
    alliance_score: str = "total",
    max_session: int | None = None,
    random_slope: bool = False,
    therapist_level: bool = False,
    level: float = 0.95,
    columns: Columns = COLUMNS,
) -> LongitudinalResult:
    """Within- and between-patient lagged effects of alliance and symptoms.

    Parameters
    ----------
    data
        Tidy administrations (give the two instrument names), or a session panel
        from :func:`bordin.alliance.session_panel` (leave them None).
    alliance_instrument, outcome_instrument
        Instrument names in the administrations.
    alliance_rater, alliance_score, max_session
        Passed to :func:`bordin.alliance.session_panel`.
    random_slope
        Add a patient random slope of the within effect (``(1 + x_within | episode)``).
    therapist_level
        Nest patients in clinicians (``(1 | clinician/episode)``); not with ``random_slope``.
    level
        Confidence level (Satterthwaite t intervals).
    columns
        Column names of the administrations table.
    """
    level = check_level(level)
    data = require_frame(data)
    c = columns
    if (alliance_instrument is None) != (outcome_instrument is None):
        raise InputError(field="alliance_instrument/outcome_instrument",
                         value=(alliance_instrument, outcome_instrument),
                         allowed="both instrument names (administrations) or neither (a panel)")
    if alliance_instrument is not None:
        assert outcome_instrument is not None  # checked together just above
        panel = session_panel(data, alliance_instrument=alliance_instrument,
                              outcome_instrument=outcome_instrument,
                              alliance_rater=alliance_rater, alliance_score=alliance_score,
                              max_session=max_session, columns=c)
    else:
        panel = data
        require_columns(panel, {"columns.episode": c.episode, "columns.session": c.session,
                                **{t: t for t in ("alliance_next", "symptoms_next",
                                                  *_TERMS["alliance_to_symptoms"][1])}})
    if random_slope and therapist_level:
        raise InputError(field="random_slope", value=True,
                         allowed="False when therapist_level=True (one of the two)")
    if therapist_level:
        require_columns(panel, {"columns.clinician": c.clinician})
    effects = []
    models = {}
    n_obs = 0
    for direction, (response, terms) in _TERMS.items():
        cols = [c.episode, c.session, response, *terms]
        if therapist_level:
            cols.append(c.clinician)
        d = panel[cols].dropna().copy()
        d.columns = ["_episode", "_session", "_y", *terms, *(["_clinician"] if therapist_level
                                                             else [])]
        d["_episode"] = d["_episode"].astype(str)
        if d["_episode"].nunique() < 3:
            raise InputError(field="data", value=f"{d['_episode'].nunique()} patients with a "
                             "lagged pair", allowed="at least 3 patients with consecutive sessions")
        if therapist_level:
            d["_clinician"] = d["_clinician"].astype(str)
            re_term = "(1 | _clinician/_episode)"
        elif random_slope:
            re_term = f"(1 + {terms[0]} | _episode)"
        else:
            re_term = "(1 | _episode)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StatisticalWarning)
            m = fit(f"_y ~ {' + '.join(terms)} + _session + {re_term}", d, reml=True)
        models[direction] = m
        n_obs = max(n_obs, len(d))
        fx = m.fixed
        for part, term in (("within", terms[0]), ("between", terms[1])):
            r = fx.loc[term]
            q = stats.t.ppf(0.5 + level / 2, r["df"])
            effects.append({"direction": direction, "part": part,
                            "estimate": r["estimate"], "se": r["se"], "df": r["df"],
                            "t": r["t"], "p": r["p"], "ci_lower": r["estimate"] - q * r["se"],
                            "ci_upper": r["estimate"] + q * r["se"]})
    table = pd.DataFrame(effects).set_index(["direction", "part"])
    return LongitudinalResult(
        effects=table, models=models, n_patients=int(panel[c.episode].nunique()),
        n_observations=n_obs, random_slope=random_slope, therapist_level=therapist_level,
        level=level, panel=panel,
    )
