"""Therapists: their contribution to the alliance-outcome relation, and their effects.

:func:`therapist_patient_contribution` disaggregates the alliance-outcome
association (Baldwin, Wampold & Imel 2007): each patient's alliance is split
into the therapist's mean over their patients (between therapists) and the
patient's deviation from it (within therapist); the outcome is regressed on
both plus covariates (baseline severity) with a therapist random intercept.
The difference between the two coefficients is estimated directly as the
coefficient of the therapist mean in a model that also holds the raw alliance
(b_between - b_within, the "contextual" effect), so it gets its own
Satterthwaite df.

:func:`therapist_effects` estimates the share of outcome variance that lies
between therapists (the ICC), case-mix adjusted by covariates, with a
profile-likelihood CI; shrunken (BLUP) therapist effects with conditional
intervals; which therapists differ reliably from the average; a minimum
caseload below which therapists are shown but not ranked; and, with an
``organization`` column, clinics as a third level. Any clinician role works:
pass the column that identifies psychiatrists, staff or programmes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from bordin.alliance._common import check_level, json_safe
from bordin.alliance._fit import model_frame
from bordin.alliance._profile_icc import RandomInterceptProfile
from bordin.errors import InputError, StatisticalWarning
from bordin.stats.mixed import fit

__all__ = [
    "ContributionResult",
    "TherapistEffectsResult",
    "therapist_effects",
    "therapist_patient_contribution",
]


def _row(table: pd.DataFrame, term: str, level: float) -> dict[str, float]:
    r = table.loc[term]
    q = stats.t.ppf(0.5 + level / 2, r["df"])
    return {"estimate": float(r["estimate"]), "se": float(r["se"]), "df": float(r["df"]),
            "t": float(r["t"]), "p": float(r["p"]),
            "ci_lower": float(r["estimate"] - q * r["se"]),
            "ci_upper": float(r["estimate"] + q * r["se"])}


@dataclass(frozen=True)
class ContributionResult:
    """Therapist (between) and patient (within) contributions of the alliance.

    Attributes
    ----------
    between, within, difference, total
        Dicts with estimate, se, df (Satterthwaite), t, p, ci_lower, ci_upper:
        the therapist-mean coefficient, the patient-deviation coefficient, their
        difference (between - within) and the coefficient of the raw alliance in
        a model without the split.
    table
        The four rows as a DataFrame.
    model, total_model
        The fitted :class:`bordin.stats.mixed.MixedModel` objects.
    n_patients, n_therapists, single_patient_therapists
        Sample sizes; therapists with one patient contribute to the between
        coefficient only (their within deviation is 0).
    """

    between: dict[str, float]
    within: dict[str, float]
    difference: dict[str, float]
    total: dict[str, float]
    table: pd.DataFrame
    n_patients: int
    n_therapists: int
    single_patient_therapists: int
    level: float
    model: Any = field(repr=False)
    total_model: Any = field(repr=False)
    frame: pd.DataFrame = field(repr=False)

    def summary(self) -> pd.DataFrame:
        """between / within / difference / total with CIs."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "between": self.between, "within": self.within, "difference": self.difference,
            "total": self.total, "n_patients": self.n_patients,
            "n_therapists": self.n_therapists,
            "single_patient_therapists": self.single_patient_therapists, "level": self.level,
            "varcomp": self.model.varcomp, "df_method": "Satterthwaite",
        })

    def plot(self) -> matplotlib.figure.Figure:
        """Coefficients with CIs, and outcome against therapist mean alliance."""
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
        t = self.table
        y = np.arange(len(t))[::-1]
        a1.errorbar(t["estimate"], y, xerr=[t["estimate"] - t["ci_lower"],
                                            t["ci_upper"] - t["estimate"]],
                    fmt="o", capsize=3, color="k")
        a1.axvline(0, color="grey", lw=0.8)
        a1.set_yticks(y, list(t.index))
        a1.set_xlabel("coefficient (outcome units per alliance unit)")
        a1.set_title("Therapist vs patient contribution", fontsize=9)
        f = self.frame
        means = f.groupby("_therapist")[["_between", "_y"]].mean()
        a2.scatter(f["_between"], f["_y"], s=6, alpha=0.3, label="patients")
        a2.scatter(means["_between"], means["_y"], s=18, color="tab:red", label="therapist means")
        a2.set_xlabel("therapist mean alliance")
        a2.set_ylabel("outcome")
        a2.legend(fontsize=7)
        fig.tight_layout()
        return fig


def therapist_patient_contribution(
    data: pd.DataFrame,
    *,
    alliance: str = "patient_total",
    outcome: str = "post",
    covariates: Sequence[str] = ("baseline",),
    clinician: str = "clinician",
    level: float = 0.95,
) -> ContributionResult:
    """Baldwin, Wampold & Imel (2007): therapist vs patient variability in the alliance.

    Parameters
    ----------
    data
        One row per patient (episode), e.g. from :func:`bordin.alliance.patient_table`.
    alliance
        Column of the patient's (early) alliance.
    outcome
        Column of the outcome (e.g. post-treatment severity).
    covariates
        Patient-level covariates (default: baseline severity).
    clinician
        Column identifying the therapist (or any clinician role).
    level
        Confidence level.

    Returns
    -------
    ContributionResult
    """
    level = check_level(level)
    frame = model_frame(data, numeric={"alliance": alliance, "outcome": outcome},
                        groups={"clinician": clinician}, covariates=covariates)
    n_ther = frame[clinician].nunique()
    if n_ther < 3:
        raise InputError(field=clinician, value=f"{n_ther} therapists",
                         allowed="at least 3 therapists")
    f = pd.DataFrame({
        "_y": frame[outcome].to_numpy(float), "_alliance": frame[alliance].to_numpy(float),
        "_therapist": frame[clinician].to_numpy(),
    })
    for i, c in enumerate(covariates):
        f[f"_c{i}"] = frame[c].to_numpy(float)
    f["_between"] = f.groupby("_therapist")["_alliance"].transform("mean")
    f["_within"] = f["_alliance"] - f["_between"]
    if f["_between"].std() == 0:
        raise InputError(field=alliance, value="the same therapist mean for every therapist",
                         allowed="alliance that varies between therapists")
    cov_terms = "".join(f" + _c{i}" for i in range(len(covariates)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        m = fit(f"_y ~ _within + _between{cov_terms} + (1 | _therapist)", f, reml=True)
        mc = fit(f"_y ~ _alliance + _between{cov_terms} + (1 | _therapist)", f, reml=True)
        mt = fit(f"_y ~ _alliance{cov_terms} + (1 | _therapist)", f, reml=True)
    between = _row(m.fixed, "_between", level)
    within = _row(m.fixed, "_within", level)
    diff = _row(mc.fixed, "_between", level)
    total = _row(mt.fixed, "_alliance", level)
    table = pd.DataFrame([between, within, diff, total],
                         index=pd.Index(["between (therapist)", "within (patient)",
                                         "difference (between - within)", "total"],
                                        name="coefficient"))
    sizes = f.groupby("_therapist").size()
    return ContributionResult(
        between=between, within=within, difference=diff, total=total, table=table,
        n_patients=len(f), n_therapists=int(n_ther),
        single_patient_therapists=int((sizes == 1).sum()), level=level, model=m,
        total_model=mt, frame=f,
    )


@dataclass(frozen=True)
class TherapistEffectsResult:
    """Therapist effects on an outcome.

    Attributes
    ----------
    icc, icc_ci
        Share of (residual, case-mix adjusted) outcome variance between therapists
        and its CI: profile likelihood (two levels) or parametric bootstrap
        (``ci="bootstrap"``; the only choice with clinics as a third level, where
        without it there is no CI).
    clinic_icc, clinic_icc_ci
        The clinics' share and its bootstrap CI (three-level model).
    ci_method
        ``"profile likelihood"``, ``"parametric bootstrap (B)"`` or None.
    varcomp
        Variance components (therapist, clinic if any, residual).
    therapists
        One row per therapist: caseload, BLUP (shrunken effect), se, ci_lower,
        ci_upper, reliability (of the caseload mean), differs (CI excludes 0),
        ranked (caseload >= min_caseload), rank (1 = best, among ranked).
    clinics
        Clinic BLUPs with intervals (three-level model only).
    lower_is_better
        Ranks put the lowest effect first when True.
    """

    icc: float
    icc_ci: tuple[float, float] | None
    clinic_icc: float | None
    clinic_icc_ci: tuple[float, float] | None
    ci_method: str | None
    varcomp: pd.DataFrame
    fixed: pd.DataFrame
    therapists: pd.DataFrame
    clinics: pd.DataFrame | None
    min_caseload: int
    lower_is_better: bool
    level: float
    n_patients: int
    role: str
    model: Any = field(repr=False)

    def caseload_for_reliability(self, target: float = 0.7) -> int:
        """Caseload at which a therapist's mean outcome reaches this reliability."""
        if not 0 < target < 1:
            raise InputError(field="target", value=target, allowed="a number in (0, 1)")
        if self.icc <= 0:
            return int(np.iinfo(np.int32).max)
        ratio = (1 - self.icc) / self.icc
        return int(np.ceil(target / (1 - target) * ratio))

    def summary(self) -> pd.DataFrame:
        """The therapist table (shrunken effects, intervals, ranks)."""
        out = self.therapists.copy()
        out.attrs.update(icc=self.icc, icc_ci=self.icc_ci, min_caseload=self.min_caseload)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every number."""
        return json_safe({
            "icc": self.icc, "icc_ci": self.icc_ci, "icc_ci_method": self.ci_method,
            "clinic_icc": self.clinic_icc, "clinic_icc_ci": self.clinic_icc_ci,
            "varcomp": self.varcomp, "fixed": self.fixed,
            "therapists": self.therapists, "clinics": self.clinics,
            "min_caseload": self.min_caseload, "lower_is_better": self.lower_is_better,
            "level": self.level, "n_patients": self.n_patients, "role": self.role,
        })

    def plot(self) -> matplotlib.figure.Figure:
        """Caterpillar plot: shrunken therapist effects with intervals, sorted."""
        t = self.therapists.sort_values("blup")
        fig, ax = plt.subplots(figsize=(6.5, max(3.0, 0.14 * len(t) + 1.2)))
        y = np.arange(len(t))
        colors = np.where(~t["ranked"], "0.7", np.where(t["differs"], "tab:red", "k"))
        ax.hlines(y, t["ci_lower"], t["ci_upper"], colors=colors, lw=1)
        ax.scatter(t["blup"], y, c=colors, s=10, zorder=3)
        ax.axvline(0, color="grey", lw=0.8)
        if len(t) <= 60:
            ax.set_yticks(y, t.index.astype(str), fontsize=6)
        else:
            ax.set_yticks([])
        better = "lower" if self.lower_is_better else "higher"
        ax.set_xlabel(f"{self.role} effect on outcome (BLUP; {better} is better)")
        lo, hi = self.icc_ci if self.icc_ci else (np.nan, np.nan)
        ax.set_title(f"ICC = {self.icc:.3f} [{lo:.3f}, {hi:.3f}]; red: differs from average; "
                     f"grey: caseload < {self.min_caseload}", fontsize=8)
        fig.tight_layout()
        return fig


def therapist_effects(
    data: pd.DataFrame,
    *,
    outcome: str = "post",
    covariates: Sequence[str] = ("baseline",),
    clinician: str = "clinician",
    organization: str | None = None,
    min_caseload: int = 5,
    lower_is_better: bool = True,
    level: float = 0.95,
    ci: str = "profile",
    n_boot: int = 200,
    seed: int = 0,
) -> TherapistEffectsResult:
    """Therapist (or any clinician role's) effects on outcome.

    Parameters
    ----------
    data
        One row per patient (episode): outcome, covariates, clinician (and organization).
    outcome
        Outcome column (e.g. post-treatment severity).
    covariates
        Case-mix covariates (default: baseline severity). Empty for unadjusted.
    clinician
        Column identifying the clinician: therapist, psychiatrist, staff member ...
    organization
        Optional clinic column: fits ``(1 | organization/clinician)``.
    min_caseload
        Clinicians with fewer patients are shown but not ranked.
    lower_is_better
        Direction of the outcome for ranking.
    level
        Confidence level of the ICC and BLUP intervals.
    ci
        ICC interval: ``"profile"`` (profile likelihood, two levels only) or
        ``"bootstrap"`` (parametric bootstrap: simulate from the fitted model,
        refit, percentile interval).
    n_boot, seed
        Bootstrap replicates and random seed.
    """
    level = check_level(level)
    if ci not in ("profile", "bootstrap"):
        raise InputError(field="ci", value=ci, allowed="'profile' or 'bootstrap'")
    if ci == "bootstrap" and (not isinstance(n_boot, int | np.integer) or n_boot < 20):
        raise InputError(field="n_boot", value=n_boot, allowed="an integer of at least 20")
    if not isinstance(min_caseload, int | np.integer) or min_caseload < 1:
        raise InputError(field="min_caseload", value=min_caseload, allowed="a positive integer")
    groups = {"clinician": clinician, "organization": organization}
    frame = model_frame(data, numeric={"outcome": outcome}, groups=groups,
                        covariates=covariates)
    n_ther = frame[clinician].nunique()
    if n_ther < 3:
        raise InputError(field=clinician, value=f"{n_ther} clinicians",
                         allowed="at least 3 clinicians")
    rhs = " + ".join(covariates) if covariates else "1"
    if organization is None:
        re_term = f"(1 | {clinician})"
        level_name = clinician
    else:
        # Clinician labels may repeat across clinics; nest explicitly.
        re_term = f"(1 | {organization}/{clinician})"
        level_name = f"{organization}:{clinician}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalWarning)
        m = fit(f"{outcome} ~ {rhs} + {re_term}", frame, reml=True)
    vc = m.varcomp
    icc_table = m.icc()
    re = m.ranef(level_name)
    z = stats.norm.ppf(0.5 + level / 2)
    if organization is None:
        ther_key = frame[clinician]
    else:
        ther_key = frame[organization] + ":" + frame[clinician]
    caseload = ther_key.value_counts()
    t = pd.DataFrame({
        "caseload": caseload.reindex(re["group"]).to_numpy(),
        "blup": re["estimate"].to_numpy(), "se": re["se"].to_numpy(),
    }, index=pd.Index(re["group"].astype(str).to_numpy(), name=clinician))
    t["ci_lower"] = t["blup"] - z * t["se"]
    t["ci_upper"] = t["blup"] + z * t["se"]
    t["differs"] = (t["ci_lower"] > 0) | (t["ci_upper"] < 0)
    tau2 = float(icc_table["variance"].iloc[0])
    sigma2 = float(m.sigma2)
    t["reliability"] = tau2 / (tau2 + sigma2 / t["caseload"]) if tau2 > 0 else 0.0
    t["ranked"] = t["caseload"] >= min_caseload
    key = t["blup"] if lower_is_better else -t["blup"]
    t["rank"] = np.where(t["ranked"], key.where(t["ranked"]).rank(method="min"), np.nan)
    icc = float(icc_table["icc"].iloc[0])
    icc_ci: tuple[float, float] | None = None
    clinic_icc_ci: tuple[float, float] | None = None
    ci_method: str | None = None
    clinics = None
    clinic_icc = None
    X = np.column_stack([np.ones(len(frame)), *[frame[c].to_numpy(float) for c in covariates]])
    if ci == "bootstrap":
        icc_ci, clinic_icc_ci = _bootstrap_icc(
            m, frame, X, outcome=outcome, formula=f"{outcome} ~ {rhs} + {re_term}",
            clinician=clinician, organization=organization, n_boot=int(n_boot), seed=seed,
            level=level)
        ci_method = f"parametric bootstrap ({int(n_boot)} replicates, percentile)"
    elif organization is None:
        prof = RandomInterceptProfile(X, frame[outcome].to_numpy(float),
                                      frame[clinician].to_numpy())
        icc_ci = prof.icc_interval(level, gamma_hat=tau2 / sigma2)
        ci_method = "profile likelihood (REML)"
    if organization is not None:
        clinic_icc = float(icc_table["icc"].iloc[1])
        rc = m.ranef(organization)
        clinics = pd.DataFrame({
            "blup": rc["estimate"].to_numpy(), "se": rc["se"].to_numpy(),
        }, index=pd.Index(rc["group"].astype(str).to_numpy(), name=organization))
        clinics["ci_lower"] = clinics["blup"] - z * clinics["se"]
        clinics["ci_upper"] = clinics["blup"] + z * clinics["se"]
        clinics["differs"] = (clinics["ci_lower"] > 0) | (clinics["ci_upper"] < 0)
    return TherapistEffectsResult(
        icc=icc, icc_ci=icc_ci, clinic_icc=clinic_icc, clinic_icc_ci=clinic_icc_ci,
        ci_method=ci_method, varcomp=vc, fixed=m.fixed,
        therapists=t, clinics=clinics, min_caseload=int(min_caseload),
        lower_is_better=lower_is_better, level=level, n_patients=len(frame), role=clinician,
        model=m,
    )


def _bootstrap_icc(
    m: Any, frame: pd.DataFrame, X: np.ndarray, *, outcome: str, formula: str,
    clinician: str, organization: str | None, n_boot: int, seed: int, level: float,
) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """Parametric bootstrap of the ICC(s): simulate from the fit, refit, percentiles."""
    rng = np.random.default_rng(seed)
    icc = m.icc()
    var = icc["variance"].to_numpy(dtype=float)  # innermost (clinician) first
    mean = X @ m.fixed["estimate"].to_numpy(dtype=float)
    ther_codes = pd.factorize(
        frame[clinician] if organization is None
        else frame[organization] + ":" + frame[clinician])[0]
    org_codes = pd.factorize(frame[organization])[0] if organization is not None else None
    sims = np.empty((n_boot, len(var)))
    boot = frame.copy()
    for b in range(n_boot):
        y = mean + rng.normal(0.0, np.sqrt(m.sigma2), len(frame))
        y += rng.normal(0.0, np.sqrt(var[0]), ther_codes.max() + 1)[ther_codes]
        if org_codes is not None:
            y += rng.normal(0.0, np.sqrt(var[1]), org_codes.max() + 1)[org_codes]
        boot[outcome] = y
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sims[b] = fit(formula, boot, reml=True).icc()["icc"].to_numpy(dtype=float)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(sims, [a, 1.0 - a], axis=0)
    ther = (float(lo[0]), float(hi[0]))
    clinic = (float(lo[1]), float(hi[1])) if len(var) > 1 else None
    return ther, clinic
