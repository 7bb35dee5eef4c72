"""Observe the latent course through Bordin's instruments, item by item.

Each item follows a graded response model: with θ the rater's latent value on
the instrument's orientation, item j answers at least its k-th category with
probability ``logistic(a_j (θ - b_jk))``. It is drawn exactly that way, with
one logistic variate per item (``a_j θ + L > a_j b_jk`` for each threshold), so
a whole instrument over a million administrations is a few array operations.
The instrument's own scoring (:func:`bordin.instruments.score_matrix`, the
library's fast path on the same core as ``score_frame``) then turns the
responses into totals and subscales, which are monotone in θ and so recover
the latent course up to measurement error.

Risk items (PHQ-9 item 9, CORE-10 item 6) are the exception to the common
threshold grid: their thresholds sit ``risk_item_location`` above the centre
and their discrimination is scaled by ``risk_item_discrimination``, so they
are endorsed about as rarely as in real outpatient care (about a fifth of
patients at intake, fewer as treatment works) while still rising with
severity.

Raters differ: patients rate the alliance leniently (a ceiling effect), a
clinician's rating loads only partly on the patient's experience and carries
the clinician's personal bias, observers add error but no leniency. Every
questionnaire has an occasion-specific state shared by its items, and items
or whole questionnaires go missing at random.

Item parameters (discriminations, thresholds) depend only on the instrument
id (a CRC32 seed), not on the data set's seed, so an instrument behaves the
same in every simulated data set.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.simulate.dynamics import Course
from bordin.simulate.parameters import FORMATS, RATERS, TARGETS, Parameters, Schedule
from bordin.simulate.structure import ROLE_STAFF, Structure

__all__ = ["Measured", "administer"]

_HIGHER_IS_WORSE = {"symptoms", "anxiety"}
# instruments are drawn in up to two threads (the project's machines have two cores)
_WORKERS = min(2, os.cpu_count() or 1)
_ALLIANCE_LATENTS = {"alliance", "programme_alliance", "group_alliance", "staff_alliance"}


@dataclass
class Measured:
    administrations: pd.DataFrame
    responses: pd.DataFrame
    items: pd.DataFrame
    skill_ratings: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    skill_responses: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


@dataclass
class _Block:
    """The administrations of one schedule entry, before global ordering."""

    instrument: str
    rater: str
    target: str
    episode: np.ndarray  # -1 for clinician-level (FIS)
    session: np.ndarray  # 0 for clinician-level
    clinician: np.ndarray
    organization: np.ndarray
    date: np.ndarray
    scores: pd.DataFrame
    values: np.ndarray  # (n, k) raw responses, NaN = missing
    item_ids: tuple[str, ...]
    order: int


def _item_parameters(spec, p: Parameters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Discrimination (k,), item offset (k,), and the relative threshold grid (m,)."""
    rng = np.random.default_rng(zlib.crc32(spec.id.encode()))
    k = len(spec.items)
    a = p.item_discrimination * np.exp(p.item_discrimination_sd * rng.normal(size=k))
    offset = p.item_location_sd * rng.normal(size=k)
    grid = rng.random(k)
    # risk items (PHQ-9 item 9, CORE-10 item 6) are rarely endorsed even in severe
    # depression: their thresholds sit far above the others and they discriminate less
    risk = np.array([bool(item.risk) for item in spec.items])
    if risk.any():
        a = np.where(risk, a * p.risk_item_discrimination, a)
        offset = np.where(risk, p.risk_item_location, offset)
    return a, offset, grid


def _categories(item) -> int:
    return round((item.scale.max - item.scale.min) / item.scale.step) + 1


def _respond(
    spec, theta: np.ndarray, item_shift: np.ndarray | None, centre: float, p: Parameters,
    rng: np.random.Generator,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Draw raw item responses (n, k) for latent values theta (instrument orientation).

    Graded response model with equally spaced thresholds ``b_jk`` around
    ``centre + offset_j``: with one standard logistic draw ``L`` per item,
    ``X_j >= k`` exactly when ``theta + L / a_j > b_jk``; the count of thresholds
    passed is computed in one step because the thresholds are equally spaced.
    Single precision is enough here: only which interval a value falls in matters.
    """
    n = len(theta)
    a, offset, _ = _item_parameters(spec, p)
    k = len(spec.items)
    raw = np.empty((n, k), dtype=np.float64)
    rows = []
    spread = p.threshold_spread
    u = rng.random((n, k), dtype=np.float32)
    # standard logistic log(u / (1 - u)) (u = 0 gives -inf), in place: one (n, k) buffer
    noise = np.subtract(np.float32(1.0), u)
    with np.errstate(divide="ignore"):
        np.divide(u, noise, out=noise)
        np.log(noise, out=noise)
    del u
    th32 = theta.astype(np.float32)
    shift32 = (item_shift.astype(np.float32)
               if item_shift is not None and item_shift.ndim == 2 else None)
    for j, item in enumerate(spec.items):
        m = _categories(item)
        z = noise[:, j] * np.float32(1.0 / a[j]) + th32
        if shift32 is not None:
            z += shift32[:, j]
        loc = centre + offset[j]
        if m == 2:
            cat = (z > loc).astype(np.int64)
        elif m <= 21:
            first = loc - spread
            width = 2.0 * spread / (m - 2)
            cat = np.clip(np.ceil((z - np.float32(first)) * np.float32(1.0 / width)), 0, m - 1)
            cat = cat.astype(np.int64)
        else:  # a visual-analogue item: a fine grid, drawn through the logistic cdf
            q = 1.0 / (1.0 + np.exp(-(z - np.float32(loc)) * np.float32(a[j] / 2.0)))
            cat = np.rint(q * (m - 1)).astype(np.int64)
        if item.reverse:
            cat = (m - 1) - cat
        raw[:, j] = item.scale.min + cat * item.scale.step
        rows.append({"instrument": spec.id, "item": item.id, "discrimination": float(a[j]),
                     "location": float(loc), "categories": m, "reverse": bool(item.reverse)})
    return raw, pd.DataFrame(rows)


def _select(
    sch: Schedule, st: Structure, course: Course, rng: np.random.Generator, p: Parameters
) -> np.ndarray:
    """Row indices of the course at which this schedule entry is administered."""
    ep_fmt = st.ep_format[course.episode]
    keep = np.ones(len(course.episode), dtype=bool)
    if sch.formats:
        keep &= np.isin(ep_fmt, [FORMATS.index(f) for f in sch.formats])
    s = course.session
    last = course.n_sessions[course.episode]
    if sch.sessions == "first":
        keep &= s == 1
    elif sch.sessions == "last":
        keep &= s == last
    elif sch.sessions == "first_last":
        keep &= (s == 1) | (s == last)
    elif isinstance(sch.sessions, tuple):
        keep &= np.isin(s, np.array(sch.sessions, dtype=np.int64))
    idx = np.flatnonzero(keep)
    given = rng.random(len(idx)) < sch.probability * (1.0 - p.administration_missing_rate)
    return idx[given]


def _rater_view(
    sch: Schedule, latent: np.ndarray, clin: np.ndarray, st: Structure, p: Parameters,
    rng: np.random.Generator,
) -> np.ndarray:
    n = len(latent)
    if sch.latent in _ALLIANCE_LATENTS:
        if sch.rater == "patient":
            return latent + p.patient_leniency
        if sch.rater == "clinician":
            v = p.clinician_rating_validity
            return (v * latent + np.sqrt(max(1 - v**2, 0.0)) * rng.normal(size=n)
                    + st.clin_rater_bias[clin] + p.clinician_leniency)
        return latent + p.observer_noise_sd * rng.normal(size=n) + p.observer_leniency
    if sch.rater == "patient":
        return latent
    return latent + p.other_rater_symptom_sd * rng.normal(size=n)  # another's view


def _spec(instrument: str):
    from bordin.instruments import registry

    return registry.get(instrument)


def _score(spec, values: np.ndarray) -> pd.DataFrame:
    """Totals and subscales by the instrument's own scoring rules.

    :func:`bordin.instruments.score_matrix` is the library's fast path: the same
    scoring core as ``score_frame`` without the per-row bands and risk labels,
    which the simulator does not store.
    """
    from bordin.instruments import score_matrix

    return score_matrix(spec, values, missing="nan").summary()


def _latent(sch: Schedule, course: Course, rows: np.ndarray) -> np.ndarray:
    if sch.latent == "staff_alliance":
        return course.staff_alliance[course.episode[rows]]
    src = {
        "symptoms": course.symptoms, "anxiety": course.anxiety, "wellbeing": course.wellbeing,
        "alliance": course.alliance, "programme_alliance": course.secondary,
        "group_alliance": course.secondary, "expectancy": course.expectancy,
    }[sch.latent]
    return src[rows]


def _administer_one(
    p: Parameters, st: Structure, course: Course, sch: Schedule, order: int,
    rng: np.random.Generator, centres: dict[str, float],
) -> tuple[_Block, pd.DataFrame]:
    """One schedule entry: select the sessions, draw the items, score them."""
    spec = _spec(sch.instrument)
    rows = _select(sch, st, course, rng, p)
    ep = course.episode[rows]
    clin = st.ep_staff[ep] if sch.latent == "staff_alliance" else st.ep_clinician[ep]
    lat = _latent(sch, course, rows)
    ok = np.isfinite(lat)  # programme/group/staff alliance exists only where they exist
    rows, ep, clin, lat = rows[ok], ep[ok], clin[ok], lat[ok]
    view = _rater_view(sch, lat, clin, st, p, rng)
    view = view + p.occasion_sd * rng.normal(size=len(view))
    sign = -1.0 if (sch.latent in _HIGHER_IS_WORSE) == spec.higher_is_better else 1.0
    shift = None  # per-item shifts exist only for the alliance's bond profile
    if sch.latent == "alliance":
        shift = np.zeros((len(view), len(spec.items)))
        bond = course.bond_offset[rows]
        for name, members in spec.subscales.items():
            cols = [spec.item_ids.index(i) for i in members]
            if "bond" in name.lower():
                shift[:, cols] = bond[:, None]
            elif "goal" in name.lower() or "task" in name.lower():
                shift[:, cols] = -0.5 * bond[:, None]
    centre = centres[sch.latent] * sign if sch.latent in _HIGHER_IS_WORSE else centres[
        sch.latent]
    theta = sign * view
    values, items = _respond(spec, theta, None if shift is None else shift * sign, centre, p,
                             rng)
    miss = rng.random(values.shape) < p.item_missing_rate
    values[miss] = np.nan
    # a questionnaire with more blanks than its scoring rule allows was not completed:
    # it is not an administration (the store refuses unscorable questionnaires too)
    done = miss.sum(axis=1) <= spec.max_missing
    if not done.all():
        values, rows, ep, clin = values[done], rows[done], ep[done], clin[done]
    session = course.session[rows]
    date = st.ep_start[ep] + ((session - 1) * st.ep_interval[ep]).astype("timedelta64[D]")
    block = _Block(
        instrument=spec.id, rater=sch.rater, target=sch.target, episode=ep,
        session=session, clinician=clin, organization=st.ep_org[ep], date=date,
        scores=_score(spec, values), values=values, item_ids=spec.item_ids, order=order,
    )
    return block, items


def administer(
    p: Parameters, st: Structure, course: Course, rng: np.random.Generator,
) -> Measured:
    """Administer every scheduled instrument and the clinicians' FIS rating.

    Each schedule entry draws from its own generator (seeded in order from
    ``rng``), so the entries can run in two threads (numpy releases the GIL in
    the array work) and the result is still the same for the same seed.
    """
    centres = p.mapping("threshold_centres")
    seeds = rng.integers(0, 2**63 - 1, size=len(p.schedule) + 1, dtype=np.int64)

    def one(order: int) -> tuple[_Block, pd.DataFrame]:
        return _administer_one(p, st, course, p.schedule[order], order,
                               np.random.default_rng(int(seeds[order])), centres)

    if _WORKERS > 1 and len(p.schedule) > 1:
        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            done = list(pool.map(one, range(len(p.schedule))))
    else:
        done = [one(i) for i in range(len(p.schedule))]
    blocks = [b for b, _ in done]
    item_rows = [items for _, items in done]
    rng = np.random.default_rng(int(seeds[-1]))
    measured = _assemble(blocks, st, item_rows)
    # clinicians' facilitative interpersonal skills, rated by observers on a performance
    # task outside any episode: their own two tables
    fis = _fis(p, st, rng, len(blocks), item_rows, centres)
    if fis:
        skills = _assemble(fis, st, [])
        measured.skill_ratings = skills.administrations.drop(
            columns=["patient", "episode", "session"]).rename(
            columns={"administration_id": "rating_id"})
        measured.skill_responses = skills.responses.rename(
            columns={"administration_id": "rating_id"})
    measured.items = pd.concat(item_rows, ignore_index=True) if item_rows else pd.DataFrame()
    return measured


def _fis(
    p: Parameters, st: Structure, rng: np.random.Generator, order: int,
    item_rows: list[pd.DataFrame], centres: dict[str, float],
) -> list[_Block]:
    from bordin.instruments import registry

    if p.fis_raters == 0 or "fis" not in registry:
        return []
    spec = registry.get("fis")
    clin = np.repeat(np.flatnonzero(st.clin_role != ROLE_STAFF), p.fis_raters)
    n = len(clin)
    k = len(spec.items)
    if k == st.skills.shape[1]:
        latent = st.skills[clin]
        theta = np.zeros(n)
        shift = latent + p.fis_rater_sd * rng.normal(size=(n, k))
    else:
        theta = st.skills[clin].mean(1) + p.fis_rater_sd * rng.normal(size=n)
        shift = np.zeros((n, k))
    values, items = _respond(spec, theta, shift, centres["skills"], p, rng)
    item_rows.append(items)
    start = np.datetime64(pd.Timestamp(p.start_date).date(), "D")
    return [_Block(
        instrument=spec.id, rater="observer", target="clinician",
        episode=np.full(n, -1, dtype=np.int64), session=np.zeros(n, dtype=np.int64),
        clinician=clin, organization=st.clin_org[clin],
        date=np.full(n, start - np.timedelta64(30, "D")),
        scores=_score(spec, values), values=values, item_ids=spec.item_ids, order=order,
    )]


def _target_code(target: str) -> int:
    return -1 if target == "none" else TARGETS.index(target)


def _assemble(blocks: list[_Block], st: Structure, item_rows: list[pd.DataFrame]) -> Measured:
    if not blocks:
        raise InputError(field="schedule", value=(), allowed="at least one instrument")
    ep = np.concatenate([b.episode for b in blocks])
    ses = np.concatenate([b.session for b in blocks])
    ordr = np.concatenate([np.full(len(b.episode), b.order) for b in blocks])
    clin = np.concatenate([b.clinician for b in blocks])
    # episodes first (by episode, session, schedule order), clinician-level rows last
    # one int64 sort key: episode (clinician-level rows last), session, clinician, schedule
    ep_key = np.where(ep < 0, st.n_episodes, ep).astype(np.int64)
    key = ((ep_key * 1024 + ses) * (len(st.clin_role) + 1) + clin) * 256 + ordr
    perm = np.argsort(key, kind="stable")
    n = len(perm)
    new_id = np.empty(n, dtype=np.int64)
    new_id[perm] = np.arange(n)
    has_ep = ep >= 0
    patient = np.where(has_ep, st.ep_patient[np.maximum(ep, 0)] + 1, -1)

    def nullable(a: np.ndarray, mask: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(np.where(mask, a, 0).astype(np.int64), ~mask)

    instruments = [b.instrument for b in blocks]
    cat_inst = pd.CategoricalDtype(list(dict.fromkeys(instruments)))
    cols: dict[str, object] = {
        "administration_id": np.arange(n, dtype=np.int64),
        "organization": (np.concatenate([b.organization for b in blocks]) + 1)[perm],
        "clinician": (clin + 1)[perm],
        "patient": nullable(patient[perm], has_ep[perm]),
        "episode": nullable((ep + 1)[perm], has_ep[perm]),
        "session": nullable(ses[perm], has_ep[perm]),
        "date": np.concatenate([b.date for b in blocks])[perm].astype("datetime64[s]"),
        "instrument": pd.Categorical.from_codes(
            np.concatenate([np.full(len(b.episode), cat_inst.categories.get_loc(b.instrument))
                            for b in blocks])[perm], dtype=cat_inst),
        "rater": pd.Categorical.from_codes(
            np.concatenate([np.full(len(b.episode), RATERS.index(b.rater), dtype=np.int8)
                            for b in blocks])[perm], categories=list(RATERS)),
        # "none" (symptom questionnaires) is written as missing: code -1
        "target": pd.Categorical.from_codes(
            np.concatenate([np.full(len(b.episode), _target_code(b.target), dtype=np.int8)
                            for b in blocks])[perm], categories=list(TARGETS[:-1])),
    }
    score_cols: list[str] = []
    for b in blocks:
        for c in b.scores.columns:
            if c not in score_cols:
                score_cols.append(c)
    for c in score_cols:
        full = np.full(n, np.nan)
        start = 0
        for b in blocks:
            m = len(b.episode)
            if c in b.scores.columns:
                full[start:start + m] = b.scores[c].to_numpy(dtype=float)
            start += m
        cols[c] = full[perm]
    # copy=False: the columns are fresh arrays of ours; pandas neither copies them nor
    # consolidates same-typed columns into a 2-D block (a second copy of each)
    adm = pd.DataFrame(cols, copy=False)

    # responses: one row per answered item, written straight into final order. Only the
    # answered cells are placed: each lands at its administration's offset (in final
    # order) plus its rank among that administration's answered items, so no
    # all-cells buffer and no mask over it are needed.
    item_cats = list(dict.fromkeys(i for b in blocks for i in b.item_ids))
    code_of = {name: c for c, name in enumerate(item_cats)}
    code_dtype = np.int8 if len(item_cats) < 128 else np.int16 if len(item_cats) < 2**15 else (
        np.int32)
    answered_rows = []
    n_answered = np.empty(n, dtype=np.int64)
    start = 0
    for b in blocks:
        m = len(b.values)
        ok = ~np.isnan(b.values)
        answered_rows.append(ok)
        n_answered[new_id[start:start + m]] = ok.sum(axis=1)
        start += m
    offset = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_answered, out=offset[1:])
    total = int(offset[-1])
    values = np.empty(total, dtype=np.float64)
    item_code = np.empty(total, dtype=code_dtype)
    start = 0
    for b, ok in zip(blocks, answered_rows, strict=True):
        m, _ = b.values.shape
        rank = np.cumsum(ok, axis=1, dtype=np.int64)
        rank += (offset[new_id[start:start + m]] - 1)[:, None]
        pos = rank[ok]
        del rank
        values[pos] = b.values[ok]
        codes = np.array([code_of[i] for i in b.item_ids], dtype=code_dtype)
        item_code[pos] = np.broadcast_to(codes, ok.shape)[ok]
        start += m
        b.values = b.values[:0]  # drop the block's copy as soon as it is placed
    del answered_rows
    responses = pd.DataFrame({
        "administration_id": np.repeat(np.arange(n, dtype=np.int64), n_answered),
        "item": pd.Categorical.from_codes(item_code, categories=item_cats),
        "value": values,
    }, copy=False)
    items_df = pd.concat(item_rows, ignore_index=True) if item_rows else pd.DataFrame()
    return Measured(administrations=adm, responses=responses, items=items_df)
