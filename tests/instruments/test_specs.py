"""Every bundled spec loads and is internally consistent; bad specs fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bordin.errors import InputError
from bordin.instruments import LOCAL_CODE_SYSTEM, InstrumentRegistry, load_spec, registry
from bordin.instruments.library import SPEC_DIR

EXPECTED = {
    "calpas", "ceq", "core10", "fis", "gad7", "haq2_patient", "haq2_therapist", "ors",
    "phq9", "srs", "wai_sr", "wai_sr_o", "wai_sr_t", "wai_tech_sf", "who5",
}


def _loinc_check_digit(body: str) -> int:
    # LOINC mod-10: double the number formed by the odd-position digits (from the
    # right), prefix the even-position digits, sum all digits, complement to 10.
    digits = body[::-1]
    odd = int(digits[0::2][::-1])
    even = digits[1::2][::-1]
    total = sum(int(c) for c in even + str(odd * 2))
    return (10 - total % 10) % 10


def test_registry_lists_every_spec_sorted() -> None:
    assert set(registry.ids()) == EXPECTED
    assert registry.ids() == sorted(registry.ids())
    assert [s.id for s in registry.all()] == registry.ids()
    assert registry.get("PHQ-9").id == "phq9" and "wai-sr" in registry


@pytest.mark.parametrize("sid", sorted(EXPECTED))
def test_spec_is_consistent(sid: str) -> None:
    spec = registry.get(sid)
    assert spec.references, "every spec cites its sources"
    assert all(len(it.label) <= 80 for it in spec.items)
    lo, hi = spec.range
    assert lo < hi
    for members in spec.subscales.values():
        assert set(members) <= set(spec.item_ids)
    if spec.kind == "outcome":
        assert spec.target is None
    else:
        assert spec.target is not None
    if spec.codes.system == "http://loinc.org":
        codes = [spec.codes.panel, spec.codes.total, *(it.code for it in spec.items)]
        for code in filter(None, codes):
            body, check = code.split("-")
            assert _loinc_check_digit(body) == int(check), code
    else:
        assert spec.codes.system == LOCAL_CODE_SYSTEM


def test_loinc_check_digit_rejects_a_typo() -> None:
    # 69689-8 is the GAD-7 irritability item; 69689-6 (a typo seen in the wild) fails.
    assert _loinc_check_digit("69689") == 8


def test_known_structural_facts() -> None:
    assert registry.get("phq9").risk_items == ("phq9_9",)
    assert registry.get("core10").risk_items == ("core10_6",)
    assert registry.get("core10").reverse_items == ("core10_2", "core10_3")
    assert registry.get("haq2_patient").reverse_items == tuple(
        f"haq2_patient_{i}" for i in (4, 8, 11, 16, 19)
    )
    wai = registry.get("wai_sr")
    assert wai.subscales == {
        "task": ("wai_sr_1", "wai_sr_2", "wai_sr_10", "wai_sr_12"),
        "bond": ("wai_sr_3", "wai_sr_5", "wai_sr_7", "wai_sr_9"),
        "goal": ("wai_sr_4", "wai_sr_6", "wai_sr_8", "wai_sr_11"),
    }
    assert registry.get("wai_tech_sf").target == "programme"
    assert registry.get("wai_sr_o").raters == ("observer",)
    assert registry.get("fis").raters == ("observer",) and len(registry.get("fis").items) == 8
    assert registry.get("srs").licence_required and registry.get("ors").licence_required
    assert registry.get("phq9").codes.panel == "44249-1"
    assert registry.get("phq9").codes.total == "44261-6"
    assert registry.get("gad7").codes.total == "70274-6"
    assert registry.get("who5").derived == {"percentage": 4.0}


def test_gad7_item_2_has_loincs_own_answer_code() -> None:
    # LOINC's GAD-7 form (HL7 PCO IG Questionnaire-GAD7.json) codes item 2's value 2 as
    # LA18938-3 "More days than not"; every other item and point keeps the shared list.
    gad7 = registry.get("gad7")
    shared = {0: "LA6568-5", 1: "LA6569-3", 2: "LA6570-1", 3: "LA6571-9"}
    assert gad7.codes.answers == shared
    assert gad7.answer_codes("gad7_2") == {**shared, 2: "LA18938-3"}
    assert gad7.answer_codes("2") == gad7.answer_codes("gad7_2")
    for n in (1, 3, 4, 5, 6, 7):
        assert gad7.answer_codes(f"gad7_{n}") == shared
    phq9 = registry.get("phq9")
    assert all(phq9.answer_codes(i) == shared for i in phq9.item_ids)


def test_item_answer_codes_need_a_source_for_codes(tmp_path: Path) -> None:
    data = _phq9_raw()
    data["items"][1]["answer_codes"] = {2: "LA18938-3"}
    for ref in data["references"]:
        ref["supports"] = [f for f in ref.get("supports", []) if f != "codes"]
    with pytest.raises(InputError, match=r"facts \['codes'\] are neither supported"):
        load_spec(_write(tmp_path, data))
    data["verify"] = [*data.get("verify", []), "codes"]
    assert load_spec(_write(tmp_path, data)).answer_codes("phq9_2")[2] == "LA18938-3"


def _write(tmp_path: Path, data: dict, name: str = "phq9") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _phq9_raw() -> dict:
    return yaml.safe_load((SPEC_DIR / "phq9.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda d: d["scale"].update({"min": 3, "max": 0}), "items[phq9_1].scale", "greater"),
        (lambda d: d.update({"scoring": "median"}), "scoring", "sum"),
        (lambda d: d.update({"subscales": {"x": [1, 42]}}), "spec", "unknown items"),
        (lambda d: d["items"][1].update({"reverse": True}), "spec", "reverse"),
        (lambda d: d.update({"bands": [[0, 4, "a"], [4, 27, "b"]]}), "spec", "overlaps"),
        (lambda d: d.update({"cutoff": 99}), "spec", "outside the range"),
        (lambda d: d.update({"kind": "mood"}), "kind", "alliance"),
        (lambda d: d.update({"verify": ["colour"]}), "spec", "unknown facts"),
        (lambda d: d["items"][1].update({"answer_codes": {4: "LA18938-3"}}),
         "items[phq9_2]", "outside the item's scale"),
        (lambda d: d["items"][1].update({"answer_codes": {2: "LA6571-9"}}),
         "spec", "stand for two scale points"),
        (lambda d: (d["items"][1].update({"answer_codes": {2: "LA18938-3"}}),
                    d["codes"].update({"answers": {}})), "spec", "codes.answers is empty"),
        (lambda d: d["items"][1].update({"answer_codes": {2: 5}}),
         "items[phq9_2].answer_codes[2]", "string"),
    ],
)
def test_invalid_spec_names_file_and_field(tmp_path: Path, mutate, field: str, words: str) -> None:
    data = _phq9_raw()
    mutate(data)
    with pytest.raises(InputError) as err:
        load_spec(_write(tmp_path, data))
    assert err.value.context == "spec phq9.yaml"
    assert err.value.field == field
    assert words in str(err.value)


def test_spec_file_name_must_match_id(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file name"):
        load_spec(_write(tmp_path, _phq9_raw(), name="other"))


def test_unreadable_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(InputError, match="readable YAML"):
        load_spec(path)


def test_registry_of_a_folder_fails_on_first_bad_spec(tmp_path: Path) -> None:
    data = _phq9_raw()
    data["items"][0]["label"] = ""
    _write(tmp_path, data)
    with pytest.raises(InputError) as err:
        InstrumentRegistry(tmp_path).ids()
    assert err.value.field == "items[phq9_1].label"
