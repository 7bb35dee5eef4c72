"""Not-on-track: is this patient's outcome course going as it should?

Two methods, both returning the evidence (expected against observed) with the flag.

Rule-based ("rational", Jacobson & Truax 1991)
    Off track at the latest session when the change from intake is a *reliable
    deterioration*, or when by session ``by_session`` there is still *no reliable
    improvement*.

Empirical expected-recovery curves (after Finch, Lambert & Schaalje 2001)
    A growth model fitted on the clinic's own history,
    ``score ~ log_session * intake + (1 + log_session | episode)``, where ``log_session``
    is ``log(session - intake_session + 1)`` (0 at intake) and ``intake`` the intake
    score. For a new patient with intake ``x`` at session ``t`` the expected score is the
    fixed part ``X β`` and its predictive variance ``z' G z + σ²`` with ``z = (1, log t)``
    and ``G`` the random-effect covariance: the band is the expected score ± ``z`` ×
    predictive SD (``z`` from ``coverage``). A score outside the band on the worse side
    is off track. Finch et al. stratified by intake severity; conditioning on the intake
    score does the same continuously.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bordin.errors import EstimationError, InputError
from bordin.monitor._frame import check_frame, codes_of, frame_of, numeric_column
from bordin.monitor._series import as_series
from bordin.monitor._specs import kind_of, spec_or_none
from bordin.monitor.change import ChangeStatus, change_codes, reliable_change_status

__all__ = ["ExpectedRecovery", "NotOnTrack", "not_on_track", "not_on_track_frame"]

FIXED = ("Intercept", "log_session", "intake", "log_session:intake")


def _growth_data(history: pd.DataFrame, *, instrument: str, scale: str) -> pd.DataFrame:
    """Follow-up rows with their intake score and log time since intake."""
    adm = check_frame(history, required=("episode", "session", "instrument", scale))
    d = pd.DataFrame({"episode": adm["episode"].to_numpy(),
                      "session": adm["session"].to_numpy(dtype=float),
                      "score": numeric_column(adm, scale)})
    d = d.loc[(adm["instrument"].astype(str) == instrument).to_numpy()]
    if "rater" in adm:
        d = d.loc[(adm.loc[d.index, "rater"].astype(str) == "patient").to_numpy()]
    d = d.dropna(subset=["score"]).sort_values(["episode", "session"])
    g = d.groupby("episode", sort=False)
    d["intake"] = g["score"].transform("first")
    d["intake_session"] = g["session"].transform("first")
    d = d.loc[d["session"] > d["intake_session"]].copy()
    d["log_session"] = np.log(d["session"] - d["intake_session"] + 1.0)
    return d


def _fit_growth(d: pd.DataFrame, backend: str = "auto"
                ) -> tuple[dict[str, float], np.ndarray, float, str]:
    """Fit the growth model; return (fixed effects, G (2x2), sigma², backend).

    The one place to swap the mixed-model backend. ``bordin.stats.mixed`` is used when
    it provides ``fit``; until then statsmodels' MixedLM (REML) does the fit.
    """
    bordin_fit = None
    if backend in ("auto", "bordin"):
        try:
            from bordin.stats.mixed import fit as bordin_fit
        except ImportError:
            if backend == "bordin":
                raise
    if bordin_fit is not None:
        m = bordin_fit("score ~ log_session * intake + (1 + log_session | episode)", d,
                       reml=True)
        # beta and fixed_names, not .fixed: that table also computes Satterthwaite df.
        names = {str(k).strip("()"): float(v) for k, v in zip(m.fixed_names, m.beta,
                                                                strict=True)}
        fixed = {k: names[k] for k in FIXED}
        vc = m.varcomp
        vc = vc.loc[vc["group"] == "episode"]
        var = {str(r.term1).strip("()"): r.variance for r in vc.itertuples()
               if r.term2 is None}
        cov = [r.variance for r in vc.itertuples() if r.term2 is not None]
        G = np.array([[var["Intercept"], cov[0]], [cov[0], var["log_session"]]], dtype=float)
        return fixed, G, float(m.sigma2), "bordin.stats.mixed (REML)"
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergence

    model = smf.mixedlm("score ~ log_session * intake", d, groups=d["episode"],
                        re_formula="~log_session")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SMConvergence)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = model.fit(reml=True, method=["lbfgs", "bfgs"])
    fixed = {k: float(res.fe_params[k]) for k in FIXED}
    # statsmodels reports cov_re on the data scale (already multiplied by the scale).
    G = np.asarray(res.cov_re, dtype=float)
    return fixed, G, float(res.scale), "statsmodels MixedLM (REML)"


@dataclass(frozen=True)
class ExpectedRecovery:
    """Expected recovery curves with tolerance bands for one outcome instrument.

    Build with :meth:`fit` on a clinic's history, or directly from known parameters.

    Attributes
    ----------
    instrument
        Instrument id.
    fixed
        Fixed effects ``Intercept, log_session, intake, log_session:intake``.
    cov_re
        2×2 covariance of the random intercept and log-session slope.
    sigma2
        Residual variance.
    coverage
        Two-sided coverage of the band (0.90 gives z = 1.645).
    higher_is_better
        Direction of the scale (from the spec).
    """

    instrument: str
    fixed: dict[str, float]
    cov_re: np.ndarray = field(repr=False)
    sigma2: float
    coverage: float = 0.90
    higher_is_better: bool = False
    backend: str = "given"
    n_episodes: int = 0
    n_obs: int = 0

    def __post_init__(self) -> None:
        missing = [k for k in FIXED if k not in self.fixed]
        if missing:
            raise InputError(field="fixed", value=sorted(self.fixed),
                             allowed=f"the fixed effects {list(FIXED)}")
        G = np.asarray(self.cov_re, dtype=float)
        if G.shape != (2, 2) or not np.allclose(G, G.T) or np.linalg.eigvalsh(G).min() < -1e-9:
            raise InputError(field="cov_re", value=G.tolist(),
                             allowed="a symmetric positive semi-definite 2x2 matrix")
        object.__setattr__(self, "cov_re", G)
        if not (isinstance(self.sigma2, int | float) and self.sigma2 > 0):
            raise InputError(field="sigma2", value=self.sigma2, allowed="a number > 0")
        if not (isinstance(self.coverage, float) and 0 < self.coverage < 1):
            raise InputError(field="coverage", value=self.coverage,
                             allowed="a number strictly between 0 and 1")

    @property
    def z(self) -> float:
        """The band's multiplier of the predictive SD."""
        return float(stats.norm.ppf(1 - (1 - self.coverage) / 2))

    @classmethod
    def fit(
        cls,
        history: pd.DataFrame,
        *,
        instrument: str,
        scale: str = "total",
        coverage: float = 0.90,
        min_episodes: int = 20,
        backend: str = "auto",
    ) -> ExpectedRecovery:
        """Fit the curves on a clinic's administrations (patient ratings of ``instrument``).

        ``backend`` is ``"auto"`` (:mod:`bordin.stats.mixed`, else statsmodels),
        ``"bordin"`` or ``"statsmodels"``.

        Raises
        ------
        EstimationError
            With fewer than ``min_episodes`` episodes that have follow-up sessions.
        """
        if backend not in ("auto", "bordin", "statsmodels"):
            raise InputError(field="backend", value=backend,
                             allowed="'auto', 'bordin' or 'statsmodels'")
        d = _growth_data(history, instrument=instrument, scale=scale)
        n_ep = int(d["episode"].nunique())
        if n_ep < min_episodes:
            raise EstimationError(
                f"expected-recovery curves for {instrument!r} need at least {min_episodes} "
                f"episodes with follow-up sessions; the history has {n_ep}")
        fixed, G, s2, used = _fit_growth(d, backend)
        spec = spec_or_none(instrument)
        hib = bool(getattr(spec, "higher_is_better", False))
        return cls(instrument=instrument, fixed=fixed, cov_re=G, sigma2=s2,
                   coverage=float(coverage), higher_is_better=hib, backend=used,
                   n_episodes=n_ep, n_obs=len(d))

    def band(self, *, intake: Any, sessions_since_intake: Any) -> pd.DataFrame:
        """Expected score, predictive SD and band for an intake score at a time.

        ``sessions_since_intake`` is ``session - intake_session`` (1 for the session
        after intake); both arguments broadcast.
        """
        x = np.asarray(intake, dtype=float)
        t = np.asarray(sessions_since_intake, dtype=float)
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise InputError(field="sessions_since_intake", value=t.tolist() if t.size < 6
                             else "array", allowed="non-negative numbers")
        x, t = np.broadcast_arrays(x, t)
        ls = np.log(t + 1.0)
        f = self.fixed
        mean = (f["Intercept"] + f["log_session"] * ls + f["intake"] * x
                + f["log_session:intake"] * ls * x)
        G = self.cov_re
        var = G[0, 0] + 2 * G[0, 1] * ls + G[1, 1] * ls * ls + self.sigma2
        sd = np.sqrt(var)
        return pd.DataFrame({"intake": x.ravel(), "sessions_since_intake": t.ravel(),
                             "expected": mean.ravel(), "sd": sd.ravel(),
                             "lower": (mean - self.z * sd).ravel(),
                             "upper": (mean + self.z * sd).ravel()})

    def off_track(self, observed: np.ndarray, lower: np.ndarray, upper: np.ndarray
                  ) -> np.ndarray:
        """Outside the band on the worse side."""
        return observed < lower if self.higher_is_better else observed > upper

    def summary(self) -> pd.DataFrame:
        """The parameters as a table."""
        rows = [(k, v) for k, v in self.fixed.items()]
        rows += [("var(intercept)", self.cov_re[0, 0]), ("cov(intercept, slope)",
                 self.cov_re[0, 1]), ("var(slope)", self.cov_re[1, 1]),
                 ("sigma2", self.sigma2), ("z", self.z)]
        return pd.DataFrame(rows, columns=["parameter", "value"]).set_index("parameter")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {"instrument": self.instrument, "fixed": dict(self.fixed),
                "cov_re": self.cov_re.tolist(), "sigma2": self.sigma2,
                "coverage": self.coverage, "z": self.z,
                "higher_is_better": self.higher_is_better, "backend": self.backend,
                "n_episodes": self.n_episodes, "n_obs": self.n_obs}

    def plot(self, *, intakes: Sequence[float], sessions: int = 20) -> Any:
        """Expected curves and bands for a few intake scores."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        t = np.arange(0, sessions)
        for x in intakes:
            b = self.band(intake=x, sessions_since_intake=t)
            line = ax.plot(t + 1, b["expected"], label=f"intake {x:g}")[0]
            ax.fill_between(t + 1, b["lower"], b["upper"], color=line.get_color(), alpha=0.15)
        ax.set_xlabel("session")
        ax.set_ylabel(self.instrument)
        ax.legend()
        ax.set_title(f"expected recovery ({self.coverage:.0%} band)")
        return fig


@dataclass(frozen=True)
class NotOnTrack:
    """Whether one patient is on track, and why.

    Attributes
    ----------
    flag
        True when any method says off track.
    reasons
        The rules that fired: ``"reliable_deterioration"``,
        ``"no_reliable_improvement"``, ``"outside_expected_band"``.
    change
        The reliable-change status of the latest score against intake.
    expected
        The band at the latest session (expected, sd, lower, upper) when curves were
        given, else None.
    """

    flag: bool
    reasons: tuple[str, ...]
    change: ChangeStatus
    expected: dict[str, float] | None
    by_session: int
    sessions: tuple[int, ...] = ()
    scores: tuple[float, ...] = ()
    curves: ExpectedRecovery | None = field(default=None, repr=False)

    def plot(self, ax: Any = None) -> Any:
        """The course against intake: the observed scores, the reliable-change lines
        (intake ± the reliable change) and, with curves, the expected band."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 3.5))
        else:
            fig = ax.figure
        ch = self.change
        last = max(self.sessions[-1] if self.sessions else ch.latest_session, self.by_session)
        if self.curves is not None:
            t = np.arange(0, last - ch.intake_session + 1)
            b = self.curves.band(intake=ch.intake, sessions_since_intake=t)
            x = t + ch.intake_session
            ax.plot(x, b["expected"], color="tab:blue", lw=1, label="expected")
            ax.fill_between(x, b["lower"], b["upper"], color="tab:blue", alpha=0.15,
                            label=f"{self.curves.coverage:.0%} band")
        if np.isfinite(ch.threshold):
            for sign in (-1, 1):
                ax.axhline(ch.intake + sign * ch.threshold, color="0.5", ls=":", lw=1)
        ax.plot(self.sessions, self.scores, marker="o", color="0.2", label="observed")
        ax.axvline(self.by_session, color="0.7", ls="--", lw=1)
        ax.set_xlabel("session")
        ax.set_ylabel(f"{ch.instrument} {ch.scale}")
        ax.set_title(("not on track: " + ", ".join(self.reasons)) if self.flag else "on track")
        ax.legend(loc="best", fontsize=8)
        return fig

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with the evidence."""
        return {"flag": self.flag, "reasons": list(self.reasons), "by_session": self.by_session,
                "change": self.change.to_dict(), "expected": self.expected}

    def summary(self) -> pd.DataFrame:
        """The evidence as a one-column table."""
        d = {"flag": self.flag, "reasons": ", ".join(self.reasons) or "-",
             **{f"change.{k}": v for k, v in self.change.to_dict().items()}}
        if self.expected:
            d.update({f"expected.{k}": v for k, v in self.expected.items()})
        return pd.DataFrame({"not_on_track": pd.Series(d, dtype=object)})


def not_on_track(
    scores: Any,
    *,
    instrument: str,
    by_session: int = 6,
    expected: ExpectedRecovery | None = None,
    scale: str = "total",
    norms: Any = None,
) -> NotOnTrack:
    """Is one patient's outcome course off track at its latest session?

    Parameters
    ----------
    scores
        Outcome scores, one per session (sequence or Series by session number); the
        first observed is the intake.
    instrument
        Instrument id (its norms give the reliable change).
    by_session
        Session number by which a reliable improvement is expected.
    expected
        Fitted :class:`ExpectedRecovery` curves for the instrument, for the
        empirical method.
    """
    if isinstance(by_session, bool) or not isinstance(by_session, int) or by_session < 2:
        raise InputError(field="by_session", value=by_session, allowed="a whole number >= 2")
    ch = reliable_change_status(scores, instrument=instrument, scale=scale, norms=norms)
    sess, val = as_series(scores)
    reasons = []
    if ch.category == "deteriorated":
        reasons.append("reliable_deterioration")
    elif ch.latest_session >= by_session and ch.category not in ("improved", "recovered"):
        reasons.append("no_reliable_improvement")
    band = None
    if expected is not None:
        if expected.instrument != ch.instrument:
            raise InputError(field="expected", value=expected.instrument,
                             allowed=f"curves fitted for {ch.instrument!r}")
        b = expected.band(intake=ch.intake,
                          sessions_since_intake=ch.latest_session - ch.intake_session).iloc[0]
        band = {"session": ch.latest_session, "observed": ch.latest,
                **{k: float(b[k]) for k in ("expected", "sd", "lower", "upper")}}
        if bool(expected.off_track(np.array(ch.latest), b["lower"], b["upper"])):
            reasons.append("outside_expected_band")
    return NotOnTrack(flag=bool(reasons), reasons=tuple(reasons), change=ch, expected=band,
                      by_session=by_session, sessions=tuple(int(x) for x in sess),
                      scores=tuple(float(x) for x in val), curves=expected)


def _last_run_start(grp: np.ndarray, sess: np.ndarray, flag: np.ndarray) -> pd.DataFrame:
    """For groups whose last row is flagged: the last row and the session at which the
    final run of consecutive flagged rows began (a stable start for the dedupe key)."""
    n = grp.size
    if n == 0:
        return pd.DataFrame({"row": [], "start": []})
    new = np.ones(n, dtype=bool)
    new[1:] = (grp[1:] != grp[:-1]) | (flag[1:] != flag[:-1])
    run = np.cumsum(new) - 1
    run_first = np.flatnonzero(new)
    last = np.concatenate((grp[1:] != grp[:-1], [True]))
    rows = np.flatnonzero(last & flag)
    return pd.DataFrame({"row": rows, "start": sess[run_first[run[rows]]]})


def not_on_track_frame(
    adm: pd.DataFrame,
    *,
    by_session: int = 6,
    expected: ExpectedRecovery | Sequence[ExpectedRecovery] | None = None,
    scale: str = "total",
) -> pd.DataFrame:
    """Not-on-track alerts for every (episode, outcome instrument, rater), vectorised.

    Each session is judged against intake; an alert is raised when the latest session
    is off track, and starts at the first session of the current off-track run, so that
    re-running after a new session does not raise it again.
    """
    # Integer codes throughout (string columns are slow to map and sort row by row).
    ins_c, ins_u = pd.factorize(adm["instrument"], sort=False)
    ins_u = np.asarray(ins_u, dtype=object).astype(str)
    outcome = np.array([kind_of(i) == "outcome" for i in ins_u], dtype=bool)
    keep = outcome[ins_c] if len(adm) else np.zeros(0, dtype=bool)
    if not keep.any() or scale not in adm:
        return pd.DataFrame(columns=["episode"])
    ep_c, ep_u = pd.factorize(adm["episode"], sort=False)
    rat_c, rat_u = pd.factorize(adm["rater"], sort=False)
    tgt = adm["target"] if "target" in adm else pd.Series(None, index=adm.index, dtype=object)
    tg_c, tg_u = codes_of(tgt, fill="")
    sc = numeric_column(adm, scale)
    sess_all = adm["session"].to_numpy(dtype=float)
    keep &= ~np.isnan(sc)
    e, i, r, t = ep_c[keep], ins_c[keep], rat_c[keep], tg_c[keep]
    sess, score = sess_all[keep], sc[keep]
    order = np.lexsort((sess, t, r, i, e))
    e, i, r, t, sess, score = (x[order] for x in (e, i, r, t, sess, score))
    n = e.size
    first = np.ones(n, dtype=bool)
    first[1:] = (e[1:] != e[:-1]) | (i[1:] != i[:-1]) | (r[1:] != r[:-1]) | (t[1:] != t[:-1])
    grp = np.cumsum(first) - 1
    idx_first = np.flatnonzero(first)[grp]
    intake = score[idx_first]
    intake_s = sess[idx_first]
    ct = change_codes(i, ins_u, intake, score, scale=scale)
    cat = ct["category"].to_numpy(dtype=object)
    thr = ct["threshold"].to_numpy(dtype=float)
    ep_u = np.asarray(ep_u, dtype=object)
    rat_u = np.asarray(rat_u, dtype=object).astype(str)
    tg_u = np.asarray(tg_u, dtype=object).astype(str)
    out = []
    det = (cat == "deteriorated") & ~first
    noimp = (sess >= by_session) & ~first & (cat == "unchanged")
    hib_u = np.array([bool(getattr(spec_or_none(x), "higher_is_better", False)) for x in ins_u])
    sign = np.where(hib_u[i], 1.0, -1.0)  # direction of improvement
    checks = [("reliable_deterioration", det, intake - sign * thr),
              (f"no_reliable_improvement(by_session={by_session})", noimp, intake + sign * thr)]
    if expected is not None:
        curves = [expected] if isinstance(expected, ExpectedRecovery) else list(expected)
        for curve in curves:
            m = (ins_u[i] == curve.instrument) & ~first
            if not m.any():
                continue
            b = curve.band(intake=intake[m], sessions_since_intake=sess[m] - intake_s[m])
            flag = np.zeros(n, dtype=bool)
            flag[m] = curve.off_track(score[m], b["lower"].to_numpy(), b["upper"].to_numpy())
            bound = np.full(n, np.nan)
            bound[m] = (b["lower"] if curve.higher_is_better else b["upper"]).to_numpy()
            exp_ = np.full(n, np.nan)
            exp_[m] = b["expected"].to_numpy()
            checks.append((f"expected_recovery(coverage={curve.coverage:g})", flag, bound, exp_))
    for check in checks:
        name, flag, bound = check[0], check[1], check[2]
        base = check[3] if len(check) > 3 else intake
        lr = _last_run_start(grp, sess, flag)
        if lr.empty:
            continue
        rows = lr["row"].to_numpy()
        out.append(frame_of({
            "episode": ep_u[e[rows]], "instrument": ins_u[i[rows]],
            "rater": rat_u[r[rows]], "target": tg_u[t[rows]],
            "scale": scale, "kind": "not_on_track", "rule": name,
            "start": lr["start"].to_numpy(dtype=np.int64),
            "session": sess[rows].astype(np.int64), "state": "open", "observed": score[rows],
            "baseline": base[rows], "threshold": bound[rows], "depth": score[rows] - base[rows],
            "lowest": -1, "lowest_score": np.nan, "repaired_at": np.nan,
            "params": [{"by_session": by_session, "intake": float(intake[k]),
                        "intake_session": int(intake_s[k]), "category": cat[k]}
                       for k in rows],
        }))
    if not out:
        return pd.DataFrame(columns=["episode"])
    return pd.concat(out, ignore_index=True)


