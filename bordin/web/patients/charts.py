"""Vega-Lite charts (through Altair) of one episode: alliance and symptom course.

The charts are specs (JSON) drawn in the browser by the vega-embed shipped in
``bordin/web/static/vendor``; the page also shows the same numbers as a table,
so nothing depends on the chart being drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import altair as alt
import pandas as pd

from bordin.errors import BordinError
from bordin.instruments import registry
from bordin.web.alerts.evidence import instrument_label

__all__ = ["alliance_chart", "change_points", "rupture_markers", "symptom_chart"]

WIDTH = "container"
BAND_COLOR = "#0b5cad"


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


def rupture_markers(alerts: Iterable[Any]) -> list[dict[str, Any]]:
    """The rupture events the monitor recorded for an episode, as chart markers.

    Read from the episode's stored rupture alerts (open, acknowledged or resolved), so
    the chart marks exactly the ruptures the alerts list, under the monitor's own rule
    (its default is the combined rule judged against the clinic's SDs; re-detecting
    here with another rule drew markers the alerts did not know, and missed theirs).
    """
    out: list[dict[str, Any]] = []
    for a in alerts:
        ev = a.evidence or {}
        if a.kind != "rupture" or ev.get("start") is None:
            continue
        repaired = ev.get("repaired_at")
        if repaired is not None and (not isinstance(repaired, int | float)
                                     or math.isnan(repaired)):
            repaired = None
        inst = ev.get("instrument")
        out.append({"instrument": inst, "label": instrument_label(str(inst)),
                    "rater": ev.get("rater"),
                    "start": int(ev["start"]), "state": ev.get("state"),
                    "repaired_at": None if repaired is None else int(repaired),
                    "depth": round(float(ev.get("depth") or 0.0), 1)})
    out.sort(key=lambda m: (str(m["instrument"]), str(m["rater"]), m["start"]))
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
                           color=alt.Color("rater:N", title="Rater",
                                           legend=alt.Legend(orient="bottom")),
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
        color=alt.Color("scale:N", title="Goal / task / bond",
                        legend=alt.Legend(orient="bottom")),
        strokeDash=alt.StrokeDash("rater:N", title="Rater", legend=alt.Legend(orient="bottom")),
        tooltip=["session", "scale", "rater", "value"],
    ).properties(width=WIDTH, height=160, title="Goal, task and bond")
    # Each chart its own legend: the raters' colours are not the subscales' colours.
    return alt.vconcat(upper, lower).resolve_scale(color="independent").to_dict()


def symptom_chart(rows: list[dict[str, Any]],
                  expected: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Symptom totals with the reliable-change band around intake and the expected band.

    ``expected`` maps an instrument to its
    :class:`~bordin.web.patients.expected.ExpectedBand`: when it is available it is
    drawn as a shaded area (its ``lower`` to ``upper``) with a dashed expected line,
    under the legend entry "expected recovery (90% band)"; when it is not, the chart's
    subtitle says why in words. Every series has a legend entry.
    """
    df = _frame(rows)
    out = df[(df["kind"] == "outcome") & (df["scale"] == "total")].copy()
    if out.empty:
        return {}
    charts = []
    for inst, g in out.groupby("instrument"):
        g = g.sort_values("session")
        inst = str(inst)
        label = instrument_label(inst)
        x = alt.X("session:Q", title="Session", axis=alt.Axis(tickMinStep=1))
        rc = change_points(inst)
        first = g.iloc[0]
        lo_s, hi_s = float(g["session"].min()), float(g["session"].max())
        band = (expected or {}).get(inst)
        names: list[str] = []
        colors: list[str] = []
        pieces: list[tuple[str, pd.DataFrame]] = []  # (what, data with its series name)
        if band is not None and band.available and band.rows:
            names.append(band.legend)
            colors.append(BAND_COLOR)
            pieces.append(("expected", pd.DataFrame(band.rows).assign(series=band.legend)))
        if rc is not None and first["value"] is not None:
            name = f"no reliable change from intake (±{rc:.1f})"
            names.append(name)
            colors.append("#8a5300")
            pieces.append(("reliable", pd.DataFrame({
                "session": [lo_s, hi_s], "lower": [first["value"] - rc] * 2,
                "upper": [first["value"] + rc] * 2, "series": [name] * 2})))
        try:
            spec = registry.get(inst)
            cutoff, (y_lo, y_hi) = spec.cutoff, spec.range
        except BordinError:
            cutoff, y_lo, y_hi = None, None, None
        # The scale's own range, with marks beyond it (a band's edge) drawn at its limit.
        y_scale = (alt.Scale(domain=[y_lo, y_hi], clamp=True, nice=False)
                   if y_lo is not None else alt.Scale(zero=False))
        ytitle = f"{label} total"
        if cutoff is not None:
            name = f"clinical cutoff ({cutoff:g})"
            names.append(name)
            colors.append("#57606a")
            pieces.append(("cutoff", pd.DataFrame({"cutoff": [cutoff], "series": [name]})))
        observed = f"{label} (observed)"
        names.append(observed)
        colors.append("#1b1f24")
        color = alt.Color("series:N", scale=alt.Scale(domain=names, range=colors),
                          legend=alt.Legend(title=None, orient="bottom", columns=2,
                                            labelLimit=320, symbolOpacity=0.7))
        layers: list[Any] = []
        for what, data in pieces:
            if what == "expected":
                ex = data[["session", "expected", "lower", "upper", "series"]]
                tip = ["session", alt.Tooltip("expected:Q", format=".1f"),
                       alt.Tooltip("lower:Q", format=".1f"), alt.Tooltip("upper:Q", format=".1f")]
                layers.append(alt.Chart(ex, name=f"expected_band_{inst}").mark_area(
                    opacity=0.2).encode(x=x, y=alt.Y("lower:Q", scale=y_scale, title=ytitle),
                                        y2="upper:Q", color=color, tooltip=tip))
                layers.append(alt.Chart(ex, name=f"expected_line_{inst}").mark_line(
                    strokeDash=[5, 3], strokeWidth=1.5).encode(
                        x=x, y=alt.Y("expected:Q", scale=y_scale, title=ytitle), color=color,
                        tooltip=tip))
            elif what == "reliable":
                layers.append(alt.Chart(data, name=f"reliable_change_{inst}").mark_area(
                    opacity=0.15).encode(x=x, y=alt.Y("lower:Q", scale=y_scale, title=ytitle),
                                         y2="upper:Q", color=color))
            else:
                layers.append(alt.Chart(data, name=f"cutoff_{inst}").mark_rule(
                    strokeDash=[2, 2]).encode(y=alt.Y("cutoff:Q", scale=y_scale, title=ytitle),
                                              color=color))
        obs = g[["session", "value", "band"]].assign(series=observed)
        layers.append(alt.Chart(obs, name=f"observed_{inst}").mark_line(point=True).encode(
            x=x, y=alt.Y("value:Q", scale=y_scale, title=ytitle), color=color,
            tooltip=["session", "value", "band"]))
        subtitle = [] if band is None or band.available else [band.chart_note]
        charts.append(alt.layer(*layers).properties(
            width=WIDTH, height=200,
            title=alt.TitleParams(f"{label}: symptom course", subtitle=subtitle)))
    if len(charts) == 1:
        return charts[0].to_dict()
    # Each instrument has its own series and legend.
    return alt.vconcat(*charts).resolve_scale(color="independent").resolve_legend(
        color="independent").to_dict()
