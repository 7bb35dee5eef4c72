import dataclasses

import pytest

import bordin.simulate as sim
from bordin.errors import InputError
from bordin.simulate.parameters import PRESETS, Parameters, Schedule, preset


def test_every_parameter_is_documented_with_its_calibration_source() -> None:
    table = Parameters.describe()
    assert len(table) == len(dataclasses.fields(Parameters))
    for row in table.itertuples():
        assert len(row.controls) > 15, row.parameter
        assert row.calibrated_to, row.parameter


def test_presets_exist_and_differ() -> None:
    assert {"clinic", "baldwin2007", "ipd17"} <= set(PRESETS)
    b = preset("baldwin2007")
    assert b.n_episodes == 331 and b.therapists_per_organization == 80
    assert b.patient_alliance_weight == 0.0
    i = preset("ipd17")
    assert i.n_organizations == 17 and i.fixed_sessions == 7
    assert i.symptom_to_alliance > 0 and i.alliance_dynamic_weight > 0


def test_overrides_merge_pair_fields_and_keep_the_rest() -> None:
    p = preset("clinic", sessions_mean={"group": 20.0}, n_episodes=10)
    assert p.mapping("sessions_mean")["group"] == 20.0
    assert p.mapping("sessions_mean")["individual"] == Parameters().mapping("sessions_mean")[
        "individual"]
    assert p.n_episodes == 10
    assert p.to_dict()["n_episodes"] == 10


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"n_episodes": 0}, "n_episodes"),
        ({"n_episodes": 2.5}, "n_episodes"),
        ({"rupture_rate": 1.5}, "rupture_rate"),
        ({"care_effect": "big"}, "care_effect"),
        ({"care_effect": float("nan")}, "care_effect"),
        ({"patient_alliance_sd": -1.0}, "patient_alliance_sd"),
        ({"no_such_parameter": 1}, "overrides"),
        ({"format_probabilities": {"individual": 0.5}}, "format_probabilities"),
        ({"diagnosis_probabilities": {"depression": 0.5, "anxiety": 0.2, "ptsd": 0.1,
                                      "eating": 0.1, "substance": 0.1, "borderline_pd": 0.1,
                                      "other_pd": 0.1}}, "diagnosis_probabilities"),
        ({"fixed_sessions": 99}, "fixed_sessions"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"schedule": ()}, "schedule"),
        ({"rate_bounds": (0.5, 0.1)}, "rate_bounds"),
    ],
)
def test_bad_values_raise_input_error_naming_the_field(overrides, field) -> None:
    with pytest.raises(InputError) as err:
        preset("clinic", **overrides)
    assert err.value.field == field
    assert "expected" in str(err.value)


def test_bad_preset_seed_and_schedule_entries() -> None:
    with pytest.raises(InputError) as err:
        sim.clinic("nope")
    assert err.value.field == "preset"
    with pytest.raises(InputError) as err:
        sim.clinic(seed=-1, n_episodes=5)
    assert err.value.field == "seed"
    with pytest.raises(InputError) as err:
        Schedule("phq9", "mood")
    assert err.value.field == "latent"
    with pytest.raises(InputError) as err:
        Schedule("phq9", "symptoms", sessions=(0,))
    assert err.value.field == "sessions"
    with pytest.raises(InputError) as err:
        Schedule("phq9", "symptoms", formats=("yoga",))
    assert err.value.field == "formats"
    with pytest.raises(InputError) as err:
        sim.clinic(n_episodes=5, schedule=(Schedule("oq45", "symptoms"),))
    assert err.value.field == "instrument"


def test_parameters_are_frozen() -> None:
    p = Parameters()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.n_episodes = 3  # type: ignore[misc]
