"""Pathway feedback, the suggestions file, and the discrepancy signal."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bordin.errors import InputError
from bordin.monitor import detect_ruptures, discrepancy, feedback_for
from bordin.monitor.feedback import route, suggestions


@pytest.mark.parametrize(
    ("alert", "pathways", "first"),
    [
        ({"kind": "rupture", "scale": "bond", "state": "open"}, ("CARE",),
         "talk_about_relationship"),
        ({"kind": "rupture", "scale": "goal", "state": "unrepaired"},
         ("EXPECTANCY", "SPECIFIC"), "renegotiate_goals"),
        ({"kind": "rupture", "scale": "task", "state": "open"}, ("EXPECTANCY", "SPECIFIC"),
         "renegotiate_tasks"),
        ({"kind": "rupture", "scale": "total", "state": "open"},
         ("CARE", "EXPECTANCY", "SPECIFIC"), "talk_about_relationship"),
        ({"kind": "rupture", "scale": "bond", "state": "repaired"}, ("CARE",),
         "keep_what_repaired"),
        ({"kind": "not_on_track"}, ("EXPECTANCY", "SPECIFIC"), "review_progress_together"),
        ({"kind": "risk", "scale": "phq9_9"}, ("RISK",), "assess_risk_now"),
        ({"kind": "discrepancy", "scale": "bond"}, ("CARE",), "compare_views"),
        ({"kind": "ceiling", "scale": "total"}, ("CARE",), "ask_for_honest_feedback"),
        # A subscale of another instrument falls back to the total's advice.
        ({"kind": "rupture", "scale": "credibility", "state": "open"},
         ("CARE", "EXPECTANCY", "SPECIFIC"), "talk_about_relationship"),
    ],
)
def test_routes(alert: dict, pathways: tuple, first: str) -> None:
    fb = feedback_for(alert)
    assert fb.pathways == pathways
    assert fb.suggestions[0].id == first
    assert fb.immediate == (alert["kind"] == "risk")
    assert all(s.citations for s in fb.suggestions)
    json.dumps(fb.to_dict())


def test_feedback_for_an_event_and_a_frame_row() -> None:
    ev = detect_ruptures([16, 17, 16, 17, 10, 17], rule="personal_sd", scale="bond")
    assert feedback_for(ev[0]).pathways == ("CARE",)
    row = pd.Series({"kind": "rupture", "scale": "goal", "state": "open"})
    assert feedback_for(row).pathways == ("EXPECTANCY", "SPECIFIC")
    with pytest.raises(InputError):
        feedback_for({"scale": "bond"})
    with pytest.raises(InputError):
        route("bogus")


def test_every_suggestion_is_routed_and_cited() -> None:
    table = suggestions()
    routed = set()
    for kind in ("rupture", "discrepancy", "ceiling", "not_on_track", "risk"):
        for scale in ("total", "goal", "task", "bond"):
            for state in ("open", "repaired", "unrepaired"):
                routed |= set(route(kind, scale, state)[1])
    assert routed == set(table)
    for s in table.values():
        assert 40 < len(s.text) < 300 and s.sources


def test_discrepancy_signal() -> None:
    patient = pd.Series([40, 41, 35, 42], index=[1, 2, 3, 5])
    clinician = pd.Series([41, 44, 45, 40, 41], index=[1, 2, 3, 4, 5])
    sig = discrepancy(patient, clinician, threshold=2.5)
    assert sig.flagged == [2, 3]  # 44-41 = 3 and 45-35 = 10; session 4 unpaired
    assert list(sig.table["difference"]) == [1.0, 3.0, 10.0, -1.0]
    either = discrepancy(patient, clinician, threshold=0.5, direction="either")
    assert either.flagged == [1, 2, 3, 5]
    json.dumps(sig.to_dict())
    with pytest.raises(InputError):
        discrepancy(patient, clinician, threshold=-1)
    with pytest.raises(InputError):
        discrepancy(patient, clinician, threshold=1, direction="up")
