"""Render a report as ONE self-contained HTML file.

Tables are HTML; figures are PNG images inlined as base64 ``data:`` URIs;
the style sheet is inline. The page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment

__all__ = ["Section", "figure_to_data_uri", "render", "table_html"]


@dataclass
class Section:
    """One analysis in the report."""

    key: str
    title: str
    text: str = ""
    tables: list[tuple[str, str]] = field(default_factory=list)  # (caption, html)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, data URI)
    error: str | None = None


def figure_to_data_uri(fig: Any, *, dpi: int = 110) -> str:
    """PNG-encode a matplotlib figure as a ``data:`` URI and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def table_html(frame: pd.DataFrame, *, digits: int = 3, index: bool = True,
               max_rows: int = 200) -> str:
    """A data frame as an escaped HTML table with rounded numbers."""
    shown = frame.head(max_rows)

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            if v != v:
                return ""
            if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e6):
                return f"{v:.{digits}g}"
            return f"{v:.{digits}f}"
        return str(v)

    out = shown.to_html(index=index, escape=True, border=0, classes="t",
                        formatters={c: fmt for c in shown.columns}, na_rep="")
    if len(frame) > max_rows:
        out += f"<p class='note'>first {max_rows} of {len(frame)} rows</p>"
    return out


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1000px; color: #1d1d1f; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd;
       padding-bottom: .2rem; margin-top: 2.2rem; }
table.t { border-collapse: collapse; font-size: .82rem; margin: .6rem 0 1rem; }
table.t th, table.t td { padding: .2rem .55rem; text-align: right;
       border-bottom: 1px solid #eee; }
table.t th { background: #f5f5f7; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
figcaption, .note { font-size: .8rem; color: #555; }
.skip { color: #8a5a00; } .err { color: #b00020; }
nav ul { columns: 2; font-size: .9rem; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="note">{{ subtitle }}</p>
<nav><ul>
{% for s in sections %}<li><a href="#{{ s.key }}">{{ s.title }}</a></li>{% endfor %}
</ul></nav>
{% for s in sections %}
<section id="{{ s.key }}">
<h2>{{ s.title }}</h2>
{% if s.error %}<p class="err">Not run: {{ s.error }}</p>{% endif %}
{% if s.text %}<p>{{ s.text }}</p>{% endif %}
{% for cap, tab in s.tables %}<p class="note">{{ cap }}</p>{{ tab | safe }}{% endfor %}
{% for cap, uri in s.figures %}
<figure><img src="{{ uri }}" alt="{{ cap }}"><figcaption>{{ cap }}</figcaption></figure>
{% endfor %}
</section>
{% endfor %}
{% if skipped %}
<section id="skipped"><h2>Analyses not supported by these data</h2><ul>
{% for name, why in skipped.items() %}<li class="skip">{{ name }}: {{ why }}</li>{% endfor %}
</ul></section>
{% endif %}
</body>
</html>
"""


def render(*, title: str, subtitle: str, sections: list[Section],
           skipped: dict[str, str]) -> str:
    """The complete HTML document."""
    env = Environment(autoescape=True)
    return env.from_string(_TEMPLATE).render(
        title=html.unescape(title), subtitle=subtitle, sections=sections, skipped=skipped,
    )
