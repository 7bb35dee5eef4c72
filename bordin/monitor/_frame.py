"""Reading a tidy ``administrations`` frame into grouped score arrays, checked."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import DataDroppedWarning, InputError
from bordin.monitor._engine import Grouped

__all__ = ["REQUIRED", "LongScores", "check_frame", "long_scores"]

REQUIRED = ("episode", "session", "instrument", "rater", "total")


def check_frame(adm: Any, *, required: tuple[str, ...] = REQUIRED) -> pd.DataFrame:
    """Check the columns the monitor needs and coerce ``session`` to whole numbers."""
    if not isinstance(adm, pd.DataFrame):
        raise InputError(field="administrations", value=type(adm).__name__,
                         allowed="a pandas DataFrame of administrations")
    missing = [c for c in required if c not in adm.columns]
    if missing:
        raise InputError(field="administrations.columns", value=missing[0],
                         allowed=f"a frame with the columns {list(required)}")
    sess = pd.to_numeric(adm["session"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(sess) | (sess < 0) | (sess != np.round(sess))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(field="session", value=adm["session"].iloc[i],
                         allowed="a non-negative whole number", context=f"row {i}")
    if not pd.api.types.is_integer_dtype(adm["session"]):
        adm = adm.assign(session=sess.astype(np.int64))
    return adm


def numeric_column(adm: pd.DataFrame, col: str) -> np.ndarray:
    """A score column as floats; a value that is not a number is an error."""
    raw = adm[col]
    if pd.api.types.is_numeric_dtype(raw):
        return raw.to_numpy(dtype=float, na_value=np.nan)
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() & raw.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(field=col, value=raw.iloc[i], allowed="a number or empty",
                         context=f"row {i}")
    return num.to_numpy(dtype=float, na_value=np.nan)


@dataclass(frozen=True)
class LongScores:
    """Every (episode, instrument, rater, target, scale) series, end to end."""

    g: Grouped
    episode: np.ndarray  # per group, the episode label
    instrument: np.ndarray
    rater: np.ndarray
    target: np.ndarray
    scale: np.ndarray
    ins_code: np.ndarray  # per group, codes into ins_u
    ins_u: np.ndarray
    scale_code: np.ndarray  # per group, codes into scale_u
    scale_u: np.ndarray
    strata: np.ndarray  # per group, code of (instrument, rater, target, scale)
    rating: np.ndarray  # per group, code of (episode, instrument, rater, target): no scale


def long_scores(adm: pd.DataFrame, *, scales: tuple[str, ...]) -> LongScores:
    """Melt the score columns of ``adm`` into grouped series (missing scores dropped).

    Duplicate sessions of one series keep the last row and warn.
    """
    present = [s for s in scales if s in adm.columns]
    ep_c, ep_u = pd.factorize(adm["episode"], sort=False)
    ins_c, ins_u = pd.factorize(adm["instrument"], sort=False)
    ins_u = np.asarray(ins_u, dtype=object).astype(str).astype(object)
    rat_c, rat_u = pd.factorize(adm["rater"], sort=False)
    rat_u = np.asarray(rat_u, dtype=object).astype(str).astype(object)
    tgt = adm["target"] if "target" in adm else pd.Series(None, index=adm.index, dtype=object)
    tg_c, tg_u = codes_of(tgt, fill="clinician")
    ni, nr, nt = len(ins_u), len(rat_u), len(tg_u)
    base = ((ep_c.astype(np.int64) * ni + ins_c) * nr + rat_c) * nt + tg_c
    nb = max(len(ep_u), 1) * ni * nr * nt
    sess_all = adm["session"].to_numpy(dtype=np.int64)
    # One stable sort of the administrations by (series, session) serves every scale:
    # the scale is the highest part of the series code, so the per-scale blocks laid
    # end to end are already in order.
    order = np.argsort(base * (int(sess_all.max(initial=0)) + 1) + sess_all, kind="stable")
    base_o, sess_o = base[order], sess_all[order]
    codes, sess, vals = [], [], []
    for k, s in enumerate(present):
        v = numeric_column(adm, s)[order]
        keep = ~np.isnan(v)
        codes.append(base_o[keep] + k * nb)
        sess.append(sess_o[keep])
        vals.append(v[keep])
    code = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    sess_a = (np.concatenate(sess) if sess else np.zeros(0)).astype(float)
    val = np.concatenate(vals) if vals else np.zeros(0)
    if code.size > 1:
        dup = (code[1:] == code[:-1]) & (sess_a[1:] == sess_a[:-1])
        if dup.any():
            keep = np.concatenate((~dup, [True]))
            warnings.warn(
                f"{int(dup.sum())} duplicate administration(s) of the same session, "
                "instrument, rater and target; the last row of each was kept",
                DataDroppedWarning, stacklevel=3)
            code, sess_a, val = code[keep], sess_a[keep], val[keep]
    change = np.concatenate(([False], code[1:] != code[:-1])) if code.size else code.astype(bool)
    grp = np.cumsum(change)
    g = Grouped.from_codes(grp, sess_a, val)
    gc = code[g.starts]
    sc = gc // nb
    rest = gc % nb
    tg = rest % nt
    rest //= nt
    ra = rest % nr
    rest //= nr
    ins = rest % ni
    ep = rest // ni
    scale_u = np.asarray(present if present else ["total"], dtype=object)
    strata = sc * (ni * nr * nt) + gc % (ni * nr * nt)  # the code without the episode
    return LongScores(
        g=g, episode=np.asarray(ep_u, dtype=object)[ep], instrument=ins_u[ins],
        rater=rat_u[ra], target=tg_u[tg], scale=scale_u[sc], ins_code=ins, ins_u=ins_u,
        scale_code=sc, scale_u=scale_u, strata=strata, rating=gc % nb,
    )


def frame_of(cols: dict[str, Any]) -> pd.DataFrame:
    """A DataFrame whose text columns stay NumPy object arrays.

    pandas 3 turns text into Arrow-backed strings when a frame is built; for the
    hundreds of thousands of alert rows of a clinic that conversion, and the one back
    when the columns are read again, cost more than all the rules together. Scalars
    are broadcast to the length of the first array-like column.
    """
    n = next((len(v) for v in cols.values() if isinstance(v, np.ndarray | list | pd.Series)), 0)
    out: dict[str, pd.Series] = {}
    for k, v in cols.items():
        if isinstance(v, pd.Series):
            v = v.to_numpy()
        if isinstance(v, np.ndarray) and v.dtype.kind in "US":
            v = v.astype(object)
        if isinstance(v, list):
            arr = np.empty(len(v), dtype=object)
            arr[:] = v
            out[k] = pd.Series(arr, dtype=object, copy=False)
        elif isinstance(v, np.ndarray):
            out[k] = pd.Series(v, dtype=object if v.dtype == object else v.dtype, copy=False)
        elif v is None or isinstance(v, str):
            out[k] = pd.Series(np.full(n, v, dtype=object), dtype=object, copy=False)
        else:
            out[k] = pd.Series(np.full(n, v), copy=False)
    return pd.DataFrame(out, copy=False)


def codes_of(values: Any, *, fill: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and their labels (text) for a column, missing values as ``fill``.

    Works on any column type, categoricals included (``fillna`` with a new label
    fails on a categorical).
    """
    codes, uniques = pd.factorize(values, sort=False)
    labels = np.asarray(uniques, dtype=object).astype(str).astype(object)
    missing = codes < 0
    if missing.any():
        where = np.flatnonzero(labels == fill)
        if where.size:
            k = int(where[0])
        else:
            labels = np.append(labels, np.array([fill], dtype=object))
            k = labels.size - 1
        codes = codes.copy()
        codes[missing] = k
    return codes.astype(np.int64), labels


def text_column(frame: pd.DataFrame, col: str, *, fill: str) -> np.ndarray:
    """A column as an object array of text, missing values (or no column) as ``fill``."""
    if col not in frame.columns:
        return np.full(len(frame), fill, dtype=object)
    codes, labels = codes_of(frame[col], fill=fill)
    return labels[codes] if len(codes) else np.zeros(0, dtype=object)
