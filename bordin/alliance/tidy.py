"""From tidy ``administrations`` to the tables the analyses need.

:func:`patient_table` makes one row per episode of care: outcome at baseline
and at the end, the change before the alliance window, and the alliance in the
window (early, mid, late or explicit sessions) by rater and subscale.
:func:`session_panel` makes one row per episode and session with alliance and
symptoms side by side, their person means and deviations (Curran & Bauer 2011)
and their values at the next session.

Column names default to the ``administrations`` contract of DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bordin.alliance._common import require_columns, require_frame, require_numeric
from bordin.errors import InputError

__all__ = ["COLUMNS", "Columns", "Window", "patient_table", "session_panel"]

EARLY = (3, 4)


@dataclass(frozen=True)
class Columns:
    """Column names of an ``administrations`` table (DESIGN.md defaults)."""

    organization: str = "organization"
    clinician: str = "clinician"
    patient: str = "patient"
    episode: str = "episode"
    session: str = "session"
    instrument: str = "instrument"
    rater: str = "rater"
    total: str = "total"


Window = str | tuple[int, int]
COLUMNS = Columns()


def _window_label(window: Window) -> str:
    if isinstance(window, str):
        return window
    return f"sessions {window[0]}-{window[1]}"


def _check_window(window: Window) -> None:
    if isinstance(window, str):
        if window not in ("early", "mid", "late"):
            raise InputError(
                field="window", value=window,
                allowed="'early' (sessions 3-4), 'mid', 'late' or a (first, last) session pair",
            )
        return
    ok = (
        isinstance(window, tuple) and len(window) == 2
        and all(isinstance(v, int | np.integer) for v in window) and 0 < window[0] <= window[1]
    )
    if not ok:
        raise InputError(
            field="window", value=window,
            allowed="'early', 'mid', 'late' or a (first, last) pair of session numbers",
        )


def _select_window(
    rows: pd.DataFrame, *, window: Window, unit: str, session: str, span: pd.DataFrame
) -> pd.DataFrame:
    """Alliance rows that fall in the window of their own episode."""
    if window == "early":
        lo, hi = EARLY
        return rows[rows[session].between(lo, hi)]
    if isinstance(window, tuple):
        return rows[rows[session].between(window[0], window[1])]
    s = rows.merge(span, left_on=unit, right_index=True, how="left")
    if window == "mid":
        # The middle third of the episode's sessions.
        length = s["last"] - s["first"]
        keep = (s[session] >= s["first"] + length / 3) & (s[session] <= s["first"] + 2 * length / 3)
        return rows[keep.to_numpy()]
    # late: the last three sessions of the episode at which this alliance was rated
    rank = rows.groupby(unit)[session].rank(method="dense", ascending=False)
    return rows[rank <= 3]


def _instruments_present(
    data: pd.DataFrame,
    *,
    column: str,
    alliance_instrument: str | Sequence[str],
    outcome_instrument: str,
) -> list[str]:
    """The alliance instrument(s) as a list, once each of them and the outcome is in the data."""
    ali_names = [alliance_instrument] if isinstance(alliance_instrument, str) else list(
        alliance_instrument)
    present = set(data[column].dropna().unique())
    for name, arg in [*[(a, "alliance_instrument") for a in ali_names],
                      (outcome_instrument, "outcome_instrument")]:
        if name not in present:
            raise InputError(field=arg, value=name, allowed=f"an instrument in the data: "
                             f"{sorted(map(str, present))}")
    return ali_names


def patient_table(
    data: pd.DataFrame,
    *,
    alliance_instrument: str | Sequence[str],
    outcome_instrument: str,
    window: Window = "early",
    raters: Sequence[str] | None = None,
    scores: Sequence[str] = ("total", "goal", "task", "bond"),
    outcome_rater: str | None = None,
    columns: Columns = COLUMNS,
) -> pd.DataFrame:
    """One row per episode: baseline, post, prior change, and alliance in the window.

    Parameters
    ----------
    data
        Tidy administrations (one row per completed questionnaire).
    alliance_instrument
        Instrument name(s) of the alliance measure (e.g. ``"WAI-SR"``).
    outcome_instrument
        Instrument name of the outcome (symptom) measure, scored in ``columns.total``.
    window
        ``"early"`` (sessions 3-4, the convention of the literature), ``"mid"``
        (the middle third of each episode's sessions), ``"late"`` (the last three
        sessions with an alliance rating) or an explicit ``(first, last)`` pair.
    raters
        Alliance raters to keep (default: all found).
    scores
        Alliance score columns (total and subscales); absent or empty ones are skipped.
    outcome_rater
        Keep only outcome rows by this rater (default: all rows, averaged per session).
    columns
        Column names of the administrations table.

    Returns
    -------
    pandas.DataFrame
        Columns ``organization, clinician, patient, episode, baseline, post,
        baseline_session, post_session, prior, prior_change, window_start`` and
        ``<rater>_<score>`` for each rater and score (mean over the window).
    """
    data = require_frame(data)
    c = columns
    _check_window(window)
    require_columns(data, {
        "columns.episode": c.episode, "columns.session": c.session,
        "columns.instrument": c.instrument, "columns.rater": c.rater,
        "columns.total": c.total,
    })
    require_numeric(data, [c.session, c.total])
    ali_names = _instruments_present(
        data, column=c.instrument, alliance_instrument=alliance_instrument,
        outcome_instrument=outcome_instrument,
    )
    keys = [k for k in (c.organization, c.clinician, c.patient) if k in data.columns]
    out_rows = data[data[c.instrument] == outcome_instrument]
    if outcome_rater is not None:
        out_rows = out_rows[out_rows[c.rater] == outcome_rater]
    out_rows = out_rows.dropna(subset=[c.session, c.total])
    outcome = out_rows.groupby([c.episode, c.session])[c.total].mean().reset_index()
    span = outcome.groupby(c.episode)[c.session].agg(first="min", last="max")
    first = outcome.merge(span, left_on=c.episode, right_index=True)
    base = first[first[c.session] == first["first"]].set_index(c.episode)[c.total]
    post = first[first[c.session] == first["last"]].set_index(c.episode)[c.total]
    table = pd.DataFrame({"baseline": base, "post": post})
    table["baseline_session"] = span["first"]
    table["post_session"] = span["last"]
    table.loc[table["post_session"] <= table["baseline_session"], "post"] = np.nan

    ali = data[data[c.instrument].isin(ali_names)]
    if raters is not None:
        unknown = sorted(set(raters) - set(ali[c.rater].dropna().unique()))
        if unknown:
            raise InputError(field="raters", value=unknown,
                             allowed=f"raters of the alliance rows: "
                                     f"{sorted(map(str, ali[c.rater].dropna().unique()))}")
        ali = ali[ali[c.rater].isin(list(raters))]
    for s in scores:
        if s not in ali.columns:
            continue
        require_numeric(ali, [s])
    in_win = _select_window(ali, window=window, unit=c.episode, session=c.session, span=span)
    start = in_win.groupby(c.episode)[c.session].min()
    table["window_start"] = start
    # Outcome at the latest session before the window (and after baseline): the
    # change "before the alliance was measured" (the epiphenomenon question).
    prior = outcome.merge(start.rename("window_start"), left_on=c.episode, right_index=True)
    prior = prior.merge(span, left_on=c.episode, right_index=True)
    prior = prior[(prior[c.session] < prior["window_start"]) & (prior[c.session] > prior["first"])]
    last_prior = prior.sort_values(c.session).groupby(c.episode)[c.total].last()
    table["prior"] = last_prior
    table["prior_change"] = table["prior"] - table["baseline"]
    rater_list = sorted(map(str, in_win[c.rater].dropna().unique()))
    for r in rater_list:
        sub = in_win[in_win[c.rater].astype(str) == r]
        for s in scores:
            if s not in sub.columns or sub[s].notna().sum() == 0:
                continue
            table[f"{r}_{s}"] = sub.groupby(c.episode)[s].mean()
    if keys:
        ident = data.drop_duplicates(c.episode).set_index(c.episode)[keys]
        table = ident.join(table, how="right")
    table.index.name = c.episode
    table = table.reset_index()
    table.attrs["window"] = _window_label(window)
    table.attrs["raters"] = rater_list
    return table


def session_panel(
    data: pd.DataFrame,
    *,
    alliance_instrument: str | Sequence[str],
    outcome_instrument: str,
    alliance_rater: str | None = "patient",
    outcome_rater: str | None = None,
    alliance_score: str = "total",
    max_session: int | None = None,
    columns: Columns = COLUMNS,
) -> pd.DataFrame:
    """One row per episode and session: alliance and symptoms, centred and lagged.

    Person-mean centering (Curran & Bauer 2011): ``alliance_between`` is the
    episode's mean alliance, ``alliance_within`` the session's deviation from it;
    likewise for symptoms. ``*_next`` hold the values at the next session number
    (session + 1), missing when that session was not measured.

    Parameters
    ----------
    data
        Tidy administrations.
    alliance_instrument, outcome_instrument
        Instrument names.
    alliance_rater
        Alliance rater to use (default ``"patient"``; None for all, averaged).
    outcome_rater
        Outcome rater (default: all, averaged per session).
    alliance_score
        Alliance column (``"total"`` or a subscale).
    max_session
        Keep sessions up to this number (e.g. 7 for the first phase of treatment,
        as in Flückiger et al. 2020) before centring.
    columns
        Column names of the administrations table.
    """
    data = require_frame(data)
    c = columns
    require_columns(data, {
        "columns.episode": c.episode, "columns.session": c.session,
        "columns.instrument": c.instrument, "columns.rater": c.rater,
        "alliance_score": alliance_score, "columns.total": c.total,
    })
    require_numeric(data, [c.session, c.total, alliance_score])
    ali_names = _instruments_present(
        data, column=c.instrument, alliance_instrument=alliance_instrument,
        outcome_instrument=outcome_instrument,
    )
    if max_session is not None and (not isinstance(max_session, int) or max_session < 2):
        raise InputError(field="max_session", value=max_session, allowed="an integer >= 2")
    ali = data[data[c.instrument].isin(ali_names)]
    if alliance_rater is not None:
        ali = ali[ali[c.rater] == alliance_rater]
        if ali.empty:
            raise InputError(field="alliance_rater", value=alliance_rater,
                             allowed="a rater with alliance rows in the data")
    sym = data[data[c.instrument] == outcome_instrument]
    if outcome_rater is not None:
        sym = sym[sym[c.rater] == outcome_rater]
    a = ali.groupby([c.episode, c.session])[alliance_score].mean().rename("alliance")
    y = sym.groupby([c.episode, c.session])[c.total].mean().rename("symptoms")
    panel = pd.concat([a, y], axis=1, join="inner").dropna().reset_index()
    if max_session is not None:
        panel = panel[panel[c.session] <= max_session]
    for v in ("alliance", "symptoms"):
        panel[f"{v}_between"] = panel.groupby(c.episode)[v].transform("mean")
        panel[f"{v}_within"] = panel[v] - panel[f"{v}_between"]
    nxt = panel[[c.episode, c.session, "alliance", "symptoms"]].copy()
    nxt[c.session] = nxt[c.session] - 1
    panel = panel.merge(
        nxt.rename(columns={"alliance": "alliance_next", "symptoms": "symptoms_next"}),
        on=[c.episode, c.session], how="left",
    )
    keys = [k for k in (c.organization, c.clinician, c.patient) if k in data.columns]
    if keys:
        ident = data.drop_duplicates(c.episode)[[c.episode, *keys]]
        panel = panel.merge(ident, on=c.episode, how="left")
    return panel.sort_values([c.episode, c.session]).reset_index(drop=True)
