"""The expected-recovery band of an episode's symptom course, from the clinic's own data.

The band is the monitor's: :meth:`bordin.monitor.ExpectedRecovery.fit` on the
patient-rated totals of the same instrument in the episode's own organisation
(a growth model ``score ~ log_session * intake + (1 + log_session | episode)``
fitted with :mod:`bordin.stats.mixed`), evaluated with
:meth:`~bordin.monitor.ExpectedRecovery.band` at this patient's intake score for
each session from intake to the session after the latest. Nothing here models
anything; this module only chooses the data, keeps the fitted curves while the
clinic's data do not change, and puts the result in words a clinician reads.

The fit takes about a second on a clinic of a few hundred questionnaires, so the
curves are kept in a small in-process cache keyed by the database, organisation,
instrument and the count and largest id of that clinic's patient-rated
administrations of the instrument: any new questionnaire changes the key and the
next page refits.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bordin.errors import BordinError, BordinWarning
from bordin.monitor import ExpectedRecovery
from bordin.store.models.core import Administration, Episode, Organization
from bordin.store.queries import administrations_frame
from bordin.web.alerts.evidence import instrument_label

__all__ = ["MIN_EPISODES", "ExpectedBand", "clear_cache", "expected_bands"]

#: Episodes with follow-up the clinic needs before a band is shown (the monitor's default).
MIN_EPISODES = 20
_CACHE_SIZE = 32


@dataclass(frozen=True)
class _Fitted:
    curves: ExpectedRecovery | None
    n_episodes: int
    reason: str = ""
    short: str = ""
    caveats: tuple[str, ...] = ()


_cache: OrderedDict[tuple[Any, ...], _Fitted] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every fitted curve (the next page refits)."""
    with _lock:
        _cache.clear()


@dataclass(frozen=True)
class ExpectedBand:
    """The expected-recovery band of one instrument for one episode, or why there is none.

    Attributes
    ----------
    instrument
        Instrument id.
    label
        The instrument's short name (``PHQ-9``).
    available
        Whether the band could be computed.
    note
        One plain sentence under the chart: what the band means, or why it is missing.
    chart_note
        When the band is missing, the short reason the chart itself shows.
    coverage
        Two-sided coverage of the band (0.90), when available.
    intake, intake_session
        This patient's first patient-rated total and its session.
    n_episodes
        The clinic's episodes with follow-up of this instrument (the model's data).
    higher_is_better
        The scale's direction.
    rows
        One dict per session: ``session, sessions_since_intake, expected, lower, upper``.
    caveats
        Statistical warnings raised by the fit, as text.
    """

    instrument: str
    label: str
    available: bool
    note: str
    chart_note: str = ""
    coverage: float | None = None
    intake: float | None = None
    intake_session: int | None = None
    n_episodes: int = 0
    higher_is_better: bool = False
    rows: list[dict[str, float]] = field(default_factory=list)
    caveats: tuple[str, ...] = ()

    @property
    def legend(self) -> str:
        """The chart legend entry of the band."""
        return f"expected recovery ({self.coverage:.0%} band)" if self.coverage else ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the API's form)."""
        return {"instrument": self.instrument, "available": self.available, "note": self.note,
                "coverage": self.coverage, "intake": self.intake,
                "intake_session": self.intake_session, "n_episodes": self.n_episodes,
                "higher_is_better": self.higher_is_better, "band": list(self.rows),
                "caveats": list(self.caveats)}


def _follow_up(history: pd.DataFrame) -> tuple[int, int]:
    """(episodes with follow-up, follow-up scores): the fit's own criterion, a follow-up
    being a scored total at a session after the episode's first scored one."""
    if history.empty:
        return 0, 0
    d = history.dropna(subset=["total"])
    first = d.groupby("episode")["session"].transform("min")
    later = d[d["session"] > first]
    return int(later["episode"].nunique()), len(later)


def _fit(db: Session, *, organization_id: int, instrument: str) -> _Fitted:
    key_q = (select(func.count(Administration.id), func.max(Administration.id))
             .join(Episode, Episode.id == Administration.episode_id)
             .where(Episode.organization_id == organization_id,
                    Administration.instrument_id == instrument,
                    Administration.rater == "patient"))
    count, last_id = db.execute(key_q).one()
    bind = db.get_bind()
    key = (bind.url.render_as_string(hide_password=True), id(bind), organization_id,
           instrument, int(count or 0), last_id)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    org_code = db.scalar(select(Organization.code).where(Organization.id == organization_id))
    history = administrations_frame(db, organization=org_code, instrument=instrument,
                                    rater="patient")
    n, n_follow = _follow_up(history)
    label = instrument_label(instrument)
    if n < MIN_EPISODES:
        fitted = _Fitted(None, n, reason=(
            f"Expected recovery band not shown: it is estimated from this clinic's own "
            f"{label} courses and needs at least {MIN_EPISODES} patients with a follow-up "
            f"score; the clinic has {n} so far."),
            short=f"No expected recovery band yet: too little clinic data ({n} of "
                  f"{MIN_EPISODES} patients needed).")
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BordinWarning)
            try:
                curves = ExpectedRecovery.fit(history, instrument=instrument,
                                              min_episodes=MIN_EPISODES)
            except (BordinError, ValueError, KeyError, ArithmeticError,
                    np.linalg.LinAlgError):
                # EstimationError (too few episodes by the monitor's own count) or a
                # numerical failure: no band, said in words below.
                curves = None
        caveats = tuple(dict.fromkeys(str(w.message) for w in caught
                                      if issubclass(w.category, BordinWarning)))
        if curves is None:
            why = ("each patient has a single follow-up score, and the course model needs "
                   "several" if n_follow <= n else "the model did not fit")
            fitted = _Fitted(None, n, reason=(
                f"Expected recovery band not shown: this clinic's {label} courses "
                f"({n} patients) cannot be modelled: {why}."),
                short="No expected recovery band: the clinic's data do not fit the model.")
        else:
            fitted = _Fitted(curves, curves.n_episodes, caveats=caveats)
    with _lock:
        _cache[key] = fitted
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return fitted


def _intake(rows: list[dict[str, Any]], instrument: str) -> tuple[float, int, int] | None:
    """(intake score, intake session, latest session) of the patient-rated totals."""
    mine = [r for r in rows if r["instrument"] == instrument and r["rater"] == "patient"
            and r["scale"] == "total" and r["value"] is not None]
    if not mine:
        return None
    mine.sort(key=lambda r: (r["session"], r["administration_id"]))
    return float(mine[0]["value"]), int(mine[0]["session"]), int(mine[-1]["session"])


def _explain(curves: ExpectedRecovery, *, label: str, intake: float, n: int) -> str:
    share = round(curves.coverage * 10)
    side = "below" if curves.higher_is_better else "above"
    return (f"Shaded blue: where {share} in 10 of this clinic's patients who started at "
            f"{label} {intake:g} are expected to score at each session (the dashed line is "
            f"the expected score; estimated from {n} patients' courses). A score {side} the "
            f"band is recovering more slowly than expected.")


def expected_bands(db: Session, *, organization_id: int, rows: list[dict[str, Any]],
                   instruments: list[str]) -> dict[str, ExpectedBand]:
    """The expected-recovery band of each outcome instrument of one episode.

    Parameters
    ----------
    db
        An open session.
    organization_id
        The episode's organisation: its patients are the model's data.
    rows
        The episode's scores (:func:`bordin.web.patients.service.episode_scores`).
    instruments
        The outcome instruments to band (those with a symptom chart).

    Returns
    -------
    dict
        Instrument id to :class:`ExpectedBand` (``available`` False with a plain reason
        when the clinic has too little data or the model cannot be estimated).
    """
    out: dict[str, ExpectedBand] = {}
    for inst in instruments:
        label = instrument_label(inst)
        start = _intake(rows, inst)
        if start is None:
            continue
        intake, intake_s, last_s = start
        fitted = _fit(db, organization_id=organization_id, instrument=inst)
        curves = fitted.curves
        if curves is None:
            out[inst] = ExpectedBand(instrument=inst, label=label, available=False,
                                     note=fitted.reason, chart_note=fitted.short,
                                     intake=intake,
                                     intake_session=intake_s, n_episodes=fitted.n_episodes)
            continue
        since = np.arange(0, last_s - intake_s + 2)  # through the session after the latest
        b = curves.band(intake=intake, sessions_since_intake=since)
        band_rows = [{"session": int(intake_s + t), "sessions_since_intake": int(t),
                      "expected": float(e), "lower": float(lo), "upper": float(hi)}
                     for t, e, lo, hi in zip(b["sessions_since_intake"], b["expected"],
                                             b["lower"], b["upper"], strict=True)]
        out[inst] = ExpectedBand(
            instrument=inst, label=label, available=True,
            note=_explain(curves, label=label, intake=intake, n=fitted.n_episodes),
            coverage=float(curves.coverage), intake=intake, intake_session=intake_s,
            n_episodes=fitted.n_episodes, higher_is_better=bool(curves.higher_is_better),
            rows=band_rows, caveats=fitted.caveats)
    return out
