"""The measurement section of a report: reliability and factor structure from item responses.

For each instrument with item-level ``responses`` (``administration_id, item,
value``) the first administration of each episode is used (one per patient,
so that rows are independent): Cronbach's alpha, McDonald's omega (bifactor
omega hierarchical when the instrument has three or more subscales of three or
more items) and, for instruments with subscales, a CFA of the subscale
structure (e.g. goal/task/bond). Subscales and reverse keys come from the
instrument specs of :mod:`bordin.instruments` when the instrument is known.
"""

from __future__ import annotations

import warnings

import pandas as pd

from bordin.errors import BordinError, BordinWarning
from bordin.report.html import Section, figure_to_data_uri, table_html
from bordin.stats.psychometrics import cfa, cronbach_alpha, mcdonald_omega

__all__ = ["measurement_sections"]

MIN_ROWS = 30


def _spec(instrument: str):  # -> InstrumentSpec | None
    from bordin.instruments import registry

    try:
        return registry.get(instrument)
    except BordinError:
        return None


def _items_frame(adm: pd.DataFrame, responses: pd.DataFrame, instrument: str) -> pd.DataFrame:
    rows = adm[adm["instrument"] == instrument]
    if "episode" in rows.columns and "session" in rows.columns:
        rows = rows.sort_values("session").drop_duplicates("episode")
    ids = rows["administration_id"]
    r = responses[responses["administration_id"].isin(ids)]
    wide = r.pivot_table(index="administration_id", columns="item", values="value",
                         aggfunc="first")
    wide.columns = [str(c) for c in wide.columns]
    return wide.dropna()


def measurement_sections(adm: pd.DataFrame, responses: pd.DataFrame) -> list[tuple[Section, dict]]:
    """One report section per instrument with enough complete item responses."""
    need = {"administration_id", "item", "value"}
    if not need <= set(responses.columns) or "administration_id" not in adm.columns:
        return [(Section("measurement", "Measurement", error="responses need columns "
                         "administration_id, item, value (and administrations an "
                         "administration_id)"), {})]
    out = []
    for instrument in sorted(map(str, adm["instrument"].dropna().unique())):
        wide = _items_frame(adm, responses, instrument)
        if wide.shape[1] < 3 or len(wide) < MIN_ROWS:
            continue
        spec = _spec(instrument)
        groups: dict[str, list[str]] = {}
        if spec is not None:
            for it in spec.reverse_items:
                item = spec.item(it) if callable(getattr(spec, "item", None)) else None
                if item is not None and it in wide.columns:
                    wide[it] = item.scale.min + item.scale.max - wide[it]
            groups = {k: [i for i in v if i in wide.columns]
                      for k, v in (spec.subscales or {}).items()}
            groups = {k: v for k, v in groups.items() if len(v) >= 2}
        key = f"measurement_{instrument}"
        sec = Section(key, f"Measurement: {instrument}")
        results: dict = {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", BordinWarning)
                a = cronbach_alpha(wide)
                big = {k: v for k, v in groups.items() if len(v) >= 3}
                o = mcdonald_omega(wide, groups=big if len(big) >= 3 else None)
                results.update(alpha=a, omega=o)
                rows = [{"coefficient": "alpha", "estimate": a.alpha, "ci_lower": a.ci_lower,
                         "ci_upper": a.ci_upper, "interval": "Feldt"}]
                for name, row in o.summary().iterrows():
                    rows.append({"coefficient": name, "estimate": row["estimate"],
                                 "ci_lower": row["ci_lower"], "ci_upper": row["ci_upper"],
                                 "interval": "delta method"})
                sec.text = (f"{len(wide)} episodes (first administration each), "
                            f"{wide.shape[1]} items: alpha = {a.alpha:.3f}, omega total = "
                            f"{o.omega_total:.3f}.")
                sec.tables.append(("Reliability", table_html(pd.DataFrame(rows), index=False)))
                if len(groups) >= 2:
                    c = cfa(wide, factors=groups)
                    results["cfa"] = c
                    f = c.fit
                    sec.text += (f" CFA of {', '.join(groups)}: chi² = {f['chi2']:.1f} "
                                 f"(df {f['df']:.0f}), CFI {f['CFI']:.3f}, TLI {f['TLI']:.3f}, "
                                 f"RMSEA {f['RMSEA']:.3f}, SRMR {f['SRMR']:.3f}.")
                    if f["improper"]:
                        sec.text += (" Improper solution (a factor correlation beyond ±1 or a "
                                     "negative residual variance): the subscales are not "
                                     "distinct factors in these data.")
                    sec.tables.append(("CFA loadings", table_html(c.loadings, index=False)))
                    sec.tables.append(("Factor correlations",
                                       table_html(c.factor_correlations)))
                    sec.figures.append(("Standardized loadings", figure_to_data_uri(c.plot())))
                else:
                    sec.figures.append(("Alpha if item dropped", figure_to_data_uri(a.plot())))
        except (BordinError, ValueError, ArithmeticError, KeyError) as exc:
            sec.error = str(exc)
        out.append((sec, results))
    return out
