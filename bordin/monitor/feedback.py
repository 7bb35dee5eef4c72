"""Feedback that points at a pathway: which part of the alliance is at risk, what to try.

The pathways are those of Wampold & Flückiger (2023): a rupture in the *bond* points at
CARE; low or falling agreement on *goals* or *tasks* points at EXPECTANCY and SPECIFIC;
an endorsed risk item raises RISK whatever else is happening. The suggestions and their
sources live in ``suggestions.yaml`` next to this module, so clinicians can edit them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bordin.errors import InputError

__all__ = ["Feedback", "Suggestion", "feedback_for", "route", "suggestions"]

_FILE = Path(__file__).with_name("suggestions.yaml")
KINDS = ("rupture", "discrepancy", "ceiling", "not_on_track", "risk")
PATHWAYS = ("CARE", "EXPECTANCY", "SPECIFIC", "RISK")


@dataclass(frozen=True)
class Suggestion:
    """One thing to try, in the project's words, with its sources."""

    id: str
    text: str
    pathways: tuple[str, ...]
    sources: tuple[str, ...]
    citations: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {"id": self.id, "text": self.text, "pathways": list(self.pathways),
                "sources": list(self.sources), "citations": list(self.citations)}


@dataclass(frozen=True)
class Feedback:
    """What an alert means and what to try."""

    kind: str
    pathways: tuple[str, ...]
    suggestions: tuple[Suggestion, ...]
    immediate: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {"kind": self.kind, "pathways": list(self.pathways), "immediate": self.immediate,
                "suggestions": [s.to_dict() for s in self.suggestions]}


@functools.cache
def _load() -> tuple[dict[str, Suggestion], list[dict[str, Any]]]:
    raw = yaml.safe_load(_FILE.read_text(encoding="utf-8"))
    sources: dict[str, str] = raw["sources"]
    out: dict[str, Suggestion] = {}
    for s in raw["suggestions"]:
        bad = [k for k in s["sources"] if k not in sources]
        bad_p = [p for p in s["pathways"] if p not in PATHWAYS]
        if bad or bad_p:  # a broken data file is a programming error, caught by the tests
            raise ValueError(f"suggestion {s['id']!r}: unknown sources {bad} / pathways {bad_p}")
        out[s["id"]] = Suggestion(
            id=s["id"], text=" ".join(s["text"].split()), pathways=tuple(s["pathways"]),
            sources=tuple(s["sources"]),
            citations=tuple(" ".join(sources[k].split()) for k in s["sources"]),
        )
    routes = raw["routes"]
    for r in routes:
        missing = [i for i in r["suggestions"] if i not in out]
        if missing:
            raise ValueError(f"route {r}: unknown suggestions {missing}")
    return out, routes


def suggestions() -> dict[str, Suggestion]:
    """Every suggestion, by id."""
    return dict(_load()[0])


@functools.cache
def route(kind: str, scale: str = "total", state: str = "open") -> tuple[tuple[str, ...],
                                                                        tuple[str, ...]]:
    """``(pathways, suggestion ids)`` for an alert of this kind, scale and state.

    A rupture event that moved several scales has ``scale`` ``"total+goal+bond"``: the
    subscales that moved point at their pathways (the total only when no subscale
    moved), and the advice is the union of theirs, in order, each suggestion once.
    """
    if kind not in KINDS:
        raise InputError(field="kind", value=kind, allowed=f"one of {list(KINDS)}")
    if "+" in scale:
        parts = [p for p in scale.split("+") if p]
        subs = [p for p in parts if p != "total"] or ["total"]
        paths: list[str] = []
        ids: list[str] = []
        for sc in subs:
            pw, sg = route(kind, sc, state)
            paths += [p for p in pw if p not in paths]
            ids += [i for i in sg if i not in ids]
        return tuple(sorted(paths, key=PATHWAYS.index)), tuple(ids)
    for r in _load()[1]:
        if r["kind"] != kind:
            continue
        if r["scale"] not in ("any", scale) or r["state"] not in ("any", state):
            continue
        return tuple(r["pathways"]), tuple(r["suggestions"])
    # A scale with no route of its own (another instrument's subscale) falls back to
    # the total's advice.
    if scale != "total":
        return route(kind, "total", state)
    raise InputError(field="scale", value=scale, allowed="a scale with a feedback route")


def feedback_for(alert: Any) -> Feedback:
    """The pathways and suggestions for an alert.

    Parameters
    ----------
    alert
        A mapping or a row of :func:`bordin.monitor.monitor_frame`'s alerts (with
        ``kind`` and, for ruptures, ``scale`` and ``state``), or a
        :class:`~bordin.monitor.RuptureEvent`.

    Examples
    --------
    >>> feedback_for({"kind": "rupture", "scale": "bond", "state": "open"}).pathways
    ('CARE',)
    """
    if hasattr(alert, "rule") and hasattr(alert, "depth") and not hasattr(alert, "get"):
        kind, scale, state = "rupture", alert.scale, alert.state
    else:
        try:
            kind = alert["kind"]
        except (KeyError, TypeError, IndexError):
            raise InputError(field="alert", value=type(alert).__name__,
                             allowed="a mapping or row with a 'kind', or a RuptureEvent") from None
        getter = alert.get if hasattr(alert, "get") else (lambda k, d=None: d)
        scale = getter("scale", "total") or "total"
        moved = getter("scales", None)
        if isinstance(moved, Mapping) and moved:  # a rupture event: every scale that moved
            scale = "+".join(str(k) for k in moved)
        state = getter("state", "open") or "open"
    pathways, ids = route(str(kind), str(scale), str(state))
    table = _load()[0]
    return Feedback(kind=str(kind), pathways=pathways,
                    suggestions=tuple(table[i] for i in ids), immediate=kind == "risk")
