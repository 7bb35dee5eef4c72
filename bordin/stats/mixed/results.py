"""The fitted model: estimates, inference, random effects, predictions, reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import EstimationError, InputError
from bordin.stats.mixed.design import Design, Level
from bordin.stats.mixed.profile import Profile
from bordin.stats.mixed.satterthwaite import hessian, jacobian, satterthwaite_df

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bordin.engines import ModelSpec
    from bordin.stats.mixed.confint import LikelihoodProfile

__all__ = ["MixedModel"]


class MixedModel:
    """A linear mixed model fitted by REML or ML.

    Attributes
    ----------
    formula : str
        The model formula.
    reml : bool
        Fitted by REML (``True``) or ML.
    beta : numpy.ndarray
        Fixed-effect estimates (order of ``fixed.index``).
    vcov_beta : numpy.ndarray
        Their covariance, ``σ² (X'V⁻¹X)⁻¹``.
    sigma2 : float
        Residual variance.
    theta : numpy.ndarray
        Relative covariance parameters (lme4's θ: lower triangles of Λ by column,
        innermost grouping factor first).
    loglik : float
        Log-likelihood (the REML log-likelihood for REML fits, as lme4 reports it).
    deviance : float
        ``-2`` × the ML log-likelihood at the estimates (lme4's ``deviance(m, REML=FALSE)``).
    reml_criterion : float or None
        ``-2`` × the REML log-likelihood (REML fits only).
    aic, bic : float
        From ``loglik`` with ``p + len(theta) + 1`` parameters.
    nobs : int
        Rows used.
    n_dropped : int
        Rows dropped for missing values.
    ngroups : dict
        Number of groups per grouping factor.
    converged : bool
        Whether the optimiser met its criterion.
    notes : list of str
        Caveats (boundary estimates, convergence).

    Notes
    -----
    A grouping factor may carry several random-effects terms, as in
    ``y ~ x + (1 | g) + (0 + x | g)`` (lme4's uncorrelated intercept and slope, its
    ``(x || g)``). Everything that takes a grouping factor takes all of its terms together,
    as lme4's ``ranef(m)$g`` (one data frame with a column per effect): ``ranef("g")`` has
    a row per group and effect of every term on ``g``, ``ranef_cov("g")`` and
    ``caterpillar_plot("g")`` cover the same effects. ``varcomp`` and ``summary()`` name
    every term of ``g`` by ``g`` (lme4's ``VarCorr`` makes the later ones unique as
    ``g.1``, ``g.2``, ...); its rows differ in their terms. A term written in two terms of
    one factor (``(1 + x | g) + (1 | g)``, whose two intercept variances the data cannot
    tell apart) is listed the second time with lme4's ``make.unique`` suffix
    (``Intercept.1``).
    """

    def __init__(
        self, *, formula: str, spec: ModelSpec, design: Design, profile: Profile,
        theta: np.ndarray, reml: bool, converged: bool, notes: list[str], n_evals: int,
    ) -> None:
        self.formula = formula
        self.spec = spec
        self.reml = reml
        self._design = design
        self._profile = profile
        self.theta = np.asarray(theta, dtype=float)
        ev = profile.evaluate(self.theta)
        if ev is None:
            raise EstimationError("X'V⁻¹X is not positive definite at the estimate; the "
                                  "fixed effects are not estimable from these data")
        self._ev = ev
        n, p = design.n, design.p
        self.nobs = n
        self.n_dropped = design.stats.n_dropped
        self.beta = ev.beta
        self.sigma2 = ev.r2 / (n - p if reml else n)
        self.sigma = math.sqrt(self.sigma2)
        self.vcov_beta = self.sigma2 * ev.xtvx_inv
        crit = profile.criterion_from(ev, reml=reml)
        ml_dev = profile.criterion_from(ev, reml=False)
        # lme4's deviance(m, REML = FALSE) on a REML fit: ML deviance with σ² = r²/n
        self.deviance = float(ml_dev)
        self.reml_criterion = float(crit) if reml else None
        self.criterion = float(crit)
        self.loglik = -0.5 * float(crit)
        self.npar = p + len(self.theta) + 1
        self.aic = -2.0 * self.loglik + 2.0 * self.npar
        self.bic = -2.0 * self.loglik + math.log(n) * self.npar
        self.df_resid = n - self.npar
        self.ngroups = {lev.name: lev.n_nodes for lev in design.levels}
        self.converged = converged
        self.notes = list(notes)
        self.n_evals = n_evals
        self.fixed_names = list(design.fixed_names)

    # -- fixed effects -------------------------------------------------------------------
    @cached_property
    def _satterthwaite(self) -> tuple[np.ndarray, np.ndarray, int]:
        varpar = np.r_[self.theta, self.sigma]
        prof = self._profile
        H = hessian(lambda vp: prof.deviance_vp(vp, reml=self.reml), varpar)
        J = jacobian(prof.vcov_vp, varpar)
        return satterthwaite_df(vcov_beta=self.vcov_beta, jac=J, hess=H)

    @cached_property
    def df(self) -> np.ndarray:
        """Satterthwaite denominator degrees of freedom for each coefficient."""
        df, _, n_bad = self._satterthwaite
        if n_bad and "Satterthwaite" not in " ".join(self.notes):
            self.notes.append(
                f"Satterthwaite: Hessian of the deviance has {n_bad} non-positive "
                "eigenvalue(s); they were left out (as lmerTest does)")
        return df

    @cached_property
    def fixed(self) -> pd.DataFrame:
        """Fixed effects: estimate, se, df (Satterthwaite), t, p, ci_lower, ci_upper (95%)."""
        se = np.sqrt(np.diag(self.vcov_beta))
        t = self.beta / se
        df = self.df
        p = 2.0 * stats.t.sf(np.abs(t), df)
        crit = stats.t.ppf(0.975, df)
        return pd.DataFrame(
            {"estimate": self.beta, "se": se, "df": df, "t": t, "p": p,
             "ci_lower": self.beta - crit * se, "ci_upper": self.beta + crit * se},
            index=pd.Index(self.fixed_names, name="term"),
        )

    # -- variance components ----------------------------------------------------------------
    def _cov(self, k: int) -> np.ndarray:
        lam = self._profile.lambdas(self.theta)[k]
        return self.sigma2 * lam @ lam.T

    @cached_property
    def varcomp(self) -> pd.DataFrame:
        """Variance components in lme4's ``as.data.frame(VarCorr(m))`` order.

        Columns: ``group``, ``term1``, ``term2`` (empty for a variance), ``variance``
        (the variance, or the covariance on covariance rows), ``sd`` (variance rows) and
        ``corr`` (covariance rows). Every term on a grouping factor is named by the factor
        (where lme4 writes ``g``, ``g.1``, ... for ``(1 | g) + (0 + x | g)``).
        """
        rows: list[dict[str, Any]] = []
        for k, lev in enumerate(self._design.levels):
            S = self._cov(k)
            sd = np.sqrt(np.diag(S))
            terms = self._effect_names[k]
            for i, term in enumerate(terms):
                rows.append({"group": lev.name, "term1": term, "term2": None,
                             "variance": S[i, i], "sd": sd[i], "corr": np.nan})
            for i in range(lev.q):
                for j in range(i + 1, lev.q):
                    den = sd[i] * sd[j]
                    rows.append({"group": lev.name, "term1": terms[i],
                                 "term2": terms[j], "variance": S[i, j], "sd": np.nan,
                                 "corr": S[i, j] / den if den > 0 else np.nan})
        rows.append({"group": "Residual", "term1": None, "term2": None,
                     "variance": self.sigma2, "sd": self.sigma, "corr": np.nan})
        out = pd.DataFrame(rows)
        for col in ("term1", "term2"):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        return out

    def icc(self) -> pd.DataFrame:
        """Intraclass correlations of a random-intercept model.

        Returns
        -------
        pandas.DataFrame
            One row per grouping factor (innermost first): ``variance``, ``icc`` (its
            share of the total variance) and ``icc_within`` (the correlation of two
            observations in the same group: the shares of this and all outer levels).

        Raises
        ------
        InputError
            If a grouping factor has random slopes (the ICC then depends on the slope
            variables).
        """
        levels = self._design.levels
        for lev in levels:
            if lev.terms != ["Intercept"]:
                raise InputError(field="model", value=_term_formula(lev),
                                 allowed="random-intercept terms only for an ICC")
        var = np.array([self._cov(k)[0, 0] for k in range(len(levels))])
        total = var.sum() + self.sigma2
        share = var / total
        within = np.cumsum(share[::-1])[::-1]
        return pd.DataFrame({"variance": var, "icc": share, "icc_within": within},
                            index=pd.Index([lev.name for lev in levels], name="group"))

    # -- confidence intervals -----------------------------------------------------------------
    @cached_property
    def _likelihood_profile(self) -> LikelihoodProfile:
        from bordin.stats.mixed.confint import LikelihoodProfile

        return LikelihoodProfile(self)

    def confint(
        self, *, method: Literal["profile", "Wald"] = "profile", level: float = 0.95,
        parm: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Confidence intervals for the variance parameters and fixed effects, as lme4's.

        ``confint(m, method = "profile")`` and ``confint(m, method = "Wald")`` of lme4:
        the same parameters, names and intervals.

        Parameters
        ----------
        method
            ``"profile"`` (default): profile-likelihood intervals, the values of each
            parameter at which the signed root of the ML deviance, minimised over all the
            other parameters, is ``±z``. REML fits are profiled on their ML refit, as lme4
            does, so the intervals surround the ML estimates. A bound the profile does
            not reach before the parameter's own limit is that limit: 0 for a standard
            deviation (always so for an estimate of 0), ±1 for a correlation.
            ``"Wald"``: ``β̂ ± z·SE`` for the fixed effects with normal quantiles and the
            fit's own covariance (REML for a REML fit); ``NaN`` for the variance
            parameters, as in lme4. (``fixed`` has intervals with Satterthwaite df.)
        level
            Coverage, in (0, 1).
        parm
            ``None`` (all), ``"theta_"`` (the variance parameters), ``"beta_"`` (the
            fixed effects), or a list of row names.

        Returns
        -------
        pandas.DataFrame
            Indexed by lme4's row names: ``.sig01``, ``.sig02``, … (standard deviations
            and correlations in the order of ``theta``: for each grouping factor,
            innermost first, the lower triangle of its covariance by column, a standard
            deviation on the diagonal and a correlation below it), ``.sigma``, then the
            fixed effects under Bordin's names (``Intercept``, not ``(Intercept)``).
            Columns: ``name`` (lme4's descriptive name, ``sd_Intercept|Subject``,
            ``cor_Days.Intercept|Subject``, ``sigma``), ``estimate`` (the ML estimate
            at the centre of a profile interval; the fit's estimate for Wald),
            ``lower``, ``upper``. ``attrs`` holds ``level`` and ``method``.

        Raises
        ------
        InputError
            For an unknown ``method``, a ``level`` outside (0, 1) or an unknown name in
            ``parm``.
        EstimationError
            If profiling finds a lower deviance than the fit's (the fit stopped short of
            the optimum).

        Notes
        -----
        lme4 evaluates each profile on a grid and inverts an interpolating spline; here
        the roots are found by Brent's method on the profile itself, so the bounds are
        exact to the optimiser's precision and differ from lme4's by lme4's interpolation
        error (up to about 1e-3 relative; see ``tests/stats/mixed/test_mixed_profile.py``).

        Examples
        --------
        >>> m = fit("Reaction ~ Days + (Days | Subject)", sleepstudy)  # doctest: +SKIP
        >>> m.confint()  # doctest: +SKIP
        >>> m.confint(method="Wald", level=0.9, parm="beta_")  # doctest: +SKIP
        """
        from bordin.stats.mixed.confint import confint

        if method == "profile":
            return confint(self, method=method, level=level, parm=parm,
                           profile=self._likelihood_profile)
        return confint(self, method=method, level=level, parm=parm)

    # -- random effects --------------------------------------------------------------------
    @cached_property
    def _modes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._profile.conditional_modes(self.theta, self.beta, self.sigma2)

    @cached_property
    def _factors(self) -> dict[str, list[int]]:
        """Each grouping factor (in the order of the terms) and the indices of its terms."""
        out: dict[str, list[int]] = {}
        for k, lev in enumerate(self._design.levels):
            out.setdefault(lev.name, []).append(k)
        return out

    @cached_property
    def _effect_names(self) -> list[list[str]]:
        """Each term's effect names, unique within its grouping factor.

        A name that an earlier term on the same factor has already used gets lme4's
        ``make.unique`` suffix (``Intercept.1``); otherwise the names are the terms'.
        """
        out: list[list[str]] = []
        seen: dict[str, set[str]] = {}
        for lev in self._design.levels:
            used = seen.setdefault(lev.name, set())
            names = []
            for term in lev.terms:
                name, i = term, 0
                while name in used:
                    i += 1
                    name = f"{term}.{i}"
                used.add(name)
                names.append(name)
            out.append(names)
        return out

    def _factor(self, level: str) -> str:
        """The grouping factor called ``level`` (or, if unique, ending in ``:level``)."""
        names = list(self._factors)
        if level in self._factors:
            return level
        last = [name for name in names if name.split(":")[-1] == level]
        if len(last) == 1:
            return last[0]
        raise InputError(field="level", value=level, allowed=f"one of {names}")

    def _level(self, level: str) -> int:
        """Index of the first term on grouping factor ``level``.

        Every term on one factor has the same groups with the same labels; the factor's
        effects are those of all the terms in ``_factors[...]``.
        """
        return self._factors[self._factor(level)][0]

    def _factor_modes(self, level: str) -> tuple[list[str], list[str], np.ndarray,
                                                 list[np.ndarray]]:
        """Labels, effect names, BLUPs ``(G, Q)`` and each term's conditional covariance
        blocks of all the terms on grouping factor ``level``, groups in the order of the
        first term's labels."""
        levels = self._design.levels
        ks = self._factors[self._factor(level)]
        labels = levels[ks[0]].labels
        index = pd.Index(labels)
        names: list[str] = []
        bs: list[np.ndarray] = []
        Vs: list[np.ndarray] = []
        for k in ks:
            b, V = self._modes[k]
            if levels[k].labels != labels:
                pos = index.get_indexer(levels[k].labels)
                order = np.empty_like(pos)
                order[pos] = np.arange(len(pos))
                b, V = b[order], V[order]
            names += self._effect_names[k]
            bs.append(b)
            Vs.append(V)
        return labels, names, np.concatenate(bs, axis=1), Vs

    def ranef(self, level: str | None = None) -> pd.DataFrame:
        """Conditional modes (BLUPs) with conditional variances, as ``ranef(condVar=TRUE)``.

        Parameters
        ----------
        level
            A grouping factor (``"patient"``, ``"clinic:therapist"``); ``None`` gives all
            of them with a ``level`` column.

        Returns
        -------
        pandas.DataFrame
            Long format: ``group`` (label), ``term``, ``estimate``, ``cond_var``, ``se``;
            for each group its effects in the order of the model's terms. A factor with
            several terms (``(1 | g) + (0 + x | g)``) has the effects of all of them, as
            lme4's ``ranef(m)$g`` has a column for each: rows ``Intercept`` and ``x`` per
            group. ``cond_var`` is each effect's conditional variance.

        Raises
        ------
        InputError
            If ``level`` is not a grouping factor of the model.

        Examples
        --------
        >>> m = fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
        ...         sleepstudy)  # doctest: +SKIP
        >>> m.ranef("Subject")  # doctest: +SKIP
          group       term   estimate    cond_var         se
        0   308  Intercept   1.512696  149.791658  12.238940
        1   308       Days   9.323489    5.454389   2.335463
        ...
        """
        if level is None:
            frames = [self.ranef(name).assign(level=name) for name in self._factors]
            out = pd.concat(frames, ignore_index=True)
            return out[["level", *[c for c in out.columns if c != "level"]]]
        labels, names, b, Vs = self._factor_modes(level)
        G, q = b.shape
        cv = np.concatenate([np.diagonal(V, axis1=1, axis2=2) for V in Vs], axis=1)
        return pd.DataFrame({
            "group": np.repeat(np.asarray(labels, dtype=object), q),
            "term": np.tile(np.asarray(names, dtype=object), G),
            "estimate": b.ravel(),
            "cond_var": cv.ravel(),
            "se": np.sqrt(np.maximum(cv.ravel(), 0.0)),
        })

    def ranef_cov(self, level: str) -> np.ndarray:
        """Conditional covariance matrices of one grouping factor's random effects.

        Parameters
        ----------
        level
            A grouping factor, as in :meth:`ranef`.

        Returns
        -------
        numpy.ndarray
            ``(G, Q, Q)``: per group (in the order of ``ranef(level)``), the conditional
            covariance of its ``Q`` effects in the order of ``ranef(level)``. For a factor
            with several terms (``(1 | g) + (0 + x | g)``) each term's block is filled and
            the covariances between effects of different terms are ``NaN``: they are not
            computed (lme4's ``postVar`` likewise holds one array per term).

        Raises
        ------
        InputError
            If ``level`` is not a grouping factor of the model.
        """
        _, names, _, Vs = self._factor_modes(level)
        if len(Vs) == 1:
            return Vs[0]
        G, Q = Vs[0].shape[0], len(names)
        out = np.full((G, Q, Q), np.nan)
        start = 0
        for V in Vs:
            q = V.shape[1]
            out[:, start:start + q, start:start + q] = V
            start += q
        return out

    # -- prediction -----------------------------------------------------------------------
    def predict(
        self, newdata: Any, *, re: bool = True, allow_new_levels: bool = False
    ) -> np.ndarray:
        """Predicted response for new rows.

        Parameters
        ----------
        newdata
            pandas or polars frame with the predictor (and, for ``re=True``, grouping)
            columns.
        re
            Add the BLUPs of the rows' groups (``True``) or predict the population
            mean (``False``).
        allow_new_levels
            Groups not seen in fitting contribute zero (``True``) or raise (``False``).
        """
        from bordin.engines.pandas import as_pandas

        df = as_pandas(newdata)
        stats_ = self._design.stats
        if stats_.fixed_matrix is None:
            raise InputError(field="model", value=stats_.source,
                             allowed="a model whose engine can build designs for new data")
        try:
            X = stats_.fixed_matrix(df)
        except Exception as exc:
            raise InputError(field="newdata", value=list(map(str, df.columns)),
                             allowed=f"the model's predictor columns ({exc})") from exc
        pred = X @ self.beta
        if not re:
            return pred
        if stats_.random_matrices is None:
            raise InputError(field="re", value=True,
                             allowed="re=False for a model whose engine cannot build "
                                     "random-effects designs for new data")
        Zs = stats_.random_matrices(df)
        for rank, k in enumerate(self._design.term_order):
            lev = self._design.levels[rank]
            part = self.spec.random[k]
            missing_cols = [g for g in part.grouping if g not in df.columns]
            if missing_cols:
                raise InputError(field="newdata", value=missing_cols,
                                 allowed="the grouping columns (or re=False)")
            labels = _labels_of(df, part.grouping)
            index = pd.Index(lev.labels)
            pos = index.get_indexer(labels)
            if (pos < 0).any() and not allow_new_levels:
                raise InputError(field=part.name, value=f"{int((pos < 0).sum())} row(s) "
                                 "with groups not in the fitted data",
                                 allowed="fitted groups (or allow_new_levels=True)")
            b = self._modes[rank][0]
            Z = Zs[k]
            contrib = np.einsum("ij,ij->i", Z, b[np.maximum(pos, 0)])
            pred = pred + np.where(pos >= 0, contrib, 0.0)
        return pred

    # -- refits and reports --------------------------------------------------------------------
    def refit(self, *, reml: bool) -> MixedModel:
        """Refit the same model and data by REML or ML (no pass over the data)."""
        from bordin.stats.mixed.fit import fit_design

        return fit_design(self.formula, self.spec, self._design, reml=reml)

    def summary(self) -> str:
        """A text report in the shape of lme4/lmerTest's ``summary()``."""
        method = "REML" if self.reml else "maximum likelihood"
        lines = [f"Linear mixed model fit by {method} (Bordin; t-tests use Satterthwaite's "
                 "method)", f"Formula: {self.formula}"]
        if self.reml:
            lines.append(f"REML criterion at convergence: {self.reml_criterion:.4f}")
        else:
            lines.append(f"     AIC      BIC   logLik deviance df.resid\n"
                         f"{self.aic:8.1f} {self.bic:8.1f} {self.loglik:8.1f} "
                         f"{self.deviance:8.1f} {self.df_resid:8d}")
        lines += ["", "Random effects:",
                  f" {'Groups':<20} {'Name':<14} {'Variance':>12} {'Std.Dev.':>10}  Corr"]
        for k, lev in enumerate(self._design.levels):
            S = self._cov(k)
            sd = np.sqrt(np.diag(S))
            for i, term in enumerate(self._effect_names[k]):
                corr = ""
                if i > 0:
                    corr = " ".join(
                        f"{S[i, j] / (sd[i] * sd[j]):6.3f}" if sd[i] * sd[j] > 0 else "   NaN"
                        for j in range(i))
                lines.append(f" {lev.name if i == 0 else '':<20} {term:<14} {S[i, i]:12.5g} "
                             f"{sd[i]:10.5g}  {corr}")
        lines.append(f" {'Residual':<20} {'':<14} {self.sigma2:12.5g} {self.sigma:10.5g}")
        groups = ", ".join(f"{k}, {v}" for k, v in self.ngroups.items())
        lines.append(f"Number of obs: {self.nobs}, groups:  {groups}")
        lines += ["", "Fixed effects:"]
        fx = self.fixed
        lines.append(f"{'':<22} {'Estimate':>12} {'Std. Error':>11} {'df':>9} {'t value':>8} "
                     f"{'Pr(>|t|)':>10}")
        for term, row in fx.iterrows():
            lines.append(f"{term!s:<22} {row.estimate:12.5g} {row.se:11.5g} {row.df:9.2f} "
                         f"{row.t:8.3f} {row.p:10.3g}")
        if self.notes:
            lines += ["", *[f"Note: {n}" for n in self.notes]]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<MixedModel {self.formula!r} {'REML' if self.reml else 'ML'} "
                f"nobs={self.nobs} criterion={self.criterion:.6f}>")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of the results."""
        def clean(v: Any) -> Any:
            if isinstance(v, float | np.floating):
                return None if not np.isfinite(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            return v

        fixed = [{"term": t, **{k: clean(v) for k, v in row.items()}}
                 for t, row in self.fixed.to_dict(orient="index").items()]
        varcomp = [{k: clean(v) for k, v in r.items()}
                   for r in self.varcomp.to_dict(orient="records")]
        return {
            "formula": self.formula, "reml": self.reml, "nobs": self.nobs,
            "n_dropped": self.n_dropped, "ngroups": dict(self.ngroups),
            "fixed": fixed, "varcomp": varcomp,
            "theta": [float(t) for t in self.theta], "sigma": self.sigma,
            "loglik": self.loglik, "deviance": self.deviance,
            "reml_criterion": self.reml_criterion, "aic": self.aic, "bic": self.bic,
            "df_resid": self.df_resid, "converged": self.converged, "notes": list(self.notes),
        }

    def caterpillar_plot(self, level: str | None = None, *, term: str | None = None,
                         level_ci: float = 0.95) -> Figure:
        """Sorted BLUPs with conditional intervals, one panel per random-effect term.

        Parameters
        ----------
        level
            Grouping factor (default: the innermost). A factor with several terms
            (``(1 | g) + (0 + x | g)``) gets a panel for each effect of all of them.
        term
            Only this effect (default: all of the factor's effects, as in :meth:`ranef`).
        level_ci
            Coverage of the intervals (normal approximation on the conditional SD).

        Raises
        ------
        InputError
            For an unknown grouping factor or term, or ``level_ci`` outside (0, 1).
        """
        from bordin.stats.mixed.plots import caterpillar

        if level is None:
            level = self._design.levels[0].name
        if not 0.0 < level_ci < 1.0:
            raise InputError(field="level_ci", value=level_ci, allowed="a number in (0, 1)")
        name = self._factor(level)
        effects = [e for k in self._factors[name] for e in self._effect_names[k]]
        if term is not None and term not in effects:
            raise InputError(field="term", value=term, allowed=f"one of {effects}")
        terms = effects if term is None else [term]
        return caterpillar(self.ranef(name), terms=terms, title=name,
                           z=float(stats.norm.ppf(0.5 + level_ci / 2.0)))


def _term_formula(lev: Level) -> str:
    """A random-effects term as written in a formula: ``(1 + session | pid)``,
    ``(0 + session | pid)``."""
    parts = ["1" if t == "Intercept" else t for t in lev.terms]
    if "Intercept" not in lev.terms:
        parts.insert(0, "0")
    return f"({' + '.join(parts)} | {lev.name})"


def _labels_of(df: pd.DataFrame, grouping: tuple[str, ...]) -> list[str]:
    out = df[grouping[0]].astype(str)
    for g in grouping[1:]:
        out = out + ":" + df[g].astype(str)
    return out.tolist()
