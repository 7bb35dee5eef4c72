"""``bordin meta``: random-effects meta-analysis of a CSV of studies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from bordin.cli import app
from bordin.errors import InputError


@app.command()
def meta(
    csv: Annotated[Path, typer.Argument(help="CSV file, one row per study.")],
    r: Annotated[str, typer.Option("--r", help="Column of correlations.")] = "r",
    n: Annotated[str, typer.Option("--n", help="Column of sample sizes.")] = "n",
    yi: Annotated[str | None, typer.Option("--yi", help="Column of effect sizes.")] = None,
    vi: Annotated[str | None, typer.Option("--vi", help="Column of sampling variances.")] = None,
    method: Annotated[str, typer.Option(help="EE, DL, HE, HS, SJ, PM, ML, REML, EB.")] = "REML",
    test: Annotated[str, typer.Option(help="z, t or knha (Knapp-Hartung).")] = "knha",
    mods: Annotated[str | None, typer.Option(help="Moderator formula, e.g. 'x + C(g)'.")] = None,
    level: Annotated[float, typer.Option(help="Confidence level in percent.")] = 95,
    study: Annotated[str | None, typer.Option(help="Column of study labels.")] = None,
    forest: Annotated[Path | None, typer.Option(help="Save a forest plot (PNG/PDF).")] = None,
    funnel: Annotated[Path | None, typer.Option(help="Save a funnel plot (PNG/PDF).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Pool correlations (Fisher z, back-transformed to r) or effect sizes yi/vi."""
    from bordin.stats.meta import meta_analysis

    if not csv.is_file():
        raise InputError(field="csv", value=str(csv), allowed="an existing CSV file")
    try:
        data = pd.read_csv(csv)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(field="csv", value=str(csv), allowed=f"a readable CSV ({exc})") from exc
    if yi is None:
        for col, field in ((r, "--r"), (n, "--n")):
            if col not in data.columns:
                raise InputError(field=field, value=col,
                                 allowed=f"a column of {csv.name}: {', '.join(data.columns)}")
    res = meta_analysis(data, r=r, n=n, yi=yi, vi=vi, method=method, test=test, mods=mods,
                        level=level, slab=study)
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2))
    else:
        typer.echo(repr(res))
        if res.method not in ("EE", "FE"):
            typer.echo("\nHeterogeneity (Q-profile CIs):")
            typer.echo(res.heterogeneity().to_string(float_format=lambda x: f"{x:.4f}"))
        if res.effect == "ZCOR" and res.p == 1:
            back = res.to_r().iloc[0]
            typer.echo(f"\nPooled correlation r = {back['pred']:.4f} "
                       f"[{back['ci_lb']:.4f}, {back['ci_ub']:.4f}], "
                       f"prediction interval [{back['pi_lb']:.4f}, {back['pi_ub']:.4f}]")
    if forest is not None:
        res.forest_plot(path=str(forest))
        typer.echo(f"forest plot written to {forest}", err=True)
    if funnel is not None:
        res.funnel_plot(path=str(funnel))
        typer.echo(f"funnel plot written to {funnel}", err=True)
