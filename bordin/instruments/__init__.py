"""The instrument library: declarative specs, scoring and reliable change.

>>> from bordin.instruments import registry, score, reliable_change
>>> spec = registry.get("phq9")
>>> score(spec, {i: 2 for i in range(1, 10)}).band
'moderately severe'

Every instrument is a YAML file under ``specs/`` validated on load
(:class:`InstrumentSpec`); :func:`score`, :func:`score_frame` and the fast
:func:`score_matrix` (totals and subscales only) share one scoring core;
:func:`reliable_change` is the Jacobson–Truax index and category;
:func:`load_wording` stores a clinic's licensed item wording (never bundled).
"""

from bordin.instruments.change import ReliableChange, reliable_change, reliable_change_frame
from bordin.instruments.library import InstrumentRegistry, load_spec, registry
from bordin.instruments.scoring import Score, ScoreMatrix, score, score_frame, score_matrix
from bordin.instruments.spec import (
    LOCAL_CODE_SYSTEM,
    Band,
    Codes,
    InstrumentSpec,
    Item,
    Norms,
    Reference,
    Scale,
    ScaleNorms,
)
from bordin.instruments.wording import Wording, load_wording

__all__ = [
    "LOCAL_CODE_SYSTEM",
    "Band",
    "Codes",
    "InstrumentRegistry",
    "InstrumentSpec",
    "Item",
    "Norms",
    "Reference",
    "ReliableChange",
    "Scale",
    "ScaleNorms",
    "Score",
    "ScoreMatrix",
    "Wording",
    "load_spec",
    "load_wording",
    "registry",
    "reliable_change",
    "reliable_change_frame",
    "score",
    "score_frame",
    "score_matrix",
]
