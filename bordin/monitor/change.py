"""Reliable change and clinical-significance status per episode (Jacobson & Truax 1991).

The arithmetic is :func:`bordin.instruments.reliable_change` (the instrument's norms);
this module applies it to the intake and the latest administration of every episode.
A clinic's scores take few distinct values, so the frame version computes each distinct
(instrument, intake, score) pair once and maps the result back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.monitor._frame import check_frame, numeric_column
from bordin.monitor._series import as_series
from bordin.monitor._specs import kind_of

__all__ = ["ChangeStatus", "change_table", "reliable_change_status"]


@dataclass(frozen=True)
class ChangeStatus:
    """Where an episode stands against its intake on one outcome scale.

    Attributes
    ----------
    instrument, scale
        The instrument and scale.
    intake_session, intake, latest_session, latest
        The first and the latest observed session and score.
    n_sessions
        Observed sessions.
    change, rci, reliable, threshold, direction, category, method
        As in :class:`bordin.instruments.ReliableChange` (category ``"recovered"``,
        ``"improved"``, ``"unchanged"`` or ``"deteriorated"``).
    """

    instrument: str
    scale: str
    intake_session: int
    intake: float
    latest_session: int
    latest: float
    n_sessions: int
    change: float
    rci: float
    reliable: bool
    threshold: float
    direction: str
    category: str
    method: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN becomes None)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in ((k, getattr(self, k)) for k in self.__dataclass_fields__)}

    def summary(self) -> pd.DataFrame:
        """A one-column table."""
        return pd.DataFrame({self.instrument: pd.Series(self.to_dict(), dtype=object)})


def _rc(instrument: str, before: float, after: float, scale: str, norms: Any) -> Any:
    from bordin.instruments import reliable_change

    return reliable_change(instrument, before=before, after=after, scale=scale, norms=norms)


def reliable_change_status(
    scores: Any, *, instrument: str | None = None, scale: str = "total", norms: Any = None
) -> Any:
    """Reliable change of the latest score against the intake (first observed) score.

    Parameters
    ----------
    scores
        One score per session (a sequence with None/NaN for missed sessions, or a
        pandas Series indexed by session number); or a tidy administrations frame, for
        the status of every (episode, outcome instrument, rater) at once.
    instrument
        Instrument id (``"phq9"``, ``"gad7"``, ``"core10"``, ``"ors"``, ...); needed for
        a series, taken from the frame's ``instrument`` column otherwise.
    scale
        ``"total"`` or a subscale.
    norms
        Optional :class:`bordin.instruments.ScaleNorms` overriding the spec's norms.

    Returns
    -------
    ChangeStatus or pandas.DataFrame
        One status for a series; for a frame, one row per (episode, instrument, rater)
        with the :class:`ChangeStatus` fields (``norms`` then maps instrument ids to
        :class:`~bordin.instruments.ScaleNorms`; instruments without norms get no
        category).

    Raises
    ------
    InputError
        With fewer than two observed sessions, an unknown instrument, or no norms.
    """
    if isinstance(scores, pd.DataFrame):
        return status_frame(scores, scale=scale, norms=norms)
    if instrument is None:
        raise InputError(field="instrument", value=None,
                         allowed="an instrument id (e.g. 'phq9') for a series of scores")
    sess, val = as_series(scores)
    if val.size < 2:
        raise InputError(field="scores", value=f"{val.size} observed session(s)",
                         allowed="at least two observed sessions (intake and a later one)")
    rc = _rc(instrument, float(val[0]), float(val[-1]), scale, norms)
    return ChangeStatus(
        instrument=rc.instrument, scale=scale, intake_session=int(sess[0]),
        intake=float(val[0]), latest_session=int(sess[-1]), latest=float(val[-1]),
        n_sessions=int(val.size), change=rc.change, rci=rc.rci, reliable=rc.reliable,
        threshold=rc.threshold, direction=rc.direction, category=rc.category,
        method=rc.method)


def change_table(
    instruments: np.ndarray, before: np.ndarray, after: np.ndarray, *, scale: str = "total",
    norms: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Reliable change for many (instrument, before, after) triples, computed once per
    distinct triple. Instruments without norms get NaN and category None."""
    codes, names = pd.factorize(pd.Series(instruments), sort=False)
    return change_codes(codes, np.asarray(names, dtype=object).astype(str), before, after,
                        scale=scale, norms=norms)


def change_codes(
    codes: np.ndarray, names: np.ndarray, before: np.ndarray, after: np.ndarray, *,
    scale: str = "total", norms: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """As :func:`change_table`, with instruments given as integer codes into ``names``."""
    key = pd.DataFrame({"c": np.asarray(codes, dtype=np.int64),
                        "before": np.asarray(before, dtype=float),
                        "after": np.asarray(after, dtype=float)})
    uniq = key.drop_duplicates()
    rows = []
    bad: set[int] = set()
    for c, b, a in uniq.itertuples(index=False):
        if c in bad:
            rows.append((np.nan, False, np.nan, None, None, np.nan))
            continue
        ins = str(names[c])
        try:
            rc = _rc(ins, float(b), float(a), scale, (norms or {}).get(ins))
        except InputError as exc:
            if exc.field in ("norms", "instrument", "scale"):
                bad.add(c)  # no norms for this scale: no status, not an error
                rows.append((np.nan, False, np.nan, None, None, np.nan))
                continue
            raise
        rows.append((rc.rci, rc.reliable, rc.threshold, rc.direction, rc.category,
                     rc.change))
    res = pd.DataFrame(rows, columns=["rci", "reliable", "threshold", "direction",
                                      "category", "change"], index=uniq.index)
    res = pd.concat([uniq, res], axis=1)
    out = key.merge(res, on=["c", "before", "after"], how="left")
    out.insert(0, "instrument", np.asarray(names, dtype=object)[key["c"].to_numpy()])
    return out


def status_frame(adm: pd.DataFrame, *, scale: str = "total",
                 norms: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """:class:`ChangeStatus` columns for every (episode, outcome instrument, rater)."""
    adm = check_frame(adm)
    ins = adm["instrument"].astype(str)
    outcome = ins.map({i: kind_of(i) for i in ins.unique()}) == "outcome"
    d = pd.DataFrame({"episode": adm["episode"], "instrument": ins, "rater": adm["rater"],
                      "session": adm["session"].astype(float),
                      "score": numeric_column(adm, scale)}).loc[outcome.to_numpy()]
    d = d.dropna(subset=["score"]).sort_values(["episode", "instrument", "rater", "session"])
    g = d.groupby(["episode", "instrument", "rater"], sort=False)
    st = g.agg(intake_session=("session", "first"), intake=("score", "first"),
               latest_session=("session", "last"), latest=("score", "last"),
               n_sessions=("score", "size")).reset_index()
    ct = change_table(st["instrument"].to_numpy(), st["intake"].to_numpy(),
                      st["latest"].to_numpy(), scale=scale, norms=norms)
    for c in ("rci", "reliable", "threshold", "direction", "category", "change"):
        st[c] = ct[c].to_numpy()
    st["scale"] = scale
    return st
