"""The HTML report: detection, self-containment, valid HTML, images that decode, the CLI."""

from __future__ import annotations

import base64
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from matplotlib import image as mpimg
from typer.testing import CliRunner

from bordin.errors import InputError
from bordin.report import build_report, detect

FIXTURE = Path(__file__).parents[1] / "alliance" / "fixtures" / "alliance_reference.json"
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr", "area", "base"}


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def administrations(ref: dict) -> pd.DataFrame:
    return pd.DataFrame(ref["data"]["administrations"])


@pytest.fixture(scope="module")
def report(administrations: pd.DataFrame):
    return build_report(administrations)


class _Checker(HTMLParser):
    """Tag balance, external references and images of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("src", "href"):
            v = a.get(key)
            if v and not (v.startswith("data:") or v.startswith("#")):
                self.external.append(v)
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.external.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()


def _check(html: str) -> _Checker:
    assert html.startswith("<!DOCTYPE html>")
    c = _Checker()
    c.feed(html)
    c.close()
    assert not c.errors, c.errors[:5]
    assert not c.stack, f"unclosed tags {c.stack}"
    assert not c.external, f"external references {c.external[:5]}"
    assert not re.search(r"url\(|@import", html), "stylesheet loads something"
    return c


def _decode_all(images: list[str]) -> None:
    assert images
    for src in images:
        assert src.startswith("data:image/png;base64,")
        arr = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert arr.ndim == 3 and arr.shape[0] > 50 and arr.shape[1] > 50
        assert arr.std() > 0  # not a blank image


def test_detects_what_the_data_supports(administrations: pd.DataFrame) -> None:
    plan = detect(administrations)
    assert plan.alliance_instruments == ["WAI-SR"]
    assert plan.outcome_instrument == "PHQ-9"
    assert plan.analyses == ["association", "contribution", "therapist_effects",
                             "clinic_effects", "longitudinal", "ipd"]
    # A single session per episode supports no longitudinal analysis.
    one = administrations[administrations["session"].isin([1, 3])]
    plan1 = detect(one)
    assert "longitudinal" not in plan1.analyses and "longitudinal" in plan1.skipped


def test_report_is_valid_self_contained_html(report) -> None:
    assert [s.key for s in report.sections if s.error] == []
    c = _check(report.html)
    assert {"table", "img", "h2"} <= c.tags
    _decode_all(c.images)
    assert len(c.images) == len(report.sections)
    # The numbers shown are the results objects' numbers.
    contrib = report.results["contribution"]
    assert f"{contrib.between['estimate']:.2f}" in report.html
    te = report.results["therapist_effects"]
    assert f"{te.icc:.3f}" in report.html


def test_study_level_report(ref: dict) -> None:
    studies = pd.DataFrame(ref["moderator"]["studies"]).drop(columns="ratio")
    rep = build_report(studies)
    assert rep.plan.kind == "studies"
    assert [s.key for s in rep.sections] == ["meta_analysis", "moderators"]
    c = _check(rep.html)
    _decode_all(c.images)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="missing columns"):
        detect(pd.DataFrame({"x": [1, 2]}))


def test_cli_writes_report(administrations: pd.DataFrame, tmp_path: Path) -> None:
    from bordin.cli import _register, app

    _register()
    src = tmp_path / "administrations.csv"
    # Labels with markup must come out escaped.
    d = administrations.copy()
    d["clinician"] = d["clinician"].str.replace("T0", "<b>T</b>", regex=False)
    d.to_csv(src, index=False)
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["analyze", str(tmp_path), "--report", str(out)])
    assert res.exit_code == 0, res.output
    assert "6 analyses" in res.output
    html = out.read_text(encoding="utf-8")
    assert "<b>T</b>" not in html and "&lt;b&gt;T&lt;/b&gt;" in html
    c = _check(html)
    _decode_all(c.images)
    bad = CliRunner().invoke(app, ["analyze", str(src), "--report", str(out), "--window", "x"])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, InputError) and bad.exception.field == "--window"


@pytest.mark.browser
def test_report_renders_in_chromium(report, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = os.environ.get("BORDIN_CHROMIUM", "/usr/bin/chromium")
    if not Path(exe).exists():
        pytest.skip("no chromium")
    page_file = report.write(tmp_path / "report.html")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == len(report.sections)
            assert all(w > 0 for w in widths)
            assert page.locator("h2").count() >= 6
            # Nothing but the file itself (and its inline data: images) was requested.
            assert all(u.startswith(("file:", "data:")) for u in requests), requests
        finally:
            browser.close()
