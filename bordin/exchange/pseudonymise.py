"""Pseudonymised research exports.

Every identifier of a person (patient, clinician, episode, idempotency key,
the reference of a rating's target) is replaced by a keyed hash
(HMAC-SHA-256 with a secret salt), so the same person gets the same pseudonym
in every export made with the same secret, and nobody without the secret can
compute a pseudonym from a known code. Names are dropped. Dates are either
shifted by a per-patient offset (derived from the same keyed hash, so the
intervals within a patient's care are kept) or removed, leaving session
numbers as the only time axis. Rows are ordered by pseudonym and
administrations renumbered, so neither database ids nor the order of the real
codes survive. Organization codes are kept (clinics are the unit of many
analyses); diagnosis codes and all scores are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pandas as pd

from bordin.errors import InputError
from bordin.exchange.frames import TidyData

__all__ = ["DateMode", "Pseudonymiser", "load_or_create_secret"]

DateMode = Literal["shift", "sessions"]
MIN_SECRET_BYTES = 16


def load_or_create_secret(path: str | Path) -> bytes:
    """Read the pseudonymisation secret at ``path``, creating a random one if absent.

    The file is created readable by its owner only. ``$BORDIN_PSEUDONYM_SECRET``,
    when set, is used instead of any file.
    """
    env = os.environ.get("BORDIN_PSEUDONYM_SECRET")
    if env:
        return env.encode()
    p = Path(path)
    if p.exists():
        return p.read_bytes().strip()
    p.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


@dataclass(frozen=True)
class Pseudonymiser:
    """Replace identifiers by keyed hashes and shift or drop dates.

    Parameters
    ----------
    secret
        The salt of the keyed hash, at least 16 bytes; keep it out of the export.
    dates
        ``"shift"``: move every date and time of a patient by the same number
        of days (from ``-max_shift_days`` to ``+max_shift_days``);
        ``"sessions"``: drop dates and times, keep session numbers.
    max_shift_days
        The largest shift, in days.
    """

    secret: bytes
    dates: DateMode = "shift"
    max_shift_days: int = 180

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_SECRET_BYTES:
            raise InputError(
                field="secret", value="<hidden>",
                allowed=f"at least {MIN_SECRET_BYTES} bytes of secret salt",
            )
        if self.dates not in ("shift", "sessions"):
            raise InputError(field="dates", value=self.dates, allowed="'shift' or 'sessions'")
        if isinstance(self.max_shift_days, bool) or not isinstance(self.max_shift_days, int) or (
            self.max_shift_days < 1
        ):
            raise InputError(
                field="max_shift_days", value=self.max_shift_days, allowed="an integer >= 1"
            )

    def _digest(self, kind: str, code: str) -> bytes:
        return hmac.new(self.secret, f"{kind}\x1f{code}".encode(), hashlib.sha256).digest()

    def pseudonym(self, kind: str, code: object) -> object:
        """The pseudonym of ``code`` (a patient, clinician, ... code); missing stays missing."""
        if code is None or (not isinstance(code, str) and pd.isna(code)):
            return code
        prefix = {"patient": "p", "clinician": "c", "episode": "e", "key": "k", "ref": "r"}[kind]
        return prefix + self._digest(kind, str(code)).hex()[:16]

    def shift_days(self, patient: str) -> int:
        """The number of days every date of ``patient`` is moved by (never 0)."""
        n = int.from_bytes(self._digest("shift", patient)[:8], "big")
        span = self.max_shift_days
        days = n % (2 * span) - span  # -span .. span-1
        return days if days < 0 else days + 1  # skip 0: every date moves

    def apply(self, data: TidyData) -> TidyData:
        """Return a pseudonymised copy of ``data``."""
        eps = data.episodes.copy()
        adm = data.administrations.copy()
        shifts = {}
        if "patient" in adm.columns:
            shifts.update({p: self.shift_days(str(p)) for p in adm["patient"].dropna().unique()})
        if "patient" in eps.columns:
            shifts.update({p: self.shift_days(str(p)) for p in eps["patient"].dropna().unique()})
        if not eps.empty:
            for col in ("start", "end"):
                if col in eps.columns:
                    eps[col] = self._dates(eps[col], eps["patient"], shifts)
            eps = self._codes(eps)
        if not adm.empty:
            for col in ("date", "authored_at"):
                if col in adm.columns:
                    adm[col] = self._dates(adm[col], adm["patient"], shifts)
            if "idempotency_key" in adm.columns:
                adm["idempotency_key"] = adm["idempotency_key"].map(
                    lambda k: self.pseudonym("key", k))
            if "target_ref" in adm.columns:
                adm["target_ref"] = adm["target_ref"].map(lambda r: self.pseudonym("ref", r))
            adm = self._codes(adm)
        resp = data.responses.copy()
        if not adm.empty and "administration_id" in adm.columns:
            # Database ids (and the order of the real codes) would link back to
            # the source: order rows by pseudonym and number them afresh.
            adm = adm.sort_values(["episode", "session", "instrument", "rater"], kind="stable")
            new_ids = dict(zip(adm["administration_id"], range(1, len(adm) + 1), strict=True))
            adm["administration_id"] = adm["administration_id"].map(new_ids)
            adm = adm.reset_index(drop=True)
            if not resp.empty:
                resp["administration_id"] = resp["administration_id"].map(new_ids)
                resp = resp.dropna(subset=["administration_id"]).astype(
                    {"administration_id": "int64"})
                resp = resp.sort_values(["administration_id"], kind="stable").reset_index(
                    drop=True)
        if not eps.empty:
            eps = eps.sort_values("episode", kind="stable").reset_index(drop=True)
        clin = data.clinicians.copy()
        if not clin.empty:
            clin["clinician"] = clin["clinician"].map(lambda c: self.pseudonym("clinician", c))
            if "name" in clin.columns:
                clin["name"] = None
        orgs = data.organizations.copy()
        if not orgs.empty and "name" in orgs.columns:
            orgs["name"] = None
        if not clin.empty:
            clin = clin.sort_values("clinician", kind="stable").reset_index(drop=True)
        return replace(data, episodes=eps, administrations=adm, responses=resp,
                       clinicians=clin, organizations=orgs)

    def _codes(self, df: pd.DataFrame) -> pd.DataFrame:
        for col, kind in (("patient", "patient"), ("clinician", "clinician"),
                          ("rater_clinician", "clinician"), ("episode", "episode")):
            if col in df.columns:
                df[col] = df[col].map(lambda c, k=kind: self.pseudonym(k, c))
        return df

    def _dates(self, values: pd.Series, patients: pd.Series, shifts: dict) -> pd.Series:
        if self.dates == "sessions":
            return pd.Series([pd.NaT] * len(values), index=values.index, dtype=values.dtype)
        offsets = pd.to_timedelta(patients.map(shifts).astype("float64"), unit="D")
        return values + offsets
