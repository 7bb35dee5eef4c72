"""The supervisor view as a PDF: what the page shows, for the same filters, on A4 pages.

Drawn with matplotlib's PDF backend (:class:`~matplotlib.backends.backend_pdf.PdfPages`),
which the project already depends on, in the order of the page: therapist effects on
the alliance (shrunken estimates with 95% intervals, listed by clinician code as on the
page, never ranked) as a chart and a table, therapist effects on outcome, alliance by
therapist and by target, rupture and repair rates, and the monthly trend.

Text is set in DejaVu Sans, which ships with matplotlib and covers Latin (Polish
"Łódź"), Greek and Cyrillic, embedded as a TrueType (Type 42) font with a ToUnicode map:
the text is real text, selectable, searchable and extracted as the characters it was
given. matplotlib embeds only the glyphs used (ligatures are turned off, so each font is
embedded once), so the demo clinic's three pages are about 35 kB. Paragraphs wrap by
the width of their text in that font. A character DejaVu Sans lacks (CJK, for one) is
taken from the first font of :data:`FALLBACK_FONTS` installed on the server with
TrueType outlines (``font.family`` as a list: matplotlib falls back glyph by glyph). If
no font has it, matplotlib draws its last-resort glyph (a box naming the Unicode block)
and warns ``Glyph ... missing from font(s) ...``; the text still holds the character,
so search and copy find it. The filters are also in the document's title and subject
(its metadata).
"""

from __future__ import annotations

import io
import struct
import textwrap
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.textpath import TextToPath

from bordin.web.supervisor.service import Filters, Supervision

__all__ = ["FALLBACK_FONTS", "filters_text", "supervision_pdf"]

PAGE_W, PAGE_H = 8.27, 11.69  # A4, inches
MARGIN = 0.75
BODY, SMALL, HEAD = 9.5, 8.0, 12.5
LINE = 0.19  # inches per body line
WRAP = 100  # at most this many characters per body line at BODY points (see _wrap)
INK, MUTED, ACCENT = "#1b1f24", "#57606a", "#0b5cad"

# Tried in order, after DejaVu Sans, for the characters it lacks: Han, kana, Hangul, then
# Indic, Thai and others. Only those installed on the server with TrueType outlines are
# used: matplotlib logs a warning on every lookup of a family that is not installed, and
# embeds CFF-outline fonts (Noto Sans CJK, Source Han Sans: OpenType "OTTO") as a
# TrueType font program that viewers cannot draw (matplotlib issues #2869, #20870).
FALLBACK_FONTS: tuple[str, ...] = (
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "Microsoft YaHei",
    "Yu Gothic", "MS Gothic", "Malgun Gothic", "NanumGothic", "Noto Sans Devanagari",
    "Noto Sans Bengali", "Noto Sans Tamil", "Noto Sans Thai", "Noto Sans Ethiopic",
    "Nirmala UI", "Arial Unicode MS", "Noto Sans",
)

# rcParams are process-wide: PDF exports take turns, and only for the time they draw.
# "pdf.fonttype" 42 embeds TrueType outlines (subset to the glyphs used) with a
# ToUnicode map, so text stays text in any script.
_RC_BASE: dict[str, Any] = {
    "pdf.fonttype": 42, "pdf.use14corefonts": False, "axes.unicode_minus": False,
    "font.weight": "normal", "axes.labelweight": "normal", "axes.titleweight": "normal",
    "font.size": BODY}


def _truetype_outlines(path: str, index: int) -> bool:
    """Whether face ``index`` of the font file has TrueType outlines (not CFF)."""
    try:
        with open(path, "rb") as fh:
            tag = fh.read(4)
            if tag == b"ttcf":  # a collection: the face's own table directory
                fh.seek(12 + 4 * index)
                (offset,) = struct.unpack(">I", fh.read(4))
                fh.seek(offset)
                tag = fh.read(4)
    except (OSError, struct.error):
        return False
    return tag in (b"\x00\x01\x00\x00", b"true")


@cache
def _rc() -> dict[str, Any]:
    """The rcParams of an export: DejaVu Sans, then the usable fallback fonts installed."""
    files: dict[str, list[bool]] = {}
    for e in font_manager.fontManager.ttflist:
        if e.name in FALLBACK_FONTS:
            files.setdefault(e.name, []).append(
                _truetype_outlines(e.fname, getattr(e, "index", 0)))
    family = ["DejaVu Sans", *(f for f in FALLBACK_FONTS if f in files and all(files[f]))]
    return {**_RC_BASE, "font.family": family}


# Ligatures ("ff", "fi") are glyphs of their own, which matplotlib embeds as a second
# subset of each font: without them the file is smaller and quicker to write.
_NO_LIGATURES = ("-liga",)
_LOCK = threading.Lock()
_MEASURE = TextToPath()  # unhinted widths, as the PDF sets text


def filters_text(f: Filters) -> str:
    """``treatment CBT, format all, diagnosis all``: the filters in words."""
    return (f"treatment {f.treatment or 'all'}, format {f.format or 'all'}, "
            f"diagnosis {f.diagnosis or 'all'}")


class _Doc:
    """A4 pages filled top to bottom; a new page when the next block does not fit."""

    def __init__(self, pdf: PdfPages, *, footer: str) -> None:
        self.pdf = pdf
        self.footer = footer
        self.page = 0
        self.fig: Figure | None = None
        self.y = MARGIN

    def _new_page(self) -> Figure:
        self.close_page()
        self.fig = fig = Figure(figsize=(PAGE_W, PAGE_H))
        self.page += 1
        self.y = MARGIN
        return fig

    def close_page(self) -> None:
        if self.fig is not None:
            self.fig.text(MARGIN / PAGE_W, 0.4 / PAGE_H, f"{self.footer} · page {self.page}",
                          fontsize=SMALL, color=MUTED)
            if hasattr(Text, "set_fontfeatures"):  # matplotlib >= 3.11 shapes text
                for t in self.fig.findobj(Text):
                    t.set_fontfeatures(_NO_LIGATURES)
            self.pdf.savefig(self.fig)
            self.fig = None

    def need(self, height: float) -> Figure:
        """The current page if ``height`` inches still fit on it, else a new page."""
        fig = self.fig
        if fig is None or self.y + height > PAGE_H - MARGIN:
            fig = self._new_page()
        return fig

    def text(self, x: float, s: str, *, size: float = BODY, color: str = INK,
             weight: str = "normal") -> None:
        fig = self.need(0)
        fig.text(x / PAGE_W, 1 - self.y / PAGE_H, s, fontsize=size, color=color,
                 fontweight=weight, va="top", ha="left")

    def title(self, s: str) -> None:
        self.need(0.45)
        self.text(MARGIN, s, size=17, weight="bold")
        self.y += 0.42

    def heading(self, s: str, *, keep: float = 3 * LINE) -> None:
        self.need(0.42 + keep)  # keep a heading with the first ``keep`` inches after it
        self.y += 0.12
        self.text(MARGIN, s, size=HEAD, weight="bold", color=ACCENT)
        self.y += 0.3

    def para(self, s: str, *, size: float = BODY, color: str = INK) -> None:
        for line in _wrap(s, size) or [""]:
            self.need(LINE)
            self.text(MARGIN, line, size=size, color=color)
            self.y += LINE * size / BODY
        self.y += 0.06

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]],
              widths: Sequence[float], *, caption: str = "") -> None:
        if caption:
            self.para(caption, size=SMALL, color=MUTED)
        if not rows:
            self.para("No rows.", color=MUTED)
            return

        def head() -> None:
            x = MARGIN
            for h, w in zip(header, widths, strict=True):
                self.text(x, h, size=SMALL, color=MUTED, weight="bold")
                x += w
            self.y += LINE

        self.need(2 * LINE)
        head()
        for row in rows:
            page = self.page
            self.need(LINE)
            if self.page != page:  # the table goes on over a page break: repeat its header
                head()
            x = MARGIN
            for cell, w in zip(row, widths, strict=True):
                self.text(x, cell, size=BODY)
                x += w
            self.y += LINE
        self.y += 0.1

    def chart(self, height: float, draw: Callable[[Axes], None], *,
              left: float = 1.4, pad: float = 0.45) -> None:
        """An axes ``height`` inches tall with all of it; ``pad``: room for the x labels."""
        fig = self.need(height + 0.2)
        bottom = PAGE_H - self.y - height
        ax = fig.add_axes((left / PAGE_W, (bottom + pad) / PAGE_H,
                           (PAGE_W - MARGIN - left) / PAGE_W, (height - pad - 0.05) / PAGE_H))
        ax.tick_params(labelsize=SMALL)
        draw(ax)
        self.y += height + 0.15


def _wrap(s: str, size: float) -> list[str]:
    """``s`` in lines that fit the text width at ``size`` points in the fonts in effect.

    At most ``WRAP`` characters a line at ``BODY`` points, fewer when the lines are
    wider than the page allows (capitals, Cyrillic and Greek are wider than Latin text).
    """
    room = (PAGE_W - 2 * MARGIN) * 72  # points
    prop = FontProperties(size=size)
    width = int(WRAP * BODY / size)
    while True:
        lines = textwrap.wrap(s, width=width)
        if width <= 10 or all(
                _MEASURE.get_text_width_height_descent(line, prop, ismath=False)[0] <= room
                for line in lines):
            return lines
        width -= 1


def _forest(rows: list[dict[str, Any]], *, xlabel: str) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        ys = list(range(len(rows)))
        eff = [r["effect"] for r in rows]
        lo = [r["effect"] - r["lower"] for r in rows]
        hi = [r["upper"] - r["effect"] for r in rows]
        ax.axvline(0, color=MUTED, lw=0.8)
        ax.errorbar(eff, ys, xerr=[lo, hi], fmt="o", color=ACCENT, ms=4, capsize=2, lw=1.2)
        ax.set_yticks(ys, [str(r["clinician"]) for r in rows])
        ax.set_ylim(len(rows) - 0.5, -0.5)  # the first listed on top, as on the page
        ax.set_xlabel(xlabel, fontsize=SMALL)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return draw


def _trend(rows: list[dict[str, Any]]) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        xs = list(range(len(rows)))
        ax.plot(xs, [r["mean"] for r in rows], marker="o", color=ACCENT, ms=3, lw=1.2)
        step = max(1, len(rows) // 12)
        ax.set_xticks(xs[::step], [str(r["month"]) for r in rows][::step], rotation=45,
                      ha="right")
        ax.set_ylabel("Mean alliance", fontsize=SMALL)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return draw


def _effects_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[str(r["clinician"]), f"{r['effect']:+.2f}",
             f"{r['lower']:+.2f} to {r['upper']:+.2f}", str(r["patients"])] for r in rows]


def _pct(v: float | None) -> str:
    return f" ({100 * v:.0f}%)" if v is not None else ""


def _draw(doc: _Doc, s: Supervision, f: Filters, *, organization: str,
          generated_at: datetime) -> None:
    doc.title("Supervision")
    doc.para(f"Clinic: {organization}. Filters: {filters_text(f)}. {s.n_administrations} "
             f"ratings.")
    doc.para(f"Generated {generated_at.strftime('%Y-%m-%d %H:%M')} UTC by Bordin.",
             size=SMALL, color=MUTED)

    te = s.therapist_effects
    forest_h = min(0.8 + 0.26 * len(te), 6.0)
    doc.heading("Therapist effects", keep=3 * LINE + (forest_h if te else 0))
    icc = (f" Share of alliance variance between therapists (ICC): {s.icc:.2f}."
           if s.icc is not None else "")
    doc.para(s.model_note + icc)
    if te:
        doc.chart(forest_h,
                  _forest(te, xlabel="Difference from clinic mean (shrunken, 95% interval)"))
        doc.table(["Therapist", "Effect", "95% interval", "Patients"], _effects_rows(te),
                  [1.8, 1.0, 2.0, 1.0], caption="Listed by code, not ranked: overlapping "
                  "intervals mean the data cannot tell therapists apart.")

    doc.heading("Therapist effects on outcome")
    oicc = ""
    if s.outcome_icc is not None:
        oicc = f" ICC {s.outcome_icc:.2f}"
        ci = s.outcome_icc_ci
        if ci and ci[0] is not None and ci[1] is not None:
            oicc += f" (95% CI {ci[0]:.2f} to {ci[1]:.2f})"
        oicc += "."
    doc.para(s.outcome_note + oicc)
    if s.outcome_effects:
        doc.table(["Therapist", "Effect", "95% interval", "Patients"],
                  _effects_rows(s.outcome_effects), [1.8, 1.0, 2.0, 1.0],
                  caption="Listed by code, not ranked.")

    doc.heading("Alliance by therapist, programme and staff")
    doc.table(["Therapist", "Mean", "Patients", "Ratings"],
              [[str(r["clinician"]), f"{r['mean']:.1f}", str(r["patients"]), str(r["ratings"])]
               for r in s.by_therapist], [1.8, 1.0, 1.0, 1.0])
    if s.by_target:
        doc.table(["Target", "Rater", "Mean", "Ratings"],
                  [[str(r["target"]), str(r["rater"]), f"{r['mean']:.1f}", str(r["ratings"])]
                   for r in s.by_target], [1.8, 1.4, 1.0, 1.0])

    doc.heading("Ruptures and repair")
    r = s.ruptures
    if r:
        doc.para(f"{r['with_rupture']} of {r['episodes']} episodes had a rupture"
                 f"{_pct(r.get('rupture_rate'))}; {r['repaired']} repaired, "
                 f"{r['unrepaired']} unrepaired"
                 + (f", {r['open']} still open" if r.get("open") else "")
                 + (f" (repair rate {100 * r['repair_rate']:.0f}%)"
                    if r.get("repair_rate") is not None else "") + ".")
    else:
        doc.para("No ratings to count ruptures in.", color=MUTED)

    doc.heading("Trend", keep=2.8 if s.trend else LINE)
    if s.trend:
        doc.chart(2.8, _trend(s.trend), left=1.0, pad=0.8)
        doc.table(["Month", "Mean alliance", "Ratings"],
                  [[str(t["month"]), f"{t['mean']:.1f}", str(t["ratings"])] for t in s.trend],
                  [1.8, 1.4, 1.0])
    else:
        doc.para("No dated ratings for a trend.", color=MUTED)


def supervision_pdf(s: Supervision, f: Filters, *, organization: str,
                    generated_at: datetime) -> bytes:
    """The supervisor view as PDF bytes.

    Parameters
    ----------
    s
        The numbers of :func:`bordin.web.supervisor.service.supervision`.
    f
        The filters they were computed with (printed, and in the title metadata).
    organization
        The clinic's name as printed.
    generated_at
        The time printed on the first page (UTC).
    """
    buf = io.BytesIO()
    meta = {"Title": f"Bordin supervision: {filters_text(f)}",
            "Subject": f"Supervision of {organization}; filters: {filters_text(f)}",
            "Creator": "Bordin", "Keywords": "therapeutic alliance; therapist effects"}
    with _LOCK, matplotlib.rc_context(_rc()), PdfPages(buf, metadata=meta) as pdf:
        doc = _Doc(pdf, footer=f"Bordin supervision · {filters_text(f)}")
        _draw(doc, s, f, organization=organization, generated_at=generated_at)
        doc.close_page()
    return buf.getvalue()
