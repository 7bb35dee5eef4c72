"""A random-intercept model with a very flat REML criterion, against lme4 1.1-31 run with
tolerances of 1e-14 (scripts/r/mixed_flat_intercept.R).

Near this optimum the criterion (~8922) changes by about 1e-9 when θ moves by 1e-5
relative, i.e. by its own rounding: an optimiser that only compares criterion values
(Brent) stopped 1.3e-5 relative from the optimum. The fit must find the zero of the
derivative instead.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from mixed_fixtures import FIXTURES_DIR

from bordin.errors import BoundaryWarning, ConvergenceWarning
from bordin.stats.mixed import fit


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((FIXTURES_DIR / "mixed_flat_intercept.json").read_text())


@pytest.fixture(scope="module")
def model(ref):
    d = pd.read_csv(FIXTURES_DIR / "mixed_flat_intercept_data.csv")
    d["episode"] = d["episode"].astype(str)
    return fit(ref["formula"], d, reml=True)


def test_theta_and_variances_at_the_optimum(ref, model):
    # both programs at the zero of the derivative: the central-difference gradient and
    # the criterion's rounding leave about 1e-7 relative in θ; 1e-6 is the bar
    np.testing.assert_allclose(model.theta, ref["theta"], rtol=1e-6)
    np.testing.assert_allclose(model.varcomp["variance"], ref["vcov"], rtol=2e-6)


def test_fixed_effects_and_criterion(ref, model):
    np.testing.assert_allclose(model.fixed["estimate"], ref["estimate"], atol=1e-7)
    np.testing.assert_allclose(model.fixed["se"], ref["se"], rtol=1e-6)
    # rounding of a criterion of ~8922 is ~1e-9
    assert -2 * model.loglik <= ref["reml_crit"] + 1e-7


def test_nearly_singular_random_slope(ref):
    """(1 + alliance_within | episode) with correlation ~1: the slope's Cholesky diagonal
    ends at 0, where the criterion's curvature is not positive; the other elements must
    still be polished (before, the polish gave up and left the criterion 6e-5 too high)."""
    r = ref["slope"]
    d = pd.read_csv(FIXTURES_DIR / "mixed_flat_intercept_data.csv")
    d["episode"] = d["episode"].astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", BoundaryWarning)
        m = fit(r["formula"], d, reml=True)
    # criterion of ~8887 is rounded at ~1e-9
    assert -2 * m.loglik <= r["reml_crit"] + 1e-7
    # a nearly singular fit: θ22 ~ 1e-6 instead of 0 moves the variances ~1e-5 relative
    np.testing.assert_allclose(m.varcomp["variance"], r["vcov"], rtol=2e-5)
    np.testing.assert_allclose(m.fixed["estimate"], r["estimate"], atol=1e-6)
    np.testing.assert_allclose(m.fixed["se"], r["se"], rtol=1e-5)


@pytest.mark.parametrize(("formula", "dataset"), [
    ("Yield ~ 1 + (1 | Batch)", "Dyestuff"),
    ("Reaction ~ Days + (1 | Subject)", "sleepstudy"),
])
def test_one_parameter_fits_do_not_chase_rounding(formula, dataset):
    """One variance parameter: a bracketing grid, Brent to 1e-4 and Newton for the last
    digits. Brent run to 1e-8 spent a dozen evaluations (each a pass over all groups)
    resolving differences below the criterion's rounding; 41 and 39 evaluations before."""
    from mixed_fixtures import load_reference

    m = fit(formula, pd.DataFrame(load_reference()["data"][dataset]))
    assert m.n_evals <= 32


def test_boundary_note_distinguishes_zero_variance_from_perfect_correlation():
    """A zero Cholesky diagonal is a zero variance only when its row of Λ is zero; the
    slope of a fit with correlation 1 has a positive variance and must not be reported
    as 0 (as a note did for the random-slope panel above)."""
    from mixed_fixtures import load_reference

    from bordin.stats.mixed.fit import boundary_notes

    sleep = pd.DataFrame(load_reference()["data"]["sleepstudy"])
    m = fit("Reaction ~ Days + (Days | Subject)", sleep)
    prof = m._profile
    # θ = (λ11, λ21, λ22): slope perfectly correlated with the intercept
    notes = boundary_notes(prof, np.array([1.0, 0.3, 0.0]))
    assert len(notes) == 1 and "perfectly correlated" in notes[0] and "at 0" not in notes[0]
    notes = boundary_notes(prof, np.array([1.0, 0.0, 0.0]))
    assert len(notes) == 1 and "variance of Days in Subject estimated at 0" in notes[0]
    assert boundary_notes(prof, np.array([1.0, 0.3, 0.2])) == []
