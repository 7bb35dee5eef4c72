"""The declarative model of an instrument: what a spec file may say, checked on load.

A spec holds the *structure* of a questionnaire (items, response scales, reverse keys,
subscales, scoring rule, proration limit, bands, cutoff, norms for reliable change,
codes, licence) and the published sources for every structural fact. It never holds
the official item wording: item labels are short paraphrases in the project's own words,
and a clinic that holds a licence loads the wording itself (see
:mod:`bordin.instruments.wording`).

Facts that could not be checked against a published source are listed in ``verify``
(and shown by ``bordin instruments show``), never silently presented as settled.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "LOCAL_CODE_SYSTEM",
    "Band",
    "Codes",
    "InstrumentSpec",
    "Item",
    "Norms",
    "Reference",
    "Scale",
    "ScaleNorms",
]

LOCAL_CODE_SYSTEM = "https://bordin.dev/fhir/CodeSystem/instruments"
LOINC = "http://loinc.org"

Kind = Literal["alliance", "outcome", "expectancy", "skills"]
Rater = Literal["patient", "clinician", "observer"]
Target = Literal["clinician", "programme", "staff", "group"]

# Facts a spec may leave unverified; anything else in ``verify`` is a typo.
VERIFIABLE = frozenset(
    {
        "items",
        "scale",
        "anchors",
        "reverse",
        "subscales",
        "scoring",
        "max_missing",
        "bands",
        "cutoff",
        "norms",
        "codes",
        "risk",
        "licence",
        "raters",
        "rescale",
        "derived",
    }
)

_TOL = 1e-9


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scale(_Frozen):
    """A response scale: values from ``min`` to ``max`` in steps of ``step``.

    ``anchors`` maps scale points to short descriptions in the project's own words
    (e.g. ``{0: "not at all", 3: "nearly every day"}``); official anchor wording, like
    item wording, belongs in a clinic's licensed wording file.
    """

    min: float
    max: float
    step: float = 1.0
    anchors: dict[int, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Scale:
        if not self.max > self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        if not self.step > 0:
            raise ValueError(f"scale step must be positive, not {self.step}")
        n = (self.max - self.min) / self.step
        if abs(n - round(n)) > 1e-6:
            raise ValueError(f"scale {self.min}..{self.max} is not a whole number of steps")
        for point in self.anchors:
            if not self.min <= point <= self.max:
                raise ValueError(f"anchor {point} is outside the scale {self.min}..{self.max}")
        return self

    def describe(self) -> str:
        """The allowed values in words, for error messages."""
        step = "" if self.step == 1 else f" in steps of {_fmt(self.step)}"
        return f"a number from {_fmt(self.min)} to {_fmt(self.max)}{step}"

    def contains(self, value: float) -> bool:
        """Whether ``value`` is a point of this scale."""
        if not (math.isfinite(value) and self.min - _TOL <= value <= self.max + _TOL):
            return False
        k = (value - self.min) / self.step
        return abs(k - round(k)) <= 1e-6


class Item(_Frozen):
    """One item.

    Attributes
    ----------
    id
        Stable identifier, ``<instrument>_<number>`` (``phq9_9``).
    label
        A short paraphrase in the project's own words, never the official wording.
    scale
        The response scale.
    reverse
        Reverse-keyed: scored as ``min + max - x``.
    risk
        A risk item (self-harm, suicidality): endorsing it (> scale minimum) is
        always surfaced, whatever the total.
    rescale
        Optional ``[low, high]``: the response is mapped linearly from its own scale
        onto this range before it is scored (used where an instrument mixes scales).
    code
        An item-level code (LOINC where one exists).
    answer_codes
        Scale points whose answer code differs, for this item only, from the
        instrument's ``codes.answers`` (``{2: LA18938-3}``: LOINC's GAD-7 form codes
        the value 2 of item 2 so). Points not named keep the instrument's codes.
        Exports write the item's own code; imports read it and the instrument's code
        for the same point (other published forms code every item alike).
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str = Field(min_length=1, max_length=80)
    scale: Scale
    reverse: bool = False
    risk: bool = False
    rescale: tuple[float, float] | None = None
    code: str | None = None
    answer_codes: dict[int, str] = Field(default_factory=dict)

    @field_validator("rescale")
    @classmethod
    def _rescale_order(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[1] > v[0]:
            raise ValueError(f"rescale must be [low, high] with high > low, not {list(v)}")
        return v

    @model_validator(mode="after")
    def _answer_points(self) -> Item:
        off = sorted(p for p in self.answer_codes if not self.scale.contains(p))
        if off:
            raise ValueError(f"answer_codes name points {off} outside the item's scale "
                             f"({self.scale.describe()})")
        return self

    @property
    def scored_range(self) -> tuple[float, float]:
        """The range of this item's contribution after rescaling."""
        if self.rescale is not None:
            return self.rescale
        return (self.scale.min, self.scale.max)


class Band(NamedTuple):
    """A severity band: totals from ``lower`` (inclusive) to ``upper`` (inclusive)."""

    lower: float
    upper: float
    label: str


class ScaleNorms(_Frozen):
    """Norms of one scale (the total or a subscale) for reliable change and cutoffs.

    ``reliability`` is the r_xx of the Jacobson–Truax standard error; ``sd`` the SD of
    the reference (usually pre-treatment clinical) sample. Where a source publishes only
    a reliable-change criterion in points (e.g. the NHS Talking Therapies manual's
    6 points on the PHQ-9), ``change_points`` holds it and is used instead.
    Functional and dysfunctional means and SDs give the Jacobson–Truax cutoff c.
    """

    reliability: float | None = Field(default=None, gt=0, lt=1)
    sd: float | None = Field(default=None, gt=0)
    change_points: float | None = Field(default=None, gt=0)
    functional_mean: float | None = None
    functional_sd: float | None = Field(default=None, gt=0)
    dysfunctional_mean: float | None = None
    dysfunctional_sd: float | None = Field(default=None, gt=0)
    source: str = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _one_method(self) -> ScaleNorms:
        if (self.reliability is None) != (self.sd is None):
            raise ValueError("reliability and sd go together")
        if self.reliability is None and self.change_points is None:
            raise ValueError("give reliability and sd, or change_points")
        return self

    def cutoff_c(self) -> float | None:
        """Jacobson–Truax cutoff c, weighted by the two SDs, if both samples are known."""
        parts = (self.functional_mean, self.functional_sd, self.dysfunctional_mean,
                 self.dysfunctional_sd)
        if any(p is None for p in parts):
            return None
        fm, fs, dm, ds = (float(p) for p in parts)  # type: ignore[arg-type]
        return (ds * fm + fs * dm) / (ds + fs)


class Norms(ScaleNorms):
    """Norms of the total, plus optional norms per subscale."""

    subscales: dict[str, ScaleNorms] = Field(default_factory=dict)


class Codes(_Frozen):
    """Codes for exchange: LOINC where it has the instrument, else the local system."""

    system: str
    panel: str
    total: str | None = None
    subscales: dict[str, str] = Field(default_factory=dict)
    answers: dict[int, str] = Field(default_factory=dict)


class Reference(_Frozen):
    """A published source and the structural facts it supports."""

    key: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    citation: str = Field(min_length=10)
    url: str | None = None
    supports: tuple[str, ...] = ()


class InstrumentSpec(_Frozen):
    """The validated structure of one instrument (see the module docstring)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    version: str
    kind: Kind
    raters: tuple[Rater, ...] = Field(min_length=1)
    target: Target | None
    licence: str = Field(min_length=1)
    licence_required: bool = False
    description: str = ""
    items: tuple[Item, ...] = Field(min_length=1)
    subscales: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    scoring: Literal["sum", "mean"]
    max_missing: int = Field(default=0, ge=0)
    subscale_max_missing: int = Field(default=0, ge=0)
    bands: list[Band] = Field(default_factory=list)
    cutoff: float | None = None
    higher_is_better: bool
    derived: dict[str, float] = Field(default_factory=dict)
    norms: Norms | None = None
    codes: Codes
    references: tuple[Reference, ...] = Field(min_length=1)
    verify: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    # ----------------------------------------------------------------- checks
    @model_validator(mode="after")
    def _check(self) -> InstrumentSpec:
        ids = [it.id for it in self.items]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate item ids {dupes}")
        for it in self.items:
            if not it.id.startswith(self.id + "_"):
                raise ValueError(f"item id {it.id!r} must start with {self.id + '_'!r}")
        known = set(ids)
        for name, members in self.subscales.items():
            unknown = [m for m in members if m not in known]
            if unknown:
                raise ValueError(f"subscale {name!r} names unknown items {unknown}")
            if not members:
                raise ValueError(f"subscale {name!r} has no items")
        if name_clash := {"total"} & set(self.subscales):
            raise ValueError(f"a subscale may not be called {sorted(name_clash)}")
        if self.max_missing >= len(self.items):
            raise ValueError(
                f"max_missing ({self.max_missing}) must be less than the number of items"
            )
        if self.scoring == "mean":
            scales = {(it.scored_range) for it in self.items}
            if len(scales) > 1:
                raise ValueError("mean scoring needs every item on the same scored range")
        lo, hi = self.range
        prev_upper: float | None = None
        for band in self.bands:
            if band.lower > band.upper:
                raise ValueError(f"band {band.label!r} has lower > upper")
            if prev_upper is not None and band.lower <= prev_upper:
                raise ValueError(f"band {band.label!r} overlaps or is out of order")
            prev_upper = band.upper
        if self.bands and (self.bands[0].lower != lo or self.bands[-1].upper != hi):
            raise ValueError(
                f"bands must run from the range minimum {lo} to its maximum {hi}"
            )
        if self.cutoff is not None and not lo <= self.cutoff <= hi:
            raise ValueError(f"cutoff {self.cutoff} lies outside the range {lo}..{hi}")
        if self.norms is not None:
            unknown_norms = set(self.norms.subscales) - set(self.subscales)
            if unknown_norms:
                raise ValueError(f"norms name unknown subscales {sorted(unknown_norms)}")
        ref_keys = {r.key for r in self.references}
        if len(ref_keys) != len(self.references):
            raise ValueError("reference keys must be unique")
        if self.norms is not None:
            for sn in (self.norms, *self.norms.subscales.values()):
                if sn.source not in ref_keys:
                    raise ValueError(f"norms cite unknown reference {sn.source!r}")
        bad_verify = set(self.verify) - VERIFIABLE
        if bad_verify:
            raise ValueError(
                f"verify lists unknown facts {sorted(bad_verify)}; use {sorted(VERIFIABLE)}"
            )
        supported = {fact for r in self.references for fact in r.supports}
        bad_support = supported - VERIFIABLE
        if bad_support:
            raise ValueError(f"references support unknown facts {sorted(bad_support)}")
        needed = {"items", "scale", "scoring"}
        for it in self.items:
            if it.answer_codes and not self.codes.answers:
                raise ValueError(f"item {it.id} has answer_codes but codes.answers is empty")
            if it.answer_codes:
                needed.add("codes")
            # An item's own codes and the instrument's are both read on import, so a
            # code may stand for one scale point only.
            points: dict[str, set[int]] = {}
            for point, code in (*self.codes.answers.items(), *it.answer_codes.items()):
                points.setdefault(code, set()).add(point)
            if clash := sorted(code for code, p in points.items() if len(p) > 1):
                raise ValueError(f"item {it.id}: answer codes {clash} stand for two scale points")
        if any(it.reverse for it in self.items):
            needed.add("reverse")
        if self.subscales:
            needed.add("subscales")
        if self.bands:
            needed.add("bands")
        if self.cutoff is not None:
            needed.add("cutoff")
        if any(it.risk for it in self.items):
            needed.add("risk")
        uncovered = needed - supported - set(self.verify)
        if uncovered:
            raise ValueError(
                f"facts {sorted(uncovered)} are neither supported by a reference nor "
                "listed under verify"
            )
        return self

    # -------------------------------------------------------------- derived
    @property
    def item_ids(self) -> tuple[str, ...]:
        """Item ids in order."""
        return tuple(it.id for it in self.items)

    @property
    def range(self) -> tuple[float, float]:
        """Lowest and highest possible total."""
        lows = [it.scored_range[0] for it in self.items]
        highs = [it.scored_range[1] for it in self.items]
        if self.scoring == "sum":
            return (float(sum(lows)), float(sum(highs)))
        return (float(lows[0]), float(highs[0]))

    def subscale_range(self, name: str) -> tuple[float, float]:
        """Lowest and highest possible score of one subscale."""
        members = [self.item(i) for i in self.subscales[name]]
        lows = [it.scored_range[0] for it in members]
        highs = [it.scored_range[1] for it in members]
        if self.scoring == "sum":
            return (float(sum(lows)), float(sum(highs)))
        return (float(lows[0]), float(highs[0]))

    def item(self, item_id: str) -> Item:
        """The item with this id (``"phq9_9"``; the bare number ``"9"`` also works)."""
        from bordin.errors import InputError

        key = self.resolve_item_id(item_id)
        if key is None:
            raise InputError(
                field="item",
                value=item_id,
                allowed=f"one of {', '.join(self.item_ids)}",
                context=self.id,
            )
        return self.items[self.item_ids.index(key)]

    def resolve_item_id(self, key: object) -> str | None:
        """The canonical item id for ``key`` (an id or a bare item number), or None."""
        text = str(key).strip()
        ids = self.item_ids
        if text in ids:
            return text
        candidate = f"{self.id}_{text.lower()}"
        if candidate in ids:
            return candidate
        return None

    def answer_codes(self, item_id: str) -> dict[int, str]:
        """The answer code of each scale point of one item (empty if the spec has none).

        The instrument's ``codes.answers`` with the item's own ``answer_codes`` over them:
        the codes an export writes.
        """
        item = self.item(item_id)
        return {**self.codes.answers, **item.answer_codes}

    @property
    def risk_items(self) -> tuple[str, ...]:
        """Ids of the risk items."""
        return tuple(it.id for it in self.items if it.risk)

    @property
    def reverse_items(self) -> tuple[str, ...]:
        """Ids of the reverse-keyed items."""
        return tuple(it.id for it in self.items if it.reverse)

    @property
    def unverified(self) -> tuple[str, ...]:
        """Structural facts not yet checked against a published source."""
        return self.verify

    def wording(self, *, language: str = "en", data_dir: object = None) -> dict[str, str]:
        """Licensed item wording a clinic has loaded, by item id (empty if none).

        See :func:`bordin.instruments.load_wording`. Official wording is never
        bundled with Bordin.
        """
        from bordin.instruments.wording import stored_wording

        return stored_wording(self, language=language, data_dir=data_dir)

    def item_text(self, item_id: str, *, language: str = "en", data_dir: object = None) -> str:
        """The loaded licensed wording of an item, or its label when none is loaded."""
        item = self.item(item_id)
        return self.wording(language=language, data_dir=data_dir).get(item.id, item.label)

    def band_of(self, total: float) -> str | None:
        """The severity band of a total (a prorated total falls in the band whose
        lower bound it has reached)."""
        label: str | None = None
        for band in self.bands:
            if total >= band.lower - _TOL:
                label = band.label
        return label


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
