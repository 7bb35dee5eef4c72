"""The simulated data set: observed tables, the generating truth, saving."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bordin.errors import InputError
from bordin.simulate.parameters import Parameters

__all__ = ["SimulatedClinic", "Truth"]

_FORMATS = ("csv", "parquet")


@dataclass
class Truth:
    """What generated the data (never observable in a real clinic).

    Attributes
    ----------
    sessions
        One row per session held: ``episode, session`` and the latent
        ``symptoms, anxiety, wellbeing, alliance, secondary_alliance,
        expectancy, adherence, improvement_rate, in_rupture``.
    ruptures
        One row per rupture event: ``rupture, episode, start_session, depth,
        repaired_session`` (``<NA>`` when never repaired), ``repaired``.
    episodes
        ``episode, unit, planned_sessions, n_sessions, dropout,
        therapist_alliance, patient_alliance, dyad_alliance, alliance_strength``.
    clinicians
        ``clinician`` with the eight FIS skills, ``warmth, competence,
        alliance_contribution, rate_effect, rater_bias``.
    patients
        ``patient, attachment, social_support, motivation, alliance_contribution,
        alliance_strength``.
    organizations
        ``organization, climate, programme_quality``.
    items
        Item parameters of the graded response model per instrument.
    parameters
        The :class:`Parameters` that generated the data.
    """

    sessions: pd.DataFrame
    ruptures: pd.DataFrame
    episodes: pd.DataFrame
    clinicians: pd.DataFrame
    patients: pd.DataFrame
    organizations: pd.DataFrame
    items: pd.DataFrame
    parameters: Parameters

    def __repr__(self) -> str:
        return (f"Truth(sessions={len(self.sessions)}, ruptures={len(self.ruptures)}, "
                f"episodes={len(self.episodes)}, clinicians={len(self.clinicians)})")

    def tables(self) -> dict[str, pd.DataFrame]:
        """The truth tables by name (without the parameters)."""
        return {
            "sessions": self.sessions, "ruptures": self.ruptures, "episodes": self.episodes,
            "clinicians": self.clinicians, "patients": self.patients,
            "organizations": self.organizations, "items": self.items,
        }


@dataclass
class SimulatedClinic:
    """A simulated data set in Bordin's data contracts.

    Attributes
    ----------
    administrations
        One completed questionnaire per row: ``administration_id, organization,
        clinician, patient, episode, session, date, instrument, rater, target,
        total`` and one column per subscale of any instrument given.
    responses
        Item level: ``administration_id, item, value`` (missing items have no row).
    episodes
        ``episode, patient, clinician, organization, treatment, format, diagnosis,
        start, end`` plus ``unit`` (members of one couple, family or group share it),
        ``n_sessions`` and ``ended`` (``completed`` or ``dropout``).
    clinicians
        ``clinician, organization, role``.
    patients
        ``patient, age, sex``.
    skill_ratings, skill_responses
        Observers' FIS ratings of each therapist and psychiatrist on a performance
        task (outside any episode): ``rating_id, organization, clinician, date,
        instrument, rater, target, total`` and the items ``rating_id, item, value``.
    truth
        The latent course, the rupture events and the generating parameters.
    preset, seed
        How the data set was made.
    """

    administrations: pd.DataFrame
    responses: pd.DataFrame
    episodes: pd.DataFrame
    clinicians: pd.DataFrame
    patients: pd.DataFrame
    truth: Truth
    preset: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    skill_ratings: pd.DataFrame = field(default_factory=pd.DataFrame)
    skill_responses: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def parameters(self) -> Parameters:
        """The generating parameters."""
        return self.truth.parameters

    def __repr__(self) -> str:
        return (f"SimulatedClinic(preset={self.preset!r}, seed={self.seed}, "
                f"episodes={len(self.episodes)}, sessions={len(self.truth.sessions)}, "
                f"administrations={len(self.administrations)}, "
                f"responses={len(self.responses)})")

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by file name: observed ones, then ``truth_<name>``."""
        out = {
            "administrations": self.administrations,
            "responses": self.responses,
            "episodes": self.episodes,
            "clinicians": self.clinicians,
            "patients": self.patients,
            "skill_ratings": self.skill_ratings,
            "skill_responses": self.skill_responses,
        }
        out.update({f"truth_{k}": v for k, v in self.truth.tables().items()})
        return out

    def summary(self) -> pd.DataFrame:
        """Counts of what was generated."""
        t = self.truth
        rows = [
            ("organizations", len(t.organizations)),
            ("clinicians", len(self.clinicians)),
            ("patients", len(self.patients)),
            ("episodes", len(self.episodes)),
            ("sessions", len(t.sessions)),
            ("administrations", len(self.administrations)),
            ("item responses", len(self.responses)),
            ("FIS ratings", len(self.skill_ratings)),
            ("ruptures", len(t.ruptures)),
            ("ruptures repaired", int(t.ruptures["repaired"].sum()) if len(t.ruptures) else 0),
            ("dropouts", int((self.episodes["ended"] == "dropout").sum())),
        ]
        return pd.DataFrame(rows, columns=["what", "count"])

    def plot_episode(self, episode: int, *, alliance: str = "wai_sr",
                     outcome: str = "phq9") -> Any:
        """One episode session by session: observed scores, latent course, ruptures.

        Parameters
        ----------
        episode
            Episode id.
        alliance, outcome
            Instruments whose totals are drawn (when the episode has them).

        Returns
        -------
        matplotlib.figure.Figure
            Top: latent alliance with the observed alliance total on a second axis;
            bottom: latent symptoms and the observed outcome total. Open ruptures
            are shaded.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if episode not in set(self.episodes["episode"]):
            raise InputError(field="episode", value=episode,
                             allowed=f"an episode id from 1 to {len(self.episodes)}")
        s = self.truth.sessions[self.truth.sessions["episode"] == episode]
        adm = self.administrations[self.administrations["episode"] == episode]
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
        ax1.plot(s["session"], s["alliance"], color="#4c72b0", label="latent alliance")
        ax2.plot(s["session"], s["symptoms"], color="#c44e52", label="latent symptoms")
        for ax, inst, colour in ((ax1, alliance, "#4c72b0"), (ax2, outcome, "#c44e52")):
            obs = adm[adm["instrument"] == inst]
            if len(obs):
                tw = ax.twinx()
                tw.plot(obs["session"], obs["total"], "o--", color=colour, alpha=0.5,
                        label=f"{inst} total")
                tw.set_ylabel(f"{inst} total")
            ax.legend(loc="upper left", fontsize=8)
        r = self.truth.ruptures[self.truth.ruptures["episode"] == episode]
        last = int(s["session"].max()) if len(s) else 1
        for row in r.itertuples():
            end = row.repaired_session if not pd.isna(row.repaired_session) else last + 1
            for ax in (ax1, ax2):
                ax.axvspan(row.start_session - 0.5, end - 0.5, color="grey", alpha=0.2)
        ax1.set_ylabel("alliance (latent)")
        ax2.set_ylabel("symptoms (latent)")
        ax2.set_xlabel("session")
        ep = self.episodes[self.episodes["episode"] == episode].iloc[0]
        ax1.set_title(f"episode {episode}: {ep['format']}, {ep['diagnosis']}, "
                      f"{ep['ended']} after {ep['n_sessions']} sessions")
        fig.tight_layout()
        return fig

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: every table as a list of records, plus the parameters."""
        out: dict[str, Any] = {
            "preset": self.preset, "seed": self.seed,
            "parameters": self.parameters.to_dict(),
        }
        for name, df in self.tables().items():
            out[name] = json.loads(df.to_json(orient="records", date_format="iso"))
        return out

    def save(self, folder: str | Path, *, format: str = "csv") -> list[Path]:
        """Write every table to ``folder`` (created if needed), one file per table.

        Parameters
        ----------
        folder
            Target directory.
        format
            ``"csv"`` or ``"parquet"``.

        Returns
        -------
        list of pathlib.Path
            The files written, plus ``parameters.json``. The same seed gives the
            same bytes.
        """
        if format not in _FORMATS:
            raise InputError(field="format", value=format, allowed=f"one of {_FORMATS}")
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise InputError(field="folder", value=str(folder), allowed="a directory path")
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, df in self.tables().items():
            path = folder / f"{name}.{format}"
            if format == "csv":
                df.to_csv(path, index=False, lineterminator="\n", float_format="%.10g",
                          date_format="%Y-%m-%d")
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(df, preserve_index=False)
                pq.write_table(table, path, compression="zstd")
            written.append(path)
        meta = {"preset": self.preset, "seed": self.seed, "overrides": _plain(self.overrides),
                "parameters": self.parameters.to_dict()}
        path = folder / "parameters.json"
        path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        written.append(path)
        return written


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if hasattr(v, "__dataclass_fields__"):
        from dataclasses import asdict

        return _plain(asdict(v))
    return v
