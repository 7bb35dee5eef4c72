"""The supervisor view as a PDF: the same filters, the same numbers in the same order.

The PDF is read with pypdf: it decodes the embedded fonts' glyphs back to Unicode through
their ToUnicode maps, as a reader's search or copy and paste does.
"""

from __future__ import annotations

import html as html_lib
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath
from pypdf import PdfReader
from sqlalchemy import select

from bordin.store.db import init_db
from bordin.store.models.audit import AuditEvent
from bordin.store.models.core import Clinician, Episode, Organization
from bordin.web.app import create_app
from bordin.web.demo import seed_demo
from bordin.web.settings import WebSettings
from bordin.web.supervisor.pdf import filters_text, supervision_pdf
from bordin.web.supervisor.service import Filters, Supervision

SECRET = "pdf-test-secret-" + "x" * 40


def pdf_strings(data: bytes) -> list[str]:
    """Every string the pages draw, in drawing order: the text of each BT ... ET block.

    pypdf puts a space or a line break before a string by where it is on the page; those
    are dropped (no drawn string starts or ends with white space).
    """
    out: list[str] = []
    for page in PdfReader(io.BytesIO(data)).pages:
        parts: list[str] = []

        def before(op: bytes, *_: Any, parts: list[str] = parts) -> None:
            if op == b"BT":
                parts.clear()

        def after(op: bytes, *_: Any, parts: list[str] = parts) -> None:
            if op == b"ET":
                out.append("".join(parts).strip())

        def text(t: str, *_: Any, parts: list[str] = parts) -> None:
            parts.append(t)

        page.extract_text(visitor_operand_before=before, visitor_operand_after=after,
                          visitor_text=text)
    return out


def pdf_info(data: bytes, key: str) -> str:
    info = PdfReader(io.BytesIO(data)).metadata
    assert info is not None and f"/{key}" in info, f"no /{key} in the document information"
    return str(info[f"/{key}"])


def pdf_pages(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


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


def test_pdf_prints_codes_and_filters_in_any_script_as_text(env) -> None:
    # Clinics name clinicians, programmes and diagnoses in their own languages: none of
    # these characters is in Windows-1252, which the PDF core fonts print as "?".
    code, treatment, diagnosis, clinic = "Łódź-7", "Терапия", "Ψυχή", "Poradnia Łódź"
    with env.session() as db:
        db.get(Organization, env.world.ids["org_a"]).name = clinic
        ep = db.get(Episode, env.world.ids["episode_a"])
        ep.treatment, ep.diagnosis = treatment, diagnosis
        db.get(Clinician, ep.clinician_id).code = code
        db.commit()
    h = {"Authorization": f"Bearer {env.login('lead')}"}
    q = {"treatment": treatment, "diagnosis": diagnosis}
    r = env.client.get("/supervisor/export.pdf", params=q, headers=h)
    assert r.status_code == 200, r.text[:300]
    data = r.content
    filters = f"treatment {treatment}, format all, diagnosis {diagnosis}"
    assert pdf_info(data, "Title") == f"Bordin supervision: {filters}"
    text = pdf_strings(data)
    assert f"Clinic: {clinic}. Filters: {filters}. 5 ratings." in text
    # Alliance by therapist: the filtered episode's therapist, by code, as the page has it.
    summary = env.client.get("/api/v1/supervisor/summary", params=q, headers=h).json()
    rows = [[str(t["clinician"]), f"{t['mean']:.1f}", str(t["patients"]), str(t["ratings"])]
            for t in summary["by_therapist"]]
    assert [r[0] for r in rows] == [code]
    assert _in_order(text, [["Therapist", "Mean", "Patients", "Ratings"], *rows]), text
    assert f"Bordin supervision · {filters} · page 1" in text


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


def test_paragraphs_in_wide_scripts_wrap_within_the_text_width() -> None:
    # DejaVu Sans sets Cyrillic, Greek and capitals wider than Latin lower case: a
    # hundred characters of Cyrillic are wider than the page's text width.
    clinic = ("Психотерапевтический центр «Надежда» при областной клинической больнице "
              "имени Ивана Петровича Павлова")
    f = Filters(treatment="Когнитивно-поведенческая терапия", diagnosis="ΨΥΧΙΚΗ ΥΓΕΙΑ")
    data = supervision_pdf(Supervision(), f, organization=clinic,
                           generated_at=datetime(2026, 1, 5, tzinfo=UTC))
    text = pdf_strings(data)
    lines = text[text.index("Supervision") + 1:
                 next(i for i, t in enumerate(text) if t.startswith("Generated "))]
    assert " ".join(lines) == f"Clinic: {clinic}. Filters: {filters_text(f)}. 0 ratings."
    assert len(lines) >= 2
    room = (8.27 - 2 * 0.75) * 72  # A4 less the margins, in points
    prop = FontProperties(family="DejaVu Sans", size=9.5)
    widths = [TextToPath().get_text_width_height_descent(t, prop, ismath=False)[0]
              for t in lines]
    assert max(widths) <= room, list(zip(lines, widths, strict=True))
