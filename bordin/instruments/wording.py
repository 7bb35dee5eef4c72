"""Licensed item wording, loaded by a clinic from its own file.

Bordin never ships official item wording. A clinic that holds the licence for an
instrument writes the wording (and any translations) into a YAML or CSV file of its
own and loads it with :func:`load_wording` (``bordin load-wording FILE``). The file is
validated against the instrument specs (every item of the instrument, no unknown
items, no empty text) and stored under the data folder, where
:meth:`InstrumentSpec.wording` and :meth:`InstrumentSpec.item_text` find it.

YAML: one mapping, or a list of them::

    instrument: phq9
    language: en
    source: "our licensed copy, 2024"     # optional note
    items: {phq9_1: "...", phq9_2: "...", ...}   # ids or bare numbers
    anchors: {0: "...", 1: "...", ...}            # optional

CSV: columns ``instrument, language, item, text`` (one row per item).

The data folder is the project's: ``$BORDIN_DATA_DIR`` if set, else ``./data`` (the
same rule as ``bordin.store.db.data_dir``, repeated here because the instrument layer
sits below the store); wording lives in ``wording/<instrument>/<lang>.yaml``.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bordin.errors import InputError
from bordin.instruments.library import registry
from bordin.instruments.spec import InstrumentSpec

__all__ = ["Wording", "data_folder", "load_wording", "stored_languages", "stored_wording"]

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


def data_folder(override: object = None) -> Path:
    """The data folder: ``override``, else ``$BORDIN_DATA_DIR``, else ``./data``."""
    if override is not None:
        return Path(str(override))
    return Path(os.environ.get("BORDIN_DATA_DIR") or "data")


@dataclass(frozen=True)
class Wording:
    """The stored wording of one instrument in one language."""

    instrument: str
    language: str
    items: dict[str, str]
    anchors: dict[int, str] = field(default_factory=dict)
    source: str | None = None
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "instrument": self.instrument,
            "language": self.language,
            "items": dict(self.items),
            "anchors": {str(k): v for k, v in self.anchors.items()},
            "source": self.source,
            "path": str(self.path) if self.path else None,
        }


def _where(path: Path, spec_id: str | None = None) -> str:
    return f"{path.name}: {spec_id}" if spec_id else path.name


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(field="file", value=str(path), allowed="an existing YAML or CSV file")
    suffix = path.suffix.lower()
    if suffix in {".yaml", ".yml"}:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(
                field="file", value=path.name, allowed=f"valid YAML ({exc})"
            ) from exc
        blocks = raw if isinstance(raw, list) else [raw]
        for b in blocks:
            if not isinstance(b, dict):
                raise InputError(
                    field="file", value=path.name,
                    allowed="a mapping with instrument, language and items (or a list of them)",
                )
        return blocks
    if suffix == ".csv":
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            need = {"instrument", "language", "item", "text"}
            if not reader.fieldnames or not need <= set(reader.fieldnames):
                raise InputError(
                    field="columns", value=reader.fieldnames,
                    allowed="columns instrument, language, item, text", context=path.name,
                )
            for line, row in enumerate(reader, start=2):
                key = ((row["instrument"] or "").strip(), (row["language"] or "").strip())
                block = groups.setdefault(
                    key, {"instrument": key[0], "language": key[1], "items": {}}
                )
                item = (row["item"] or "").strip()
                if item in block["items"]:
                    raise InputError(
                        field=item, value=row["text"], allowed="each item once per language",
                        context=f"{path.name}, line {line}",
                    )
                block["items"][item] = row["text"]
        return list(groups.values())
    raise InputError(field="file", value=path.name, allowed="a .yaml, .yml or .csv file")


def _validate(path: Path, block: dict[str, Any]) -> Wording:
    unknown_keys = set(block) - {"instrument", "language", "items", "anchors", "source"}
    if unknown_keys:
        raise InputError(
            field=sorted(unknown_keys)[0], value=block[sorted(unknown_keys)[0]],
            allowed="only instrument, language, items, anchors, source", context=path.name,
        )
    try:
        spec = registry.get(str(block.get("instrument", "")))
    except InputError as exc:
        raise InputError(
            field="instrument", value=block.get("instrument"), allowed=exc.allowed,
            context=path.name,
        ) from exc
    where = _where(path, spec.id)
    language = str(block.get("language", "")).strip()
    if not _LANG.match(language):
        raise InputError(
            field="language", value=language,
            allowed="a language tag such as en, de or pt-BR", context=where,
        )
    items = block.get("items")
    if not isinstance(items, dict) or not items:
        raise InputError(
            field="items", value=items, allowed="a mapping of item id to text", context=where
        )
    out: dict[str, str] = {}
    for key, text in items.items():
        item_id = spec.resolve_item_id(key)
        if item_id is None:
            raise InputError(
                field=str(key), value=text,
                allowed=f"an item of {spec.id} ({', '.join(spec.item_ids)})", context=where,
            )
        if not isinstance(text, str) or not text.strip():
            raise InputError(field=item_id, value=text, allowed="non-empty text", context=where)
        out[item_id] = text.strip()
    absent = [i for i in spec.item_ids if i not in out]
    if absent:
        raise InputError(
            field="items", value=f"{len(out)} of {len(spec.items)} items",
            allowed=f"wording for every item; missing {', '.join(absent)}", context=where,
        )
    anchors_raw = block.get("anchors") or {}
    if not isinstance(anchors_raw, dict):
        raise InputError(
            field="anchors", value=anchors_raw, allowed="a mapping of scale point to text",
            context=where,
        )
    scale = spec.items[0].scale
    anchors: dict[int, str] = {}
    for point, text in anchors_raw.items():
        try:
            p = int(point)
        except (TypeError, ValueError):
            p = None
        if p is None or not scale.contains(float(p)):
            raise InputError(
                field="anchors", value=point, allowed=f"a scale point ({scale.describe()})",
                context=where,
            )
        anchors[p] = str(text).strip()
    source = block.get("source")
    return Wording(spec.id, language, out, anchors, None if source is None else str(source))


def load_wording(path: str | Path, *, data_dir: object = None) -> list[Wording]:
    """Validate a clinic's wording file and store it under the data folder.

    Parameters
    ----------
    path
        A YAML or CSV file (see the module docstring for the layout).
    data_dir
        Store under this folder instead of the default data folder.

    Returns
    -------
    list of Wording
        One per instrument and language in the file, with the path it was stored at.

    Raises
    ------
    InputError
        Naming the file, the instrument and the item for anything invalid; nothing is
        stored unless the whole file is valid.
    """
    path = Path(path)
    wordings = [_validate(path, b) for b in _read(path)]
    seen: set[tuple[str, str]] = set()
    for w in wordings:
        if (w.instrument, w.language) in seen:
            raise InputError(
                field="language", value=w.language,
                allowed="each instrument and language once per file",
                context=_where(path, w.instrument),
            )
        seen.add((w.instrument, w.language))
    root = data_folder(data_dir) / "wording"
    stored = []
    for w in wordings:
        target = root / w.instrument / f"{w.language}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "instrument": w.instrument,
            "language": w.language,
            "source": w.source,
            "items": w.items,
            "anchors": w.anchors,
        }
        tmp = target.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), "utf-8")
        tmp.replace(target)
        stored.append(Wording(w.instrument, w.language, w.items, w.anchors, w.source, target))
    return stored


def stored_wording(
    spec: InstrumentSpec, *, language: str = "en", data_dir: object = None
) -> dict[str, str]:
    """The stored wording of ``spec`` in ``language``, by item id; empty if none."""
    target = data_folder(data_dir) / "wording" / spec.id / f"{language}.yaml"
    if not target.is_file():
        return {}
    body = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
    items = body.get("items") or {}
    return {k: v for k, v in items.items() if k in spec.item_ids}


def stored_languages(spec: InstrumentSpec, *, data_dir: object = None) -> list[str]:
    """Languages with stored wording for ``spec``."""
    folder = data_folder(data_dir) / "wording" / spec.id
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
