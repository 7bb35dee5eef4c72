"""``bordin demo``: load the sample clinic into an embedded database and summarise it."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from bordin.cli import app
from bordin.errors import BordinError

if TYPE_CHECKING:  # pandas is imported when the command runs, not when the CLI starts
    import pandas as pd

__all__ = ["demo", "patient_summary", "therapist_summary"]

ALLIANCE = "wai_sr"
SYMPTOMS = ("phq9", "gad7")
SUBSCALES = ("goal", "task", "bond")


def _fmt(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def therapist_summary(adm: pd.DataFrame) -> pd.DataFrame:
    """Patient-rated alliance per therapist: mean total and goal/task/bond.

    Each patient's mean over sessions is taken first, then the mean over the
    therapist's patients, so a patient seen more often does not weigh more.
    """
    wai = adm[(adm["instrument"] == ALLIANCE) & (adm["rater"] == "patient")]
    per_patient = wai.groupby(["organization", "clinician", "patient"])[
        ["total", *SUBSCALES]
    ].mean()
    out = per_patient.groupby(["organization", "clinician"]).mean()
    out["patients"] = per_patient.groupby(["organization", "clinician"]).size()
    out["administrations"] = wai.groupby(["organization", "clinician"]).size()
    return out.reset_index()


def patient_summary(adm: pd.DataFrame) -> pd.DataFrame:
    """Per episode: alliance first and last, symptom change with its category, flags."""
    import pandas as pd

    from bordin.instruments import reliable_change

    rows = []
    for (episode, patient, clinician), g in adm.groupby(["episode", "patient", "clinician"]):
        row: dict[str, Any] = {"episode": episode, "patient": patient, "clinician": clinician,
                               "sessions": int(g["session"].max())}
        wai = g[(g["instrument"] == ALLIANCE) & (g["rater"] == "patient")].sort_values("session")
        if not wai.empty:
            first, last = wai.iloc[0], wai.iloc[-1]
            row["alliance_first"] = first["total"]
            row["alliance_last"] = last["total"]
            for sub in SUBSCALES:
                row[sub] = last[sub]
            row["ruptures"] = _ruptures(wai)
        for inst in SYMPTOMS:
            s = g[g["instrument"] == inst].sort_values("session")
            if len(s) >= 2:
                rc = reliable_change(inst, before=float(s["total"].iloc[0]),
                                     after=float(s["total"].iloc[-1]))
                row[f"{inst}_first"] = rc.before
                row[f"{inst}_last"] = rc.after
                row[f"{inst}_change"] = rc.category
        row["risk"] = _risk_words(g)
        rows.append(row)
    return pd.DataFrame(rows)


def _risk_words(g: pd.DataFrame) -> str:
    """Endorsed risk items of one episode, as "phq9 item 9 (s1, s2, s3)"."""
    sessions: dict[str, list[int]] = {}
    for r in g[g["risk_items"].fillna("") != ""].itertuples():
        for item in str(r.risk_items).split(";"):
            label = item.replace(f"{r.instrument}_", f"{r.instrument} item ")
            sessions.setdefault(label, []).append(int(r.session))
    return "; ".join(
        f"{label} (s{', s'.join(map(str, sorted(s)))})"
        for label, s in sessions.items()
    )


def _ruptures(wai: pd.DataFrame) -> str:
    """Rupture events on one patient's WAI-SR total, in words.

    ``detect_ruptures`` on a single series, with its own default (personal SD, k=2):
    the clinic-wide default of the monitor (the combined rule) needs the clinic's
    between-patient SD, which one series does not give.
    """
    try:
        from bordin.monitor import detect_ruptures

        events = detect_ruptures(wai.set_index("session")["total"])
    except (ImportError, BordinError):
        return ""
    words = []
    for e in events:
        state = getattr(e, "state", "")
        if state == "repaired":
            words.append(f"rupture s{e.start} → repaired s{e.repaired_at}")
        else:
            words.append(f"rupture s{e.start} ({state or 'open'})")
    return "; ".join(words)


def _render(console: Console, adm: pd.DataFrame, where: str, counts: dict[str, int]) -> None:
    console.print(Panel.fit(
        f"[bold]Bordin demo[/bold]: the sample clinic, loaded and scored\n"
        f"{counts['organizations']} organizations, {counts['therapists']} therapists, "
        f"{counts['patients']} patients, {counts['sessions']} sessions, "
        f"{counts['administrations']} questionnaires\n"
        f"database: {where}",
    ))

    th = therapist_summary(adm)
    t = Table(title="Alliance by therapist (WAI-SR, patient-rated; mean of patients' means)")
    for col, just in (("organization", "left"), ("therapist", "left"), ("patients", "right"),
                      ("total (12–60)", "right"), ("goal (4–20)", "right"),
                      ("task (4–20)", "right"), ("bond (4–20)", "right")):
        t.add_column(col, justify=just)
    for r in th.itertuples():
        t.add_row(r.organization, r.clinician, str(r.patients), _fmt(r.total), _fmt(r.goal),
                  _fmt(r.task), _fmt(r.bond))
    console.print(t)

    ps = patient_summary(adm)
    p = Table(title="Patients: alliance course (WAI-SR), symptom change with its "
                    "Jacobson–Truax category, flags")
    for col in ("patient", "therapist", "sessions", "WAI-SR", "goal/task/bond (last)",
                "PHQ-9", "GAD-7", "alliance flags", "risk items"):
        p.add_column(col)
    styles = {"recovered": "green", "improved": "green", "unchanged": "yellow",
              "deteriorated": "red"}
    for r in ps.to_dict("records"):
        def change(inst: str, rec: dict[str, Any] = r) -> str:
            c = rec.get(f"{inst}_change")
            if not isinstance(c, str):
                return "–"
            arrow = f"{_fmt(rec.get(inst + '_first'), 0)}→{_fmt(rec.get(inst + '_last'), 0)}"
            return f"{arrow} [{styles.get(c, 'white')}]{c}[/]"

        p.add_row(
            r["patient"], r["clinician"], str(r["sessions"]),
            f"{_fmt(r.get('alliance_first'), 0)}→{_fmt(r.get('alliance_last'), 0)}",
            "/".join(_fmt(r.get(s), 0) for s in SUBSCALES),
            change("phq9"), change("gad7"),
            r.get("ruptures") or "",
            f"[bold red]{r['risk']}[/]" if r.get("risk") else "",
        )
    console.print(p)
    flagged = ps[ps["risk"] != ""]
    if not flagged.empty:
        console.print(
            f"[bold red]Risk:[/] {len(flagged)} patient(s) endorsed a risk item "
            "(PHQ-9 item 9: thoughts of death or self-harm); follow the clinic's safety "
            "protocol."
        )
    console.print(
        "Reliable change compares the first and last scores with each instrument's "
        "published criterion; 'recovered' also crosses the clinical cutoff."
    )


@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Folder for the demo database (default: $BORDIN_DATA_DIR or ./data).",
        show_default=False)] = None,
) -> None:
    """Load the sample clinic into an SQLite database, score it and print a summary.

    Running it again reuses the database: the sample is stored once (its
    idempotency keys make a second load add nothing).
    """
    from bordin.data import sample_dir
    from bordin.exchange.tidy import import_tidy
    from bordin.store.db import data_dir as default_data_dir
    from bordin.store.db import init_db, session_factory
    from bordin.store.queries import administrations_frame

    folder = (data_dir or default_data_dir()).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bordin.sqlite"
    engine = init_db(f"sqlite:///{path}")
    try:
        factory = session_factory(engine)
        with factory() as db:
            import_tidy(db, sample_dir())
        with factory() as db:
            adm = administrations_frame(db)
    finally:
        engine.dispose()
    counts = {
        "organizations": adm["organization"].nunique(),
        "therapists": adm["clinician"].nunique(),
        "patients": adm["patient"].nunique(),
        "sessions": len(adm[["episode", "session"]].drop_duplicates()),
        "administrations": len(adm),
    }
    width = None if os.environ.get("COLUMNS") else 160
    _render(Console(width=width), adm, str(path), counts)
