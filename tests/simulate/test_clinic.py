"""Structure and dynamics of a simulated clinic (default preset, moderate size)."""

import numpy as np
import pandas as pd
import pytest

import bordin.simulate as sim


@pytest.fixture(scope="module")
def data() -> sim.SimulatedClinic:
    return sim.clinic("clinic", seed=7, n_episodes=6000, therapists_per_organization=30)


def test_tables_follow_the_data_contracts(data) -> None:
    adm = data.administrations
    assert adm.columns[:11].tolist() == [
        "administration_id", "organization", "clinician", "patient", "episode", "session",
        "date", "instrument", "rater", "target", "total"]
    assert {"goal", "task", "bond"} <= set(adm.columns)
    assert data.responses.columns.tolist() == ["administration_id", "item", "value"]
    assert data.episodes.columns[:9].tolist() == [
        "episode", "patient", "clinician", "organization", "treatment", "format", "diagnosis",
        "start", "end"]
    assert adm["administration_id"].is_unique
    assert set(data.responses["administration_id"]) <= set(adm["administration_id"])
    assert (data.episodes["end"] >= data.episodes["start"]).all()
    # every episode-level administration belongs to its episode's clinician and patient,
    # except ratings of the alliance with the staff member met at intake
    ep = data.episodes.set_index("episode")
    a = adm.dropna(subset=["episode"])
    staff = (a["target"] == "staff").to_numpy()
    assert staff.sum() > 100
    same = a["clinician"].to_numpy() == ep.loc[a["episode"], "clinician"].to_numpy()
    assert same[~staff].all() and not same[staff].any()
    roles = data.clinicians.set_index("clinician")["role"]
    assert (roles.loc[a.loc[staff, "clinician"]] == "staff").all()
    assert (a.loc[staff, "session"] == 1).all()
    assert (a["patient"].to_numpy() == ep.loc[a["episode"], "patient"].to_numpy()).all()


def test_organizations_clinicians_patients_episodes(data) -> None:
    cl = data.clinicians
    assert set(cl["role"]) == {"therapist", "psychiatrist", "staff"}
    ep = data.episodes.merge(cl, on="clinician", suffixes=("", "_c"))
    assert (ep["organization"] == ep["organization_c"]).all()
    med = ep[ep["format"] == "medication"]
    assert len(med) and (med["role"] == "psychiatrist").all()
    assert (ep.loc[ep["format"] != "medication", "role"] == "therapist").all()
    assert not (ep["role"] == "staff").any()
    # unbalanced caseloads, varying numbers of sessions, patients with several episodes
    caseload = ep[ep["role"] == "therapist"].groupby("clinician").size()
    assert caseload.max() > 2 * caseload.min()
    assert data.episodes["n_sessions"].nunique() > 15
    assert data.episodes["patient"].duplicated().any()
    assert set(data.episodes["format"]) == {
        "individual", "couple", "family", "group", "internet", "medication"}


def test_couples_families_and_groups_have_several_alliances_at_once(data) -> None:
    ep = data.episodes
    sizes = ep.groupby("unit").agg(size=("episode", "size"), fmt=("format", "first"),
                                   clin=("clinician", "nunique"))
    assert (sizes.loc[sizes["fmt"] == "group", "size"] >= 3).mean() > 0.9
    assert (sizes.loc[sizes["fmt"] == "couple", "size"] <= 2).all()
    assert sizes.loc[sizes["fmt"] == "family", "size"].between(1, 4).all()
    assert (sizes.loc[sizes["fmt"] == "couple", "size"] == 2).mean() > 0.95
    assert (sizes["clin"] == 1).all()
    adm = data.administrations
    grp_eps = ep.loc[ep["format"] == "group", "episode"]
    g = adm[adm["episode"].isin(grp_eps)]
    # each group member rates the clinician and the group at the same session
    assert {"clinician", "group"} <= set(g["target"].dropna())
    first = g[(g["session"] == 1) & (g["instrument"] == "wai_sr")]
    assert first.merge(ep[["episode", "unit"]]).groupby("unit").size().max() >= 3


def test_internet_programme_alliance_with_programme_and_guide(data) -> None:
    ep = data.episodes
    inet = ep.loc[ep["format"] == "internet", "episode"]
    adm = data.administrations[data.administrations["episode"].isin(inet)]
    assert set(adm.loc[adm["instrument"] == "wai_tech_sf", "target"]) == {"programme"}
    assert set(adm.loc[adm["instrument"] == "wai_sr", "target"]) == {"clinician"}
    other = data.administrations[~data.administrations["episode"].isin(inet)]
    assert not (other["instrument"] == "wai_tech_sf").any()


def test_dropout_depends_on_alliance_and_symptom_course(data) -> None:
    t = data.truth
    first3 = t.sessions[t.sessions["session"] <= 2].groupby("episode").agg(
        alliance=("alliance", "mean"))
    te = t.episodes.set_index("episode").join(first3)
    te = te[te["planned_sessions"] > 3]
    drop = te["dropout"]
    assert 0.05 < drop.mean() < 0.45
    # dropouts had lower early alliances (difference of about 0.2 SD or more)
    assert te.loc[drop, "alliance"].mean() < te.loc[~drop, "alliance"].mean() - 0.15
    # and dropouts end before their planned number of sessions
    assert (te.loc[drop, "n_sessions"] < te.loc[drop, "planned_sessions"]).all()
    assert (te.loc[~drop, "n_sessions"] == te.loc[~drop, "planned_sessions"]).all()


def test_rupture_table_matches_the_latent_series(data) -> None:
    t = data.truth
    r = t.ruptures
    assert len(r) > 100
    assert set(r.columns) >= {"episode", "start_session", "depth", "repaired_session"}
    assert (r["depth"] > 0).all()
    rep = r.dropna(subset=["repaired_session"])
    assert (rep["repaired_session"] > rep["start_session"]).all()
    n_ses = t.episodes.set_index("episode")["n_sessions"]
    assert (r["start_session"].to_numpy() <= n_ses.loc[r["episode"]].to_numpy()).all()
    # sessions flagged in_rupture are exactly those covered by an open rupture
    s = t.sessions.set_index(["episode", "session"])["in_rupture"]
    covered = set()
    for row in r.itertuples():
        end = (row.repaired_session - 1 if not pd.isna(row.repaired_session)
               else n_ses.loc[row.episode])
        covered.update((row.episode, k) for k in range(row.start_session, int(end) + 1))
    flagged = set(s[s].index)
    assert flagged == covered
    # the alliance drops at a rupture's start
    prev = t.sessions.set_index(["episode", "session"])["alliance"]
    keys_now = list(zip(r["episode"], r["start_session"], strict=True))
    keys_prev = list(zip(r["episode"], r["start_session"] - 1, strict=True))
    drop = prev.loc[keys_prev].to_numpy() - prev.loc[keys_now].to_numpy()
    assert np.mean(drop) > 0.5


def test_ruptures_more_in_difficult_dyads_repairs_more_with_skill() -> None:
    d = sim.clinic("clinic", seed=3, n_episodes=20000, therapists_per_organization=60,
                   schedule=(sim.Schedule("phq9", "symptoms"),), fis_raters=0)
    t = d.truth
    ep = d.episodes.merge(t.episodes[["episode", "n_sessions"]], on="episode",
                          suffixes=("", "_t"))
    ep = ep.merge(t.patients[["patient", "attachment"]], on="patient")
    n_r = t.ruptures.groupby("episode").size()
    ep["rate"] = ep["episode"].map(n_r).fillna(0) / ep["n_sessions"]
    pdx = ep["diagnosis"].isin(["borderline_pd", "other_pd"])
    assert ep.loc[pdx, "rate"].mean() > 1.3 * ep.loc[~pdx, "rate"].mean()
    low_att = ep["attachment"] < -0.5
    assert ep.loc[low_att, "rate"].mean() > 1.3 * ep.loc[ep["attachment"] > 0.5, "rate"].mean()
    r = t.ruptures.merge(d.episodes[["episode", "clinician"]], on="episode").merge(
        t.clinicians[["clinician", "rupture_repair"]], on="clinician")
    hi = r["rupture_repair"] > 0.5
    lo = r["rupture_repair"] < -0.5
    assert r.loc[hi, "repaired"].mean() > r.loc[lo, "repaired"].mean() + 0.1


def test_unrepaired_ruptures_harm_outcome() -> None:
    kw = dict(n_episodes=20000, fixed_sessions=12, dropout_rate=0.0,
              schedule=(sim.Schedule("phq9", "symptoms"),), fis_raters=0)

    def change(**extra) -> pd.Series:
        d = sim.clinic("clinic", seed=4, **kw, **extra)
        s = d.truth.sessions
        g = s.groupby("episode")["symptoms"]
        imp = g.first() - g.last()
        r = d.truth.ruptures
        unrep = r.loc[~r["repaired"] & (r["start_session"] <= 8), "episode"].unique()
        rep = r.loc[r["repaired"], "episode"].unique()
        rep = np.setdiff1d(rep, unrep)
        return pd.Series({"unrep": imp.loc[unrep].mean(), "rep": imp.loc[rep].mean()})

    harm = change()
    no_harm = change(rupture_harm=0.0, dropout_rupture_effect=0.0)
    # with harm, episodes left with an open rupture improve less than repaired ones,
    # and by more than when ruptures only lower the alliance
    assert harm["rep"] - harm["unrep"] > 0.1
    assert harm["rep"] - harm["unrep"] > no_harm["rep"] - no_harm["unrep"] + 0.05


def test_reciprocal_dynamics_are_switchable() -> None:
    """symptom_to_alliance and alliance_dynamic_weight change the latent series as documented."""
    base = dict(n_episodes=3000, fixed_sessions=7, max_sessions=7, dropout_rate=0.0,
                schedule=(sim.Schedule("phq9", "symptoms"),), fis_raters=0, rupture_rate=0.0)
    off = sim.clinic(seed=2, symptom_to_alliance=0.0, **base).truth.sessions
    on = sim.clinic(seed=2, symptom_to_alliance=1.0, **base).truth.sessions

    def slope(s: pd.DataFrame) -> float:
        g = s.groupby("episode")
        imp = (g["symptoms"].transform("first") - s["symptoms"]).to_numpy()
        a = s["alliance"].to_numpy()
        return float(np.polyfit(imp, a - g["alliance"].transform("first").to_numpy(), 1)[0])

    assert slope(on) > slope(off) + 0.5
