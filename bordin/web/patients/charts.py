"""Vega-Lite charts (through Altair) of one episode: alliance and symptom course.

The charts are specs (JSON) drawn in the browser by the vega-embed shipped in
``bordin/web/static/vendor``; the page also shows the same numbers as a table,
so nothing depends on the chart being drawn.
"""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

from bordin.errors import BordinError
from bordin.instruments import registry
from bordin.monitor import detect_ruptures

__all__ = ["alliance_chart", "change_points", "rupture_markers", "symptom_chart"]

WIDTH = "container"


def _kind(instrument: str) -> str:
    try:
        return registry.get(instrument).kind
    except BordinError:
        return "unknown"


def change_points(instrument: str) -> float | None:
    """Points of reliable change on the total (Jacobson–Truax, 95%), if the spec has norms."""
    try:
        spec = registry.get(instrument)
    except BordinError:
        return None
    n = spec.norms
    if n is None:
        return None
    if n.change_points:
        return float(n.change_points)
    if n.reliability and n.sd:
        return 1.96 * math.sqrt(2.0) * n.sd * math.sqrt(1.0 - n.reliability)
    return None


def rupture_markers(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """Rupture events on each alliance total series (by instrument and rater)."""
    out: list[dict[str, Any]] = []
    if scores.empty:
        return out
    al = scores[(scores["kind"] == "alliance") & (scores["scale"] == "total")]
    for (inst, rater), g in al.groupby(["instrument", "rater"]):
        series = g.groupby("session")["value"].mean().dropna()
        if len(series) < 3:
            continue
        try:
            events = detect_ruptures(series, rule="personal_sd", scale="total")
        except BordinError:
            continue
        for e in events:
            out.append({"instrument": inst, "rater": rater, "start": e.start,
                        "state": e.state, "repaired_at": e.repaired_at,
                        "depth": round(float(e.depth), 2)})
    return out


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["administration_id", "session", "instrument", "rater",
                                     "target", "authored_at", "scale", "value", "band"])
    df["kind"] = df["instrument"].map(_kind) if not df.empty else pd.Series(dtype=str)
    return df


def alliance_chart(rows: list[dict[str, Any]], markers: list[dict[str, Any]]) -> dict[str, Any]:
    """Alliance total (by rater) and goal/task/bond, with rupture and repair markers."""
    df = _frame(rows)
    al = df[df["kind"] == "alliance"].copy()
    if al.empty:
        return {}
    al["series"] = al["scale"] + " · " + al["rater"]
    total = al[al["scale"] == "total"]
    subs = al[al["scale"].isin(["goal", "task", "bond"])]
    x = alt.X("session:Q", title="Session", axis=alt.Axis(tickMinStep=1))
    top = alt.Chart(total[["session", "value", "rater", "instrument"]]).mark_line(
        point=True).encode(x=x, y=alt.Y("value:Q", title="Alliance total",
                                        scale=alt.Scale(zero=False)),
                           color=alt.Color("rater:N", title="Rater"),
                           tooltip=["session", "rater", "instrument", "value"])
    layers: list[Any] = [top]
    if markers:
        mk = pd.DataFrame(markers)
        layers.append(alt.Chart(mk).mark_rule(strokeDash=[4, 3], strokeWidth=2).encode(
            x="start:Q", color=alt.value("#b3261e"),
            tooltip=["start", "state", "depth", "rater"]))
        rep = mk.dropna(subset=["repaired_at"])
        if not rep.empty:
            layers.append(alt.Chart(rep).mark_rule(strokeWidth=2).encode(
                x="repaired_at:Q", color=alt.value("#1a7f37"), tooltip=["repaired_at", "rater"]))
    upper = alt.layer(*layers).properties(width=WIDTH, height=180,
                                         title="Alliance (red dashed: rupture, green: repair)")
    if subs.empty:
        return upper.to_dict()
    lower = alt.Chart(subs[["session", "value", "scale", "rater"]]).mark_line(point=True).encode(
        x=x, y=alt.Y("value:Q", title="Subscale", scale=alt.Scale(zero=False)),
        color=alt.Color("scale:N", title="Goal / task / bond"),
        strokeDash=alt.StrokeDash("rater:N", title="Rater"),
        tooltip=["session", "scale", "rater", "value"],
    ).properties(width=WIDTH, height=160, title="Goal, task and bond")
    return alt.vconcat(upper, lower).to_dict()


def symptom_chart(rows: list[dict[str, Any]],
                  expected: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Symptom totals with the reliable-change band around intake and the expected band."""
    df = _frame(rows)
    out = df[(df["kind"] == "outcome") & (df["scale"] == "total")].copy()
    if out.empty:
        return {}
    charts = []
    for inst, g in out.groupby("instrument"):
        g = g.sort_values("session")
        x = alt.X("session:Q", title="Session", axis=alt.Axis(tickMinStep=1))
        layers: list[Any] = []
        rc = change_points(str(inst))
        first = g.iloc[0]
        lo_s, hi_s = float(g["session"].min()), float(g["session"].max())
        if expected:
            ex = pd.DataFrame([e for e in expected if e.get("instrument") == inst])
            if not ex.empty:
                layers.append(alt.Chart(ex).mark_area(opacity=0.18, color="#0b5cad").encode(
                    x="session:Q", y="lower:Q", y2="upper:Q"))
        if rc is not None and first["value"] is not None:
            band = pd.DataFrame({"session": [lo_s, hi_s],
                                 "lower": [first["value"] - rc] * 2,
                                 "upper": [first["value"] + rc] * 2})
            layers.append(alt.Chart(band).mark_area(opacity=0.15, color="#8a5300").encode(
                x="session:Q", y="lower:Q", y2="upper:Q"))
        try:
            cutoff = registry.get(str(inst)).cutoff
        except BordinError:
            cutoff = None
        if cutoff is not None:
            layers.append(alt.Chart(pd.DataFrame({"cutoff": [cutoff]})).mark_rule(
                strokeDash=[2, 2], color="#57606a").encode(y="cutoff:Q"))
        layers.append(alt.Chart(g[["session", "value", "band"]]).mark_line(point=True).encode(
            x=x, y=alt.Y("value:Q", title=f"{inst} total"), tooltip=["session", "value", "band"]))
        charts.append(alt.layer(*layers).properties(
            width=WIDTH, height=180,
            title=f"{inst}: shaded = no reliable change from intake"
            + ("; blue = expected recovery band" if expected else "")))
    return alt.vconcat(*charts).to_dict() if len(charts) > 1 else charts[0].to_dict()
