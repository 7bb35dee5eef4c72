"""What the monitor needs to know about an instrument, from its spec when there is one.

Looked up through :data:`bordin.instruments.registry`; an instrument the registry does
not know is still monitored when the caller says what kind it is.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["ALLIANCE_IDS", "kind_of", "scale_range", "spec_or_none"]

# Alliance instruments Bordin ships or plans to, used when the registry lacks one.
ALLIANCE_IDS = frozenset({"wai_sr", "wai_sr_t", "wai_sr_o", "wai_tech_sf", "srs", "haq2_patient",
                          "haq2_therapist", "calpas"})


@functools.cache
def spec_or_none(instrument: str) -> Any:
    """The instrument's spec, or None when the registry does not know it."""
    try:
        from bordin.instruments import registry
    except ImportError:  # the instruments package is older than this module
        return None
    from bordin.errors import InputError

    try:
        return registry.get(instrument)
    except InputError as exc:
        if exc.field == "instrument":  # an unknown id: monitor what we can without a spec
            return None
        raise  # a broken spec file must not pass silently


def kind_of(instrument: str) -> str | None:
    """``"alliance"``, ``"outcome"``, ... or None if unknown."""
    spec = spec_or_none(instrument)
    if spec is not None:
        return str(spec.kind)
    return "alliance" if instrument in ALLIANCE_IDS else None


@functools.cache
def scale_range(instrument: str, scale: str) -> tuple[float, float] | None:
    """Lowest and highest possible score of a scale, or None if unknown."""
    spec = spec_or_none(instrument)
    if spec is None:
        return None
    try:
        if scale == "total":
            return tuple(spec.range)  # type: ignore[return-value]
        if scale in spec.subscales:
            return tuple(spec.subscale_range(scale))  # type: ignore[return-value]
    except Exception:
        return None
    return None
