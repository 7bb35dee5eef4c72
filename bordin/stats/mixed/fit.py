"""``fit``: formula and data in, :class:`~bordin.stats.mixed.results.MixedModel` out."""

from __future__ import annotations

import os
import warnings
from typing import Any, Literal

import numpy as np

from bordin.engines import GroupedCrossproducts, ModelSpec, SufficientStatistics
from bordin.errors import BoundaryWarning, ConvergenceWarning, EstimationError, InputError
from bordin.stats.mixed.crossed import CrossedDesign, CrossedMixedModel, CrossedProfile
from bordin.stats.mixed.design import Design, build_design
from bordin.stats.mixed.formula import parse_formula
from bordin.stats.mixed.optimize import minimise
from bordin.stats.mixed.profile import Profile
from bordin.stats.mixed.results import MixedModel

__all__ = ["boundary_notes", "fit", "fit_design", "resolve_engine"]


def resolve_engine(data: Any) -> SufficientStatistics:
    """Pick the engine for ``data``.

    pandas/polars frames -> :class:`bordin.engines.pandas.FrameEngine`; a ``.parquet``
    path or a DuckDB relation -> :class:`bordin.engines.duckdb.DuckDBEngine`; anything
    implementing :class:`~bordin.engines.SufficientStatistics` is used as it is.
    """
    if isinstance(data, SufficientStatistics):
        return data
    if isinstance(data, str | os.PathLike):
        path = os.fspath(data)
        if not path.lower().endswith(".parquet") and "*" not in path:
            raise InputError(field="data", value=path, allowed="a path to a .parquet file")
        from bordin.engines.duckdb import DuckDBEngine

        return DuckDBEngine.from_parquet(path)
    module = type(data).__module__
    if module.startswith("duckdb"):
        from bordin.engines.duckdb import DuckDBEngine

        return DuckDBEngine(data)
    from bordin.engines.pandas import FrameEngine

    return FrameEngine(data)


def _check_fixed(stats: GroupedCrossproducts) -> None:
    """Refuse constant or collinear fixed-effect columns, naming them."""
    p = stats.p
    n = stats.nobs
    xtx = stats.crossprod[:, :p, :p].sum(axis=0)
    names = stats.fixed_names
    has_intercept = "Intercept" in names
    diag = np.diag(xtx)
    for j, name in enumerate(names):
        if name == "Intercept":
            continue
        s = xtx[j, names.index("Intercept")] if has_intercept else 0.0
        var = diag[j] / n - (s / n) ** 2 if has_intercept else diag[j] / n
        if var <= 1e-12 * max(diag[j] / n, 1e-300):
            raise InputError(
                field=name, value="constant" if has_intercept else "all zero",
                allowed="a predictor that varies (a constant column is confounded with "
                        "the intercept)",
            )
    d = np.sqrt(diag)
    corr = xtx / np.outer(d, d)
    vals, vecs = np.linalg.eigh(corr)
    if vals[0] < 1e-10 * vals[-1]:
        involved = [names[i] for i in np.flatnonzero(np.abs(vecs[:, 0]) > 0.1)]
        raise InputError(field="formula", value=f"collinear fixed effects {involved}",
                         allowed="a fixed-effects design of full column rank")
    yy = stats.crossprod[:, -1, -1].sum()
    ys = stats.crossprod[:, 0, -1].sum() if has_intercept else 0.0
    if yy / n - (ys / n) ** 2 <= 1e-14 * max(yy / n, 1e-300):
        raise InputError(field=stats.response, value="constant",
                         allowed="a response that varies")


def boundary_notes(profile: Profile, theta: np.ndarray) -> list[str]:
    """Notes for diagonal elements of Λ at zero.

    A zero diagonal element means a variance of zero only when its whole row of Λ is
    zero; otherwise the term's random effect is an exact linear function of the terms
    before it (a correlation of ±1 for two terms) and its variance is not zero.
    """
    notes: list[str] = []
    for lev, lam in zip(profile.levels, profile.lambdas(theta), strict=True):
        for r in range(lev.q):
            if lam[r, r] != 0.0:
                continue
            term = lev.terms[r]
            if not np.any(lam[r, :r]):
                notes.append(f"boundary (singular) fit: variance of {term} in {lev.name} "
                             "estimated at 0")
            else:
                notes.append(f"boundary (singular) fit: the {term} effect in {lev.name} is "
                             "perfectly correlated with the terms before it (singular "
                             "covariance matrix)")
    return notes


def fit_design(formula: str, spec: ModelSpec, design: Design, *, reml: bool) -> MixedModel:
    """Fit a model to an already-built design (used by ``fit`` and ``refit``).

    Nested designs use the sufficient-statistics reduction
    (:class:`~bordin.stats.mixed.profile.Profile`); crossed ones lme4's penalised least
    squares (:class:`~bordin.stats.mixed.crossed.CrossedProfile`).
    """
    crossed = isinstance(design, CrossedDesign)
    profile = CrossedProfile(design) if crossed else Profile(design)
    res = minimise(lambda th: profile.criterion(th, reml=reml), profile.theta0(),
                   profile.lower, profile.theta_scale())
    if not np.isfinite(res.value):
        raise EstimationError("the (restricted) likelihood is not finite at any variance "
                              "parameters tried; the data cannot support this model")
    theta = res.theta.copy()
    notes = boundary_notes(profile, theta)
    for note in notes:
        warnings.warn(note, BoundaryWarning, stacklevel=3)
    if not res.converged:
        msg = f"optimiser did not converge: {res.message}"
        notes.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    cls = CrossedMixedModel if crossed else MixedModel
    return cls(formula=formula, spec=spec, design=design, profile=profile,
               theta=theta, reml=reml, converged=res.converged, notes=notes,
               n_evals=res.n_evals)


def fit(
    formula: str,
    data: Any,
    *,
    reml: bool = True,
    missing: Literal["drop", "raise"] = "drop",
) -> MixedModel:
    """Fit a linear mixed model by REML or ML, exactly, from per-group sufficient statistics.

    Parameters
    ----------
    formula
        lme4-style formula, e.g. ``"phq9 ~ session + alliance + (1 + session | patient)"``,
        ``"y ~ x + (1 | clinic/therapist/patient)"`` or
        ``"y ~ x + (1 + session | patient) + (1 | therapist)"``. Grouping factors nested in
        one another are fitted from per-group sufficient statistics; crossed or partially
        crossed ones (``"y ~ x + (1 + x | patient) + (1 | rater)"``) by lme4's penalised
        least squares on a sparse ``Z`` (:mod:`bordin.stats.mixed.crossed`).
    data
        A pandas or polars DataFrame, a Parquet path, a DuckDB relation, or any object
        implementing :class:`bordin.engines.SufficientStatistics`.
    reml
        REML (default) or maximum likelihood.
    missing
        ``"drop"``: drop incomplete rows with a :class:`~bordin.errors.DataDroppedWarning`
        giving the count; ``"raise"``: refuse them.

    Returns
    -------
    MixedModel

    Examples
    --------
    >>> m = fit("Reaction ~ Days + (Days | Subject)", sleepstudy)  # doctest: +SKIP
    >>> m.fixed  # doctest: +SKIP
    """
    if missing not in ("drop", "raise"):
        raise InputError(field="missing", value=missing, allowed="'drop' or 'raise'")
    if not isinstance(reml, bool):
        raise InputError(field="reml", value=reml, allowed="True or False")
    spec = parse_formula(formula)
    engine = resolve_engine(data)
    stats = engine.grouped_crossproducts(spec, missing=missing)
    for idx in stats.z_columns:
        if len(idx) > 4:
            raise InputError(field="formula", value=formula,
                             allowed="at most 4 random effects per grouping factor")
    _check_fixed(stats)
    design = build_design(stats, spec)
    return fit_design(formula, spec, design, reml=reml)
