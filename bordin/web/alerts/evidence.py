"""An alert's evidence in one or two plain sentences, and its raw fields without the empty ones.

The monitor (:mod:`bordin.monitor`) stores each alert's evidence as fields
(``start``, ``session``, ``observed``, ``baseline``, ``threshold``, ``depth``,
``lowest``, ``lowest_score``, ``repaired_at``, ``state`` and the series'
``instrument``, ``rater``, ``scale``), with the rule's name in ``rule`` and its
parameters in ``params``. What the fields mean depends on the kind and rule:

=================  ====================================================================
kind / rule        fields
=================  ====================================================================
risk               ``scale``: the item id; ``observed``: the answer (None when only
                   known as endorsed); ``threshold``: the item's minimum
rupture / cutoff   ``observed`` below the cutoff ``threshold`` at ``start``
rupture / drop     ``baseline``: the previous score; ``observed`` at ``start``
rupture /          ``baseline``: the patient's mean so far; ``threshold``: mean − k SD
personal_sd,       (combined: the larger of the patient's and the clinic's SD)
combined
rupture (any)      ``scale``: the lead scale, whose numbers these are; ``scales``: every
                   scale of the rating that fell in the same event, to its depth
not_on_track       ``baseline``: the intake score (``expected_recovery``: the expected
                   score); ``threshold``: the reliable-change bound (or the band's edge);
                   ``observed`` at ``session``; ``params``: intake, intake_session
discrepancy        ``observed``: the patient's rating; ``baseline``: the clinician's;
                   ``depth``: clinician − patient
ceiling            ``observed``: the scale maximum; ``start`` to ``session``
=================  ====================================================================

:func:`summary` writes the sentences; the pages, the caseload and the JSON API
all call it, so the wording lives here only. An unknown kind, or a known kind
whose evidence lacks what its sentence needs, gets a generic sentence built from
the fields that are there. Nothing empty is ever shown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from bordin.errors import BordinError
from bordin.instruments import registry

__all__ = ["instrument_label", "raw_fields", "summary"]

#: Short names clinicians use (the specs carry only the full names).
SHORT_NAMES = {
    "calpas": "CALPAS", "ceq": "CEQ", "core10": "CORE-10", "fis": "FIS", "gad7": "GAD-7",
    "haq2_patient": "HAQ-II", "haq2_therapist": "HAQ-II (therapist form)", "ors": "ORS",
    "phq9": "PHQ-9", "srs": "SRS", "wai_sr": "WAI-SR", "wai_sr_o": "WAI-SR-O",
    "wai_sr_t": "WAI-SR-T", "wai_tech_sf": "WAI-TECH-SF", "who5": "WHO-5",
}
RATERS = {"patient": "Patient-rated", "clinician": "Therapist-rated",
          "observer": "Observer-rated"}
OWNERS = {"patient": "the patient's", "clinician": "the therapist's",
          "observer": "the observer's"}
_EMPTY = (None, "", [], {}, ())


def instrument_label(instrument: str | None) -> str:
    """The short name of an instrument (``phq9`` -> ``PHQ-9``); its id when unknown."""
    if not instrument:
        return "questionnaire"
    return SHORT_NAMES.get(str(instrument), str(instrument).upper())


def _spec(instrument: Any) -> Any:
    try:
        return registry.get(str(instrument))
    except (BordinError, KeyError, TypeError):
        return None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt(v: float) -> str:
    """A score as a clinician reads it: whole numbers bare, others to one decimal."""
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"


def _int(v: Any) -> int | None:
    f = _num(v)
    return int(f) if f is not None else None


def _get(alert: Any, name: str) -> Any:
    if isinstance(alert, Mapping):
        return alert.get(name)
    return getattr(alert, name, None)


def _rule_name(rule: str) -> str:
    return rule.split("(", 1)[0].strip().lower()


def _rule_param(rule: str, name: str) -> float | None:
    m = re.search(rf"[(,]\s*{re.escape(name)}\s*=\s*([-+0-9.eE]+)", rule)
    return _num(m.group(1)) if m else None


def _what(ev: Mapping[str, Any]) -> str:
    """``WAI-SR total`` / ``WAI-SR bond subscale``."""
    label = instrument_label(ev.get("instrument"))
    scale = str(ev.get("scale") or "total")
    return f"{label} total" if scale == "total" else f"{label} {scale} subscale"


def _series(ev: Mapping[str, Any], *, with_rater: bool = True) -> str:
    """``Patient-rated WAI-SR total`` (or without the rater), for the start of a sentence."""
    what = _what(ev)
    rater = RATERS.get(str(ev.get("rater") or ""))
    if with_rater and rater:
        return f"{rater} {what}"
    return what[0].upper() + what[1:]


def _higher_is_better(instrument: Any) -> bool:
    spec = _spec(instrument)
    return bool(getattr(spec, "higher_is_better", False))


def _risk(ev: Mapping[str, Any], params: Mapping[str, Any], rule: str) -> str | None:
    inst = ev.get("instrument")
    item_id = ev.get("scale") if ev.get("scale") not in (None, "total") else params.get("item")
    m = re.match(r"risk_item\((.+)\)$", rule)
    if item_id is None and m:
        item_id = m.group(1)
    spec = _spec(inst)
    item = None
    if spec is not None and item_id is not None:
        try:
            item = spec.item(spec.resolve_item_id(str(item_id)))
        except (BordinError, KeyError, ValueError, AttributeError):
            item = None
    session = _int(ev.get("session"))
    value = _num(ev.get("observed", ev.get("value")))
    if item is not None:
        number = str(item.id).rsplit("_", 1)[-1]
        what = f"{instrument_label(inst)} item {number} ({item.label})"
        anchors = getattr(item.scale, "anchors", None) or {}
    elif ev.get("item"):
        what, anchors = str(ev["item"]), {}
    else:
        return None
    when = f" at session {session}" if session is not None else ""
    if value is None:
        return f"{what} endorsed{when}."
    anchor = anchors.get(int(value)) if float(value).is_integer() else None
    said = f"{_fmt(value)} (\u201c{anchor}\u201d)" if anchor else _fmt(value)
    return f"{what} answered {said}{when}."


def _repair(ev: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    state = str(ev.get("state") or "").lower()
    start = _int(ev.get("start"))
    repaired = _int(ev.get("repaired_at"))
    window = _int(params.get("window"))
    if state == "repaired":
        return f"Repaired at session {repaired}." if repaired is not None else "Repaired."
    if state == "unrepaired":
        return (f"Not repaired within {window} sessions." if window is not None
                else "Not repaired.")
    if state == "open":
        if start is not None and window is not None:
            return f"Not repaired yet (it counts as repaired if it recovers by session " \
                   f"{start + window})."
        return "Not repaired yet."
    return ""


def _rupture(ev: Mapping[str, Any], params: Mapping[str, Any], rule: str) -> str | None:
    name = _rule_name(rule)
    who = _series(ev)
    start = _int(ev.get("start"))
    obs, base = _num(ev.get("observed")), _num(ev.get("baseline"))
    thr = _num(ev.get("threshold"))
    if start is None or obs is None:
        return None
    if name == "cutoff" and thr is not None:
        first = f"{who} was {_fmt(obs)} at session {start}, below the cutoff of {_fmt(thr)}."
    elif name == "drop" and base is not None:
        min_drop = _num(params.get("min_drop")) or _rule_param(rule, "min_drop")
        points = "point" if min_drop == 1 else "points"
        rule_words = (f"; rule: a drop of at least {_fmt(min_drop)} {points} since the previous "
                      f"session" if min_drop is not None else "")
        first = (f"{who} fell from {_fmt(base)} at the previous session to {_fmt(obs)} at "
                 f"session {start} (drop {_fmt(base - obs)}{rule_words}).")
    elif name in ("personal_sd", "combined") and base is not None:
        k = _num(params.get("k")) or _rule_param(rule, "k")
        own = OWNERS.get(str(ev.get("rater") or ""), "its")
        below = f"below {_fmt(thr)}, " if thr is not None else ""
        if k is None:
            rule_words = f"rule: {below}{name.replace('_', ' ')}"
        elif name == "combined":
            rule_words = (f"rule: {below}the average minus {_fmt(k)} SD, taking the larger of "
                          f"{own} own SD and the clinic's")
        else:
            rule_words = (f"rule: {below}the average minus {_fmt(k)} times the SD of {own} "
                          f"own scores")
        first = (f"{who} fell to {_fmt(obs)} at session {start}, below {own} own "
                 f"average of {_fmt(base)} over the earlier sessions ({rule_words}).")
    else:
        first = f"{who} dropped to {_fmt(obs)} at session {start} (rule {rule or 'rupture'})."
    lowest, low_score = _int(ev.get("lowest")), _num(ev.get("lowest_score"))
    extra = ""
    if lowest is not None and low_score is not None and lowest != start:
        extra = f" Lowest: {_fmt(low_score)} at session {lowest}."
    # One rupture found on several scales of the rating is one alert: the sentence is
    # the lead scale's, ``scales`` maps every scale that fell to how far.
    scales = ev.get("scales") if isinstance(ev.get("scales"), Mapping) else {}
    lead = str(ev.get("scale") or "total")
    fell = [f"{'total' if k == 'total' else f'{k} subscale'} by {_fmt(d)}"
            for k, v in scales.items() if str(k) != lead and (d := _num(v)) is not None]
    if fell:
        extra += f" Also down: {', '.join(fell)}."
    return " ".join(p for p in (first + extra, _repair(ev, params)) if p)


def _not_on_track(ev: Mapping[str, Any], params: Mapping[str, Any], rule: str) -> str | None:
    name = _rule_name(rule)
    what = _series(ev, with_rater=False)
    session = _int(ev.get("session"))
    obs, base, thr = _num(ev.get("observed")), _num(ev.get("baseline")), _num(ev.get("threshold"))
    intake = _num(params.get("intake"))
    intake_s = _int(params.get("intake_session"))
    if session is None or obs is None:
        return None
    hib = _higher_is_better(ev.get("instrument"))
    at_intake = (f"{_fmt(intake)} at intake (session {intake_s})" if intake is not None
                 and intake_s is not None else
                 f"{_fmt(intake)} at intake" if intake is not None else "its intake score")
    if name == "reliable_deterioration":
        verb = "fell" if hib else "rose"
        rc = abs(thr - (intake if intake is not None else base)) if thr is not None and (
            intake is not None or base is not None) else None
        why = (f" (a change of {_fmt(rc)} points or more is beyond measurement error)"
               if rc is not None else "")
        return (f"{what} {verb} from {at_intake} to {_fmt(obs)} at session {session}: a "
                f"reliable deterioration{why}.")
    if name == "no_reliable_improvement":
        by = _int(params.get("by_session")) or _int(_rule_param(rule, "by_session"))
        need = (f" (a reliable improvement means {_fmt(thr)} or "
                f"{'higher' if hib else 'lower'})" if thr is not None else "")
        by_words = f" by session {by}" if by is not None else ""
        return (f"{what} is {_fmt(obs)} at session {session}, against {at_intake}: no "
                f"reliable improvement{by_words}{need}.")
    if name == "expected_recovery":
        cov = _rule_param(rule, "coverage")
        band = f"{cov:.0%} expected-recovery band" if cov is not None else \
            "expected-recovery band"
        side = "below" if hib else "above"
        edge = "lower" if hib else "upper"
        start = (f" for patients of this clinic who started at {_fmt(intake)}"
                 if intake is not None else "")
        nums = [f"expected {_fmt(base)}" if base is not None else "",
                f"the band's {edge} edge is {_fmt(thr)}" if thr is not None else ""]
        detail = "; ".join(n for n in nums if n)
        return (f"{what} of {_fmt(obs)} at session {session} is {side} the {band}{start}"
                + (f" ({detail})." if detail else "."))
    return (f"{what} is {_fmt(obs)} at session {session}, against {at_intake}: not on track "
            f"(rule {rule or 'not on track'}).")


def _discrepancy(ev: Mapping[str, Any], params: Mapping[str, Any], rule: str) -> str | None:
    session = _int(ev.get("session", ev.get("start")))
    patient, clin = _num(ev.get("observed")), _num(ev.get("baseline"))
    thr = _num(ev.get("threshold"))
    if session is None or patient is None or clin is None:
        return None
    what = _what(ev)
    diff = clin - patient
    higher = "therapist's" if diff >= 0 else "patient's"
    rule_words = f" (rule: a difference of more than {_fmt(thr)})" if thr is not None else ""
    return (f"At session {session} the therapist rated the {what} {_fmt(clin)} and the patient "
            f"{_fmt(patient)}: the {higher} rating is {_fmt(abs(diff))} points "
            f"higher{rule_words}.")


def _ceiling(ev: Mapping[str, Any], params: Mapping[str, Any], rule: str) -> str | None:
    start, end = _int(ev.get("start")), _int(ev.get("session"))
    top = _num(ev.get("observed", ev.get("threshold")))
    if start is None or end is None:
        return None
    share = _num(params.get("share")) or _rule_param(rule, "share")
    most = f"at least {share:.0%} of" if share is not None else "most of"
    at_max = f"at the scale maximum ({_fmt(top)})" if top is not None else \
        "at the scale maximum"
    return (f"{_series(ev)} was {at_max} in {most} sessions {start} to {end}: at the "
            f"ceiling, a weakening of the alliance would not show on this scale.")


_KINDS = {"risk": _risk, "rupture": _rupture, "not_on_track": _not_on_track,
          "discrepancy": _discrepancy, "ceiling": _ceiling}


def _generic(kind: str, ev: Mapping[str, Any], rule: str) -> str:
    words = kind.replace("_", " ").strip().capitalize()
    parts = [f"{words} alert" if words else "Alert"]
    if ev.get("instrument"):
        parts.append(f"on the {_what(ev)}")
    session = _int(ev.get("session", ev.get("start")))
    if session is not None:
        parts.append(f"at session {session}")
    text = " ".join(parts)
    obs = _num(ev.get("observed", ev.get("value")))
    if obs is not None:
        text += f" (score {_fmt(obs)})"
    if rule:
        text += f"; rule {rule}"
    return text + "."


def summary(alert: Any) -> str:
    """One or two plain sentences saying what an alert found.

    Parameters
    ----------
    alert
        An :class:`~bordin.store.models.alerts.Alert` or a mapping with ``kind``,
        ``rule``, ``params`` and ``evidence`` (as the JSON API gives it).

    Returns
    -------
    str
        E.g. "PHQ-9 item 9 (thoughts of death or self-harm) answered 2 (“more than
        half the days”) at session 3." Never shows an empty field.
    """
    kind = str(_get(alert, "kind") or "").lower()
    ev = _get(alert, "evidence") or {}
    params = _get(alert, "params") or {}
    ev = ev if isinstance(ev, Mapping) else {}
    params = params if isinstance(params, Mapping) else {}
    rule = str(ev.get("rule_key") or _get(alert, "rule") or "")
    fn = _KINDS.get(kind)
    text = None
    if fn is not None:
        try:
            text = fn(ev, params, rule)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
            text = None  # evidence of an unexpected shape: the generic sentence below
    return text or _generic(kind, ev, rule)


def raw_fields(alert: Any) -> list[tuple[str, str]]:
    """The evidence and rule parameters as (label, value) pairs, empty ones left out."""
    out: list[tuple[str, str]] = []
    for source, prefix in ((_get(alert, "evidence"), ""), (_get(alert, "params"), "rule ")):
        if not isinstance(source, Mapping):
            continue
        for k, v in source.items():
            if v in _EMPTY or (isinstance(v, float) and not math.isfinite(v)):
                continue
            if isinstance(v, list | tuple):
                v = ", ".join(str(x) for x in v if x not in _EMPTY)
            elif isinstance(v, Mapping):
                v = ", ".join(f"{a}: {b}" for a, b in v.items() if b not in _EMPTY)
            if v == "":
                continue
            out.append((prefix + str(k).replace("_", " "), str(v)))
    return out
