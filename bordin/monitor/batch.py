"""``monitor_frame``: every rule over a whole clinic's administrations, vectorised.

The administrations are melted into one long array of (series, session, score) with
a series per (episode, instrument, rater, target, scale); each rule then costs a few
numpy passes over it (see :mod:`bordin.monitor._engine`), never a Python loop per
episode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.monitor._engine import STATE_NAMES, Grouped, assemble, recovery
from bordin.monitor._events import merge_events, scale_label
from bordin.monitor._frame import (
    LongScores,
    check_frame,
    codes_of,
    frame_of,
    long_scores,
    numeric_column,
    text_column,
)
from bordin.monitor._specs import kind_of, scale_range, spec_or_none
from bordin.monitor.feedback import route
from bordin.monitor.rules import (
    CombinedRule,
    CutoffRule,
    RuptureRule,
)

__all__ = [
    "ALERT_COLUMNS",
    "DEFAULT_WATCHES",
    "SCALES",
    "Watch",
    "estimate_population_sd",
    "monitor_frame",
    "risk_record",
    "rupture_frame",
]

SCALES = ("total", "goal", "task", "bond")
EPISODE_ATTRS = ("organization", "clinician", "patient")
ALERT_COLUMNS = [
    "organization",
    "clinician",
    "patient",
    "episode",
    "instrument",
    "rater",
    "target",
    "scale",
    "kind",
    "rule",
    "start",
    "session",
    "state",
    "severity",
    "observed",
    "baseline",
    "threshold",
    "depth",
    "lowest",
    "lowest_score",
    "repaired_at",
    "scales",
    "pathway",
    "suggestions",
    "params",
    "dedupe_key",
]
SEVERITY = {"risk": "urgent", "not_on_track": "high", "discrepancy": "medium", "ceiling": "low"}
RUPTURE_SEVERITY = {"open": "medium", "unrepaired": "high", "repaired": "low"}


@dataclass(frozen=True)
class Watch:
    """A rule and where it applies: which instruments and scales (None: all alliance).

    ``triggers`` names the scales whose events raise an alert (None: every watched
    scale). The other watched scales are evidence: their events that overlap an alert
    are named in its ``scales`` and route its advice, but raise nothing on their own
    and do not change the alert's span or state.
    """

    rule: RuptureRule
    instruments: tuple[str, ...] | None = None
    scales: tuple[str, ...] | None = None
    triggers: tuple[str, ...] | None = None

    def triggers_on(self, scale: str) -> bool:
        """Whether an event of ``scale`` raises an alert under this watch."""
        return self.triggers is None or scale in self.triggers


DEFAULT_WATCHES: tuple[Watch, ...] = (
    Watch(CombinedRule(k=1.0), triggers=("total",)),
)
"""The default: Gumz et al.'s combined rule (the stricter of the patient's own and
the clinic's between-patient SD) at one SD, with alerts raised on the *total* of every
alliance rating; the goal, task and bond subscales are watched with the same rule as
evidence (their events name the scales that moved and route the advice, but raise
nothing alone).

Chosen by ``benchmarks/monitor_detection.py`` on the simulator's ground truth, by a
rule fixed beforehand (the best F1 on unrepaired ruptures; near-ties to the fewest
alerts), on seeds 1-3 of the presets ``clinic`` and ``ipd17``, among the published
rules (OpenFIT's one-point drop, a three-point drop, Stiles' 2 SD, Strauss' 1 SD,
Gumz's combined at 2 and 1 SD), each raising alerts on every scale or on the total:
combined k=1 on the total had F1 .22 on unrepaired ruptures (next: Strauss' 1 SD on
the total, .18), precision .71 at 10.6 clinician-facing alerts per 100 episodes.

On seeds 4-6, which played no part in the choice (pooled over both presets; patients'
WAI-SR against the true ruptures, matched within one session):

==========================  ============  ======  =========  ===========  ===========
                            alerts per    recall  precision  unrepaired   unrepaired
                            100 episodes                     recall       precision
==========================  ============  ======  =========  ===========  ===========
old default (4 rules, per    164          .42     .15        .22          .07
scale, every state)
this default                 10           .26     .71        .19          .38
==========================  ============  ======  =========  ===========  ===========

The old default found more ruptures (recall .42 against .26) with sixteen times the
alerts, 85% of which matched no rupture; this one finds fewer, and seven in ten of
its alerts are right. The published rules
stay available with their literature parameters (:mod:`bordin.monitor.rules`; e.g.
``Watch(CutoffRule(), instruments=("srs",))`` for the SRS cutoff of 36, or
``PersonalSDRule(k=2.0)`` for Stiles et al.).

The combined rule needs the clinic's between-patient SD: a run over a few episodes
should pass the clinic's (``population_sd=``, from :func:`estimate_population_sd` on
the whole clinic or :func:`bordin.monitor.service.population_sd` from the store).
"""


def _watches(rules: Sequence[RuptureRule | Watch] | None) -> tuple[Watch, ...]:
    if rules is None:
        return DEFAULT_WATCHES
    out = []
    for i, r in enumerate(rules):
        if isinstance(r, Watch):
            out.append(r)
        elif isinstance(r, RuptureRule):
            out.append(Watch(r))
        else:
            raise InputError(
                field=f"rules[{i}]",
                value=type(r).__name__,
                allowed="a rule from bordin.monitor.rules or a Watch",
            )
    return tuple(out)


def _subset(g: Grouped, keep_group: np.ndarray) -> tuple[Grouped, np.ndarray]:
    """Rows of the kept groups, renumbered; and the original id of each new group."""
    rows = keep_group[g.grp]
    old = g.grp[rows]
    change = np.concatenate(([False], old[1:] != old[:-1])) if old.size else old.astype(bool)
    sub = Grouped.from_codes(np.cumsum(change), g.sess[rows], g.val[rows])
    return sub, old[sub.starts] if old.size else old


def _population_table(ls: LongScores) -> np.ndarray:
    """Between-patient SD per (instrument, scale): the SD (ddof 1) of the series' mean
    scores, over every series of that instrument and scale; NaN with < 2 series.

    Returned as a table indexed by (instrument code, scale code).
    """
    g = ls.g
    ni, ns = len(ls.ins_u), len(ls.scale_u)
    table = np.full((ni, ns), np.nan)
    if not g.n_groups:
        return table
    n = (g.ends - g.starts).astype(float)
    means = np.bincount(g.grp, weights=g.val, minlength=g.n_groups) / n
    stratum = ls.ins_code * ns + ls.scale_code
    k = np.bincount(stratum, minlength=ni * ns).astype(float)
    m = np.bincount(stratum, weights=means, minlength=ni * ns)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = m / k
        dev = np.bincount(stratum, weights=(means - mu[stratum]) ** 2, minlength=ni * ns)
        sd = np.sqrt(dev / (k - 1))
    sd[k < 2] = np.nan
    return sd.reshape(ni, ns)


def _population_sd(ls: LongScores) -> np.ndarray:
    """Per group: the between-patient SD of its instrument and scale."""
    if not ls.g.n_groups:
        return np.zeros(0)
    return _population_table(ls)[ls.ins_code, ls.scale_code]


def estimate_population_sd(
    administrations: pd.DataFrame, *, scales: tuple[str, ...] = SCALES
) -> dict[str, float]:
    """The between-patient SD of every alliance scale in a clinic's administrations.

    The SD (ddof 1) of the series' mean scores (one series per episode, instrument,
    rater, target and scale), pooled by instrument and scale; keys
    ``"instrument.scale"``. :func:`monitor_frame` uses exactly these when it is given no
    ``population_sd``; pass them to :class:`~bordin.monitor.EpisodeMonitor` (or to a
    run over a few episodes) so that the combined rule judges every episode against
    the same clinic.
    """
    ls = long_scores(check_frame(administrations), scales=scales)
    table = _population_table(ls)
    kinds = np.array([kind_of(str(i)) == "alliance" for i in ls.ins_u], dtype=bool)
    return {f"{i}.{sc}": float(table[a, b])
            for a, i in enumerate(ls.ins_u) for b, sc in enumerate(ls.scale_u)
            if kinds[a] and np.isfinite(table[a, b])}


def _run_rule(
    ls: LongScores, rule: RuptureRule, keep: np.ndarray, popsd: np.ndarray | None,
    trigger: np.ndarray,
) -> pd.DataFrame | None:
    if not keep.any():
        return None
    sub, orig = _subset(ls.g, keep)
    rows_pop = None
    if isinstance(rule, CombinedRule) and rule.population_sd is None and popsd is not None:
        rows_pop = popsd[orig][sub.grp]
    flag, base, thr, target = rule.quantities(sub, population_sd=rows_pop)
    raw = assemble(sub, flag=flag, target=target, window=rule.window)
    if raw.start.size == 0:
        return None
    st, lo, rp = raw.start, raw.lowest, raw.repaired
    last_row = np.where(rp >= 0, rp, raw.last_row)
    gi = orig[raw.grp]
    # The end of the event's span (see bordin.monitor._events): the repair, the
    # return to the repair target after an unrepaired window, or not yet (inf).
    back = recovery(sub, raw, target)
    end = np.where(rp >= 0, sub.sess[np.maximum(rp, 0)],
                   np.where(back >= 0, sub.sess[np.maximum(back, 0)], np.inf))
    return frame_of(
        {
            "_g": gi,
            "_end": end,
            "_state": raw.state,
            "_trigger": trigger[ls.scale_code[gi]],
            "kind": "rupture",
            "rule": rule.key,
            "start": sub.sess[st].astype(np.int64),
            "session": sub.sess[last_row].astype(np.int64),
            "state": np.asarray(STATE_NAMES, dtype=object)[raw.state],
            "observed": sub.val[st],
            "baseline": base[st],
            "threshold": thr[st],
            "depth": base[st] - sub.val[lo],
            "lowest": sub.sess[lo].astype(np.int64),
            "lowest_score": sub.val[lo],
            "repaired_at": np.where(rp >= 0, sub.sess[np.maximum(rp, 0)], np.nan),
            "params": [rule.params] * st.size,
        }
    )


#: Series per instrument and scale below which the between-patient SD estimated from
#: the frame itself is too uncertain to judge by (its relative standard error is about
#: 1 / sqrt(2 (n - 1)): 16% at 20 series).
MIN_POPULATION_SERIES = 20


def _warn_few_series(ls: LongScores, keep: np.ndarray, min_sessions: int) -> None:
    """Warn when the combined rule's between-patient SD comes from too few series, for
    the instruments and scales where the rule has a series long enough to judge."""
    judged = keep & ((ls.g.ends - ls.g.starts) >= min_sessions)
    if not judged.any():
        return
    ns = len(ls.scale_u)
    stratum = ls.ins_code * ns + ls.scale_code
    counts = np.bincount(stratum, minlength=len(ls.ins_u) * ns)  # as the estimate counts
    few = [(f"{ls.ins_u[k // ns]}.{ls.scale_u[k % ns]}", int(counts[k]))
           for k in np.unique(stratum[judged]) if counts[k] < MIN_POPULATION_SERIES]
    if few:
        import warnings

        from bordin.errors import StatisticalWarning

        shown = ", ".join(f"{name} ({n})" for name, n in few[:4])
        warnings.warn(
            f"the combined rule's between-patient SD was estimated from fewer than "
            f"{MIN_POPULATION_SERIES} series: {shown}{' ...' if len(few) > 4 else ''} (with "
            "one series it is missing and the patient's own SD is used alone); pass the "
            "clinic's population_sd (estimate_population_sd on the whole clinic, or "
            "bordin.monitor.service.population_sd)", StatisticalWarning, stacklevel=4)


def rupture_frame(
    ls: LongScores,
    *,
    watches: tuple[Watch, ...],
    population_sd: float | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Rupture events of every watch over the long scores (``_g`` is the group)."""
    ins_alliance = np.array([kind_of(str(i)) == "alliance" for i in ls.ins_u], dtype=bool)
    is_alliance = ins_alliance[ls.ins_code] if ls.g.n_groups else np.zeros(0, dtype=bool)
    if population_sd is None:
        popsd = _population_sd(ls)
    elif isinstance(population_sd, Mapping):
        table = np.array([[float(population_sd.get(f"{i}.{sc}", population_sd.get(str(i), np.nan)))
                           for sc in ls.scale_u] for i in ls.ins_u], dtype=float)
        popsd = table[ls.ins_code, ls.scale_code]
    else:
        popsd = np.full(ls.g.n_groups, float(population_sd))
    pieces = []
    for w in watches:
        keep = is_alliance.copy()
        if w.instruments is not None:
            keep &= np.isin(ls.ins_u, list(w.instruments))[ls.ins_code]
        if w.scales is not None:
            keep &= np.isin(ls.scale_u, list(w.scales))[ls.scale_code]
        trig = (np.ones(len(ls.scale_u), dtype=bool) if w.triggers is None
                else np.isin(ls.scale_u, list(w.triggers)))
        if isinstance(w.rule, CutoffRule) and w.rule.cutoff is None:
            # The instrument's own cutoff, instrument by instrument (there are few).
            for k in np.unique(ls.ins_code[keep]):
                spec = spec_or_none(str(ls.ins_u[k]))
                if spec is None or getattr(spec, "cutoff", None) is None:
                    continue
                r = dataclasses.replace(w.rule, cutoff=float(spec.cutoff))
                pieces.append(_run_rule(ls, r, keep & (ls.ins_code == k), None, trig))
        else:
            if (population_sd is None and isinstance(w.rule, CombinedRule)
                    and w.rule.population_sd is None):
                _warn_few_series(ls, keep, w.rule.min_sessions)
            pieces.append(_run_rule(ls, w.rule, keep, popsd, trig))
    pieces = [p for p in pieces if p is not None]
    if not pieces:
        return pd.DataFrame(columns=["_g"])
    return pd.concat(pieces, ignore_index=True)


def event_frame(ls: LongScores, rup: pd.DataFrame, *, per_scale: bool = False) -> pd.DataFrame:
    """Rupture alerts from the per-scale events of :func:`rupture_frame`.

    One alert per rupture *event* (default): the per-scale events of one rating and
    rule whose spans overlap are merged (:func:`bordin.monitor._events.merge_events`);
    ``scale`` is the lead scale (the first watched one that moved) and ``scales`` maps
    every scale that moved to its depth. With ``per_scale=True`` every scale's event is
    its own alert (the research view, and the monitor's alerts before events were
    merged).
    """
    if not len(rup):
        return pd.DataFrame(columns=["_g"])
    gi = rup["_g"].to_numpy()
    depth = rup["depth"].to_numpy(dtype=float)
    if per_scale:
        out = rup.drop(columns=["_end", "_state", "_trigger"])
        names = ls.scale[gi]
        out["scale"] = names
        out["_key_scale"] = names
        sc = np.empty(len(out), dtype=object)
        sc[:] = [{str(a): b} for a, b in zip(names.tolist(), depth.tolist(), strict=True)]
        out["scales"] = sc
        return out
    rule_c, rule_u = pd.factorize(rup["rule"].to_numpy(dtype=object), sort=False)
    series = ls.rating[gi].astype(np.int64) * max(len(rule_u), 1) + rule_c
    m = merge_events(
        series=series, rank=ls.scale_code[gi], names=ls.scale_u,
        start=rup["start"].to_numpy(dtype=float), end=rup["_end"].to_numpy(dtype=float),
        session=rup["session"].to_numpy(dtype=float), state=rup["_state"].to_numpy(),
        baseline=rup["baseline"].to_numpy(dtype=float),
        lowest=rup["lowest"].to_numpy(dtype=float),
        lowest_score=rup["lowest_score"].to_numpy(dtype=float),
        repaired_at=rup["repaired_at"].to_numpy(dtype=float),
        trigger=rup["_trigger"].to_numpy(dtype=bool),
    )
    lead = m.lead
    params = rup["params"].to_numpy(dtype=object)[lead]
    return frame_of(
        {
            "_g": gi[lead],
            "scale": m.scale,
            "_key_scale": "rupture",
            "kind": "rupture",
            "rule": rup["rule"].to_numpy(dtype=object)[lead],
            "start": m.start.astype(np.int64),
            "session": m.session.astype(np.int64),
            "state": np.asarray(STATE_NAMES, dtype=object)[m.state],
            "observed": rup["observed"].to_numpy(dtype=float)[lead],
            "baseline": rup["baseline"].to_numpy(dtype=float)[lead],
            "threshold": rup["threshold"].to_numpy(dtype=float)[lead],
            "depth": m.depth,
            "lowest": m.lowest.astype(np.int64),
            "lowest_score": m.lowest_score,
            "repaired_at": m.repaired_at,
            "scales": m.scales,
            "params": list(params),
        }
    )


def ceiling_frame(ls: LongScores, *, share: float, min_sessions: int = 3) -> pd.DataFrame:
    """One row per alliance series with at least ``share`` of its scores at the maximum."""
    g = ls.g
    table = np.array([[(r[1] if (r := scale_range(str(i), str(sc))) is not None else np.nan)
                       for sc in ls.scale_u] for i in ls.ins_u], dtype=float)
    maxima = table[ls.ins_code, ls.scale_code] if g.n_groups else np.zeros(0)
    at_max = g.val >= maxima[g.grp]
    n = g.ends - g.starts
    k = np.bincount(g.grp, weights=at_max.astype(float), minlength=g.n_groups)
    hit = np.flatnonzero((n >= min_sessions) & (k / np.maximum(n, 1) >= share) & ~np.isnan(maxima))
    if not hit.size:
        return pd.DataFrame(columns=["_g"])
    return frame_of(
        {
            "_g": hit,
            "kind": "ceiling",
            "rule": f"ceiling(share={share:g})",
            "start": g.sess[g.starts[hit]].astype(np.int64),
            "session": g.sess[g.ends[hit] - 1].astype(np.int64),
            "state": "open",
            "observed": maxima[hit],
            "baseline": np.nan,
            "threshold": maxima[hit],
            "depth": np.nan,
            "lowest": -1,
            "lowest_score": np.nan,
            "repaired_at": np.nan,
            "params": [{"share": share, "min_sessions": min_sessions}] * hit.size,
        }
    )


def discrepancy_frame(
    adm: pd.DataFrame,
    *,
    scales: tuple[str, ...],
    threshold: float | Mapping[str, float] | None,
    pairs: Mapping[str, str],
    direction: Literal["clinician_higher", "either"],
) -> pd.DataFrame:
    """Sessions where the patient's and the clinician's ratings of the same session,
    instrument family and target diverge by more than ``threshold`` points.

    ``threshold`` None uses one between-patient SD of the patients' ratings of that
    family and scale. ``direction="clinician_higher"`` flags only a clinician who rates
    the alliance higher than the patient (the blind spot that matters clinically).
    """
    # Integer codes throughout: string columns (Arrow-backed in pandas 3) are slow to
    # map and merge row by row.
    ins_c, ins_u = pd.factorize(adm["instrument"], sort=False)
    ins_u = np.asarray(ins_u, dtype=object).astype(str)
    fam_u, fam_of = np.unique([pairs.get(i, i) for i in ins_u], return_inverse=True)
    fam_c = fam_of[ins_c]
    rat_c, rat_u = pd.factorize(adm["rater"], sort=False)
    rat_u = list(np.asarray(rat_u, dtype=object).astype(str))
    tgt = adm["target"] if "target" in adm else pd.Series(None, index=adm.index, dtype=object)
    tg_c, tg_u = codes_of(tgt, fill="clinician")
    ep_c, ep_u = pd.factorize(adm["episode"], sort=False)
    ep_u = np.asarray(ep_u, dtype=object)
    is_p = rat_c == (rat_u.index("patient") if "patient" in rat_u else -2)
    is_c = rat_c == (rat_u.index("clinician") if "clinician" in rat_u else -2)
    if not is_p.any() or not is_c.any():
        return pd.DataFrame(columns=["episode"])
    present = [sc for sc in scales if sc in adm.columns]
    base = pd.DataFrame({"e": ep_c, "s": adm["session"].to_numpy(dtype=np.int64), "f": fam_c,
                         "t": tg_c, "i": ins_c})
    for sc in present:
        base[sc] = numeric_column(adm, sc)
    m = base.loc[is_p].merge(base.loc[is_c], on=["e", "s", "f", "t"], suffixes=("_p", "_c"))
    out = []
    for sc in present:
        pv = m[f"{sc}_p"].to_numpy(dtype=float)
        cv = m[f"{sc}_c"].to_numpy(dtype=float)
        f = m["f"].to_numpy()
        if isinstance(threshold, Mapping):
            per_fam = np.array([float(threshold.get(f"{fu}.{sc}", threshold.get(fu, np.nan)))
                                for fu in fam_u])
        elif threshold is None:
            pvals = base.loc[is_p, sc].to_numpy(dtype=float)
            per_fam = (pd.Series(pvals).groupby(base.loc[is_p, "f"].to_numpy()).std()
                       .reindex(np.arange(fam_u.size)).to_numpy(dtype=float))
        else:
            per_fam = np.full(fam_u.size, float(threshold))
        thr = per_fam[f]
        diff = cv - pv
        with np.errstate(invalid="ignore"):
            hit = diff > thr if direction == "clinician_higher" else np.abs(diff) > thr
        if not hit.any():
            continue
        k = int(hit.sum())
        sess_h = m["s"].to_numpy()[hit]
        out.append(frame_of({
            "episode": ep_u[m["e"].to_numpy()[hit]], "instrument": ins_u[m["i_p"].to_numpy()[hit]],
            "rater": "patient+clinician", "target": tg_u[m["t"].to_numpy()[hit]], "scale": sc,
            "kind": "discrepancy", "rule": f"discrepancy(direction={direction})",
            "start": sess_h, "session": sess_h, "state": "open", "observed": pv[hit],
            "baseline": cv[hit], "threshold": thr[hit], "depth": diff[hit], "lowest": -1,
            "lowest_score": np.nan, "repaired_at": np.nan,
            "params": [{"direction": direction}] * k,
        }))
    if not out:
        return pd.DataFrame(columns=["episode"])
    return pd.concat(out, ignore_index=True)


def _risk_rows(sub: pd.DataFrame, ins: str, item_id: str, low: float,
               vals: np.ndarray) -> pd.DataFrame:
    n = len(sub)
    return frame_of({
        "episode": sub["episode"].to_numpy(), "instrument": ins,
        "rater": sub["rater"].astype(str).to_numpy(),
        "target": text_column(sub, "target", fill=""),
        "scale": item_id, "kind": "risk", "rule": f"risk_item({item_id})",
        "start": sub["session"].to_numpy(dtype=np.int64),
        "session": sub["session"].to_numpy(dtype=np.int64), "state": "open",
        "observed": vals, "baseline": np.nan, "threshold": low, "depth": np.nan,
        "lowest": -1, "lowest_score": np.nan, "repaired_at": np.nan,
        "params": [{"item": item_id, "above": low}] * n,
    })


def dedupe_key(*parts: Any) -> str:
    """An alert's identity: episode|instrument|rater|target|scale|rule|start session."""
    return "|".join(map(str, parts))


def risk_record(*, episode: str, instrument: str, rater: str, target: str | None,
                session: int, item: str, value: float | None) -> dict[str, Any]:
    """The alert record (:func:`~bordin.monitor.records.alert_record`) that
    :func:`monitor_frame` gives for one endorsed risk item, built without pandas.

    For the submission that endorses the item, which stores its risk alert at once:
    when the background monitor later meets the same administration it finds the
    same record under the same key and leaves the alert as it is (a different
    evidence would count as a change and move the alert's version under a clinician
    about to acknowledge it).
    """
    from bordin.monitor.records import alert_record

    spec = spec_or_none(instrument)
    if spec is None or item not in getattr(spec, "risk_items", ()):
        raise InputError(field="item", value=item,
                         allowed=f"a risk item of {instrument}")
    low = float(spec.item(item).scale.min)
    pathways, ids = route("risk", "total", "open")
    rule = f"risk_item({item})"
    tgt = target or ""
    return alert_record({
        "episode": episode, "instrument": instrument, "rater": rater, "target": tgt,
        "scale": item, "kind": "risk", "rule": rule, "start": session, "session": session,
        "state": "open", "observed": np.nan if value is None else float(value),
        "baseline": np.nan, "threshold": low, "depth": np.nan, "lowest": -1,
        "lowest_score": np.nan, "repaired_at": np.nan, "scales": None,
        "params": {"item": item, "above": low}, "severity": SEVERITY["risk"],
        "pathway": ",".join(pathways), "suggestions": ids,
        "dedupe_key": dedupe_key(episode, instrument, rater, tgt, item, rule, session),
    })


def risk_frame(adm: pd.DataFrame, *, responses: pd.DataFrame | None) -> pd.DataFrame:
    """An alert for every administration that endorses a risk item (a value above the
    item's minimum), whatever else is happening.

    The responses are read, in this order, from an item column named by the item id
    (``phq9_9``); from a ``responses`` frame with ``item, value`` and either
    ``administration_id`` (matching the administrations) or ``episode, session``; or
    from a ``risk_items`` column listing the endorsed risk items (``"phq9_9"``, several
    joined by ``;``, as the store's administrations frame has it; the value is then
    unknown).
    """
    out = []
    ins_col = adm["instrument"].astype(str)
    for ins in pd.unique(ins_col):
        spec = spec_or_none(ins)
        if spec is None or not getattr(spec, "risk_items", ()):
            continue
        rows = adm.loc[(ins_col == ins).to_numpy()]
        for item_id in spec.risk_items:
            low = float(spec.item(item_id).scale.min)
            if item_id in rows.columns:
                v = numeric_column(rows, item_id)
                hit = v > low
                out.append(_risk_rows(rows.loc[hit], ins, item_id, low, v[hit]))
            elif responses is not None:
                resp = responses
                if "instrument" in resp.columns:
                    resp = resp.loc[resp["instrument"].astype(str) == ins]
                ids = resp["item"].astype(str).map(lambda k, sp=spec: sp.resolve_item_id(k))
                r = resp.loc[(ids == item_id).to_numpy()]
                v = numeric_column(r, "value")
                hit = v > low
                on = (["administration_id"] if "administration_id" in r.columns
                      and "administration_id" in rows.columns else ["episode", "session"])
                keys = r.loc[hit, on].assign(_v=v[hit])
                sub = rows.merge(keys, on=on)
                out.append(_risk_rows(sub, ins, item_id, low, sub["_v"].to_numpy(dtype=float)))
            elif "risk_items" in rows.columns:
                listed = pd.Series(text_column(rows, "risk_items", fill="")).str.split(";")
                hit = listed.map(lambda xs, i=item_id: i in xs).to_numpy(dtype=bool)
                out.append(_risk_rows(rows.loc[hit], ins, item_id, low,
                                      np.full(int(hit.sum()), np.nan)))
    out = [o for o in out if len(o)]
    if not out:
        return pd.DataFrame(columns=["episode"])
    return pd.concat(out, ignore_index=True)


def _finish(alerts: pd.DataFrame, adm: pd.DataFrame) -> pd.DataFrame:
    """Episode attributes, severity, feedback and the dedupe key.

    Everything is looked up through integer codes of the few distinct values (kinds,
    scales, states, episodes), and the result is built once from NumPy arrays:
    mapping or assigning text columns row by row is what would cost.
    """
    if alerts.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    col = {c: alerts[c].to_numpy() for c in alerts.columns}
    n = len(alerts)
    ep_c, ep_u = pd.factorize(adm["episode"], sort=False)
    first_row = np.full(len(ep_u), -1, dtype=np.int64)
    first_row[ep_c[::-1]] = np.arange(len(ep_c))[::-1]
    where = pd.Index(ep_u).get_indexer(col["episode"])
    out: dict[str, Any] = {}
    for c in EPISODE_ATTRS:
        if c in adm.columns:
            vals = adm[c].to_numpy(dtype=object)[first_row]
            out[c] = np.where(where >= 0, vals[np.maximum(where, 0)], None)
        else:
            out[c] = np.full(n, None, dtype=object)
    scales = np.empty(n, dtype=object)
    route_scale = col["scale"]
    if "scales" in col:
        is_dict = np.fromiter((isinstance(x, dict) for x in col["scales"]), bool, n)
        scales[is_dict] = col["scales"][is_dict]
        # A rupture event is routed by every scale that moved.
        route_scale = route_scale.copy()
        route_scale[is_dict] = [scale_label(x) for x in scales[is_dict]]
    k_c, k_u = pd.factorize(col["kind"], sort=False)
    s_c, s_u = pd.factorize(route_scale, sort=False)
    t_c, t_u = pd.factorize(col["state"], sort=False)
    ns, nt = len(s_u), len(t_u)
    cu, inv = np.unique((k_c * ns + s_c) * nt + t_c, return_inverse=True)
    path, sugg, sev = [], [], []
    for c in cu:
        kind, scale, state = str(k_u[c // (ns * nt)]), str(s_u[(c // nt) % ns]), str(t_u[c % nt])
        pw, ids = route(kind, scale if kind != "risk" else "total", state)
        path.append(",".join(pw))
        sugg.append(ids)
        sev.append(RUPTURE_SEVERITY[state] if kind == "rupture" else SEVERITY[kind])
    sugg_arr = np.empty(len(sugg), dtype=object)
    sugg_arr[:] = sugg
    # The key names the scale, except for a merged rupture event, whose scales may grow
    # as sessions arrive: its key says "rupture" there (the old per-scale keys never do).
    key_scale = col["scale"]
    if "_key_scale" in col:
        ks = col["_key_scale"]
        key_scale = np.where(pd.isna(ks), key_scale, ks)
    parts = [col[c] for c in ("episode", "instrument", "rater", "target")]
    parts += [key_scale, col["rule"]]
    key = np.array([dedupe_key(*t) for t in zip(*parts, col["start"], strict=True)],
                   dtype=object)
    for c in ALERT_COLUMNS:
        if c in col and c not in out:
            out[c] = col[c]
    out["scales"] = scales
    out["severity"] = np.asarray(sev, dtype=object)[inv]
    out["pathway"] = np.asarray(path, dtype=object)[inv]
    out["suggestions"] = sugg_arr[inv]
    out["dedupe_key"] = key
    rank = {"risk": 0, "not_on_track": 1, "rupture": 2, "discrepancy": 3, "ceiling": 4}
    order = np.array([rank[str(k)] for k in k_u])[k_c]
    idx = np.lexsort((col["session"], np.maximum(where, 0), order))
    return frame_of({c: _take(out[c], idx) for c in ALERT_COLUMNS})


def _take(v: Any, idx: np.ndarray) -> Any:
    return np.asarray(v, dtype=object)[idx] if isinstance(v, list) else v[idx]


def monitor_frame(
    administrations: pd.DataFrame,
    *,
    rules: Sequence[RuptureRule | Watch] | None = None,
    scales: tuple[str, ...] = SCALES,
    per_scale: bool = False,
    population_sd: float | Mapping[str, float] | None = None,
    ceiling_share: float = 0.8,
    discrepancy: bool = True,
    discrepancy_threshold: float | Mapping[str, float] | None = None,
    discrepancy_pairs: Mapping[str, str] | None = None,
    discrepancy_direction: Literal["clinician_higher", "either"] = "clinician_higher",
    outcomes: bool = True,
    by_session: int = 6,
    expected: Any = None,
    risk: bool = True,
    responses: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Run every rule over a clinic's tidy administrations and return the alerts.

    Parameters
    ----------
    administrations
        One row per completed questionnaire: ``episode, session, instrument, rater,
        total`` and optionally ``organization, clinician, patient, target, date`` and
        subscale columns (``goal, task, bond``) and item columns named by item id
        (``phq9_9``) for the risk items.
    rules
        Rupture rules, or :class:`Watch` objects restricting a rule to instruments or
        scales; default :data:`DEFAULT_WATCHES` (combined k=1, alerts raised on the
        total of every alliance rating, the subscales as evidence; see there for why).
    scales
        The score columns to watch, each as its own series.
    per_scale
        False (the default): one alert per rupture *event* of a rating (episode,
        instrument, rater, target) and rule. The scales whose events overlap in time
        are one event: the ``scales`` column maps each scale that moved to its depth;
        ``scale`` and the evidence are the first watched scale's that moved (the
        total's, when it moved); pathway and suggestions follow every scale that
        moved. An unrepaired rupture stays the same event until its scale is back at
        the repair target: a new fall before that is the same rupture going on, and
        updates its alert. True: one alert per scale
        and per event of the rule, as research studies count them.
    population_sd
        Between-patient SD for the combined rule: a number, a mapping from
        ``"instrument.scale"`` or ``"instrument"`` to a number, or None to estimate it
        from this frame with :func:`estimate_population_sd` (the SD of the series'
        mean scores, per instrument and scale).
    ceiling_share
        Share of scores at the scale maximum that raises a ceiling note.
    discrepancy, discrepancy_threshold, discrepancy_pairs, discrepancy_direction
        The therapist–patient discrepancy signal: patient and clinician ratings of the
        same session; ``pairs`` maps a clinician form to its patient form (default
        ``{"wai_sr_t": "wai_sr", "haq2_therapist": "haq2_patient"}``); threshold in
        points (None: one between-patient SD).
    outcomes, by_session, expected
        Not-on-track for outcome instruments: reliable deterioration, or no reliable
        improvement by session ``by_session``; and, if ``expected`` holds fitted
        :class:`~bordin.monitor.ExpectedRecovery` curves (one or a list), observed
        scores outside the expected band.
    risk, responses
        Risk-item alerts, from item columns or a ``responses`` frame.

    Returns
    -------
    pandas.DataFrame
        One row per alert, columns :data:`ALERT_COLUMNS`; ``dedupe_key`` is stable
        across re-runs and as sessions arrive: episode, instrument, rater, target,
        scale, rule and start, with ``rupture`` in place of the scale for a rupture
        event (its scales may grow; with ``per_scale=True`` the scale itself).
    """
    adm = check_frame(administrations)
    if not (isinstance(ceiling_share, int | float) and 0 < ceiling_share <= 1):
        raise InputError(field="ceiling_share", value=ceiling_share, allowed="a number in (0, 1]")
    if discrepancy_direction not in ("clinician_higher", "either"):
        raise InputError(
            field="discrepancy_direction",
            value=discrepancy_direction,
            allowed="'clinician_higher' or 'either'",
        )
    ls = long_scores(adm, scales=scales)
    pieces: list[pd.DataFrame] = []
    per_scale_events = rupture_frame(ls, watches=_watches(rules), population_sd=population_sd)
    per_group = [
        event_frame(ls, per_scale_events, per_scale=per_scale),
        ceiling_frame(ls, share=float(ceiling_share)),
    ]
    for p in per_group:
        if len(p):
            gi = p.pop("_g").to_numpy()
            p.insert(0, "episode", ls.episode[gi])
            p.insert(1, "instrument", ls.instrument[gi])
            p.insert(2, "rater", ls.rater[gi])
            p.insert(3, "target", ls.target[gi])
            if "scale" not in p.columns:
                p.insert(4, "scale", ls.scale[gi])
            pieces.append(p)
    if discrepancy:
        pieces.append(
            discrepancy_frame(
                adm,
                scales=scales,
                threshold=discrepancy_threshold,
                pairs=dict(
                    discrepancy_pairs or {"wai_sr_t": "wai_sr", "haq2_therapist": "haq2_patient"}
                ),
                direction=discrepancy_direction,
            )
        )
    if outcomes:
        from bordin.monitor.not_on_track import not_on_track_frame

        pieces.append(not_on_track_frame(adm, by_session=by_session, expected=expected))
    if risk:
        pieces.append(risk_frame(adm, responses=responses))
    pieces = [p for p in pieces if len(p)]
    alerts = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame()
    return _finish(alerts, adm)
