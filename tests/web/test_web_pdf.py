"""The supervisor view as a PDF: the same filters, the same numbers in the same order.

pypdf is not a dependency, so the PDF is read here with the standard library: the
document information dictionary is uncompressed, and the page text (set in the PDF
core fonts) is in the Flate-compressed content streams as literal strings.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bordin.store.db import init_db
from bordin.store.models.audit import AuditEvent
from bordin.web.app import create_app
from bordin.web.demo import seed_demo
from bordin.web.settings import WebSettings

SECRET = "pdf-test-secret-" + "x" * 40
_ESC = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(s: bytes) -> str:
    def one(m: re.Match[bytes]) -> bytes:
        c = m.group(1)
        if c[:1].isdigit():
            return bytes([int(c, 8)])
        return _ESC.get(c, c)
    return re.sub(rb"\\([0-7]{1,3}|.)", one, s, flags=re.S).decode("cp1252")


def pdf_strings(data: bytes) -> list[str]:
    """Every string the pages draw, in drawing order."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(m.group(1))
        except zlib.error:
            continue  # an image or font program, not a page's content
        out += [_unescape(s) for s in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content, re.S)]
    return out


def pdf_info(data: bytes, key: str) -> str:
    m = re.search(rb"/" + key.encode() + rb" \(((?:\\.|[^\\)])*)\)", data, re.S)
    assert m, f"no /{key} in the document information"
    return _unescape(m.group(1))


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def test_pdf_of_the_supervisor_view_names_its_filters_and_is_audited(env) -> None:
    h = {"Authorization": f"Bearer {env.login('lead')}"}
    q = {"treatment": "CBT", "format": "individual"}
    r = env.client.get("/supervisor/export.pdf", params=q, headers=h)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'attachment; filename="bordin-supervision.pdf"'
    data = r.content
    assert data.startswith(b"%PDF-")
    assert pdf_info(data, "Title") == ("Bordin supervision: treatment CBT, format individual, "
                                       "diagnosis all")
    assert pdf_pages(data) >= 1
    text = pdf_strings(data)
    assert "Supervision" in text
    assert "Clinic: Clinic A. Filters: treatment CBT, format individual, diagnosis all. 5 " \
           "ratings." in text
    # Clinic A's CBT patients have one therapist: the page's note, word for word.
    assert any(t.startswith("Therapist effects need at least 3 therapists") for t in text)
    assert "Ruptures and repair" in text and "Trend" in text
    with env.session() as db:
        ev = db.scalars(select(AuditEvent).where(
            AuditEvent.route == "GET /supervisor/export.pdf")).all()
    assert [(e.action, e.outcome, e.resource_type) for e in ev] == [
        ("export", "success", "supervision")]
    assert ev[0].detail == {"treatment": "CBT", "format": "individual", "instrument": "wai_sr"}


@pytest.mark.parametrize("who", ["own", "research"])
def test_other_roles_get_404(sqlite_env, who: str) -> None:
    h = {"Authorization": f"Bearer {sqlite_env.login(who)}"}
    r = sqlite_env.client.get("/supervisor/export.pdf", headers=h)
    assert r.status_code == 404
    assert not r.content.startswith(b"%PDF")


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict]]:
    """A simulated clinic large enough for therapist effects."""
    engine = init_db(f"sqlite:///{tmp_path_factory.mktemp('pdf') / 'demo.sqlite'}")
    app = create_app(WebSettings(env="test", secret_key=SECRET), engine=engine)
    with app.state.sessions() as db:
        logins = seed_demo(db, n_episodes=30)
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    name, password = logins.users["supervisor"]
    r = client.post("/api/v1/auth/login", json={"username": name, "password": password})
    yield client, {"Authorization": f"Bearer {r.json()['token']}"}
    engine.dispose()


def _page_effects(page: str) -> list[list[str]]:
    section = page.split('id="therapist-effects"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[html_lib.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def _in_order(text: list[str], rows: list[list[str]]) -> bool:
    """Whether each row's cells are consecutive strings of ``text``, rows in order."""
    at = 0
    for row in rows:
        for i in range(at, len(text) - len(row) + 1):
            if text[i:i + len(row)] == row:
                at = i + len(row)
                break
        else:
            return False
    return True


def test_pdf_shows_the_pages_effects_rates_and_trend_in_the_pages_order(clinic) -> None:
    client, h = clinic
    q = {"format": "individual"}
    page = client.get("/supervisor", params=q, headers=h)
    assert page.status_code == 200
    rows = _page_effects(page.text)
    assert len(rows) >= 3, "the clinic is meant to have therapist effects"
    summary: dict[str, Any] = client.get("/api/v1/supervisor/summary", params=q,
                                         headers=h).json()
    data = client.get("/supervisor/export.pdf", params=q, headers=h).content
    text = pdf_strings(data)
    assert pdf_info(data, "Title") == ("Bordin supervision: treatment all, format individual, "
                                       "diagnosis all")
    # Therapist effects: the page's table, row by row, in its (non-ranked) order.
    assert _in_order(text, rows), json.dumps(rows[:3])
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # by code, never by effect
    # Rates: the same sentence as the page.
    rates = re.search(r'<h2 id="rr-h">Ruptures and repair</h2>\s*<p>(.*?)</p>', page.text,
                      re.S).group(1)
    assert html_lib.unescape(rates) in text
    # The trend: every month with its mean and count.
    trend = [[t["month"], f"{t['mean']:.1f}", str(t["ratings"])] for t in summary["trend"]]
    assert trend and _in_order(text, trend)
    assert pdf_pages(data) >= 2
