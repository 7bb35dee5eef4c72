"""Rupture rules: when a session's alliance score counts as a rupture, and when repaired.

Four rules, each a small frozen class whose parameters are checked on construction:

======================  =========================================================
``cutoff``              score below a fixed cutoff (SRS < 36; OpenFIT/PCOMS)
``drop``                fall of at least ``min_drop`` points since the previous
                        observed session (SRS: 1 point; OpenFIT/PCOMS)
``personal_sd``         fall of ``k`` SD below the patient's own level
                        (Stiles et al. 2004: k = 2; Strauss et al. 2006: k = 1)
``combined``            as ``personal_sd`` but with the larger of the within- and
                        between-patient SD, i.e. the stricter (Gumz et al. 2012)
======================  =========================================================

Every rule shares the event logic of :func:`bordin.monitor._engine.assemble`: an event
starts at the first session below the threshold, its *repair target* is frozen then,
and it is repaired at the first session within ``window`` session numbers whose score
reaches the target; after the window it is unrepaired; before, open.

Choice of repair target (``repair_to``)
    ``"baseline"`` (the default) asks the score to come back to the level it fell from
    (the running mean, or the previous score for ``drop``): the V of Stiles et al. is a
    drop *and a return*. ``"threshold"`` asks only that it climb back to the threshold
    (no longer a rupture by the rule's own test), which repairs more events and sooner.

Choice of reference (``reference``) for the personal rules
    ``"running"`` (the default, for monitoring) uses the mean and SD of the *previous*
    sessions, so a session is judged only by what came before it, and needs
    ``min_prior`` of them. ``"series"`` uses the mean and SD of the whole series, as the
    retrospective research studies did; it sees the future, so use it for research only.

Citations
    Stiles WB et al. (2004) J Couns Psychol 51:81–92.
    Strauss JL et al. (2006) J Consult Clin Psychol 74:337–345.
    Gumz A et al. (2012) BMC Med Res Methodol 12:10.
    OpenFIT alert rules for the SRS (support.openfit.care, article 204000069702).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from bordin.errors import InputError
from bordin.monitor._engine import Grouped, running_stats, series_stats

__all__ = [
    "RULES",
    "CombinedRule",
    "CutoffRule",
    "DropRule",
    "PersonalSDRule",
    "RuptureRule",
    "get",
]

RepairTo = Literal["baseline", "threshold"]
Reference = Literal["running", "series"]


def _check_int(name: str, value: Any, low: int, rule: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InputError(field=name, value=value, allowed=f"a whole number >= {low}",
                         context=f"rule {rule!r}")


def _check_pos(name: str, value: Any, rule: str, *, zero: bool = False) -> None:
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (value >= 0 if zero else value > 0)
    if not ok:
        allowed = "a finite number >= 0" if zero else "a finite number > 0"
        raise InputError(field=name, value=value, allowed=allowed, context=f"rule {rule!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...], rule: str) -> None:
    if value not in choices:
        raise InputError(field=name, value=value, allowed=f"one of {list(choices)}",
                         context=f"rule {rule!r}")


@dataclass(frozen=True, kw_only=True)
class RuptureRule:
    """Base of the rupture rules (not used directly).

    Parameters
    ----------
    window
        Session numbers after the start within which a repair counts (default 5:
        Gumz et al. saw declines of up to six sessions end in a sudden repair).
    """

    name: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    window: int = 5

    def __post_init__(self) -> None:
        _check_int("window", self.window, 1, self.name)

    @property
    def params(self) -> dict[str, Any]:
        """The parameters, as a JSON-safe dict."""
        return {k: (float(v) if isinstance(v, np.floating) else v)
                for k, v in asdict(self).items()}

    @property
    def key(self) -> str:
        """A stable short name with the parameters, e.g. ``personal_sd(k=2,...)``."""
        inner = ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})"

    @property
    def min_sessions(self) -> int:
        """Observed sessions needed before any session can be judged."""
        return 1

    def quantities(
        self, g: Grouped, *, population_sd: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per row: (flag, baseline, threshold, repair target)."""
        raise NotImplementedError

    def zero_variability(self, g: Grouped) -> bool:
        """Whether the rule could not judge any session because the SD was zero."""
        return False


@dataclass(frozen=True, kw_only=True)
class CutoffRule(RuptureRule):
    """A score below ``cutoff`` is a rupture; it is repaired when the score is back at
    or above the cutoff. SRS: cutoff 36 (OpenFIT/PCOMS).

    Parameters
    ----------
    cutoff
        The cutoff in scale points. ``None`` takes the instrument's cutoff when run by
        :func:`bordin.monitor.monitor_frame`; :func:`~bordin.monitor.detect_ruptures`
        needs a number.
    """

    name: ClassVar[str] = "cutoff"
    citation: ClassVar[str] = "OpenFIT SRS alert rule (SRS < 36); Miller & Duncan PCOMS"
    cutoff: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cutoff is not None and not (
            isinstance(self.cutoff, int | float | np.number) and math.isfinite(self.cutoff)
        ):
            raise InputError(field="cutoff", value=self.cutoff, allowed="a finite number",
                             context="rule 'cutoff'")

    def quantities(
        self, g: Grouped, *, population_sd: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self.cutoff is None:
            raise InputError(field="cutoff", value=None,
                             allowed="a number (the instrument's cutoff, e.g. 36 for the SRS)",
                             context="rule 'cutoff'")
        c = np.full(g.val.size, float(self.cutoff))
        return g.val < c, c, c, c


@dataclass(frozen=True, kw_only=True)
class DropRule(RuptureRule):
    """A fall of at least ``min_drop`` points since the previous observed session.

    The previous *observed* session is used across a gap (a missed session does not
    reset the comparison). Repaired when the score is back at the level it fell from
    (``repair_to="baseline"``) or within ``min_drop`` of it (``"threshold"``).
    SRS: 1 point (OpenFIT/PCOMS).
    """

    name: ClassVar[str] = "drop"
    citation: ClassVar[str] = "OpenFIT SRS alert rule (drop of >= 1 point since last session)"
    min_drop: float = 1.0
    repair_to: RepairTo = "baseline"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_pos("min_drop", self.min_drop, self.name)
        _check_choice("repair_to", self.repair_to, ("baseline", "threshold"), self.name)

    @property
    def min_sessions(self) -> int:
        return 2

    def quantities(
        self, g: Grouped, *, population_sd: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        prev = np.concatenate(([np.nan], g.val[:-1])) if g.val.size else g.val.copy()
        prev[g.starts] = np.nan
        thr = prev - float(self.min_drop)
        with np.errstate(invalid="ignore"):
            flag = (prev - g.val) >= float(self.min_drop)
        target = prev if self.repair_to == "baseline" else thr
        return flag, prev, thr, target


@dataclass(frozen=True, kw_only=True)
class PersonalSDRule(RuptureRule):
    """A fall of ``k`` SD below the patient's own level (Stiles et al. 2004; Strauss
    et al. 2006).

    Parameters
    ----------
    k
        Threshold in the patient's SDs: 2 (Stiles et al. 2004, an "ad hoc" choice by
        the authors' account) or 1 (Strauss et al. 2006).
    min_prior
        Previous observed sessions needed for a running mean and SD (``reference=
        "running"``), or observed sessions in all (``"series"``).
    repair_to, reference
        See the module notes.
    min_sd
        A floor for the SD. With the default 0, a patient whose previous scores do not
        vary (SD 0, e.g. always the maximum) is not judged at all: any drop would be
        "infinitely many SDs" and every such series would flag. Set a floor (in scale
        points) to judge them anyway.
    """

    name: ClassVar[str] = "personal_sd"
    citation: ClassVar[str] = (
        "Stiles et al. (2004) J Couns Psychol 51:81 (2 SD); "
        "Strauss et al. (2006) J Consult Clin Psychol 74:337 (1 SD)"
    )
    k: float = 2.0
    min_prior: int = 3
    repair_to: RepairTo = "baseline"
    reference: Reference = "running"
    min_sd: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_pos("k", self.k, self.name)
        _check_int("min_prior", self.min_prior, 2, self.name)
        _check_choice("repair_to", self.repair_to, ("baseline", "threshold"), self.name)
        _check_choice("reference", self.reference, ("running", "series"), self.name)
        _check_pos("min_sd", self.min_sd, self.name, zero=True)

    @property
    def min_sessions(self) -> int:
        return self.min_prior + 1 if self.reference == "running" else self.min_prior

    def _reference(self, g: Grouped) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, mean, sd = running_stats(g) if self.reference == "running" else series_stats(g)
        ok = n >= self.min_prior
        return ok, np.where(ok, mean, np.nan), np.where(ok, sd, np.nan)

    def _sd(self, sd: np.ndarray, population_sd: np.ndarray | None) -> np.ndarray:
        return np.maximum(sd, float(self.min_sd))

    def quantities(
        self, g: Grouped, *, population_sd: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ok, mean, sd = self._reference(g)
        eff = self._sd(sd, population_sd)
        with np.errstate(invalid="ignore"):
            thr = np.where(ok & (eff > 0), mean - float(self.k) * eff, np.nan)
            flag = g.val < thr
        target = mean if self.repair_to == "baseline" else thr
        return flag, mean, thr, np.where(np.isnan(thr), np.nan, target)

    def zero_variability(self, g: Grouped) -> bool:
        ok, _mean, sd = self._reference(g)
        eff = self._sd(sd, None)
        return bool(ok.any() and (eff[ok] == 0).all())


@dataclass(frozen=True, kw_only=True)
class CombinedRule(PersonalSDRule):
    """Within- and between-patient variability, the stricter of the two (Gumz et al.
    2012): the threshold is ``mean - k * max(SD_within, SD_between)``.

    Parameters
    ----------
    population_sd
        The between-patient SD of the scale. :func:`bordin.monitor.monitor_frame`
        estimates it from the clinic (the SD of the episodes' mean scores) when it is
        None; :func:`~bordin.monitor.detect_ruptures` on one series needs a number.

    Because the between-patient SD is positive, a patient with no variability of their
    own (the ceiling) is still judged, against the clinic's variability.
    """

    name: ClassVar[str] = "combined"
    citation: ClassVar[str] = "Gumz et al. (2012) BMC Med Res Methodol 12:10"
    population_sd: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.population_sd is not None:
            _check_pos("population_sd", self.population_sd, self.name)

    @property
    def params(self) -> dict[str, Any]:
        p = super().params
        if p.get("population_sd") is not None:
            p["population_sd"] = float(p["population_sd"])
        return p

    def _sd(self, sd: np.ndarray, population_sd: np.ndarray | None) -> np.ndarray:
        if population_sd is None:
            if self.population_sd is None:
                raise InputError(
                    field="population_sd", value=None,
                    allowed="the between-patient SD of the scale, a number > 0 "
                    "(monitor_frame estimates it from the clinic)",
                    context="rule 'combined'")
            population_sd = np.full(sd.size, float(self.population_sd))
        return np.fmax(np.maximum(sd, float(self.min_sd)), population_sd)

    def zero_variability(self, g: Grouped) -> bool:
        return False


RULES: dict[str, type[RuptureRule]] = {
    r.name: r for r in (CutoffRule, DropRule, PersonalSDRule, CombinedRule)
}


def get(rule: str | RuptureRule, **params: Any) -> RuptureRule:
    """A rule by name (``"cutoff"``, ``"drop"``, ``"personal_sd"``, ``"combined"``)
    with its parameters, or a rule object as it is."""
    if isinstance(rule, RuptureRule):
        if params:
            raise InputError(field="params", value=sorted(params),
                             allowed="no extra parameters when a rule object is given")
        return rule
    if rule not in RULES:
        raise InputError(field="rule", value=rule, allowed=f"one of {sorted(RULES)}")
    cls = RULES[rule]
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(params) - known)
    if unknown:
        raise InputError(field=unknown[0], value=params[unknown[0]],
                         allowed=f"a parameter of rule {rule!r}: {sorted(known)}")
    return cls(**params)
