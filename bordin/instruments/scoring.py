"""Scoring: one vectorised implementation, used for one administration and for frames.

:func:`score_frame` scores a data frame with one row per administration and one
column per item; :func:`score` scores one administration by passing a one-row matrix
through the same core, so the two can never disagree.

The rules, in order:

1. Every answered value must lie on the item's response scale (within its range and
   on its step); anything else raises :class:`~bordin.errors.InputError` naming the
   instrument, the item, the value and what is allowed.
2. Items with ``rescale`` are mapped linearly onto that range; reverse-keyed items are
   then scored as ``low + high - x`` on their scored range.
3. If more than ``max_missing`` items are missing the administration cannot be scored
   (an error, or NaN in a frame with ``missing="nan"``). Otherwise, for sum scoring,
   the total is prorated: the mean of the answered items times the number of items.
   For mean scoring the total is the mean of the answered items.
4. Subscales follow the same rule with ``subscale_max_missing``; a subscale with more
   missing items than that is NaN (``None`` in :meth:`Score.to_dict`) while the total
   may still be valid.
5. Band, cutoff and derived scores (e.g. WHO-5 percentage = raw × 4) come from the
   total; risk items are flagged when answered above the scale minimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.instruments.library import registry
from bordin.instruments.spec import InstrumentSpec

__all__ = ["Score", "ScoreMatrix", "score", "score_frame", "score_matrix"]

_TOL = 1e-6


@dataclass(frozen=True)
class Score:
    """The score of one administration.

    Attributes
    ----------
    instrument, version
        The spec it was scored with.
    total
        The (possibly prorated) total, on the spec's range.
    subscales
        Subscale scores by name; NaN where a subscale has too many missing items.
    n_answered, n_missing
        Items answered and missing.
    prorated
        Whether missing items were prorated.
    band
        The severity band, if the instrument has bands.
    above_cutoff
        ``total >= cutoff``, if the instrument has a cutoff.
    clinical
        Whether the total is on the clinical side of the cutoff (``>= cutoff`` when
        higher is worse, ``< cutoff`` when higher is better), if there is a cutoff.
    risk_items
        Ids of risk items answered above the scale minimum.
    derived
        Derived scores, e.g. ``{"percentage": 64.0}`` for the WHO-5.
    """

    instrument: str
    version: str
    total: float
    subscales: dict[str, float] = field(default_factory=dict)
    n_answered: int = 0
    n_missing: int = 0
    prorated: bool = False
    band: str | None = None
    above_cutoff: bool | None = None
    clinical: bool | None = None
    risk_items: tuple[str, ...] = ()
    derived: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN subscales become ``None``)."""
        return {
            "instrument": self.instrument,
            "version": self.version,
            "total": _json_float(self.total),
            "subscales": {k: _json_float(v) for k, v in self.subscales.items()},
            "n_answered": self.n_answered,
            "n_missing": self.n_missing,
            "prorated": self.prorated,
            "band": self.band,
            "above_cutoff": self.above_cutoff,
            "clinical": self.clinical,
            "risk_items": list(self.risk_items),
            "derived": {k: _json_float(v) for k, v in self.derived.items()},
        }

    def summary(self) -> pd.DataFrame:
        """A one-column table of the scores, for reading."""
        rows: dict[str, Any] = {"total": self.total}
        rows.update(self.subscales)
        rows.update(self.derived)
        rows.update(
            {
                "answered": self.n_answered,
                "missing": self.n_missing,
                "prorated": self.prorated,
                "band": self.band,
                "clinical": self.clinical,
                "risk items": ", ".join(self.risk_items) or "none",
            }
        )
        return pd.DataFrame({self.instrument: pd.Series(rows, dtype=object)})


def _json_float(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _spec(spec: InstrumentSpec | str) -> InstrumentSpec:
    return spec if isinstance(spec, InstrumentSpec) else registry.get(spec)


# --------------------------------------------------------------------- the core
@dataclass(frozen=True)
class _Plan:
    """Per-spec arrays the core needs, computed once per spec object."""

    ids: tuple[str, ...]
    position: dict[str, int]
    lo_raw: np.ndarray
    hi_raw: np.ndarray
    step: np.ndarray
    n_steps: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rescaled: list[int]
    reversed_: list[int]
    subscales: dict[str, list[int]]
    risk: list[int]


_PLANS: dict[int, tuple[InstrumentSpec, _Plan]] = {}


def _plan(spec: InstrumentSpec) -> _Plan:
    hit = _PLANS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    items = spec.items
    ids = tuple(it.id for it in items)
    position = {i: j for j, i in enumerate(ids)}
    lo_raw = np.array([it.scale.min for it in items])
    hi_raw = np.array([it.scale.max for it in items])
    step = np.array([it.scale.step for it in items])
    plan = _Plan(
        ids=ids,
        position=position,
        lo_raw=lo_raw,
        hi_raw=hi_raw,
        step=step,
        n_steps=np.rint((hi_raw - lo_raw) / step),
        lo=np.array([it.scored_range[0] for it in items]),
        hi=np.array([it.scored_range[1] for it in items]),
        rescaled=[j for j, it in enumerate(items) if it.rescale is not None],
        reversed_=[j for j, it in enumerate(items) if it.reverse],
        subscales={n: [position[m] for m in ms] for n, ms in spec.subscales.items()},
        risk=[position[i] for i in ids if spec.item(i).risk],
    )
    if len(_PLANS) > 256:  # specs are few; this only guards against unbounded growth
        _PLANS.clear()
    _PLANS[id(spec)] = (spec, plan)
    return plan


@dataclass(frozen=True)
class _Core:
    total: np.ndarray
    subscales: dict[str, np.ndarray]
    n_answered: np.ndarray
    n_missing: np.ndarray
    risk: np.ndarray  # (n, n_risk) bool
    scorable: np.ndarray  # bool


def _core(
    spec: InstrumentSpec,
    values: np.ndarray,
    *,
    row_labels: Sequence[Any] | None,
    missing: Literal["raise", "nan"],
) -> _Core:
    """Score an (n, k) float matrix of raw responses (NaN = missing), item order of spec."""
    k = values.shape[1]
    items = spec.items
    plan = _plan(spec)
    lo_raw, hi_raw, step, n_steps = plan.lo_raw, plan.hi_raw, plan.step, plan.n_steps
    answered = ~np.isnan(values)

    # 1. range and step, in one pass: the position on the scale must be a whole step
    # from 0 to n_steps (NaN compares False, infinities fail the range test).
    with np.errstate(invalid="ignore"):
        pos = values - lo_raw  # in-place steps below: this runs over every cell
        pos /= step
        whole = np.rint(pos)
        np.subtract(pos, whole, out=pos)
        np.abs(pos, out=pos)
        bad = pos > _TOL
        bad |= whole < 0
        bad |= whole > n_steps
    bad &= answered
    if bad.any():
        r, c = np.argwhere(bad)[0]
        where = spec.id if row_labels is None else f"{spec.id}, row {row_labels[r]!r}"
        raise InputError(
            field=items[c].id,
            value=_plain(values[r, c]),
            allowed=items[c].scale.describe(),
            context=where,
        )

    # 2. rescale and reverse (only the columns that need it)
    lo, hi = plan.lo, plan.hi
    scored = values
    resc = plan.rescaled
    if resc:
        scored = scored.copy()
        scored[:, resc] = lo[resc] + (values[:, resc] - lo_raw[resc]) * (
            (hi[resc] - lo[resc]) / (hi_raw[resc] - lo_raw[resc])
        )
    rev = plan.reversed_
    if rev:
        scored = scored.copy() if scored is values else scored
        scored[:, rev] = (lo[rev] + hi[rev]) - scored[:, rev]
    scored_zero = np.where(answered, scored, 0.0)

    # 3. total with proration
    n_ans = answered.sum(axis=1)
    n_miss = k - n_ans
    scorable = n_miss <= spec.max_missing
    if not scorable.all() and missing == "raise":
        r = int(np.argmin(scorable))
        gone = [items[c].id for c in range(k) if not answered[r, c]]
        where = spec.id if row_labels is None else f"{spec.id}, row {row_labels[r]!r}"
        raise InputError(
            field=", ".join(gone),
            value=None,
            allowed=(
                f"at most {spec.max_missing} missing item(s) of {k} "
                f"({len(gone)} are missing)"
            ),
            context=where,
        )
    total = _aggregate(spec, scored_zero, n_ans, k)
    total = np.where(scorable, total, np.nan)

    # 4. subscales
    subs: dict[str, np.ndarray] = {}
    for name, cols in plan.subscales.items():
        s_ans = answered[:, cols].sum(axis=1)
        s_val = _aggregate(spec, scored_zero[:, cols], s_ans, len(cols))
        ok = (len(cols) - s_ans <= spec.subscale_max_missing) & scorable
        subs[name] = np.where(ok, s_val, np.nan)

    # 5. risk items: endorsed above the scale minimum
    risk_cols = plan.risk
    risk = answered[:, risk_cols] & (values[:, risk_cols] > lo_raw[risk_cols] + _TOL)
    return _Core(total, subs, n_ans, n_miss, risk, scorable)


def _aggregate(spec: InstrumentSpec, scored_zero: np.ndarray, n_ans: np.ndarray, k: int):
    sums = scored_zero.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / n_ans
    if spec.scoring == "mean":
        return mean
    # Sum scoring: prorate only when something is missing, so complete rows are exact sums.
    return np.where(n_ans == k, sums, mean * k)


def _plain(x: float) -> float | int:
    return int(x) if math.isfinite(x) and float(x).is_integer() else float(x)


def _band_and_cutoff(spec: InstrumentSpec, total: float) -> tuple[str | None, bool | None,
                                                                 bool | None]:
    if not math.isfinite(total):
        return None, None, None
    band = spec.band_of(total)
    if spec.cutoff is None:
        return band, None, None
    above = bool(total >= spec.cutoff - 1e-9)
    clinical = (not above) if spec.higher_is_better else above
    return band, above, clinical


# --------------------------------------------------------------------- scalar
def score(spec: InstrumentSpec | str, responses: Mapping[Any, float | None]) -> Score:
    """Score one administration.

    Parameters
    ----------
    spec
        The instrument (a spec or its id).
    responses
        Item id (``"phq9_1"``, or the bare number ``"1"``/``1``) to the raw response;
        ``None``, NaN or an absent item count as missing.

    Returns
    -------
    Score

    Raises
    ------
    InputError
        For an unknown item, a value off the item's scale, or too many missing items;
        the message names the instrument, the item, the value and what is allowed.

    Examples
    --------
    >>> from bordin.instruments import score
    >>> score("phq9", {i: 1 for i in range(1, 10)}).total
    9.0
    """
    spec = _spec(spec)
    if not isinstance(responses, Mapping):
        raise InputError(
            field="responses", value=type(responses).__name__,
            allowed="a mapping of item id to value", context=spec.id,
        )
    plan = _plan(spec)
    row = np.full((1, len(plan.ids)), np.nan)
    ids = plan.ids
    seen: set[str] = set()
    for key, value in responses.items():
        item_id = key if key in plan.position else spec.resolve_item_id(key)
        if item_id is None:
            raise InputError(
                field=str(key), value=value,
                allowed=f"an item of {spec.id} ({ids[0]} .. {ids[-1]})", context=spec.id,
            )
        col = plan.position[item_id]
        if not np.isnan(row[0, col]) or item_id in seen:
            raise InputError(
                field=item_id, value=value,
                allowed="each item once (it was given twice, e.g. as an id and a number)",
                context=spec.id,
            )
        seen.add(item_id)
        row[0, col] = _number(spec, item_id, value)
    core = _core(spec, row, row_labels=None, missing="raise")
    total = float(core.total[0])
    band, above, clinical = _band_and_cutoff(spec, total)
    return Score(
        instrument=spec.id,
        version=spec.version,
        total=total,
        subscales={k: float(v[0]) for k, v in core.subscales.items()},
        n_answered=int(core.n_answered[0]),
        n_missing=int(core.n_missing[0]),
        prorated=bool(core.n_missing[0] > 0),
        band=band,
        above_cutoff=above,
        clinical=clinical,
        risk_items=tuple(
            plan.ids[j] for j, hit in zip(plan.risk, core.risk[0], strict=True) if hit
        ),
        derived={k: total * m for k, m in spec.derived.items()},
    )


def _number(spec: InstrumentSpec, item_id: str, value: Any) -> float:
    if value is None or value is pd.NA:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InputError(
            field=item_id, value=value,
            allowed=spec.item(item_id).scale.describe(), context=spec.id,
        )
    return float(value)


# --------------------------------------------------------------------- matrices
@dataclass(frozen=True)
class ScoreMatrix:
    """Totals and subscales of many administrations, from :func:`score_matrix`.

    Attributes
    ----------
    instrument
        The spec's id.
    total
        ``(n,)`` float array of (possibly prorated) totals; NaN where unscorable.
    subscales
        Subscale name to ``(n,)`` float array; NaN where a subscale is unscorable.
    """

    instrument: str
    total: np.ndarray
    subscales: dict[str, np.ndarray]

    def summary(self) -> pd.DataFrame:
        """The scores as a data frame: ``total`` then one column per subscale."""
        out = {"total": self.total}
        out.update(self.subscales)
        return pd.DataFrame(out)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN becomes ``None``)."""
        return {
            "instrument": self.instrument,
            "total": [_json_float(x) for x in self.total.tolist()],
            "subscales": {
                k: [_json_float(x) for x in v.tolist()] for k, v in self.subscales.items()
            },
        }


def score_matrix(
    spec: InstrumentSpec | str,
    values: np.ndarray,
    *,
    missing: Literal["raise", "nan"] = "raise",
) -> ScoreMatrix:
    """Score a matrix of raw responses: totals and subscales only (the fast path).

    Runs the same scoring core as :func:`score` and :func:`score_frame` (same range
    checks, rescaling, reverse keying and proration) but skips what they add per
    row: bands, cutoffs, derived scores and risk-item labels. Use it where many
    administrations are scored and only the numbers are needed (e.g. simulation).

    Parameters
    ----------
    spec
        The instrument (a spec or its id).
    values
        ``(n, k)`` array of raw responses in the spec's item order (``spec.item_ids``);
        NaN is a missing answer. Any real dtype; it is read as float64.
    missing
        ``"raise"`` (default) raises for a row with too many missing items;
        ``"nan"`` scores it as NaN.

    Returns
    -------
    ScoreMatrix

    Raises
    ------
    InputError
        For a matrix of the wrong shape or type, a value off an item's scale, or (with
        ``missing="raise"``) too many missing items; the message names the instrument,
        the item (and the row number), the value and what is allowed.

    Examples
    --------
    >>> import numpy as np
    >>> from bordin.instruments import score_matrix
    >>> score_matrix("phq9", np.ones((2, 9))).total
    array([9., 9.])
    """
    spec = _spec(spec)
    if missing not in ("raise", "nan"):
        raise InputError(field="missing", value=missing, allowed="'raise' or 'nan'")
    k = len(spec.items)
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # ragged or not array-like: bad input below
        arr = None
    if (
        arr is None
        or arr.ndim != 2
        or arr.shape[1] != k
        or arr.dtype.kind not in "fiu"
    ):
        raise InputError(
            field="values",
            value=type(values).__name__ if arr is None else f"{arr.dtype} array {arr.shape}",
            allowed=f"a real (n, {k}) array, one column per item of {spec.id} in order",
            context=spec.id,
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    core = _core(spec, arr, row_labels=range(len(arr)), missing=missing)
    return ScoreMatrix(instrument=spec.id, total=core.total, subscales=core.subscales)


# --------------------------------------------------------------------- frames
def score_frame(
    spec: InstrumentSpec | str,
    df: pd.DataFrame,
    *,
    item_columns: Mapping[str, str] | Sequence[str] | None = None,
    missing: Literal["raise", "nan"] = "raise",
) -> pd.DataFrame:
    """Score a wide data frame: one row per administration, one column per item.

    Parameters
    ----------
    spec
        The instrument (a spec or its id).
    df
        The responses; NaN is a missing answer.
    item_columns
        Which column holds which item: a mapping of item id to column, a sequence of
        columns in item order, or ``None`` to look for columns named by item id
        (``phq9_1``) or by bare item number (``1``).
    missing
        ``"raise"`` (default) raises for a row with too many missing items;
        ``"nan"`` scores it as NaN.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``df``, with ``total``, one column per subscale, one per derived
        score, ``n_answered``, ``n_missing``, ``prorated``, ``band``, ``above_cutoff``,
        ``clinical`` and ``risk_items`` (comma-separated ids, "" if none). ``band`` and
        ``risk_items`` are categoricals (NaN band where the total is NaN).
    """
    spec = _spec(spec)
    if missing not in ("raise", "nan"):
        raise InputError(field="missing", value=missing, allowed="'raise' or 'nan'")
    cols = _columns(spec, df, item_columns)
    values = np.empty((len(df), len(cols)))
    for j, col in enumerate(cols):
        raw = df[col]
        if pd.api.types.is_bool_dtype(raw):
            raise InputError(
                field=spec.items[j].id,
                value=f"a true/false column ({col!r})",
                allowed=spec.items[j].scale.describe(),
                context=spec.id,
            )
        if pd.api.types.is_numeric_dtype(raw):
            values[:, j] = raw.to_numpy(dtype=float, na_value=np.nan)
            continue
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna()
        if bad.any():
            r = int(np.argmax(bad.to_numpy()))
            raise InputError(
                field=spec.items[j].id, value=raw.iloc[r],
                allowed=spec.items[j].scale.describe(),
                context=f"{spec.id}, row {df.index[r]!r}",
            )
        values[:, j] = num.to_numpy(dtype=float, na_value=np.nan)
    core = _core(spec, values, row_labels=df.index, missing=missing)
    out = pd.DataFrame({"total": core.total}, index=df.index)
    for name, vals in core.subscales.items():
        out[name] = vals
    for name, mult in spec.derived.items():
        out[name] = core.total * mult
    out["n_answered"] = core.n_answered
    out["n_missing"] = core.n_missing
    out["prorated"] = (core.n_missing > 0) & core.scorable
    out["band"] = _bands(spec, core.total)
    if spec.cutoff is None:
        out["above_cutoff"] = None
        out["clinical"] = None
    else:
        above = core.total >= spec.cutoff - 1e-9
        clinical = ~above if spec.higher_is_better else above
        valid = np.isfinite(core.total)
        out["above_cutoff"] = pd.array(np.where(valid, above, False), dtype="boolean")
        out["clinical"] = pd.array(np.where(valid, clinical, False), dtype="boolean")
        out.loc[~valid, ["above_cutoff", "clinical"]] = pd.NA
    out["risk_items"] = _risk_labels(spec, core.risk)
    return out


def _bands(spec: InstrumentSpec, total: np.ndarray) -> pd.Categorical:
    """Band labels for many totals at once (same rule as ``spec.band_of``), as a
    categorical ordered from the lowest band (NaN where the total is NaN)."""
    names = [b.label for b in spec.bands]
    if not names:
        return pd.Categorical.from_codes(np.full(total.shape, -1), categories=[], ordered=True)
    lowers = np.array([b.lower for b in spec.bands]) - 1e-9
    finite = np.isfinite(total)
    idx = np.searchsorted(lowers, np.where(finite, total, lowers[0]), side="right") - 1
    codes = np.where(finite, np.clip(idx, 0, None), -1)
    return pd.Categorical.from_codes(codes, categories=names, ordered=True)


def _risk_labels(spec: InstrumentSpec, risk: np.ndarray) -> pd.Categorical:
    """Comma-separated endorsed risk items per row ("" when none), without a row loop.

    Each row's endorsed set is coded as a bit pattern: the code of a categorical
    whose 2**r categories are the possible labels (r is 1 or 2 for the bundled
    instruments).
    """
    ids = spec.risk_items
    code = (risk.astype(np.int64) << np.arange(len(ids))).sum(axis=1)
    labels = [",".join(i for j, i in enumerate(ids) if m >> j & 1) for m in range(2 ** len(ids))]
    return pd.Categorical.from_codes(code, categories=labels)


def _columns(
    spec: InstrumentSpec,
    df: pd.DataFrame,
    item_columns: Mapping[str, str] | Sequence[str] | None,
) -> list[Any]:
    if not isinstance(df, pd.DataFrame):
        raise InputError(field="df", value=type(df).__name__, allowed="a pandas DataFrame")
    ids = spec.item_ids
    if item_columns is None:
        found: list[Any] = []
        by_name = {str(c).strip().lower(): c for c in df.columns}
        for item_id in ids:
            number = item_id[len(spec.id) + 1 :]
            col = by_name.get(item_id, by_name.get(number))
            if col is None:
                raise InputError(
                    field="item_columns", value=None,
                    allowed=f"a column named {item_id!r} or {number!r} in the frame",
                    context=spec.id,
                )
            found.append(col)
        return found
    if isinstance(item_columns, Mapping):
        resolved: dict[str, Any] = {}
        for key, col in item_columns.items():
            item_id = spec.resolve_item_id(key)
            if item_id is None:
                raise InputError(
                    field=str(key), value=col, allowed=f"an item of {spec.id}", context=spec.id
                )
            resolved[item_id] = col
        missing_items = [i for i in ids if i not in resolved]
        if missing_items:
            raise InputError(
                field="item_columns", value=sorted(resolved),
                allowed=f"a column for every item; missing {', '.join(missing_items)}",
                context=spec.id,
            )
        cols = [resolved[i] for i in ids]
    else:
        cols = list(item_columns)
        if len(cols) != len(ids):
            raise InputError(
                field="item_columns", value=len(cols),
                allowed=f"{len(ids)} columns, one per item in order", context=spec.id,
            )
    absent = [c for c in cols if c not in df.columns]
    if absent:
        raise InputError(
            field="item_columns", value=absent, allowed="columns of the frame", context=spec.id
        )
    return cols
