"""``EpisodeMonitor``: one episode's running state, updated one administration at a time.

Adding an administration costs O(1) per (scale, rule) for the running rules (a count,
a sum and a sum of squares, the open event if any) and O(sessions) only for a rule
with ``reference="series"``, so a clinic does not recompute anything when one
questionnaire arrives. The arithmetic is the batch engine's, term for term, so an
episode replayed here gives the alerts :func:`bordin.monitor.monitor_frame` gives.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.monitor import _engine
from bordin.monitor._events import merge_events, scale_label
from bordin.monitor._frame import frame_of
from bordin.monitor._specs import kind_of, scale_range, spec_or_none
from bordin.monitor.batch import (
    ALERT_COLUMNS,
    DEFAULT_WATCHES,
    RUPTURE_SEVERITY,
    SCALES,
    SEVERITY,
    Watch,
    _watches,
)
from bordin.monitor.feedback import route
from bordin.monitor.not_on_track import ExpectedRecovery
from bordin.monitor.rules import CombinedRule, CutoffRule, DropRule, PersonalSDRule, RuptureRule

__all__ = ["EpisodeMonitor"]


@dataclass
class _Series:
    n: int = 0
    s: float = 0.0
    q: float = 0.0
    prev: float | None = None
    last: float = -math.inf
    at_max: int = 0
    sessions: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass
class _Track:
    cursor: float = -math.inf
    open: dict[str, Any] | None = None
    # Unrepaired events waiting for their scale to come back to the repair target:
    # (start, target) each.
    pending: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class _Outcome:
    intake: float
    intake_session: float
    runs: dict[str, float | None] = field(default_factory=dict)


def _quantities(
    rule: RuptureRule, ser: _Series, v: float, popsd: float
) -> tuple[bool, float, float, float]:
    """(flag, baseline, threshold, target) of the new score, as the batch rules do."""
    if isinstance(rule, CutoffRule):
        c = float(rule.cutoff)  # type: ignore[arg-type]
        return v < c, c, c, c
    if isinstance(rule, DropRule):
        if ser.prev is None:
            return False, math.nan, math.nan, math.nan
        thr = ser.prev - float(rule.min_drop)
        tgt = ser.prev if rule.repair_to == "baseline" else thr
        return (ser.prev - v) >= float(rule.min_drop), ser.prev, thr, tgt
    if not isinstance(rule, PersonalSDRule):  # a new rule class must be taught here
        raise TypeError(f"no incremental form for rule {rule.name!r}")
    n = ser.n
    if n < rule.min_prior:
        return False, math.nan, math.nan, math.nan
    mean = ser.s / n
    var = (ser.q - ser.s * ser.s / n) / (n - 1)
    sd = math.sqrt(var if var > 0 else 0.0)
    eff = max(sd, float(rule.min_sd))
    if isinstance(rule, CombinedRule):
        pop = float(rule.population_sd) if rule.population_sd is not None else popsd
        if not math.isnan(pop):
            eff = max(eff, pop)
    if not eff > 0:
        return False, mean, math.nan, math.nan
    thr = mean - float(rule.k) * eff
    return v < thr, mean, thr, (mean if rule.repair_to == "baseline" else thr)


class EpisodeMonitor:
    """Watch one episode as its administrations arrive.

    Parameters
    ----------
    episode
        The episode id (carried onto every alert).
    organization, clinician, patient
        Carried onto the alerts.
    rules
        As in :func:`~bordin.monitor.monitor_frame` (default: the same watches).
    population_sd
        Between-patient SD for the combined rule (the default): a number or a mapping
        from ``"instrument.scale"`` / ``"instrument"``; without one the combined rule
        uses the within-patient SD only. Pass the clinic's
        :func:`~bordin.monitor.estimate_population_sd` to judge as the batch does.
    by_session, expected
        Not-on-track settings, as in :func:`~bordin.monitor.monitor_frame`.
    discrepancy_threshold, discrepancy_pairs, discrepancy_direction
        The discrepancy signal; with no threshold it is not computed.
    ceiling_share
        Share of scores at the maximum that raises a ceiling note.
    scales
        The score columns to watch, each as its own series.
    per_scale
        As in :func:`~bordin.monitor.monitor_frame`: one alert per rupture event (the
        default) or per scale.

    Examples
    --------
    >>> m = EpisodeMonitor(episode="e1", population_sd={"wai_sr.total": 8.0})
    >>> for s, x in enumerate([50, 52, 51, 50, 41], start=1):
    ...     new = m.add(session=s, instrument="wai_sr", scores={"total": x})
    >>> [(a["rule"].split("(")[0], a["state"], a["threshold"]) for a in new]
    [('combined', 'open', 42.75)]
    """

    def __init__(
        self,
        *,
        episode: Any,
        organization: Any = None,
        clinician: Any = None,
        patient: Any = None,
        rules: Sequence[RuptureRule | Watch] | None = None,
        population_sd: float | Mapping[str, float] | None = None,
        by_session: int = 6,
        expected: ExpectedRecovery | Sequence[ExpectedRecovery] | None = None,
        discrepancy_threshold: float | Mapping[str, float] | None = None,
        discrepancy_pairs: Mapping[str, str] | None = None,
        discrepancy_direction: str = "clinician_higher",
        ceiling_share: float = 0.8,
        scales: tuple[str, ...] = SCALES,
        per_scale: bool = False,
    ) -> None:
        self.episode = episode
        self._attrs = {"organization": organization, "clinician": clinician, "patient": patient}
        self._watches = _watches(rules) if rules is not None else DEFAULT_WATCHES
        self._popsd = population_sd
        self._by_session = by_session
        curves = (
            []
            if expected is None
            else ([expected] if isinstance(expected, ExpectedRecovery) else list(expected))
        )
        self._curves = {c.instrument: c for c in curves}
        self._disc_thr = discrepancy_threshold
        self._disc_pairs = dict(
            discrepancy_pairs or {"wai_sr_t": "wai_sr", "haq2_therapist": "haq2_patient"}
        )
        self._disc_dir = discrepancy_direction
        self._ceiling_share = ceiling_share
        self._scales = scales
        self._per_scale = per_scale
        # Per (instrument, rater, target, rule key): the per-scale events by (scale,
        # start), merged into rupture events when an administration is done.
        self._scale_events: dict[tuple[str, str, str, str], dict[tuple[str, float],
                                                                  dict[str, Any]]] = {}
        self._dirty: dict[tuple[str, str, str, str], RuptureRule] = {}
        self._series: dict[tuple[str, str, str, str], _Series] = {}
        self._tracks: dict[tuple[Any, ...], _Track] = {}
        self._outcomes: dict[tuple[str, str, str], _Outcome] = {}
        self._pairs: dict[tuple[Any, ...], dict[str, float]] = {}
        self._alerts: dict[str, dict[str, Any]] = {}
        self._rules_for: dict[tuple[str, str], list[tuple[RuptureRule, bool]]] = {}

    # ------------------------------------------------------------------ helpers
    def _rules(self, instrument: str, scale: str) -> list[tuple[RuptureRule, bool]]:
        """The rules on one scale of an instrument, each with whether it triggers."""
        key = (instrument, scale)
        if key not in self._rules_for:
            out = []
            if kind_of(instrument) == "alliance":
                for w in self._watches:
                    if w.instruments is not None and instrument not in w.instruments:
                        continue
                    if w.scales is not None and scale not in w.scales:
                        continue
                    r = w.rule
                    if isinstance(r, CutoffRule) and r.cutoff is None:
                        spec = spec_or_none(instrument)
                        if spec is None or getattr(spec, "cutoff", None) is None:
                            continue
                        r = dataclasses.replace(r, cutoff=float(spec.cutoff))
                    out.append((r, w.triggers_on(scale)))
            self._rules_for[key] = out
        return self._rules_for[key]

    def _pop(self, instrument: str, scale: str) -> float:
        p = self._popsd
        if p is None:
            return math.nan
        if isinstance(p, Mapping):
            return float(p.get(f"{instrument}.{scale}", p.get(instrument, math.nan)))
        return float(p)

    def _emit(self, out: list[dict[str, Any]], rec: dict[str, Any]) -> None:
        kind, state = rec["kind"], rec["state"]
        if kind == "rupture":
            rec["severity"] = RUPTURE_SEVERITY[state]
        else:
            rec["severity"] = SEVERITY[kind]
        scale = rec["scale"] if kind != "risk" else "total"
        if isinstance(rec.get("scales"), dict):
            scale = scale_label(rec["scales"])  # every scale that moved
        pathways, ids = route(kind, str(scale), state)
        rec["pathway"] = ",".join(pathways)
        rec["suggestions"] = ids
        key_scale = rec.get("_key_scale", rec["scale"])
        rec["dedupe_key"] = "|".join(
            [*(str(rec[k]) for k in ("episode", "instrument", "rater", "target")),
             str(key_scale), str(rec["rule"]), str(rec["start"])]
        )
        rec.update(self._attrs)
        full = {c: rec.get(c) for c in ALERT_COLUMNS}
        if self._alerts.get(full["dedupe_key"]) != full:
            self._alerts[full["dedupe_key"]] = full
            out.append(full)

    def _base(self, instrument: str, rater: str, target: str, scale: str) -> dict[str, Any]:
        return {
            "episode": self.episode,
            "instrument": instrument,
            "rater": rater,
            "target": target,
            "scale": scale,
        }

    # ------------------------------------------------------------------ ruptures
    def _event_record(
        self, rule: RuptureRule, base: dict[str, Any], e: dict[str, Any], state: str, session: float
    ) -> dict[str, Any]:
        return {
            **base,
            "kind": "rupture",
            "rule": rule.key,
            "start": int(e["start"]),
            "session": int(session),
            "state": state,
            "observed": e["start_score"],
            "baseline": e["base"],
            "threshold": e["thr"],
            "depth": e["base"] - e["lowest_score"],
            "lowest": int(e["lowest"]),
            "lowest_score": e["lowest_score"],
            "repaired_at": float(e["repaired_at"]) if e.get("repaired_at") else math.nan,
            "params": rule.params,
        }

    def _put(
        self,
        rule: RuptureRule,
        base: dict[str, Any],
        e: dict[str, Any],
        state: str,
        session: float,
    ) -> None:
        """Keep one per-scale event (merged into rupture events by :meth:`_flush`)."""
        rec = self._event_record(rule, base, e, state, session)
        rec["_start"] = float(e["start"])
        rec["_end"] = float(e["repaired_at"]) if state == "repaired" else math.inf
        g = (base["instrument"], base["rater"], base["target"], rule.key)
        self._scale_events.setdefault(g, {})[(base["scale"], float(e["start"]))] = rec
        self._dirty[g] = rule

    def _recovered(self, rule: RuptureRule, base: dict[str, Any], start: float, t: float) -> None:
        """An unrepaired event's scale came back to its repair target at session ``t``."""
        g = (base["instrument"], base["rater"], base["target"], rule.key)
        self._scale_events[g][(base["scale"], start)]["_end"] = t
        self._dirty[g] = rule

    def _step_rule(
        self,
        rule: RuptureRule,
        track: _Track,
        ser: _Series,
        t: float,
        v: float,
        popsd: float,
        base: dict[str, Any],
    ) -> None:
        e = track.open
        if e is not None and t > e["horizon"]:
            self._put(rule, base, e, "unrepaired", e["last"])
            track.cursor = e["horizon"] + 1
            track.open = None
            track.pending.append((e["start"], e["target"]))
            e = None  # this session may be the return to the target, or a new event
        if track.pending:
            # The scale of an unrepaired event is back at its repair target (whatever
            # events have started since).
            for p in [p for p in track.pending if v >= p[1]]:
                self._recovered(rule, base, p[0], t)
                track.pending.remove(p)
        if e is not None:
            target = e["target"]
            if v >= target:
                e["repaired_at"] = t
                self._put(rule, base, e, "repaired", t)
                track.cursor = t + 1
                track.open = None
                return
            if v < e["lowest_score"]:
                e["lowest"], e["lowest_score"] = t, v
            e["last"] = t
            if t >= e["horizon"]:
                self._put(rule, base, e, "unrepaired", t)
                track.cursor = e["horizon"] + 1
                track.open = None
                track.pending.append((e["start"], e["target"]))
            else:
                self._put(rule, base, e, "open", t)
            return
        if t < track.cursor:
            return
        flag, b, thr, tgt = _quantities(rule, ser, v, popsd)
        if flag:
            e = {
                "start": t,
                "start_score": v,
                "base": b,
                "thr": thr,
                "target": tgt,
                "horizon": t + rule.window,
                "lowest": t,
                "lowest_score": v,
                "last": t,
            }
            track.open = e
            self._put(rule, base, e, "open", t)

    def _series_rule(self, rule: PersonalSDRule, ser: _Series, base: dict[str, Any]) -> None:
        # A whole-series reference sees the future: recompute the series (O(sessions)).
        sess = np.asarray(ser.sessions)
        val = np.asarray(ser.values)
        if val.size < rule.min_sessions:
            return
        g = _engine.Grouped.single(sess, val)
        popsd = None
        if isinstance(rule, CombinedRule) and rule.population_sd is None:
            popsd = np.full(val.size, self._pop(base["instrument"], base["scale"]))
        flag, b, thr, tgt = rule.quantities(g, population_sd=popsd)
        raw = _engine.assemble(g, flag=flag, target=tgt, window=rule.window)
        back = _engine.recovery(g, raw, tgt)
        key = (base["instrument"], base["rater"], base["target"], rule.key)
        events = self._scale_events.setdefault(key, {})
        for k in [k for k in events if k[0] == base["scale"]]:
            del events[k]  # the whole series is judged again
        self._dirty[key] = rule
        for s, lo, rp, st, lr, bk in zip(
            raw.start, raw.lowest, raw.repaired, raw.state, raw.last_row, back, strict=True
        ):
            e = {
                "start": sess[s],
                "start_score": val[s],
                "base": b[s],
                "thr": thr[s],
                "lowest": sess[lo],
                "lowest_score": val[lo],
                "repaired_at": sess[rp] if rp >= 0 else None,
            }
            last = sess[rp] if rp >= 0 else sess[lr]
            self._put(rule, base, e, _engine.STATE_NAMES[st], last)
            if bk >= 0:
                self._recovered(rule, base, float(sess[s]), float(sess[bk]))

    def _flush(self, out: list[dict[str, Any]]) -> None:
        """Emit the rupture alerts of every series whose per-scale events changed."""
        rank_of = {sc: i for i, sc in enumerate(self._scales)}
        for key, rule in self._dirty.items():
            recs = list(self._scale_events.get(key, {}).values())
            if not recs:
                continue
            if self._per_scale:
                for r in recs:
                    self._emit(out, {**r, "_key_scale": r["scale"],
                                     "scales": {r["scale"]: r["depth"]}})
                continue
            m = merge_events(
                series=np.zeros(len(recs), dtype=np.int64),
                rank=np.array([rank_of[r["scale"]] for r in recs], dtype=np.int64),
                names=np.asarray(self._scales, dtype=object),
                start=np.array([r["_start"] for r in recs]),
                end=np.array([r["_end"] for r in recs]),
                session=np.array([float(r["session"]) for r in recs]),
                state=np.array([_engine.STATE_NAMES.index(r["state"]) for r in recs]),
                baseline=np.array([r["baseline"] for r in recs], dtype=float),
                lowest=np.array([float(r["lowest"]) for r in recs]),
                lowest_score=np.array([r["lowest_score"] for r in recs], dtype=float),
                repaired_at=np.array([r["repaired_at"] for r in recs], dtype=float),
                trigger=np.array([r["_trigger"] for r in recs], dtype=bool),
            )
            for i, li in enumerate(m.lead.tolist()):
                lead = recs[li]
                self._emit(out, {
                    "episode": self.episode,
                    "instrument": key[0],
                    "rater": key[1],
                    "target": key[2],
                    "scale": m.scale[i],
                    "_key_scale": "rupture",
                    "kind": "rupture",
                    "rule": key[3],
                    "start": int(m.start[i]),
                    "session": int(m.session[i]),
                    "state": _engine.STATE_NAMES[int(m.state[i])],
                    "observed": lead["observed"],
                    "baseline": lead["baseline"],
                    "threshold": lead["threshold"],
                    "depth": float(m.depth[i]),
                    "lowest": int(m.lowest[i]),
                    "lowest_score": float(m.lowest_score[i]),
                    "repaired_at": float(m.repaired_at[i]),
                    "scales": m.scales[i],
                    "params": rule.params,
                })
        self._dirty.clear()

    def _observed(self, scores: Mapping[str, float]) -> Iterator[tuple[str, float]]:
        """The monitored scales that carry a score (not missing, not NaN), in order."""
        for scale in self._scales:
            v = scores.get(scale)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            yield scale, float(v)

    def _alliance(
        self,
        t: float,
        instrument: str,
        rater: str,
        target: str,
        scores: Mapping[str, float],
        out: list[dict[str, Any]],
    ) -> None:
        for scale, v in self._observed(scores):
            key = (instrument, rater, target, scale)
            ser = self._series.setdefault(key, _Series())
            if t <= ser.last:
                raise InputError(
                    field="session",
                    value=t,
                    allowed=f"a session after {int(ser.last)} for this series",
                    context=f"episode {self.episode}",
                )
            base = self._base(instrument, rater, target, scale)
            popsd = self._pop(instrument, scale)
            ser.sessions.append(t)
            ser.values.append(v)
            for rule, trig in self._rules(instrument, scale):
                base["_trigger"] = trig
                if isinstance(rule, PersonalSDRule) and rule.reference == "series":
                    self._series_rule(rule, ser, base)
                    continue
                track = self._tracks.setdefault((*key, rule.key), _Track())
                self._step_rule(rule, track, ser, t, v, popsd, base)
            ser.n += 1
            ser.s += v
            ser.q += v * v
            ser.prev = v
            ser.last = t
            rng = scale_range(instrument, scale)
            if rng is not None and kind_of(instrument) == "alliance":
                ser.at_max += v >= rng[1]
                if ser.n >= 3 and ser.at_max / ser.n >= self._ceiling_share:
                    self._emit(
                        out,
                        {
                            **base,
                            "kind": "ceiling",
                            "rule": f"ceiling(share={self._ceiling_share:g})",
                            "start": int(ser.sessions[0]),
                            "session": int(t),
                            "state": "open",
                            "observed": rng[1],
                            "baseline": math.nan,
                            "threshold": rng[1],
                            "depth": math.nan,
                            "lowest": -1,
                            "lowest_score": math.nan,
                            "repaired_at": math.nan,
                            "params": {"share": self._ceiling_share, "min_sessions": 3},
                        },
                    )
        self._flush(out)
        self._discrepancy(t, instrument, rater, target, scores, out)

    def _discrepancy(
        self,
        t: float,
        instrument: str,
        rater: str,
        target: str,
        scores: Mapping[str, float],
        out: list[dict[str, Any]],
    ) -> None:
        if self._disc_thr is None or rater not in ("patient", "clinician"):
            return
        fam = self._disc_pairs.get(instrument, instrument)
        slot = self._pairs.setdefault((fam, target, t), {})
        for scale, v in self._observed(scores):
            slot[f"{rater}.{scale}"] = v
            if rater == "patient":
                slot[f"instrument.{scale}"] = instrument  # type: ignore[assignment]
            p, c = slot.get(f"patient.{scale}"), slot.get(f"clinician.{scale}")
            if p is None or c is None:
                continue
            thr_ = self._disc_thr
            thr = float(
                thr_.get(f"{fam}.{scale}", thr_.get(fam, math.nan))
                if isinstance(thr_, Mapping)
                else thr_
            )
            diff = c - p
            hit = diff > thr if self._disc_dir == "clinician_higher" else abs(diff) > thr
            if hit:
                self._emit(
                    out,
                    {
                        "episode": self.episode,
                        "instrument": slot.get(f"instrument.{scale}", fam),
                        "rater": "patient+clinician",
                        "target": target,
                        "scale": scale,
                        "kind": "discrepancy",
                        "rule": f"discrepancy(direction={self._disc_dir})",
                        "start": int(t),
                        "session": int(t),
                        "state": "open",
                        "observed": p,
                        "baseline": c,
                        "threshold": thr,
                        "depth": diff,
                        "lowest": -1,
                        "lowest_score": math.nan,
                        "repaired_at": math.nan,
                        "params": {"direction": self._disc_dir},
                    },
                )

    # ------------------------------------------------------------------ outcomes
    def _outcome(
        self,
        t: float,
        instrument: str,
        rater: str,
        target: str,
        total: float,
        out: list[dict[str, Any]],
    ) -> None:
        from bordin.monitor.change import _rc

        key = (instrument, rater, target)
        st = self._outcomes.get(key)
        if st is None:
            self._outcomes[key] = _Outcome(intake=total, intake_session=t)
            return
        try:
            rc = _rc(instrument, st.intake, total, "total", None)
            cat, thr = rc.category, float(rc.threshold)
        except InputError as exc:
            if exc.field not in ("norms", "instrument", "scale"):
                raise
            cat, thr = None, math.nan  # no norms: no status (as in the batch)
        hib = bool(getattr(spec_or_none(instrument), "higher_is_better", False))
        sign = 1.0 if hib else -1.0
        checks = [
            ("reliable_deterioration", cat == "deteriorated", st.intake - sign * thr, st.intake),
            (
                f"no_reliable_improvement(by_session={self._by_session})",
                t >= self._by_session and cat == "unchanged",
                st.intake + sign * thr,
                st.intake,
            ),
        ]
        curve = self._curves.get(instrument)
        if curve is not None:
            b = curve.band(intake=st.intake, sessions_since_intake=t - st.intake_session)
            lo, hi = float(b["lower"].iloc[0]), float(b["upper"].iloc[0])
            off = bool(curve.off_track(np.array(total), lo, hi))
            checks.append(
                (
                    f"expected_recovery(coverage={curve.coverage:g})",
                    off,
                    lo if curve.higher_is_better else hi,
                    float(b["expected"].iloc[0]),
                )
            )
        for name, flag, bound, basev in checks:
            if not flag:
                st.runs[name] = None
                continue
            start = st.runs.get(name) or t
            st.runs[name] = start
            self._emit(
                out,
                {
                    **self._base(instrument, rater, target, "total"),
                    "kind": "not_on_track",
                    "rule": name,
                    "start": int(start),
                    "session": int(t),
                    "state": "open",
                    "observed": total,
                    "baseline": basev,
                    "threshold": bound,
                    "depth": total - basev,
                    "lowest": -1,
                    "lowest_score": math.nan,
                    "repaired_at": math.nan,
                    "params": {
                        "by_session": self._by_session,
                        "intake": st.intake,
                        "intake_session": int(st.intake_session),
                        "category": cat,
                    },
                },
            )

    def _risk(
        self,
        t: float,
        instrument: str,
        rater: str,
        target: str,
        items: Mapping[str, float],
        known: Sequence[str],
        out: list[dict[str, Any]],
    ) -> None:
        spec = spec_or_none(instrument)
        if spec is None:
            return
        # Items the caller lists as endorsed (value unknown: NaN), then the responses.
        pairs = [(k, math.nan, True) for k in known]
        pairs += [(k, v, False) for k, v in items.items() if v is not None]
        for key, value, listed in pairs:
            item_id = spec.resolve_item_id(key)
            if item_id is None or item_id not in spec.risk_items:
                continue
            low = float(spec.item(item_id).scale.min)
            if listed or float(value) > low:
                self._emit(
                    out,
                    {
                        "episode": self.episode,
                        "instrument": instrument,
                        "rater": rater,
                        "target": target,
                        "scale": item_id,
                        "kind": "risk",
                        "rule": f"risk_item({item_id})",
                        "start": int(t),
                        "session": int(t),
                        "state": "open",
                        "observed": float(value),
                        "baseline": math.nan,
                        "threshold": low,
                        "depth": math.nan,
                        "lowest": -1,
                        "lowest_score": math.nan,
                        "repaired_at": math.nan,
                        "params": {"item": item_id, "above": low},
                    },
                )

    # ------------------------------------------------------------------ public
    def add(
        self,
        *,
        session: int,
        instrument: str,
        scores: Mapping[str, float],
        rater: str = "patient",
        target: str | None = None,
        items: Mapping[str, float] | None = None,
        risk_items: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Add one administration; return the alerts it created or changed.

        Parameters
        ----------
        session
            Session number; later than the last one of the same series.
        instrument
            Instrument id.
        scores
            ``{"total": ..., "goal": ..., "task": ..., "bond": ...}`` (any subset).
        rater, target
            Who rated, and whom the rating is about (default: the clinician for an
            alliance instrument, none for an outcome instrument).
        items
            Item responses by item id or number, for the risk items.
        risk_items
            Risk items already known to be endorsed (ids), when the responses themselves
            are not at hand (the store's administrations frame lists them).
        """
        if isinstance(session, bool) or not isinstance(session, int | np.integer) or session < 0:
            raise InputError(field="session", value=session, allowed="a non-negative whole number")
        if not isinstance(scores, Mapping):
            raise InputError(
                field="scores",
                value=type(scores).__name__,
                allowed="a mapping from scale name to score",
            )
        for k, v in scores.items():
            if v is not None and not (
                isinstance(v, int | float | np.number)
                and not isinstance(v, bool)
                and not math.isinf(v)
            ):
                raise InputError(field=f"scores[{k!r}]", value=v, allowed="a finite number or None")
        t = float(session)
        out: list[dict[str, Any]] = []
        instrument = str(instrument)
        kind = kind_of(instrument)
        if target is None:
            target = "" if kind == "outcome" else "clinician"
        if items or risk_items:
            self._risk(t, instrument, rater, target, items or {}, [str(k) for k in risk_items],
                       out)
        if kind == "outcome" and scores.get("total") is not None:
            self._outcome(t, instrument, rater, target, float(scores["total"]), out)
        elif kind == "alliance" or kind is None:
            self._alliance(t, instrument, rater, target, scores, out)
        return out

    def alerts(self) -> pd.DataFrame:
        """Every alert of the episode, in its latest version."""
        rows = list(self._alerts.values())
        cols: dict[str, Any] = {}
        for c in ALERT_COLUMNS:
            vals = [r[c] for r in rows]
            if c in ("params", "suggestions", "scales") or not vals:
                arr = np.empty(len(vals), dtype=object)
                arr[:] = vals
            else:
                arr = np.asarray(vals)
            cols[c] = arr
        return frame_of(cols)

    @classmethod
    def from_frame(
        cls, administrations: pd.DataFrame, *, episode: Any, **kwargs: Any
    ) -> EpisodeMonitor:
        """Replay one episode's administrations (in session order) into a monitor."""
        adm = administrations.loc[administrations["episode"] == episode]
        first = adm.iloc[0] if len(adm) else None
        for a in ("organization", "clinician", "patient"):
            if first is not None and a in adm and a not in kwargs:
                kwargs[a] = first[a]
        m = cls(episode=episode, **kwargs)
        scales = kwargs.get("scales", SCALES)
        item_cols = [c for c in adm.columns if "_" in c and c.split("_")[-1].isdigit()]
        for r in adm.sort_values("session", kind="stable").itertuples(index=False):
            d = r._asdict()
            sc = {s: d[s] for s in scales if s in d and pd.notna(d[s])}
            items = {c: d[c] for c in item_cols if pd.notna(d.get(c))}
            listed = str(d.get("risk_items") or "")
            risk_items = [x for x in listed.split(";") if x] if listed != "nan" else []
            m.add(
                session=int(d["session"]),
                instrument=str(d["instrument"]),
                rater=str(d["rater"]),
                target=str(d["target"]) if pd.notna(d.get("target")) else None,
                scores=sc,
                items=items or None,
                risk_items=risk_items,
            )
        return m
