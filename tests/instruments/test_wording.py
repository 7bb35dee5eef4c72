"""Licensed wording: validated against the specs, stored under the data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bordin.errors import InputError
from bordin.instruments import load_wording, registry


def _yaml(tmp_path: Path, body: object, name: str = "wording.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return path


def _gad7(language: str = "en") -> dict:
    # Placeholder texts: the test never needs the official wording.
    return {
        "instrument": "gad7",
        "language": language,
        "source": "test licence",
        "items": {i: f"licensed text {i} ({language})" for i in range(1, 8)},
        "anchors": {0: "zero", 3: "three"},
    }


def test_yaml_round_trip_and_lookup(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stored = load_wording(_yaml(tmp_path, [_gad7("en"), _gad7("de")]), data_dir=data)
    assert [(w.instrument, w.language) for w in stored] == [("gad7", "en"), ("gad7", "de")]
    assert stored[0].path == data / "wording" / "gad7" / "en.yaml"
    spec = registry.get("gad7")
    assert spec.wording(language="de", data_dir=data)["gad7_3"] == "licensed text 3 (de)"
    assert spec.item_text("4", language="en", data_dir=data) == "licensed text 4 (en)"
    # Without loaded wording the label (Bordin's paraphrase) is used.
    assert spec.item_text("4", language="fr", data_dir=data) == spec.item("gad7_4").label


def test_csv_and_env_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BORDIN_DATA_DIR", str(tmp_path / "env"))
    rows = ["instrument,language,item,text"]
    rows += [f"who5,pt-BR,who5_{i},texto {i}" for i in range(1, 6)]
    path = tmp_path / "w.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    (w,) = load_wording(path)
    assert w.path == tmp_path / "env" / "wording" / "who5" / "pt-BR.yaml"
    assert registry.get("who5").wording(language="pt-BR")["who5_5"] == "texto 5"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda b: b["items"].update({9: "extra"}), "9", "an item of gad7"),
        (lambda b: b["items"].pop(7), "items", "missing gad7_7"),
        (lambda b: b["items"].update({2: "  "}), "gad7_2", "non-empty text"),
        (lambda b: b.update({"language": "English"}), "language", "language tag"),
        (lambda b: b.update({"instrument": "bdi"}), "instrument", "one of"),
        (lambda b: b.update({"anchors": {5: "five"}}), "anchors", "scale point"),
        (lambda b: b.update({"colour": "red"}), "colour", "only instrument"),
    ],
)
def test_invalid_wording_stores_nothing(tmp_path: Path, change, field: str, words: str) -> None:
    body = _gad7()
    change(body)
    data = tmp_path / "data"
    with pytest.raises(InputError) as err:
        load_wording(_yaml(tmp_path, [_gad7("de"), body]), data_dir=data)
    assert err.value.field == field and words in str(err.value)
    assert "wording.yaml" in str(err.value)
    assert not (data / "wording").exists()  # all or nothing: the valid block was not stored


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="existing"):
        load_wording(tmp_path / "nope.yaml")
    txt = tmp_path / "w.txt"
    txt.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"\.yaml, \.yml or \.csv"):
        load_wording(txt)
    csv = tmp_path / "w.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns instrument, language, item, text"):
        load_wording(csv)
    with pytest.raises(InputError, match="once per file"):
        load_wording(_yaml(tmp_path, [_gad7(), _gad7()]), data_dir=tmp_path)


def test_default_data_folder_is_project_data(tmp_path: Path, monkeypatch) -> None:
    from bordin.instruments.wording import data_folder

    monkeypatch.delenv("BORDIN_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_folder() == Path("data")
    (w,) = load_wording(_yaml(tmp_path, _gad7()))
    assert (tmp_path / "data" / "wording" / "gad7" / "en.yaml").is_file()
    assert w.path == Path("data") / "wording" / "gad7" / "en.yaml"
