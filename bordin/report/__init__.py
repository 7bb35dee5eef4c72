"""Reports: run the analyses a data set supports and write one self-contained HTML file.

>>> from bordin.report import build_report
>>> build_report(administrations).write("report.html")  # doctest: +SKIP
"""

from bordin.report.build import Report, build_report
from bordin.report.detect import Plan, detect
from bordin.report.html import Section, figure_to_data_uri, render, table_html

__all__ = [
    "Plan",
    "Report",
    "Section",
    "build_report",
    "detect",
    "figure_to_data_uri",
    "render",
    "table_html",
]
