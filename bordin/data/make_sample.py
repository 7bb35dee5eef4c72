"""Build the sample clinic shipped in ``bordin/data/sample`` (run to regenerate).

A small, hand-made, invented clinic: two organizations, four therapists,
twelve patients with one episode each, six to ten weekly sessions. Every
session has the patient's WAI-SR, PHQ-9 and GAD-7; two of the episodes also
have the therapist's WAI-SR. The courses are written below by hand, as
per-session subscale and total scores, and spread over the items by a fixed
rule, so the files are reproducible. They include:

* ``E03``: a rupture in session 4 (bond and task fall) repaired by session 6;
* ``E06``: a late rupture that is not repaired, and symptoms that worsen;
* ``E07``: a patient who endorses PHQ-9 item 9 (thoughts of death or self-harm);
* ``E05``: one PHQ-9 with a skipped item (scored by proration);
* ``E09``: an internet programme rated as the alliance target;
* ``E12``: a patient who stops after four sessions.

Nothing here describes a real person.

Run ``python -m bordin.data.make_sample`` to rewrite the CSV files.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd

OUT = Path(__file__).with_name("sample")

ORGANIZATIONS = [
    ("NORTH", "Northside Community Mental Health Service"),
    ("RIVER", "Riverside Psychotherapy Centre"),
]
CLINICIANS = [
    ("T01", "NORTH", "therapist"),
    ("T02", "NORTH", "therapist"),
    ("T03", "RIVER", "therapist"),
    ("T04", "RIVER", "therapist"),
]

# episode, patient, therapist, organization, treatment, format, diagnosis, start,
# WAI-SR per session as (goal, task, bond) subscale sums (each 4..20),
# PHQ-9 totals, GAD-7 totals, therapist WAI-SR totals or None.
COURSES = [
    ("E01", "P01", "T01", "NORTH", "CBT", "individual", "F32.1", date(2024, 1, 8),
     [(15, 15, 16), (16, 16, 17), (16, 17, 17), (17, 17, 18), (17, 18, 18), (18, 18, 18),
      (18, 18, 19), (18, 19, 19)],
     [18, 16, 15, 13, 11, 9, 7, 6], [12, 11, 10, 9, 8, 6, 5, 4], None),
    ("E02", "P02", "T01", "NORTH", "CBT", "individual", "F41.1", date(2024, 1, 15),
     [(12, 12, 14), (13, 13, 14), (13, 14, 15), (14, 14, 15), (14, 15, 15), (15, 15, 16),
      (15, 15, 16)],
     [11, 11, 10, 9, 9, 8, 7], [16, 15, 14, 12, 11, 10, 8], None),
    # Rupture in session 4 (bond and task drop), repaired by session 6.
    ("E03", "P03", "T01", "NORTH", "psychodynamic", "individual", "F33.1", date(2024, 1, 22),
     [(15, 15, 17), (16, 16, 17), (16, 16, 18), (12, 10, 11), (14, 13, 14), (17, 17, 18),
      (17, 18, 19), (18, 18, 19), (18, 19, 19), (19, 19, 20)],
     [20, 19, 17, 18, 16, 13, 11, 9, 8, 7], [14, 13, 12, 14, 12, 10, 8, 7, 6, 5],
     [46, 47, 48, 44, 46, 50, 51, 52, 52, 53]),
    ("E04", "P04", "T02", "NORTH", "behavioural activation", "individual", "F32.1",
     date(2024, 2, 5),
     [(9, 10, 11), (10, 10, 11), (9, 10, 12), (10, 11, 11), (10, 10, 12), (11, 10, 12)],
     [17, 17, 16, 17, 16, 16], [11, 12, 11, 11, 12, 11], None),
    # One PHQ-9 with a skipped item (session 4, item 5).
    ("E05", "P05", "T02", "NORTH", "CBT", "individual", "F41.0", date(2024, 2, 12),
     [(14, 14, 15), (15, 15, 16), (15, 16, 16), (16, 16, 17), (16, 17, 17), (17, 17, 17),
      (17, 17, 18), (17, 18, 18)],
     [12, 12, 11, 10, 9, 8, 7, 6], [15, 14, 13, 11, 10, 9, 7, 6], None),
    # A late rupture that is not repaired; symptoms worsen.
    ("E06", "P06", "T02", "NORTH", "CBT", "individual", "F43.1", date(2024, 2, 19),
     [(15, 15, 16), (16, 15, 16), (16, 16, 17), (16, 16, 17), (15, 15, 16), (11, 10, 12),
      (10, 10, 11), (10, 9, 11), (9, 9, 10)],
     [14, 13, 13, 12, 13, 15, 17, 19, 20], [13, 12, 12, 12, 13, 14, 16, 17, 18],
     [48, 48, 49, 50, 48, 47, 47, 46, 46]),
    # PHQ-9 item 9 endorsed in sessions 1 to 3.
    ("E07", "P07", "T03", "RIVER", "IPT", "individual", "F32.2", date(2024, 1, 10),
     [(14, 14, 16), (15, 15, 16), (15, 15, 17), (16, 16, 17), (16, 16, 18), (17, 17, 18),
      (17, 17, 18), (17, 18, 19)],
     [23, 22, 20, 17, 15, 12, 10, 9], [15, 15, 13, 12, 11, 9, 8, 7], None),
    ("E08", "P08", "T03", "RIVER", "CBT", "individual", "F40.1", date(2024, 1, 17),
     [(17, 17, 18), (17, 18, 18), (18, 18, 19), (18, 18, 19), (18, 19, 19), (19, 19, 19)],
     [9, 8, 7, 6, 5, 4], [13, 12, 10, 8, 7, 5], None),
    # Internet programme: the programme is the alliance target.
    ("E09", "P09", "T03", "RIVER", "internet CBT", "internet", "F41.1", date(2024, 2, 1),
     [(13, 14, 10), (14, 14, 11), (14, 15, 11), (15, 15, 12), (15, 16, 12), (16, 16, 12),
      (16, 17, 13)],
     [10, 10, 9, 8, 7, 7, 6], [14, 13, 12, 11, 10, 9, 8], None),
    ("E10", "P10", "T04", "RIVER", "CBT", "individual", "F32.1", date(2024, 1, 24),
     [(16, 16, 17), (17, 17, 17), (17, 17, 18), (18, 18, 18), (18, 18, 19), (18, 19, 19),
      (19, 19, 19), (19, 19, 20)],
     [16, 14, 13, 11, 9, 8, 6, 5], [10, 9, 9, 7, 6, 5, 4, 4], None),
    ("E11", "P11", "T04", "RIVER", "CBT", "individual", "F33.1", date(2024, 2, 7),
     [(12, 12, 13), (12, 13, 13), (13, 13, 14), (13, 13, 14), (13, 14, 14), (14, 14, 14),
      (14, 14, 15), (14, 15, 15), (15, 15, 15)],
     [19, 19, 20, 19, 19, 18, 19, 18, 18], [14, 14, 15, 14, 14, 13, 14, 13, 13], None),
    # Stops after four sessions.
    ("E12", "P12", "T04", "RIVER", "CBT", "individual", "F41.1", date(2024, 2, 21),
     [(11, 11, 12), (11, 10, 11), (10, 10, 11), (10, 9, 10)],
     [13, 13, 14, 14], [17, 17, 18, 18], None),
]

WAI_SUBSCALES = {"task": (1, 2, 10, 12), "bond": (3, 5, 7, 9), "goal": (4, 6, 8, 11)}
RISK_SESSIONS = {("E07", 1): 1, ("E07", 2): 2, ("E07", 3): 1}
SKIPPED = {("E05", 4, "phq9"): 5}


def spread(total: int, n: int, lo: int, hi: int, turn: int) -> list[int]:
    """Split ``total`` over ``n`` items on ``lo..hi`` as evenly as possible.

    The remainder goes to items chosen by ``turn`` so the pattern varies
    from session to session.
    """
    if not n * lo <= total <= n * hi:
        raise ValueError(f"{total} cannot be split over {n} items of {lo}..{hi}")
    base, rest = divmod(total - n * lo, n)
    values = [lo + base] * n
    for k in range(rest):
        values[(turn + 5 * k) % n] += 1  # 5 is coprime to every n used
    return values


def build() -> dict[str, pd.DataFrame]:
    """The sample's tables."""
    episodes, administrations, responses = [], [], []
    adm_id = 0
    for (code, patient, therapist, org, treatment, fmt, dx, start, wai, phq, gad,
         wai_t) in COURSES:
        n = len(wai)
        end = start + timedelta(weeks=n - 1)
        episodes.append((code, patient, therapist, org, treatment, fmt, dx, start, end))
        for s in range(1, n + 1):
            day = start + timedelta(weeks=s - 1)
            at = datetime.combine(day, time(10 + s % 5, 50), tzinfo=UTC)
            goal, task, bond = wai[s - 1]
            items: dict[int, int] = {}
            for name, total in (("task", task), ("bond", bond), ("goal", goal)):
                for item, v in zip(WAI_SUBSCALES[name], spread(total, 4, 1, 5, s), strict=True):
                    items[item] = v
            target = "programme" if fmt == "internet" else "clinician"
            forms = [("wai_sr", "patient", None, target, items)]
            risk = RISK_SESSIONS.get((code, s), 0)
            phq_items = [*spread(phq[s - 1] - risk, 8, 0, 3, s), risk]
            forms.append(("phq9", "patient", None, None, dict(enumerate(phq_items, 1))))
            forms.append(("gad7", "patient", None, None,
                          dict(enumerate(spread(gad[s - 1], 7, 0, 3, s + 1), 1))))
            if wai_t is not None:
                t_items = spread(wai_t[s - 1], 12, 1, 5, s + 2)
                forms.append(("wai_sr_t", "clinician", therapist, "clinician",
                              dict(enumerate(t_items, 1))))
            for k, (inst, rater, rater_clin, tgt, answers) in enumerate(forms):
                adm_id += 1
                skip = SKIPPED.get((code, s, inst))
                administrations.append({
                    "administration_id": adm_id, "organization": org, "clinician": therapist,
                    "patient": patient, "episode": code, "session": s, "date": day,
                    "instrument": inst, "rater": rater, "target": tgt,
                    "rater_clinician": rater_clin,
                    "authored_at": (at + timedelta(minutes=k)).isoformat(),
                    "idempotency_key": f"sample-{code}-{s}-{inst}",
                })
                for item, value in answers.items():
                    responses.append({
                        "administration_id": adm_id, "item": f"{inst}_{item}",
                        "value": None if item == skip else value,
                    })
    return {
        "organizations": pd.DataFrame(ORGANIZATIONS, columns=["organization", "name"]),
        "clinicians": pd.DataFrame(CLINICIANS, columns=["clinician", "organization", "role"]),
        "episodes": pd.DataFrame(episodes, columns=[
            "episode", "patient", "clinician", "organization", "treatment", "format",
            "diagnosis", "start", "end"]),
        "administrations": pd.DataFrame(administrations),
        "responses": pd.DataFrame(responses).astype({"value": "Int64"}),
    }


def main() -> None:
    """Write the sample's CSV files."""
    OUT.mkdir(exist_ok=True)
    for name, df in build().items():
        df.to_csv(OUT / f"{name}.csv", index=False)


if __name__ == "__main__":
    main()
