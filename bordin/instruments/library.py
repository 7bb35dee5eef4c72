"""The instrument registry: every spec file under ``specs/``, validated on load.

Spec files are YAML, one instrument each. For brevity a file may give a default
``scale`` for all items, number its items (``n: 3`` becomes the id ``<id>_3``) and name
subscale members by number; :func:`load_spec` expands these before validation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bordin.errors import InputError
from bordin.instruments.spec import InstrumentSpec

__all__ = ["SPEC_DIR", "InstrumentRegistry", "load_spec", "registry"]

SPEC_DIR = Path(__file__).parent / "specs"


def _expand(raw: dict[str, Any]) -> dict[str, Any]:
    """Expand the shorthands of a spec file into the model's full form."""
    data = dict(raw)
    sid = data.get("id")
    default_scale = data.pop("scale", None)
    items = []
    for entry in data.get("items") or []:
        if not isinstance(entry, dict):
            items.append(entry)
            continue
        item = dict(entry)
        if "n" in item and "id" not in item:
            item["id"] = f"{sid}_{item.pop('n')}"
        if "scale" not in item and default_scale is not None:
            item["scale"] = default_scale
        items.append(item)
    if items:
        data["items"] = items
    subscales = data.get("subscales")
    if isinstance(subscales, dict):
        data["subscales"] = {
            name: [f"{sid}_{m}" if isinstance(m, int) else m for m in (members or [])]
            for name, members in subscales.items()
        }
    return data


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Turn a pydantic error location into a readable field path with item ids."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        if i == 1 and loc[0] == "items" and isinstance(part, int):
            try:
                parts[-1] = f"items[{data['items'][part]['id']}]"
                continue
            except (KeyError, IndexError, TypeError):
                pass
        parts.append(f"[{part}]" if isinstance(part, int) else str(part))
    return ".".join(parts).replace(".[", "[") or "spec"


def load_spec(path: str | Path) -> InstrumentSpec:
    """Load and validate one spec file.

    Raises
    ------
    InputError
        Naming the file and the field, for unreadable YAML or an invalid spec.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(
            field="file", value=str(path), allowed=f"a readable YAML spec ({exc})",
            context="instrument spec",
        ) from exc
    if not isinstance(raw, dict):
        raise InputError(
            field="file", value=str(path), allowed="a YAML mapping", context="instrument spec"
        )
    data = _expand(raw)
    try:
        spec = InstrumentSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = _where(loc, data)
        value = err.get("input")
        if not loc:
            # A whole-spec rule (e.g. uncited facts): the value is the file itself.
            field, value = "spec", path.name
        elif isinstance(value, dict):
            value = "{...}"
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise InputError(
            field=field, value=value, allowed=f"{err['msg']}{more}", context=f"spec {path.name}"
        ) from exc
    if path.stem != spec.id:
        raise InputError(
            field="id", value=spec.id, allowed=f"the file name's stem {path.stem!r}",
            context=f"spec {path.name}",
        )
    return spec


class InstrumentRegistry:
    """All known instruments, by id. Loaded lazily, once, from the spec folder."""

    def __init__(self, spec_dir: Path = SPEC_DIR) -> None:
        self._dir = spec_dir
        self._specs: dict[str, InstrumentSpec] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, InstrumentSpec]:
        if self._specs is None:
            with self._lock:
                if self._specs is None:
                    specs = {}
                    for path in sorted(self._dir.glob("*.yaml")):
                        spec = load_spec(path)
                        specs[spec.id] = spec
                    self._specs = specs
        return self._specs

    def get(self, instrument: str) -> InstrumentSpec:
        """The spec of ``instrument``.

        Raises
        ------
        InputError
            ``field="instrument"`` for an unknown id, listing the known ones.
        """
        specs = self._load()
        key = _canonical(instrument, specs)
        if key is None:
            raise InputError(
                field="instrument", value=instrument, allowed=f"one of {', '.join(sorted(specs))}"
            )
        return specs[key]

    def all(self) -> list[InstrumentSpec]:
        """Every spec, sorted by id."""
        specs = self._load()
        return [specs[k] for k in sorted(specs)]

    def ids(self) -> list[str]:
        """Every instrument id, sorted."""
        return sorted(self._load())

    def __contains__(self, instrument: object) -> bool:
        return _canonical(instrument, self._load()) is not None

    def __iter__(self) -> Iterator[InstrumentSpec]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._load())


def _canonical(instrument: object, specs: dict[str, InstrumentSpec]) -> str | None:
    """The id matching ``instrument`` ignoring case, hyphens and underscores ("PHQ-9")."""
    def squash(text: str) -> str:
        return text.strip().lower().replace("-", "").replace("_", "")

    wanted = squash(str(instrument))
    for sid in specs:
        if squash(sid) == wanted:
            return sid
    return None


registry = InstrumentRegistry()
